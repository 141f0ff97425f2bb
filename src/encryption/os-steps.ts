// EnableEncryption of the OS disk in place, with one restart and no copy of the root anywhere:
// escrow → `reencrypt --encrypt --init-only` with the header detached on /boot (nothing on the disk is
// written yet, so the running system goes on unchanged) → our initramfs hook and every initramfs rebuilt →
// fstab mounts / from the mapping → restart: the initramfs opens the disk as /dev/mapper/osencrypt and the
// system comes up on it → `reencrypt --resume-only --active-name` online → a backup of the header → record.
// Every step checks the machine first, so the worker that enable restarts after the reboot (or after a
// power cut anywhere) runs the list from the top and converges.
import { AdeError } from '../shared/errors.ts';
import { findFstabEntry, parseFstab, replaceFstabEntry } from '../parsers/fstab.ts';
import type { OsBoot, OsBootConf } from '../system/os-boot.ts';
import { BEK_LABEL } from '../system/bek-volume.ts';
import { escrowStep, mapperPath, needKey, RestartPending, resumeReencrypt, Stopped, writeRecord, type Step, type VolumeRun } from './steps.ts';
import type { OsVolumeDetails } from './volume-journal.ts';

export const OS_MAPPER = 'osencrypt';
/** ADE's name for the OS volume's key file on the key volume. */
export const OS_KEY_FILE = 'LinuxPassPhraseFileName';
/** cryptsetup's hotzone is bounded by this (and by a quarter of RAM): memory stays flat whatever the disk's size. */
export const OS_HOTZONE = '32M';
/** How long the worker waits for the restart it asked for before it calls it a failure. */
const RESTART_WAIT_MS = 10 * 60_000;

function details(v: VolumeRun): { os: OsBoot; d: OsVolumeDetails } {
  if (!v.tools.os || !v.p.os) throw new Error('the OS disk steps need the OS tools and the journaled OS details');
  return { os: v.tools.os, d: v.p.os };
}

export function bootConf(v: VolumeRun): OsBootConf {
  const { d } = details(v);
  return {
    name: v.p.mapperName, data: `PARTUUID=${d.partuuid}`, headerFs: d.headerFs, headerFsType: d.headerFsType,
    header: d.header.replace(/^\/boot\//, ''), keyLabel: BEK_LABEL, keyFile: v.p.fileName,
  };
}

/** Whether the running root is already mounted from the mapping: the restart has happened. */
async function onMapper(v: VolumeRun): Promise<boolean> {
  return (await v.tools.mnt.sourceAt('/')) === mapperPath(v.p);
}

const headerStep: Step = {
  name: 'header',
  async run(v) {
    const { os, d } = details(v);
    const uuid = await v.tools.cs.uuid(d.header);
    if (uuid === v.p.luksUuid) return;
    if (uuid) throw new AdeError('EncryptionFailed', { device: v.device, cause: `${d.header} holds LUKS UUID ${uuid}, not ${v.p.luksUuid} as journaled; refusing to touch it`, log: 'the extension log' });
    // No header, or one a power cut tore while it was written (not LUKS yet): nothing on the disk has been
    // written at this point, so writing it again is safe.
    os.prepareHeaderDir(d.header);
    await v.tools.cs.initEncryptDetached(v.device, await needKey(v), { uuid: v.p.luksUuid, header: d.header });
  },
};

const plumbingStep: Step = {
  name: 'plumbing',
  async run(v) {
    const { os, d } = details(v);
    if (await onMapper(v) && os.hasConf(bootConf(v))) return;
    os.install(d.builder, bootConf(v));
    const t0 = performance.now();
    await os.rebuild(d.builder);
    v.log.info(`initramfs rebuilt with ${d.builder}`, { ms: Math.round(performance.now() - t0) });
  },
};

const fstabStep: Step = {
  name: 'fstab',
  async run(v) {
    const f = v.tools.files;
    const text = f.readFstab();
    const cur = findFstabEntry(parseFstab(text), '/');
    if (!cur) throw new AdeError('BootLoaderUnsupported', { reason: '/etc/fstab has no entry for /' });
    // By the mapping's path: until the reencryption passes its start the raw partition still carries the same
    // file-system UUID and label, so UUID= or LABEL= could name either.
    if (cur.spec !== mapperPath(v.p)) f.writeFstab(replaceFstabEntry(text, '/', { spec: mapperPath(v.p) }));
  },
};

const restartStep: Step = {
  name: 'restart',
  async run(v) {
    if (await onMapper(v)) return;
    const { os, d } = details(v);
    if (d.deferRestart) throw new RestartPending();
    v.log.info('restarting the VM: the initramfs opens the OS disk and the encryption goes on after the boot');
    await os.reboot();
    // systemd stops the worker on the way down (SIGTERM → the signal); the next enable resumes after the boot.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, RESTART_WAIT_MS);
      v.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
    if (v.signal.aborted) throw new Stopped();
    throw new AdeError('EncryptionFailed', { device: v.device, cause: `the restart asked for ${RESTART_WAIT_MS / 60_000} minutes ago did not happen`, log: 'the extension log' });
  },
};

export const OS_STEPS: readonly Step[] = [
  escrowStep,
  headerStep,
  plumbingStep,
  fstabStep,
  restartStep,
  {
    name: 'reencrypt',
    run: (v) => resumeReencrypt(v, details(v).d.header, { header: details(v).d.header, activeName: v.p.mapperName, resilience: 'checksum', hotzoneSize: OS_HOTZONE }),
  },
  { name: 'backup', run: (v) => details(v).os.backupHeader(details(v).d.header, details(v).d.backup) },
  { name: 'record', async run(v) { writeRecord(v, 'encrypted'); } },
];
