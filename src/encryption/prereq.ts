// Prerequisites for encrypting data volumes, checked for every volume before anything changes: each
// failure has its own code and names the fix. Pure: the facts (fuser, free space, dm-crypt) are gathered by
// the caller through src/system.
import { AdeError } from '../shared/errors.ts';
import type { Volume } from './discovery.ts';
import { hasOption, isPersistentSpec } from '../parsers/fstab.ts';
import type { MountUser } from '../parsers/fuser.ts';
import { EXT_FS, MKFS_FS } from '../system/fs.ts';
import { MIN_SHIFT_BYTES } from './data-shift.ts';

export interface VolumeFacts {
  volume: Volume;
  /** Processes that would block the brief unmount. */
  users: readonly MountUser[];
  /** In place: bytes the file system can give up (size - resize2fs minimum). */
  shrinkableBytes?: number;
}

export interface DataPrereqInput {
  mode: 'inplace' | 'format';
  volumes: readonly VolumeFacts[];
  dmCrypt: boolean;
}

const MiB = (n: number) => `${Math.floor(n / 1024 / 1024)} MiB`;

export function checkDataPrereqs(input: DataPrereqInput): AdeError[] {
  const errors: AdeError[] = [];
  if (!input.dmCrypt) errors.push(new AdeError('KernelModuleMissing', { module: 'dm_crypt', cause: 'modprobe dm_crypt failed' }));
  for (const f of input.volumes) {
    const v = f.volume;
    const mp = v.mountpoint ?? '(not mounted)';
    if (mp === '/' || mp === '/boot' || mp.startsWith('/boot/')) {
      errors.push(new AdeError('SystemVolumeRefused', { device: v.device, mountpoint: mp }));
      continue;
    }
    const e = v.fstabEntry;
    if (!e) errors.push(new AdeError('VolumeNotInFstab', { device: v.device, mountpoint: mp }));
    else {
      if (e.file.replace(/\/+$/, '') !== mp.replace(/\/+$/, '')) errors.push(new AdeError('FstabMountMismatch', { device: v.device, mountpoint: mp, fstabMountpoint: e.file }));
      if (!isPersistentSpec(e.spec)) errors.push(new AdeError('FstabNotPersistent', { mountpoint: mp, spec: e.spec }));
      if (!hasOption(e, 'nofail')) errors.push(new AdeError('FstabMissingNofail', { mountpoint: mp }));
    }
    const fstype = v.fstype ?? 'no file system';
    if (input.mode === 'inplace' && !EXT_FS.has(fstype)) {
      // XFS cannot shrink, and a detached header on the OS disk would make the data depend on the OS
      // disk (lost with a re-image or a moved disk): refuse and point to EnableEncryptionFormatAll.
      errors.push(new AdeError('FileSystemUnsupported', { device: v.device, fstype }));
    }
    if (input.mode === 'format' && !MKFS_FS.has(fstype)) errors.push(new AdeError('FormatFileSystemUnsupported', { device: v.device, fstype }));
    if (f.users.length > 0) {
      errors.push(new AdeError('VolumeBusy', { mountpoint: mp, processes: f.users.map((u) => `${u.command} (pid ${u.pid}, user ${u.user})`).join(', ') }));
    }
    if (input.mode === 'inplace' && EXT_FS.has(fstype) && f.shrinkableBytes !== undefined && f.shrinkableBytes < MIN_SHIFT_BYTES) {
      // Less than the smallest shift: a larger one is only taken where the file system can give it up.
      errors.push(new AdeError('FileSystemFull', { device: v.device, needed: MiB(MIN_SHIFT_BYTES), cause: `it can free only ${MiB(Math.max(0, f.shrinkableBytes))}`, mountpoint: mp }));
    }
  }
  return errors;
}
