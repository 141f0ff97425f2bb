// What the core keeps per volume: the journal entry says how far one operation got with one volume
// (rewritten atomically after every step); the record (state dir, volumes/<mapper>.json) outlives the
// operation: it holds what a later DisableEncryption, or an operation adopting an unfinished volume after a
// failed one, needs.
import type { FstabEntry } from '../parsers/fstab.ts';
import type { RecordStore } from '../system/sysfiles.ts';
import type { InitramfsBuilder, OsBootConf, OsSplit } from '../system/os-boot.ts';

export type VolumeAction = 'inplace' | 'format' | 'decrypt' | 'os';

/** The OS disk's own facts, fixed when it is planned (the journal must not depend on kernel names). */
export interface OsVolumeDetails {
  /** PARTUUID of the partition that becomes the LUKS2 container: the same before and after encryption. */
  partuuid: string;
  /** The detached header's path, on the unencrypted /boot. */
  header: string;
  /** UUID=… of /boot's file system and its type: what the initramfs mounts to reach the header. */
  headerFs: string;
  headerFsType: string;
  /** Where a copy of the header goes once it no longer changes. */
  backup: string;
  builder: InitramfsBuilder;
  /** OSRestart Deferred: the operator restarts the VM, not the worker. */
  deferRestart?: boolean;
  /** No /boot partition: the one the initramfs splits off the root at the restart (src/encryption/os-split.ts). */
  split?: OsSplit;
  /** A user-assigned managed identity: how the initramfs asks IMDS for its token. */
  identity?: OsBootConf['identity'];
  /**
   * The recovery passphrase's secret (escrowed before the disk is touched, wrapped like the key) and the KEK
   * that wraps it. Its keyslot is added once the reencryption is over: cryptsetup refuses keyslot changes
   * while one is under way.
   */
  recovery?: { secretUrl: string; kekUrl?: string; algorithm?: string };
}

export interface VolumeProgress {
  action: VolumeAction;
  /** Kernel path when planned (may change across reboots; located again by the names below). */
  device: string;
  /** /dev/disk/azure/scsi1/lunN[-partM] when udev made one: stable across boots and encryption. */
  persistentName?: string;
  /**
   * /dev/disk/by-id/… of the hardware (WWN, serial) when udev made one: the only name left, where there
   * is no Azure link, for a volume half-way through decryption (no LUKS UUID, no file-system UUID).
   */
  hardwareName?: string;
  /** The plaintext file system's UUID before encryption (gone from the raw device once LUKS is written). */
  fsUuid?: string;
  /** Chosen before anything is written and passed to cryptsetup --uuid, so the container is found again. */
  luksUuid: string;
  mapperName: string;
  mountpoint: string;
  fstype: string;
  /** The original /etc/fstab entry, restored by decryption. */
  fstab: Omit<FstabEntry, 'line'>;
  /** Key file name on the key volume. */
  fileName: string;
  secretUrl?: string;
  /** The KEK that wraps secretUrl's value, and how (absent: stored unwrapped). */
  kekUrl?: string;
  algorithm?: string;
  /** Last completed step ('' before the first). */
  step: string;
  done: boolean;
  doneBytes?: number;
  totalBytes?: number;
  /** In place: cryptsetup's --reduce-device-size, chosen at the shrink (src/encryption/data-shift.ts). */
  shiftBytes?: number;
  error?: { code: number; message: string };
  /** action 'os' only. */
  os?: OsVolumeDetails;
}

export type RecordState = 'encrypting' | 'encrypted' | 'decrypting';

export interface VolumeRecord extends VolumeProgress {
  state: RecordState;
  /** Sequence number of the operation that wrote it. */
  seq: number;
}

export type VolumeRecords = RecordStore<VolumeRecord>;

/** The running operation's journal, as the core sees it (the protocol layer writes it atomically). */
export interface JournalAccess {
  /** The operation's sequence number. */
  readonly seq: number;
  /** This operation's volume entries, as last saved. */
  volumes(): Record<string, VolumeProgress>;
  /** Replaces one volume's entry, atomically and durably. */
  save(id: string, p: VolumeProgress): void;
}
