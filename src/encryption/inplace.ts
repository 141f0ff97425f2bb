// EnableEncryption of one ext2/3/4 data volume, in place and (but for one brief unmount) online:
// escrow → unmount → e2fsck → shrink by the header area → `reencrypt --encrypt --init-only` (activates the
// future mapping) → mount on it → crypttab/fstab → `reencrypt --resume-only` online → grow. Steps before the
// LUKS header exists are skipped once it does; after, each checks the mapping, the mount and the metadata.
import { AdeError } from '../shared/errors.ts';
import type { ExtInfo } from '../parsers/e2fs.ts';
import { dataShiftBytes, MIN_SHIFT_BYTES, sectorSizeFor, shrinkRoomBytes } from './data-shift.ts';
import { encryptedBoot } from './boot.ts';
import { ensureMounted, ensureOpen, ensureUnmounted, escrowStep, mapperPath, needKey, resumeReencrypt, writeBoot, writeRecord, type Step, type VolumeRun } from './steps.ts';

/** True once the LUKS2 header is on the device; the plaintext-side steps must then never run again. */
async function isOurs(v: VolumeRun): Promise<boolean> {
  if (!(await v.tools.cs.isLuks(v.device))) return false;
  const uuid = await v.tools.cs.uuid(v.device);
  if (uuid !== v.p.luksUuid) throw new AdeError('EncryptionFailed', { device: v.device, cause: `it holds LUKS UUID ${uuid}, not ${v.p.luksUuid} as journaled; refusing to touch it`, log: 'the extension log' });
  return true;
}

/** cryptsetup does not check: encrypting a file system that overlaps the freed tail cuts its end off. */
async function fitsBefore(v: VolumeRun, target: number, shiftBytes: number): Promise<ExtInfo> {
  const info = await v.tools.fs.extInfo(v.device);
  if (info.blockCount * info.blockSize > target) {
    throw new AdeError('FileSystemFull', { device: v.device, needed: `${shiftBytes / 2 ** 20} MiB`, cause: `it is still ${info.blockCount * info.blockSize} bytes after resize2fs, and only ${target} fit`, mountpoint: v.p.mountpoint });
  }
  return info;
}

export const INPLACE_STEPS: readonly Step[] = [
  escrowStep,
  { name: 'unmount', async run(v) { if (!(await isOurs(v))) await ensureUnmounted(v, v.p.mountpoint); } },
  { name: 'fsck', async run(v) { if (!(await isOurs(v))) await v.tools.fs.fsck(v.device); } },
  {
    name: 'shrink',
    async run(v) {
      if (await isOurs(v)) return;
      const deviceBytes = await v.tools.fs.deviceBytes(v.device);
      // Chosen once and journaled: the init after a restart must free exactly what this shrink made room for.
      const info = await v.tools.fs.extInfo(v.device);
      let shift = v.p.shiftBytes;
      if (shift === undefined) {
        shift = dataShiftBytes(deviceBytes, shrinkRoomBytes(info, deviceBytes, await v.tools.fs.extMinBytes(v.device, info.blockSize)));
        v.save({ shiftBytes: shift });
      }
      const target = deviceBytes - shift;
      // The init checks that it worked (resize2fs may stop short).
      if (info.blockCount * info.blockSize > target) await v.tools.fs.shrink(v.device, target - (target % info.blockSize), { pastEstimate: true });
    },
  },
  {
    name: 'init',
    async run(v) {
      if (await isOurs(v)) return;
      const deviceBytes = await v.tools.fs.deviceBytes(v.device);
      // The shrink has just journaled it; a journal from before it was chosen shrank by the old fixed 32 MiB.
      const shiftBytes = v.p.shiftBytes ?? MIN_SHIFT_BYTES;
      const info = await fitsBefore(v, deviceBytes - shiftBytes, shiftBytes);
      await v.tools.cs.initEncrypt(v.device, await needKey(v), { uuid: v.p.luksUuid, name: v.p.mapperName, shiftBytes, sectorSize: sectorSizeFor(info.blockSize, deviceBytes), generatedKey: v.keys.generatesKeys });
    },
  },
  { name: 'open', run: (v) => ensureOpen(v) },
  { name: 'mount', run: (v) => ensureMounted(v, mapperPath(v.p)) },
  { name: 'boot', async run(v) { writeBoot(v, (t) => encryptedBoot(t, v.p)); } },
  { name: 'reencrypt', run: (v) => resumeReencrypt(v, v.device) },
  { name: 'grow', run: (v) => v.tools.fs.grow(mapperPath(v.p), v.p.fstype, v.p.mountpoint) },
  { name: 'record', async run(v) { writeRecord(v, 'encrypted'); } },
];
