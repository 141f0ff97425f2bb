// Boot unlock for data volumes: systemd-cryptsetup-generator reads /etc/crypttab (persistent device
// name, luks,nofail, key file on the key volume) and fstab mounts /dev/mapper/<name> with nofail, so a
// volume that cannot be unlocked never stops the boot. The key volume gets ADE's fstab line. Pure text
// transforms; the step machines write the results atomically (crypttab before fstab).
import { addCrypttabEntry, parseCrypttab, removeCrypttabEntry, findCrypttabEntry, type CrypttabEntry } from '../parsers/crypttab.ts';
import { addFstabEntry, findFstabEntry, parseFstab, replaceFstabEntry } from '../parsers/fstab.ts';
import type { VolumeProgress } from './volume-journal.ts';

export const BEK_MOUNT_POINT = '/mnt/azure_bek_disk';
/**
 * ADE's line plus fmask/dmask: vfat has no per-file modes, and without masks every user could read the
 * key files (ADE's `defaults` leaves them 0755). The platform attaches the key volume before the VM starts,
 * so a short device timeout (30 s, room for slow udev) only shortens the wait when it is missing (network unlock takes over then).
 */
export const BEK_FSTAB = { spec: 'LABEL=BEK VOLUME', file: BEK_MOUNT_POINT, vfstype: 'auto', mntops: ['defaults', 'discard', 'nofail', 'fmask=0277', 'dmask=0077', 'x-systemd.device-timeout=30s'], freq: 0, passno: 0 };

export function keyFilePath(fileName: string): string {
  return `${BEK_MOUNT_POINT}/${fileName}`;
}

/** The Azure LUN link when there is one (ADE's choice), else the LUKS UUID, which never changes. */
export function crypttabDevice(p: Pick<VolumeProgress, 'persistentName' | 'luksUuid'>): string {
  return p.persistentName ?? `UUID=${p.luksUuid}`;
}

export interface CrypttabExtra {
  options?: readonly string[];
  /** Overrides the device (a decryption's data device carries no LUKS UUID once its header is exported). */
  device?: string;
}

export function crypttabEntryFor(p: VolumeProgress, extra: CrypttabExtra = {}): Omit<CrypttabEntry, 'line'> {
  // headless=true: with the key volume missing, fail at once instead of waiting for a password nobody types;
  // the network unlock (ade-linux-unlock.service) then opens the volume from Key Vault. systemd < 250 ignores it.
  return { name: p.mapperName, device: extra.device ?? crypttabDevice(p), keyfile: keyFilePath(p.fileName), options: ['luks', 'nofail', 'headless=true', ...(extra.options ?? [])] };
}

function sameEntry(a: Omit<CrypttabEntry, 'line'> | undefined, b: Omit<CrypttabEntry, 'line'>): boolean {
  return !!a && a.device === b.device && a.keyfile === b.keyfile && a.options.join(',') === b.options.join(',');
}

function setCrypttab(text: string, want: Omit<CrypttabEntry, 'line'>): string {
  if (sameEntry(findCrypttabEntry(parseCrypttab(text), want.name), want)) return text;
  return addCrypttabEntry(removeCrypttabEntry(text, want.name), want);
}

export interface BootTexts { fstab: string; crypttab: string }

/** fstab mounts the mapping (nofail kept/added), crypttab opens it, the key volume is mounted. */
export function encryptedBoot(t: BootTexts, p: VolumeProgress, extra: CrypttabExtra = {}): BootTexts {
  const crypttab = setCrypttab(t.crypttab, crypttabEntryFor(p, extra));
  let fstab = t.fstab;
  const mapper = `/dev/mapper/${p.mapperName}`;
  const mntops = p.fstab.mntops.includes('nofail') ? p.fstab.mntops : [...p.fstab.mntops, 'nofail'];
  const cur = findFstabEntry(parseFstab(fstab), p.mountpoint);
  if (!cur) fstab = addFstabEntry(fstab, { ...p.fstab, spec: mapper, mntops }, ['added by ade-linux']);
  else if (cur.spec !== mapper || cur.mntops.join(',') !== mntops.join(',')) fstab = replaceFstabEntry(fstab, p.mountpoint, { spec: mapper, mntops });
  if (!findFstabEntry(parseFstab(fstab), BEK_MOUNT_POINT)) fstab = addFstabEntry(fstab, BEK_FSTAB, ['key volume, added by ade-linux']);
  return { fstab, crypttab };
}

/** The original fstab entry back (as recorded before encryption), the crypttab entry gone. */
export function plainBoot(t: BootTexts, p: VolumeProgress): BootTexts {
  const crypttab = removeCrypttabEntry(t.crypttab, p.mapperName);
  const o = p.fstab;
  const cur = findFstabEntry(parseFstab(t.fstab), p.mountpoint);
  const fstab = !cur ? addFstabEntry(t.fstab, o)
    : cur.spec === o.spec && cur.mntops.join(',') === o.mntops.join(',') && cur.vfstype === o.vfstype ? t.fstab
    : replaceFstabEntry(t.fstab, p.mountpoint, { spec: o.spec, vfstype: o.vfstype, mntops: o.mntops, freq: o.freq, passno: o.passno });
  return { fstab, crypttab };
}
