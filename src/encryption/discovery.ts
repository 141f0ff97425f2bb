// Which block device is what, from data only (lsblk, findmnt, fstab, crypttab, udev links, LUKS metadata),
// and ADE's {"os", "data"} states computed from that. No process runs here; src/system/blockdev.ts gathers
// the inputs.
//
// Roles, decided per top-level disk and inherited by everything on it (the rules, one by one: roles.ts):
//   os       the disk(s) under the device mounted at `/` (through partitions, LVM, dm-crypt), or
//            /dev/disk/azure/root when `/` is not found; `boot` marks its /boot, /boot/efi and BIOS-boot
//            partitions (and any other partition without a file system on it).
//   bek      a disk holding a file system labelled "BEK VOLUME" (the platform's key volume).
//   resource the Azure temporary disk: /dev/disk/azure/resource when udev made it; otherwise a disk that has
//            no data-disk LUN (when the LUN links are known — data disks always have one) and shows a temp
//            disk hint: a file system mounted (or in fstab) at /mnt or /mnt/resource, the label "Temporary
//            Storage" or an ntfs file system (how the platform formats it), or model "Microsoft NVMe Direct
//            Disk" (v6 sizes). Without LUN links a data disk an admin mounted at /mnt is taken for the
//            resource disk; the LUN links are what tell them apart.
//   data     on any other disk, a device carrying a file system or a LUKS container, or a dm-crypt mapping.
//   other    everything else: partition tables, LVM PVs, swap, loop/zram/rom devices, empty disks.
import type { BlockDevice, Mount } from '../parsers/lsblk.ts';
import type { FstabEntry } from '../parsers/fstab.ts';
import type { CrypttabEntry } from '../parsers/crypttab.ts';
import type { LuksMetadata, ReencryptState } from '../parsers/luksdump.ts';
import type { DataState, OsState } from '../shared/report.ts';
import { deviceGraph, deviceOf, disksOf, fstabEntryOf, fstypeOf, mountpointsOf, mountTable, type DeviceGraph, type MountTable } from './device-graph.ts';
import { diskRoles, volumeRole, type DiskRoles } from './roles.ts';
import { cryptRelations, crypttabEntryOf, mapperNameOf, reencryptOf } from './crypt-relations.ts';
import { hardwareNamer, persistentNameOf } from './names.ts';

export { hardwareIdNames } from './names.ts';

export type VolumeRole = 'os' | 'boot' | 'resource' | 'bek' | 'data' | 'other';

export interface Volume {
  /** /dev/sdc1, /dev/mapper/datavg-lv1. */
  device: string;
  kname: string;
  /** lsblk NAME (the mapping name for dm devices). */
  name: string;
  /** lsblk TYPE: disk, part, crypt, lvm, … */
  type: string;
  /** The top-level disk it is on (the first, when it spans several). */
  disk: string;
  /** A name that survives reboots and re-attach: /dev/disk/azure/scsi1/lun0-part1, /dev/mapper/x, /dev/disk/by-uuid/… */
  persistentName?: string;
  /**
   * /dev/disk/by-id/… names from the hardware's identity (WWN, serial), never from the content: they survive
   * reboots, encryption and decryption alike. Best first; a name recorded on an earlier boot may not be first now.
   */
  hardwareNames?: string[];
  /** Data-disk LUN of its disk, from /dev/disk/azure/scsi1/lunN. */
  lun?: number;
  role: VolumeRole;
  fstype?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  /** Where it is mounted now (findmnt), the first if several. */
  mountpoint?: string;
  mountpoints: string[];
  fstabEntry?: FstabEntry;
  crypttabEntry?: CrypttabEntry;
  /** A LUKS container, a dm-crypt mapping, or on top of one. */
  encrypted: boolean;
  /** The dm-crypt mapping involved: its own name, its open mapping's (container), or the one below it. */
  mapperName?: string;
  /** For a mapping and what sits on it: the LUKS container (or detached-header data device) below. */
  luksDevice?: string;
  /** For a LUKS container: its open mapping's path. */
  mappedAs?: string;
  /** Set while a LUKS2 reencryption (encrypt/decrypt) is unfinished on it or below it. */
  reencrypt?: ReencryptState;
  /** Bytes. */
  size: number;
  readOnly: boolean;
}

export interface DiscoveryInput {
  devices: readonly BlockDevice[];
  mounts: readonly Mount[];
  fstab: readonly FstabEntry[];
  crypttab?: readonly CrypttabEntry[];
  /** Links under /dev/disk/azure, relative to it ('scsi1/lun0', 'scsi1/lun0-part1', 'root', 'resource-part1') → device path. */
  azureLinks?: Readonly<Record<string, string>>;
  /** /dev/disk/by-uuid: uuid → device path. */
  byUuid?: Readonly<Record<string, string>>;
  /** /dev/disk/by-id: link name ('wwn-0x…', 'virtio-data-part1') → device path. */
  byId?: Readonly<Record<string, string>>;
  /** LUKS2 metadata by container device path. */
  luks?: Readonly<Record<string, LuksMetadata>>;
}

/** What every device's classification reads, computed once per discovery. */
interface Context {
  input: DiscoveryInput;
  g: DeviceGraph;
  mounts: MountTable;
  roles: DiskRoles;
  hardwareNames: (d: BlockDevice) => string[];
}

export function classifyVolumes(input: DiscoveryInput): Volume[] {
  const g = deviceGraph(input.devices, input.azureLinks);
  const mounts = mountTable(g, input.mounts);
  const c: Context = { input, g, mounts, roles: diskRoles(g, mounts, input.fstab), hardwareNames: hardwareNamer(g, input.byId) };
  return input.devices.map((d) => toVolume(c, d));
}

function toVolume(c: Context, d: BlockDevice): Volume {
  const { g, input } = c;
  const diskK = disksOf(g, d.kname)[0]!;
  const mps = mountpointsOf(c.mounts, d.kname);
  const fstype = fstypeOf(c.mounts, d);
  const crypt = cryptRelations(g, d);
  const persistentName = persistentNameOf(g, d, input.byUuid);
  const hardwareNames = c.hardwareNames(d);
  const lun = c.roles.luns.get(diskK);
  const fstabEntry = fstabEntryOf(g, input.fstab, d, mps);
  const crypttabEntry = crypttabEntryOf(g, input.crypttab ?? [], d, crypt);
  const mapperName = mapperNameOf(d, crypt);
  const reencrypt = reencryptOf(input.luks, d, crypt);
  return {
    device: d.path, kname: d.kname, name: d.name, type: d.type,
    disk: deviceOf(g, diskK).path,
    ...(persistentName ? { persistentName } : {}),
    ...(hardwareNames.length > 0 ? { hardwareNames } : {}),
    ...(lun !== undefined ? { lun } : {}),
    role: volumeRole(g, { mounts: c.mounts, fstab: input.fstab, roles: c.roles }, d),
    ...(fstype ? { fstype } : {}),
    ...(d.uuid ? { uuid: d.uuid } : {}),
    ...(d.label ? { label: d.label } : {}),
    ...(d.partuuid ? { partuuid: d.partuuid } : {}),
    ...(mps[0] !== undefined ? { mountpoint: mps[0] } : {}),
    mountpoints: mps,
    ...(fstabEntry ? { fstabEntry } : {}),
    ...(crypttabEntry ? { crypttabEntry } : {}),
    encrypted: crypt.container || crypt.below !== undefined,
    ...(mapperName ? { mapperName } : {}),
    ...(crypt.luksDevice ? { luksDevice: crypt.luksDevice.path } : {}),
    ...(crypt.mapping ? { mappedAs: crypt.mapping.path } : {}),
    ...(reencrypt ? { reencrypt } : {}),
    size: d.size,
    readOnly: d.ro,
  };
}

/** What the journal knows and the block devices cannot show. */
export interface StatusMarkers {
  /** An encrypt operation is under way for this VolumeType. */
  encrypting?: 'OS' | 'Data' | 'All';
  /** A decrypt operation is under way (data volumes only, as in ADE). */
  decrypting?: boolean;
}

/** File systems ADE counts as data volumes (DiskUtil.get_encryption_status). */
const DATA_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
/** ADE's OS mapping name; it exists before the reboot that moves `/` onto it. */
const OS_MAPPER = 'osencrypt';

/**
 * ADE's {"os", "data"} states. Unlike ADE, "encrypted" means "`/` (or the data file system) sits on a
 * dm-crypt mapping" by walking the device tree — not a substring test on mount sources, which made
 * any `/dev/dm*` mount (an LVM root, say) count as an encrypted OS — and an unfinished LUKS2
 * reencryption counts as in progress even when no marker says so (e.g. after the journal was lost).
 */
export function summarize(volumes: readonly Volume[], markers: StatusMarkers = {}): { os: OsState; data: DataState } {
  return { os: osState(volumes, markers), data: dataState(volumes, markers) };
}

function osState(volumes: readonly Volume[], m: StatusMarkers): OsState {
  const root = volumes.find((v) => v.mountpoints.includes('/'));
  const rootEncrypted = root?.encrypted === true;
  // 'reencrypt' too: the OS disk's encryption runs from a cipher_null segment (os-steps.ts, headerStep)
  if (root?.reencrypt && root.reencrypt.mode !== 'decrypt') return 'EncryptionInProgress';
  const osMapperWaiting = volumes.some((v) => v.type === 'crypt' && v.name === OS_MAPPER && !v.mountpoints.includes('/'));
  if (!rootEncrypted && osMapperWaiting) return 'VMRestartPending';
  if (!rootEncrypted && (m.encrypting === 'OS' || m.encrypting === 'All')) return 'EncryptionInProgress';
  return rootEncrypted ? 'Encrypted' : 'NotEncrypted';
}

function dataState(volumes: readonly Volume[], m: StatusMarkers): DataState {
  const data = volumes.filter((v) => v.role === 'data');
  if (m.decrypting || data.some((v) => v.reencrypt?.mode === 'decrypt')) return 'DecryptionInProgress';
  if (m.encrypting === 'Data' || m.encrypting === 'All' || data.some((v) => v.reencrypt && v.reencrypt.mode !== 'decrypt')) return 'EncryptionInProgress';
  const mounted = data.filter((v) => v.mountpoint !== undefined && v.fstype !== undefined && DATA_FS.has(v.fstype));
  if (mounted.length === 0) return 'NotMounted';
  return mounted.every((v) => v.encrypted) ? 'Encrypted' : 'NotEncrypted';
}
