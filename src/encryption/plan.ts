// Which data volumes an operation acts on, from data only: the classified volumes, the journal's entries
// (resume first, never restart) and the records of volumes this extension encrypted. Pure.
import type { EncryptionOperation } from '../shared/types.ts';
import type { Volume } from './discovery.ts';
import type { VolumeAction, VolumeProgress, VolumeRecord } from './volume-journal.ts';

const ENCRYPTABLE_TYPES = new Set(['disk', 'part', 'lvm', 'raid0', 'raid1', 'raid5', 'raid6', 'raid10', 'md']);

export interface PlanInput {
  operation: EncryptionOperation;
  volumes: readonly Volume[];
  /** This operation's journal entries. */
  progress: Readonly<Record<string, VolumeProgress>>;
  records: readonly VolumeRecord[];
  newUuid: () => string;
}

export interface PlannedVolume {
  id: string;
  progress: VolumeProgress;
  /** True for volumes nothing has been done to yet: they go through the prerequisites. */
  fresh: boolean;
  volume?: Volume;
}

export interface Plan {
  act: PlannedVolume[];
  skipped: Array<{ device: string; reason: string }>;
  /** Data volumes already in the wanted state. */
  alreadyDone: string[];
}

/**
 * The volume an entry is about, on this boot: by Azure link, then by hardware name, then by LUKS UUID,
 * then by file-system UUID. The names come first because they do not depend on what is on the device.
 */
export function locate(p: Pick<VolumeProgress, 'persistentName' | 'hardwareName' | 'luksUuid' | 'fsUuid' | 'device'>, volumes: readonly Volume[]): Volume | undefined {
  const raw = volumes.filter((v) => v.type !== 'crypt');
  const hw = p.hardwareName;
  return (p.persistentName ? raw.find((v) => v.persistentName === p.persistentName) : undefined)
    ?? (hw ? raw.find((v) => v.hardwareNames?.includes(hw)) : undefined)
    ?? raw.find((v) => v.uuid === p.luksUuid)
    ?? (p.fsUuid ? raw.find((v) => v.uuid === p.fsUuid) : undefined);
}

/**
 * The name of an entry's device that least depends on this boot: its Azure LUN link, else its hardware name,
 * else (no udev links at all) this boot's kernel path, which a reboot may give to another disk.
 */
export function steadiestName(p: Pick<VolumeProgress, 'persistentName' | 'hardwareName'>, device: string): string {
  return p.persistentName ?? p.hardwareName ?? device;
}

const AZURE_LINK = /^\/dev\/disk\/azure\/scsi(\d+)\/lun(\d+)(?:-part(\d+))?$/;

/**
 * The key file on the key volume, ADE's names: LinuxPassPhraseFileName_<controller>_<lun> for a data disk
 * (or its first partition); otherwise the next free LinuxPassPhraseFileName_0_<n> (controller 0 holds only
 * the OS disk on Azure, so these never collide with a real LUN's name).
 */
export function keyFileName(v: Volume, used: Set<string>): string {
  const m = v.persistentName ? AZURE_LINK.exec(v.persistentName) : null;
  if (m && (m[3] === undefined || m[3] === '1')) {
    const name = `LinuxPassPhraseFileName_${m[1]}_${m[2]}`;
    if (!used.has(name)) return name;
  }
  for (let n = 0; ; n++) if (!used.has(`LinuxPassPhraseFileName_0_${n}`)) return `LinuxPassPhraseFileName_0_${n}`;
}

/**
 * The hardware name this boot shows, kept in the entry: a volume encrypted by an older version has none
 * recorded, and a decryption needs one before the device loses its LUKS UUID.
 */
function withHardwareName(p: VolumeProgress, v: Volume | undefined): VolumeProgress {
  const name = v?.hardwareNames?.[0];
  return name && name !== p.hardwareName ? { ...p, hardwareName: name } : p;
}

function newProgress(v: Volume, action: VolumeAction, luksUuid: string, fileName: string): VolumeProgress {
  const e = v.fstabEntry!;
  return {
    action, device: v.device,
    ...(v.persistentName && AZURE_LINK.test(v.persistentName) ? { persistentName: v.persistentName } : {}),
    ...(v.hardwareNames?.[0] ? { hardwareName: v.hardwareNames[0] } : {}),
    ...(v.uuid ? { fsUuid: v.uuid } : {}),
    luksUuid, mapperName: `ade-${luksUuid}`, mountpoint: v.mountpoint!, fstype: v.fstype!,
    fstab: { spec: e.spec, file: e.file, vfstype: e.vfstype, mntops: [...e.mntops], freq: e.freq, passno: e.passno },
    fileName, step: '', done: false,
  };
}

export function planData(input: PlanInput): Plan {
  const { operation, volumes, progress, records } = input;
  const act: PlannedVolume[] = [];
  const skipped: Plan['skipped'] = [];
  const alreadyDone: string[] = [];
  const claimed = new Set<string>();
  const claim = (v: Volume | undefined) => { if (v) claimed.add(v.device); };
  const encrypting = operation === 'EnableEncryption' || operation === 'EnableEncryptionFormatAll';

  // 1. This operation's own entries: finish them.
  for (const [id, p] of Object.entries(progress)) {
    const v = locate(p, volumes);
    claim(v);
    if (p.done) { alreadyDone.push(p.device); continue; }
    act.push({ id, progress: withHardwareName(p, v), fresh: false, ...(v ? { volume: v } : {}) });
  }
  // 2. Volumes an earlier operation left half-way (it failed or was replaced): adopt them from the record.
  // The OS volume is never a data volume: its own operation (src/encryption/os.ts) finishes it.
  for (const r of records.filter((x) => x.action !== 'os')) {
    const v = locate(r, volumes);
    if (claimed.has(v?.device ?? '') || Object.values(progress).some((p) => p.mapperName === r.mapperName)) continue;
    const unfinished = encrypting ? r.state === 'encrypting' : r.state === 'decrypting';
    if (!unfinished) continue;
    claim(v);
    const { state: _s, seq: _q, ...p } = r;
    act.push({ id: r.luksUuid, progress: withHardwareName({ ...p, step: '', done: false }, v), fresh: false, ...(v ? { volume: v } : {}) });
  }

  const used = new Set<string>([...Object.values(progress), ...records].map((p) => p.fileName));
  const data = volumes.filter((v) => v.role === 'data' && !claimed.has(v.device));
  if (encrypting) {
    const action: VolumeAction = operation === 'EnableEncryption' ? 'inplace' : 'format';
    for (const v of data) {
      if (v.type === 'crypt' || v.luksDevice) continue; // a mapping, or on one: its container is the volume
      if (v.encrypted) { alreadyDone.push(v.device); continue; }
      if (!ENCRYPTABLE_TYPES.has(v.type)) { skipped.push({ device: v.device, reason: `type ${v.type} is not encrypted` }); continue; }
      if (!v.fstype) continue;
      if (!v.mountpoint) { skipped.push({ device: v.device, reason: 'not mounted' }); continue; }
      const luksUuid = input.newUuid();
      const fileName = keyFileName(v, used);
      used.add(fileName);
      // Without an fstab entry the prerequisites refuse it; the progress needs one, so stand one in.
      const vv = v.fstabEntry ? v : { ...v, fstabEntry: { spec: v.device, file: v.mountpoint, vfstype: v.fstype, mntops: ['defaults'], freq: 0, passno: 0, line: -1 } };
      act.push({ id: luksUuid, progress: newProgress(vv, action, luksUuid, fileName), fresh: true, volume: v });
    }
  } else {
    for (const v of data) {
      if (v.fstype !== 'crypto_LUKS') { if (v.type !== 'crypt' && !v.luksDevice && v.fstype && v.mountpoint) alreadyDone.push(v.device); continue; }
      const r = records.find((x) => x.luksUuid === v.uuid && x.state === 'encrypted');
      if (!r) { skipped.push({ device: v.device, reason: 'not encrypted by ade-linux (no record in the state dir), left as it is' }); continue; }
      // The encryption's progress counters are not the decryption's: it starts from nothing done.
      const { state: _s, seq: _q, doneBytes: _d, totalBytes: _t, error: _e, ...p } = r;
      act.push({ id: r.luksUuid, progress: withHardwareName({ ...p, action: 'decrypt', device: v.device, step: '', done: false }, v), fresh: true, volume: v });
    }
  }
  return { act, skipped, alreadyDone };
}
