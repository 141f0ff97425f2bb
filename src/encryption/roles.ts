// The disk-role rules listed at the top of discovery.ts, one function each: a role is decided per
// top-level disk and every device on the disk inherits it, except the boot partitions of the OS disk.
import type { BlockDevice } from '../parsers/lsblk.ts';
import type { FstabEntry } from '../parsers/fstab.ts';
import type { VolumeRole } from './discovery.ts';
import {
  ancestors, descendants, deviceOf, disksOf, fstabEntriesOf, fstypeOf, mountpointsOf, resolveSpec, topDisks,
  type DeviceGraph, type MountTable,
} from './device-graph.ts';

const BEK_LABEL = 'bek volume';
const TEMP_LABEL = 'temporary storage';
const RESOURCE_MOUNTS = new Set(['/mnt', '/mnt/resource']);
const NOT_A_FILESYSTEM = new Set(['swap', 'LVM2_member', 'linux_raid_member', 'zfs_member', 'ceph', 'bcache']);

export interface OsDisks {
  /** knames of the disks under `/`. */
  disks: Set<string>;
  /** The device mounted at `/`, when there is one. */
  root?: BlockDevice;
  /** It and everything below it, empty without it. */
  rootChain: Set<string>;
}

/** The disks under `/` (through partitions, LVM, dm-crypt); /dev/disk/azure/root when `/` is not found. */
export function osDisks(g: DeviceGraph, mounts: MountTable): OsDisks {
  const root = g.devices.find((d) => mounts.targets.get(d.kname)?.includes('/'));
  if (root) return { disks: new Set(disksOf(g, root.kname)), root, rootChain: ancestors(g, root.kname) };
  const linked = g.azureLinks['root'] ? resolveSpec(g, g.azureLinks['root']) : undefined;
  return { disks: new Set(linked ? disksOf(g, linked.kname) : []), rootChain: new Set() };
}

/** Disks holding a file system labelled "BEK VOLUME" (the platform's key volume). */
export function bekDisks(g: DeviceGraph): Set<string> {
  return new Set(g.devices.filter((d) => d.label?.trim().toLowerCase() === BEK_LABEL).flatMap((d) => disksOf(g, d.kname)));
}

/** Data-disk LUN by disk kname, from the /dev/disk/azure/scsiN/lunM links. */
export function diskLuns(g: DeviceGraph): Map<string, number> {
  const luns = new Map<string, number>();
  for (const [name, target] of Object.entries(g.azureLinks)) {
    const lun = /^scsi\d+\/lun(\d+)$/.exec(name);
    const d = lun ? resolveSpec(g, target) : undefined;
    if (d) luns.set(d.kname, Number(lun![1]));
  }
  return luns;
}

/** What the platform leaves on a temp disk: mounted or in fstab at /mnt(/resource), its label, ntfs, the v6 model. */
export function hasResourceHint(g: DeviceGraph, disk: BlockDevice, mounts: MountTable, inResourceFstab: ReadonlySet<string>): boolean {
  const on = [...descendants(g, disk.kname)].map((k) => deviceOf(g, k));
  return on.some((d) =>
    mountpointsOf(mounts, d.kname).some((mp) => RESOURCE_MOUNTS.has(mp)) || inResourceFstab.has(d.kname) ||
    d.label?.trim().toLowerCase() === TEMP_LABEL || d.fstype === 'ntfs') ||
    /NVMe Direct Disk/i.test(disk.model ?? '');
}

export interface ResourceInputs {
  mounts: MountTable;
  fstab: readonly FstabEntry[];
  /** Disks already taken: the OS and BEK disks. */
  taken: ReadonlySet<string>;
  luns: ReadonlyMap<string, number>;
}

/**
 * The Azure temporary disk: /dev/disk/azure/resource when udev made it; otherwise a disk with a temp disk
 * hint and no data-disk LUN (data disks always have one — the only thing that tells a data disk an admin
 * mounted at /mnt from the temp disk; without LUN links such a disk is taken for it).
 */
export function resourceDisks(g: DeviceGraph, r: ResourceInputs): Set<string> {
  const link = g.azureLinks['resource'] ? resolveSpec(g, g.azureLinks['resource']) : undefined;
  if (link) return new Set(disksOf(g, link.kname));
  const inResourceFstab = new Set<string>();
  for (const e of r.fstab) if (RESOURCE_MOUNTS.has(e.file)) { const d = resolveSpec(g, e.spec); if (d) inResourceFstab.add(d.kname); }
  return new Set(topDisks(g)
    .filter((disk) => !r.taken.has(disk.kname) && !r.luns.has(disk.kname) && hasResourceHint(g, disk, r.mounts, inResourceFstab))
    .map((disk) => disk.kname));
}

export interface DiskRoles {
  os: OsDisks;
  bek: Set<string>;
  resource: Set<string>;
  luns: Map<string, number>;
}

export function diskRoles(g: DeviceGraph, mounts: MountTable, fstab: readonly FstabEntry[]): DiskRoles {
  const os = osDisks(g, mounts);
  const bek = bekDisks(g);
  const luns = diskLuns(g);
  return { os, bek, luns, resource: resourceDisks(g, { mounts, fstab, taken: new Set([...os.disks, ...bek]), luns }) };
}

/**
 * On the OS disk: `boot` for a partition off the way to `/` that is mounted (or in fstab) at /boot or below
 * it, or has no file system (BIOS boot); `os` for the rest.
 */
export function osDiskRole(g: DeviceGraph, os: OsDisks, d: BlockDevice, mountpoints: readonly string[], fstab: readonly FstabEntry[]): 'os' | 'boot' {
  const onRootPath = os.rootChain.has(d.kname) || ancestors(g, d.kname).has(os.root?.kname ?? '');
  if (onRootPath || d.type !== 'part') return 'os';
  const bootMount = [...mountpoints, ...fstabEntriesOf(g, fstab, d).map((e) => e.file)].some((m) => m === '/boot' || m.startsWith('/boot/'));
  return bootMount || d.fstype === undefined ? 'boot' : 'os';
}

/** A file system or LUKS container, or a dm-crypt mapping: what ADE counts on a data disk. */
export function carriesData(d: BlockDevice, fstype: string | undefined): boolean {
  const hasFs = fstype !== undefined && !NOT_A_FILESYSTEM.has(fstype);
  return hasFs || d.fstype === 'crypto_LUKS' || d.type === 'crypt';
}

export interface RoleInputs {
  mounts: MountTable;
  fstab: readonly FstabEntry[];
  roles: DiskRoles;
}

/** A device's role: its disk's (OS, BEK, resource, first match wins), else data or other by what it holds. */
export function volumeRole(g: DeviceGraph, r: RoleInputs, d: BlockDevice): VolumeRole {
  const disks = disksOf(g, d.kname);
  if (disks.some((k) => r.roles.os.disks.has(k))) return osDiskRole(g, r.roles.os, d, mountpointsOf(r.mounts, d.kname), r.fstab);
  if (disks.some((k) => r.roles.bek.has(k))) return 'bek';
  if (disks.some((k) => r.roles.resource.has(k))) return 'resource';
  if (!disks.some((k) => g.byKname.get(k)?.type === 'disk')) return 'other';
  return carriesData(d, fstypeOf(r.mounts, d)) ? 'data' : 'other';
}
