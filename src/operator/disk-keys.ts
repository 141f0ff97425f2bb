// Which Key Vault secret opens which managed disk, written onto the disks once the extension reports their
// volumes Encrypted, where single-pass ADE keeps it: each disk's encryptionSettingsCollection (version 1.1).
// The platform reads it from there to fill the VM's BEK VOLUME at every start, and Azure Backup and the portal
// read it to know the disk is encrypted. Never the VM model's osDisk.encryptionSettings: that field marks the
// old dual-pass ADE, and `az vm encryption` then insists on an AAD application. Pure.
import type { VolumeDetail } from '../shared/report.ts';
import type { DiskRef, KeyRef } from './arm.ts';

export interface DiskKeys { disk: DiskRef; keys: KeyRef[] }
export interface Vault { id: string; vaultUri: string }
export interface Kek { url: string; vaultId: string }

/** The data disk's LUN a volume row names by Azure's own links (WALinuxAgent's scsi1/lunN, azure-vm-utils' by-lun). */
export function lunOf(device: string): number | undefined {
  const m = /^\/dev\/disk\/azure\/(?:scsi\d+\/lun(\d+)(?:-part\d+)?|data\/by-lun\/(\d+)(?:-part\d+)?)$/.exec(device);
  return m ? Number(m[1] ?? m[2]) : undefined;
}

/** The vault a Key Vault URL belongs to (its origin, lower case); '' for no URL or a malformed one. */
export const vaultOrigin = (url: string | undefined): string => { try { return url ? new URL(url).origin.toLowerCase() : ''; } catch { return ''; } };

/**
 * The key references to write: one entry per encrypted volume with an escrowed secret, on the disk it lives on
 * (the OS disk for `/`, the data disk of its LUN). `unplaced` are the encrypted volumes no disk could be found
 * for (no LUN link, e.g. LVM across disks) or whose secret is in another vault than this one.
 */
export function diskKeyPlan(disks: readonly DiskRef[], volumes: readonly VolumeDetail[], vault: Vault, kek?: Kek): { writes: DiskKeys[]; unplaced: VolumeDetail[] } {
  const byDisk = new Map<string, DiskKeys>();
  const unplaced: VolumeDetail[] = [];
  for (const v of volumes) {
    if (v.state !== 'Encrypted' || !v.secretUrl) continue;
    const lun = lunOf(v.device);
    const disk = v.mountpoint === '/' ? disks.find((d) => d.lun === undefined) : lun === undefined ? undefined : disks.find((d) => d.lun === lun);
    if (!disk || vaultOrigin(v.secretUrl) !== vaultOrigin(vault.vaultUri)) { unplaced.push(v); continue; }
    const entry = byDisk.get(disk.id) ?? { disk, keys: [] };
    if (!entry.keys.some((k) => k.secretUrl === v.secretUrl)) {
      entry.keys.push({ secretUrl: v.secretUrl, vaultId: vault.id, ...(kek ? { kekUrl: kek.url, kekVaultId: kek.vaultId } : {}) });
    }
    byDisk.set(disk.id, entry);
  }
  return { writes: [...byDisk.values()], unplaced };
}

/** After a decryption: the data disks that still carry key references (the OS disk keeps its own). */
export function disksToClear(disks: readonly DiskRef[], views: ReadonlyArray<{ name: string; encryptionSettings?: unknown[] }>): DiskRef[] {
  const keyed = new Set(views.filter((v) => (v.encryptionSettings?.length ?? 0) > 0).map((v) => v.name.toLowerCase()));
  return disks.filter((d) => d.lun !== undefined && keyed.has(d.name.toLowerCase()));
}
