// EnableEncryption of one ext2/3/4 data volume, in place and (but for one brief unmount) online:
// escrow → unmount → e2fsck → shrink by the header area → `reencrypt --encrypt --init-only` (activates the
// future mapping) → mount on it → crypttab/fstab → `reencrypt --resume-only` online → grow. Steps before the
// LUKS header exists are skipped once it does; after, each checks the mapping, the mount and the metadata.
import { AdeError } from '../shared/errors.ts';
import { REDUCE_DEVICE_BYTES } from '../system/cryptsetup.ts';
import { encryptedBoot } from './boot.ts';
import { ensureMounted, ensureOpen, ensureUnmounted, escrowStep, mapperPath, needKey, resumeReencrypt, writeBoot, writeRecord, type Step, type VolumeRun } from './steps.ts';

/** True once the LUKS2 header is on the device; the plaintext-side steps must then never run again. */
async function isOurs(v: VolumeRun): Promise<boolean> {
  if (!(await v.tools.cs.isLuks(v.device))) return false;
  const uuid = await v.tools.cs.uuid(v.device);
  if (uuid !== v.p.luksUuid) throw new AdeError('EncryptionFailed', { device: v.device, cause: `it holds LUKS UUID ${uuid}, not ${v.p.luksUuid} as journaled; refusing to touch it`, log: 'the extension log' });
  return true;
}

export const INPLACE_STEPS: readonly Step[] = [
  escrowStep,
  { name: 'unmount', async run(v) { if (!(await isOurs(v))) await ensureUnmounted(v, v.p.mountpoint); } },
  { name: 'fsck', async run(v) { if (!(await isOurs(v))) await v.tools.fs.fsck(v.device); } },
  {
    name: 'shrink',
    async run(v) {
      if (await isOurs(v)) return;
      const target = (await v.tools.fs.deviceBytes(v.device)) - REDUCE_DEVICE_BYTES;
      const info = await v.tools.fs.extInfo(v.device);
      if (info.blockCount * info.blockSize > target) await v.tools.fs.shrink(v.device, target - (target % info.blockSize));
      // cryptsetup does not check: encrypting a file system that overlaps the freed tail cuts its end off.
      const after = await v.tools.fs.extInfo(v.device);
      if (after.blockCount * after.blockSize > target) {
        throw new AdeError('FileSystemFull', { device: v.device, needed: '32 MiB', cause: `it is still ${after.blockCount * after.blockSize} bytes after resize2fs`, mountpoint: v.p.mountpoint });
      }
    },
  },
  {
    name: 'init',
    async run(v) {
      if (await isOurs(v)) return;
      await v.tools.cs.initEncrypt(v.device, await needKey(v), { uuid: v.p.luksUuid, name: v.p.mapperName });
    },
  },
  { name: 'open', run: (v) => ensureOpen(v) },
  { name: 'mount', run: (v) => ensureMounted(v, mapperPath(v.p)) },
  { name: 'boot', async run(v) { writeBoot(v, (t) => encryptedBoot(t, v.p)); } },
  { name: 'reencrypt', run: (v) => resumeReencrypt(v, v.device) },
  { name: 'grow', run: (v) => v.tools.fs.grow(mapperPath(v.p), v.p.fstype, v.p.mountpoint) },
  { name: 'record', async run(v) { writeRecord(v, 'encrypted'); } },
];
