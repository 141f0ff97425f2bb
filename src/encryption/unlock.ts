// Network unlock at boot: every volume we encrypted whose mapping is not open after systemd-cryptsetup
// ran (its key file missing: the key volume was not attached) is opened with the first key protector that
// works — the key volume, then Key Vault — and mounted as /etc/fstab says. Pure: the machine comes in as deps.
import { asAdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { unlockSlots, unlockVolume, type OpenWithKey, type VolumeProtectors } from '../keys/protectors/unlock.ts';
import type { VolumeRecord } from './volume-journal.ts';

export interface UnlockDeps {
  records: readonly VolumeRecord[];
  isOpen(name: string): Promise<boolean>;
  /** The LUKS container's current device path, if attached. */
  locate(r: VolumeRecord): Promise<string | undefined>;
  /** What keeps this volume's key (the Key Vault one reaches the vault of its secret). */
  protectors(r: VolumeRecord): VolumeProtectors;
  open: OpenWithKey;
  isMounted(mountpoint: string): Promise<boolean>;
  /** Mounts by mount point, so /etc/fstab's entry (device, type, options) applies. */
  mount(mountpoint: string): Promise<void>;
  log: Logger;
}

export interface UnlockResult {
  opened: Array<{ name: string; by: string }>;
  alreadyOpen: string[];
  failed: Array<{ name: string; code: number; message: string }>;
}

export async function unlockAll(d: UnlockDeps): Promise<UnlockResult> {
  const out: UnlockResult = { opened: [], alreadyOpen: [], failed: [] };
  // A volume being decrypted is opened with its exported header by the worker itself, not here; the OS
  // volume by the initramfs, before anything of ours runs.
  for (const r of d.records.filter((x) => x.action !== 'os' && (x.state === 'encrypted' || x.state === 'encrypting'))) {
    try {
      if (await d.isOpen(r.mapperName)) {
        out.alreadyOpen.push(r.mapperName);
      } else {
        const device = await d.locate(r);
        if (!device) throw new Error(`its device (${r.persistentName ?? `LUKS UUID ${r.luksUuid}`}) is not attached`);
        const by = await unlockVolume(device, r.mapperName, unlockSlots(d.protectors(r), r), d.open, d.log);
        out.opened.push({ name: r.mapperName, by });
      }
      if (!(await d.isMounted(r.mountpoint))) await d.mount(r.mountpoint);
    } catch (e) {
      const err = asAdeError(e);
      d.log.error(`Could not unlock ${r.mapperName} (${r.mountpoint})`, { code: err.code, message: err.message });
      out.failed.push({ name: r.mapperName, code: err.code, message: err.message });
    }
  }
  return out;
}
