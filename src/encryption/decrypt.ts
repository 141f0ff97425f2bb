// DisableEncryption of one data volume this extension encrypted, online: LUKS2 `reencrypt --decrypt` of a
// data-shift device must export its header (`--header <file>`, a file that must not exist yet; cryptsetup
// refuses otherwise: "LUKS2 decryption requires --header option") — it lives in the state dir on the OS
// disk, never on the volume. While it runs, crypttab names that header so a reboot reopens the volume. Then:
// unmount the mapping, close it, restore the original fstab entry, drop the crypttab entry, mount the
// plain device, grow the file system into the freed header area, delete the header and the record.
import { encryptedBoot, plainBoot } from './boot.ts';
import { steadiestName } from './plan.ts';
import { ensureMounted, ensureOpen, ensureUnmounted, mapperPath, needKey, resumeReencrypt, writeBoot, writeRecord, type Step, type VolumeRun } from './steps.ts';

const header = (v: VolumeRun) => v.tools.records.headerPath(v.p.mapperName);

/** Decryption is over: the exported header describes only plaintext, or is gone and so is the LUKS header. */
async function finished(v: VolumeRun): Promise<boolean> {
  const h = header(v);
  if (v.tools.records.hasHeader(v.p.mapperName)) {
    const meta = await v.tools.cs.dump(h);
    return !!meta && !meta.reencryptInProgress && meta.segments.every((s) => s.type === 'linear');
  }
  return !(await v.tools.cs.isLuks(v.device));
}

async function initialized(v: VolumeRun): Promise<boolean> {
  if (!v.tools.records.hasHeader(v.p.mapperName)) return false;
  if (await v.tools.cs.dump(header(v))) return true;
  // cryptsetup writes the exported header before it touches the device: an unreadable one is a kill
  // during that write, and the device still holds its own header.
  v.tools.records.removeHeader(v.p.mapperName);
  return false;
}

/** systemd-escape of a unit name's instance part: a mapper name holds only [A-Za-z0-9-]. */
const escapeUnit = (s: string) => s.replace(/[^A-Za-z0-9:_.]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/**
 * A crypttab entry's mapping is systemd's: systemd-cryptsetup-generator makes the mapper device require
 * systemd-cryptsetup@<name>.service (so the unit starts, "already active", whenever the mapping appears,
 * whoever opened it) and binds that unit to the device's by-uuid link. `reencrypt --decrypt --init-only`
 * moves the header off the device, the link vanishes and systemd stops the unit: it unmounts the volume and
 * closes the mapping under cryptsetup (seen in the lab: "table ioctl ... No such device or address").
 * So before init: mask the unit until the next boot (the decrypting crypttab entry, which names the device,
 * not its UUID, takes over after a reboot), and if it is active, unmount and stop it (closes the mapping);
 * ensureOpen then reopens the mapping outside any unit and the mount step mounts it again.
 */
async function releaseFromSystemd(v: VolumeRun): Promise<void> {
  const unit = `systemd-cryptsetup@${escapeUnit(v.p.mapperName)}.service`;
  if (!(await v.tools.mnt.maskUnitUntilReboot(unit))) return;
  if (!(await v.tools.mnt.unitActive(unit))) return;
  await ensureUnmounted(v, v.p.mountpoint);
  await v.tools.mnt.stopUnit(unit);
}

/** During decryption the data device has no LUKS UUID left: crypttab names it by its steadiest name. */
const decryptingBoot = (v: VolumeRun) => writeBoot(v, (t) => encryptedBoot(t, v.p, { options: [`header=${header(v)}`], device: steadiestName(v.p, v.device) }));

export const DECRYPT_STEPS: readonly Step[] = [
  { name: 'key', async run(v) { if (!(await finished(v))) { await needKey(v); writeRecord(v, 'decrypting'); } } },
  {
    name: 'init',
    async run(v) {
      if ((await initialized(v)) || (await finished(v))) return;
      await releaseFromSystemd(v);
      await ensureOpen(v);
      await v.tools.cs.initDecrypt(v.device, await needKey(v), { header: header(v) });
    },
  },
  { name: 'boot-decrypting', async run(v) { if (!(await finished(v))) decryptingBoot(v); } },
  { name: 'open', async run(v) { if (!(await finished(v))) await ensureOpen(v, header(v)); } },
  { name: 'mount', async run(v) { if (!(await finished(v))) await ensureMounted(v, mapperPath(v.p)); } },
  { name: 'reencrypt', run: (v) => resumeReencrypt(v, header(v), { header: header(v) }) },
  {
    name: 'unmount',
    async run(v) {
      const src = await v.tools.mnt.sourceAt(v.p.mountpoint);
      if (src === mapperPath(v.p) || src?.endsWith(`/${v.p.mapperName}`)) await ensureUnmounted(v, v.p.mountpoint);
    },
  },
  { name: 'close', async run(v) { if (await v.tools.cs.isActive(v.p.mapperName)) await v.tools.cs.close(v.p.mapperName); } },
  {
    name: 'boot',
    async run(v) {
      // A format-and-encrypt made a new file system: its UUID is not the one the original line names.
      let p = v.p;
      if (p.fstab.spec.startsWith('UUID=')) {
        const uuid = await v.tools.fs.probeUuid(v.device);
        if (uuid && `UUID=${uuid}` !== p.fstab.spec) p = { ...p, fstab: { ...p.fstab, spec: `UUID=${uuid}` } };
      }
      writeBoot(v, (t) => plainBoot(t, p));
    },
  },
  { name: 'mount-plain', run: (v) => ensureMounted(v, v.device) },
  { name: 'grow', run: (v) => v.tools.fs.grow(v.device, v.p.fstype, v.p.mountpoint) },
  { name: 'cleanup', async run(v) { v.tools.records.removeHeader(v.p.mapperName); v.tools.records.remove(v.p.mapperName); } },
];
