// EnableEncryptionFormatAll of one data volume: its content is erased. escrow → unmount → luksFormat →
// open → mkfs (the volume's previous type, ext4 if none) → mount at the same place with the same options →
// crypttab/fstab. The LUKS UUID we chose tells "formatted by us" (resume) from anything else.
import { AdeError } from '../shared/errors.ts';
import { encryptedBoot } from './boot.ts';
import { ensureMounted, ensureOpen, ensureUnmounted, escrowStep, mapperPath, needKey, writeBoot, writeRecord, type Step, type VolumeRun } from './steps.ts';

async function formatted(v: VolumeRun): Promise<boolean> {
  if (!(await v.tools.cs.isLuks(v.device))) return false;
  const uuid = await v.tools.cs.uuid(v.device);
  if (uuid !== v.p.luksUuid) throw new AdeError('EncryptionFailed', { device: v.device, cause: `it holds LUKS UUID ${uuid}, not ${v.p.luksUuid} as journaled; refusing to format it`, log: 'the extension log' });
  return true;
}

export const FORMAT_STEPS: readonly Step[] = [
  escrowStep,
  { name: 'unmount', async run(v) { if (!(await formatted(v))) await ensureUnmounted(v, v.p.mountpoint); } },
  { name: 'format', async run(v) { if (!(await formatted(v))) await v.tools.cs.format(v.device, await needKey(v), { uuid: v.p.luksUuid, generatedKey: v.keys.generatesKeys }); } },
  { name: 'open', run: (v) => ensureOpen(v) },
  {
    name: 'mkfs',
    async run(v) {
      // Once a file system is on the mapping it may already hold the user's new data: never again.
      if (await v.tools.fs.probeType(mapperPath(v.p))) return;
      await v.tools.fs.mkfs(mapperPath(v.p), v.p.fstype || 'ext4');
    },
  },
  { name: 'mount', run: (v) => ensureMounted(v, mapperPath(v.p)) },
  { name: 'boot', async run(v) { writeBoot(v, (t) => encryptedBoot(t, v.p)); } },
  { name: 'record', async run(v) { writeRecord(v, 'encrypted'); } },
];
