// EnableEncryption of the OS disk in place, with one restart and no copy of the root anywhere:
// escrow → `reencrypt --encrypt --init-only` with the header detached on /boot (nothing on the disk is
// written yet, so the running system goes on unchanged) → our initramfs hook and every initramfs rebuilt →
// fstab mounts / from the mapping → restart: the initramfs opens the disk as /dev/mapper/osencrypt and the
// system comes up on it → `reencrypt --resume-only --active-name` online → a backup of the header → record.
// Every step checks the machine first, so the worker that enable restarts after the reboot (or after a
// power cut anywhere) runs the list from the top and converges.
import { AdeError } from '../shared/errors.ts';
import { addFstabEntry, findFstabEntry, parseFstab, replaceFstabEntry } from '../parsers/fstab.ts';
import type { OsBoot, OsBootConf } from '../system/os-boot.ts';
import { BEK_LABEL } from '../system/bek-volume.ts';
import { NULL_CIPHER } from '../system/cryptsetup.ts';
import type { LuksMetadata } from '../parsers/luksdump.ts';
import { escrowStep, mapperPath, needKey, RestartPending, resumeReencrypt, Stopped, writeRecord, type Step, type VolumeRun } from './steps.ts';
import type { OsVolumeDetails } from './volume-journal.ts';

export const OS_MAPPER = 'osencrypt';
/** ADE's name for the OS volume's key file on the key volume. */
export const OS_KEY_FILE = 'LinuxPassPhraseFileName';
/** cryptsetup's hotzone is bounded by this (and by a quarter of RAM): memory stays flat whatever the disk's size. */
export const OS_HOTZONE = '32M';
/** The recovery passphrase's name in its secret's DiskEncryptionKeyFileName tag (never a file on the key volume). */
export const OS_RECOVERY_FILE = 'LinuxRecoveryPassphrase';
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
    // Once the split /boot is in use, the initramfs must never try to split again: the conf drops the plan.
    ...(d.split && !passed('bootloader', v) ? { split: d.split } : {}),
    ...(v.p.secretUrl ? { kv: { secret: v.p.secretUrl, ...(v.p.kekUrl ? { kek: v.p.kekUrl } : {}), ...(v.p.algorithm ? { algorithm: v.p.algorithm } : {}), ...(d.recovery ? { recovery: d.recovery.secretUrl } : {}) } } : {}),
    ...(d.identity ? { identity: d.identity } : {}),
  };
}

/** Whether the running root is already mounted from the mapping: the restart has happened. */
async function onMapper(v: VolumeRun): Promise<boolean> {
  return (await v.tools.mnt.sourceAt('/')) === mapperPath(v.p);
}

/**
 * The recovery passphrase, escrowed like the key (wrapped by the KEK when there is one) before the disk is
 * touched, so the conf the initramfs gets can name its secret. Its keyslot comes with the header (headerStep).
 */
const recoveryStep: Step = {
  name: 'recovery',
  async run(v) {
    const { d } = details(v);
    if (d.recovery) return;
    const passphrase = v.keys.newRecoveryPassphrase();
    try {
      const r = await v.keys.keyVault.seal({ volume: { id: `${v.p.luksUuid}/recovery`, fileName: OS_RECOVERY_FILE }, passphrase });
      v.save({ os: { ...d, recovery: { secretUrl: r.secretUrl, ...(r.kekUrl ? { kekUrl: r.kekUrl } : {}), ...(r.algorithm ? { algorithm: r.algorithm } : {}) } } });
      v.log.info(`Recovery passphrase of ${v.device} escrowed as ${r.secretUrl}: typed at the serial console when no other protector opens the disk`);
    } finally {
      passphrase.fill(0);
    }
  },
};

/**
 * The recovery passphrase's keyslot where the header could not take it before the reencryption (a key with a
 * newline, or a header written by an earlier version): once cryptsetup allows keyslot changes again.
 */
const recoveryKeyStep: Step = {
  name: 'recoverykey',
  async run(v) {
    const { d } = details(v);
    if (!d.recovery) return;
    const passphrase = await v.keys.keyVault.unseal({ kind: 'keyvault', secretUrl: d.recovery.secretUrl });
    try {
      if (await v.tools.cs.testKey(v.device, passphrase, { header: d.header })) return;
      await v.tools.cs.addKey(d.header, await needKey(v), passphrase);
      v.log.info(`${v.device}: the recovery passphrase opens the disk too (a keyslot of its own)`);
    } finally {
      passphrase.fill(0);
    }
  },
};

/** formatNullDetached's header, before its reencryption begins: every segment cipher_null. */
function isNullHeader(meta: LuksMetadata | undefined): boolean {
  return !!meta && !meta.reencryptInProgress && meta.segments.length > 0 && meta.segments.every((s) => s.encryption === NULL_CIPHER);
}

/**
 * The detached header, metadata only. With a recovery passphrase (escrowed by recoveryStep) it opens the disk
 * from the restart on, not only once the reencryption is over: cryptsetup refuses keyslot changes during a
 * reencryption, so the header starts as a cipher_null one (the partition as it is), the recovery passphrase
 * gets its keyslot, and only then does a reencryption to AES-XTS begin, which gives each keyslot a twin for
 * the new key. A key that holds a newline (an operator's own Passphrase) cannot go through cryptsetup's
 * line-by-line prompts: that disk gets the plain encryption header and its recovery keyslot at the end
 * (recoveryKeyStep). Each sub-step checks the header first, so a power cut anywhere redoes only what is missing.
 */
const headerStep: Step = {
  name: 'header',
  async run(v) {
    const { os, d } = details(v);
    const cs = v.tools.cs;
    const uuid = await cs.uuid(d.header);
    if (uuid && uuid !== v.p.luksUuid) throw new AdeError('EncryptionFailed', { device: v.device, cause: `${d.header} holds LUKS UUID ${uuid}, not ${v.p.luksUuid} as journaled; refusing to touch it`, log: 'the extension log' });
    // Ours and past the cipher_null stage (reencrypting, or encrypted long since): nothing to do, ever again.
    if (uuid && !isNullHeader(await cs.dump(d.header))) return;
    const key = await needKey(v);
    const recovery = d.recovery && !key.includes(0x0a) ? await v.keys.keyVault.unseal({ kind: 'keyvault', secretUrl: d.recovery.secretUrl }) : undefined;
    try {
      // No header, or one a power cut tore while it was written (not LUKS yet): nothing on the disk has been
      // written at this point, so writing it again is safe.
      if (!uuid) os.prepareHeaderDir(d.header);
      if (!recovery) {
        // (a cipher_null header is only ever written with a recovery passphrase; without one, it starts alone)
        if (!uuid) await cs.initEncryptDetached(v.device, key, { uuid: v.p.luksUuid, header: d.header });
        else await cs.initReencryptDetached(v.device, [key], { header: d.header, generatedKey: v.keys.generatesKeys });
        return;
      }
      if (!uuid) await cs.formatNullDetached(v.device, key, { uuid: v.p.luksUuid, header: d.header, generatedKey: v.keys.generatesKeys });
      if (!(await cs.testKey(v.device, recovery, { header: d.header }))) await cs.addKey(d.header, key, recovery);
      await cs.initReencryptDetached(v.device, [key, recovery], { header: d.header, generatedKey: v.keys.generatesKeys });
      v.log.info(`${v.device}: the recovery passphrase opens the disk from the restart on (a keyslot of its own)`);
    } finally {
      recovery?.fill(0);
    }
  },
};

const plumbingStep: Step = {
  name: 'plumbing',
  async run(v) {
    const { os, d } = details(v);
    // Booted on the mapping, or this boot's initramfs refused the split: either way the initramfs that ran was
    // ours, whole; with this conf installed, building it again would only delay the encryption or the 607.
    if ((await onMapper(v) || os.splitRefusal() !== undefined) && os.hasConf(bootConf(v))) return;
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
    let next = cur.spec !== mapperPath(v.p) ? replaceFstabEntry(text, '/', { spec: mapperPath(v.p) }) : text;
    // The /boot the initramfs splits off the root: mounted from the next boot on, so kernels go there.
    const split = details(v).d.split;
    if (split && !findFstabEntry(parseFstab(next), '/boot')) {
      next = addFstabEntry(next, { spec: `UUID=${split.bootUuid}`, file: '/boot', vfstype: 'ext4', mntops: ['defaults'], freq: 0, passno: 2 },
        ['/boot, split off the root by ade-linux: it holds the kernels and the encrypted root\'s LUKS2 header']);
    }
    if (next !== text) f.writeFstab(next);
  },
};

/** Whether the journal says this volume went past step `name` (a step that must run once, not every resume). */
const passed = (name: string, v: VolumeRun): boolean => {
  const at = (n: string) => OS_STEPS.findIndex((s) => s.name === n);
  return v.p.step !== '' && at(v.p.step) >= at(name);
};

/** Split only, before the restart: no initramfs-less boot (Ubuntu's 40-force-partuuid.cfg) would mount the raw root. */
const grubCfgStep: Step = {
  name: 'grubcfg',
  async run(v) {
    const { os, d } = details(v);
    if (!d.split || passed('grubcfg', v) || await onMapper(v)) return;
    if (os.dropForcePartuuid()) v.log.info(`removed /etc/default/grub.d/40-force-partuuid.cfg: every boot must go through the initramfs`);
    await os.updateGrub();
  },
};

/**
 * Split only, after the restart and before the first byte is encrypted: grub (BIOS core.img, the ESP's
 * binaries and stub) and grub.cfg are written again, to read /boot from its new partition. Until this step
 * the old grub still reads the root's own /boot directory, which holds the same initramfs (built before the
 * restart), and the root is still plaintext; from the reencryption on, only the new /boot is readable.
 */
const bootloaderStep: Step = {
  name: 'bootloader',
  async run(v) {
    const { os, d } = details(v);
    if (!d.split || passed('bootloader', v)) return;
    if (!(await os.bootMountedFrom(d.split.bootUuid))) {
      throw new AdeError('BootLoaderUnsupported', { reason: `/boot is not mounted from the partition split off the root (UUID=${d.split.bootUuid}); the initramfs did not finish the split` });
    }
    const efiDir = await os.espMountpoint();
    const done = await os.installGrub({ partition: v.device, ...(efiDir ? { efiDir } : {}) });
    await os.updateGrub();
    v.log.info(`grub installed again for the split /boot: ${done.join(', ') || 'no grub platform found'}`);
    // The conf without the split plan, in every initramfs: a later boot only opens the disk.
    const { split: _split, ...conf } = bootConf(v);
    os.install(d.builder, conf);
    await os.rebuild(d.builder);
  },
};

const restartStep: Step = {
  name: 'restart',
  async run(v) {
    if (await onMapper(v)) return;
    const { os, d } = details(v);
    // the restart happened, and its initramfs booted the plaintext root rather than split: restarting again
    // would only do the same until someone frees the room, and the VM is up meanwhile
    const refusal = os.splitRefusal();
    if (refusal !== undefined) throw new AdeError('OsSplitRefused', { reason: refusal });
    if (d.deferRestart) throw new RestartPending();
    v.log.info('restarting the VM: the initramfs opens the OS disk and the encryption goes on after the boot');
    await os.reboot();
    // systemd stops the worker on the way down (SIGTERM → the signal); the next enable resumes after the boot.
    await new Promise<void>((resolve) => {
      // systemd's SIGTERM often comes while systemctl is still returning: an aborted signal fires no event.
      if (v.signal.aborted) { resolve(); return; }
      const t = setTimeout(resolve, RESTART_WAIT_MS);
      v.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
    if (v.signal.aborted) throw new Stopped();
    throw new AdeError('EncryptionFailed', { device: v.device, cause: `the restart asked for ${RESTART_WAIT_MS / 60_000} minutes ago did not happen`, log: 'the extension log' });
  },
};

export const OS_STEPS: readonly Step[] = [
  escrowStep,
  recoveryStep,
  headerStep,
  plumbingStep,
  fstabStep,
  grubCfgStep,
  restartStep,
  bootloaderStep,
  {
    name: 'reencrypt',
    run: (v) => resumeReencrypt(v, details(v).d.header, { header: details(v).d.header, activeName: v.p.mapperName, resilience: 'checksum', hotzoneSize: OS_HOTZONE }),
  },
  recoveryKeyStep,
  { name: 'backup', run: (v) => details(v).os.backupHeader(details(v).d.header, details(v).d.backup) },
  { name: 'record', async run(v) { writeRecord(v, 'encrypted'); } },
];
