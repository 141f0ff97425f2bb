// Which block device is what, from data only (lsblk, findmnt, fstab, crypttab, udev links, LUKS metadata),
// and ADE's {"os", "data"} states computed from that. No process runs here; src/system/blockdev.ts gathers
// the inputs.
//
// Roles, decided per top-level disk and inherited by everything on it:
//   os       the disk(s) under the device mounted at `/` (through partitions, LVM, dm-crypt), or
//            /dev/disk/azure/root when `/` is not found; `boot` marks its /boot, /boot/efi and BIOS-boot
//            partitions (and any other partition without a file system on it).
//   bek      a disk holding a file system labelled "BEK VOLUME" (the platform's key volume).
//   resource the Azure temporary disk: /dev/disk/azure/resource when udev made it; otherwise a disk that has
//            no data-disk LUN (when the LUN links are known — data disks always have one) and shows a temp
//            disk hint: a file system mounted (or in fstab) at /mnt or /mnt/resource, the label "Temporary
//            Storage" or an ntfs file system (how the platform formats it), or model "Microsoft NVMe Direct
//            Disk" (v6 sizes). Without LUN links a data disk an admin mounted at /mnt is taken for the
//            resource disk; the LUN links are what tell them apart.
//   data     on any other disk, a device carrying a file system or a LUKS container, or a dm-crypt mapping.
//   other    everything else: partition tables, LVM PVs, swap, loop/zram/rom devices, empty disks.
import type { BlockDevice, Mount } from '../parsers/lsblk.ts';
import type { FstabEntry } from '../parsers/fstab.ts';
import type { CrypttabEntry } from '../parsers/crypttab.ts';
import type { LuksMetadata, ReencryptState } from '../parsers/luksdump.ts';

export type VolumeRole = 'os' | 'boot' | 'resource' | 'bek' | 'data' | 'other';
export type AdeOsState = 'NotEncrypted' | 'Encrypted' | 'EncryptionInProgress' | 'VMRestartPending';
export type AdeDataState = 'NotEncrypted' | 'NotMounted' | 'Encrypted' | 'EncryptionInProgress' | 'DecryptionInProgress';

export interface Volume {
  /** /dev/sdc1, /dev/mapper/datavg-lv1. */
  device: string;
  kname: string;
  /** lsblk NAME (the mapping name for dm devices). */
  name: string;
  /** lsblk TYPE: disk, part, crypt, lvm, … */
  type: string;
  /** The top-level disk it is on (the first, when it spans several). */
  disk: string;
  /** A name that survives reboots and re-attach: /dev/disk/azure/scsi1/lun0-part1, /dev/mapper/x, /dev/disk/by-uuid/… */
  persistentName?: string;
  /**
   * /dev/disk/by-id/… names from the hardware's identity (WWN, serial), never from the content: they survive
   * reboots, encryption and decryption alike. Best first; a name recorded on an earlier boot may not be first now.
   */
  hardwareNames?: string[];
  /** Data-disk LUN of its disk, from /dev/disk/azure/scsi1/lunN. */
  lun?: number;
  role: VolumeRole;
  fstype?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  /** Where it is mounted now (findmnt), the first if several. */
  mountpoint?: string;
  mountpoints: string[];
  fstabEntry?: FstabEntry;
  crypttabEntry?: CrypttabEntry;
  /** A LUKS container, a dm-crypt mapping, or on top of one. */
  encrypted: boolean;
  /** The dm-crypt mapping involved: its own name, its open mapping's (container), or the one below it. */
  mapperName?: string;
  /** For a mapping and what sits on it: the LUKS container (or detached-header data device) below. */
  luksDevice?: string;
  /** For a LUKS container: its open mapping's path. */
  mappedAs?: string;
  /** Set while a LUKS2 reencryption (encrypt/decrypt) is unfinished on it or below it. */
  reencrypt?: ReencryptState;
  /** Bytes. */
  size: number;
  readOnly: boolean;
}

export interface DiscoveryInput {
  devices: readonly BlockDevice[];
  mounts: readonly Mount[];
  fstab: readonly FstabEntry[];
  crypttab?: readonly CrypttabEntry[];
  /** Links under /dev/disk/azure, relative to it ('scsi1/lun0', 'scsi1/lun0-part1', 'root', 'resource-part1') → device path. */
  azureLinks?: Readonly<Record<string, string>>;
  /** /dev/disk/by-uuid: uuid → device path. */
  byUuid?: Readonly<Record<string, string>>;
  /** /dev/disk/by-id: link name ('wwn-0x…', 'virtio-data-part1') → device path. */
  byId?: Readonly<Record<string, string>>;
  /** LUKS2 metadata by container device path. */
  luks?: Readonly<Record<string, LuksMetadata>>;
}

const BEK_LABEL = 'bek volume';
const RESOURCE_MOUNTS = new Set(['/mnt', '/mnt/resource']);
const NOT_A_FILESYSTEM = new Set(['swap', 'LVM2_member', 'linux_raid_member', 'zfs_member', 'ceph', 'bcache']);

/**
 * by-id names udev derives from what is written on the device (device-mapper and LVM names and UUIDs, md
 * array names and UUIDs, bcache): they change when the device is encrypted or decrypted, so they cannot
 * find it again mid-way.
 */
const CONTENT_ID = /^(dm|lvm|md|bcache)-/;
/** Hardware identities, best first: a WWN is worldwide, the others are bus-specific (model, serial, path). */
const ID_RANK = ['wwn-', 'nvme-', 'scsi-', 'virtio-', 'ata-', 'usb-', 'mmc-', 'xen-', 'ccw-'];

const idRank = (name: string): number => {
  const i = ID_RANK.findIndex((p) => name.startsWith(p));
  return i === -1 ? ID_RANK.length : i;
};

/** The by-id names of one device that identify its hardware, best first (rank, then name: deterministic). */
export function hardwareIdNames(byId: Readonly<Record<string, string>>, paths: readonly string[]): string[] {
  return Object.entries(byId)
    .filter(([name, target]) => paths.includes(target) && !CONTENT_ID.test(name))
    .map(([name]) => name)
    .sort((a, b) => idRank(a) - idRank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** udev escapes blanks in by-label names as \x20. */
function udevUnescape(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function stripQuotes(s: string): string {
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.endsWith(s[0]) ? s.slice(1, -1) : s;
}

export function classifyVolumes(input: DiscoveryInput): Volume[] {
  const devs = input.devices;
  const byK = new Map(devs.map((d) => [d.kname, d]));
  const links = input.azureLinks ?? {};
  const lunLinks = Object.entries(links).filter(([k]) => /^scsi\d+\/lun\d+$/.test(k));

  /** The device a spec (fstab, crypttab, findmnt source) names, if it is one of ours. */
  const resolve = (specIn: string): BlockDevice | undefined => {
    const spec = stripQuotes(specIn);
    const eq = /^(UUID|LABEL|PARTUUID)=(.*)$/.exec(spec);
    if (eq) {
      const v = stripQuotes(eq[2]!);
      const key = eq[1] === 'UUID' ? 'uuid' : eq[1] === 'LABEL' ? 'label' : 'partuuid';
      // A LUKS container and its mapping's file system never share a UUID, but a RAID member and its
      // array can; prefer the topmost (the one without a child of the same value).
      const hits = devs.filter((d) => (key === 'partuuid' ? d.partuuid?.toLowerCase() === v.toLowerCase() : key === 'uuid' ? d.uuid?.toLowerCase() === v.toLowerCase() : d.label === v));
      return hits.find((h) => !h.children.some((c) => hits.some((x) => x.kname === c))) ?? hits[0];
    }
    const by = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(spec);
    if (by) return resolve(`${by[1]!.toUpperCase()}=${udevUnescape(by[2]!)}`);
    const az = /^\/dev\/disk\/azure\/(.+)$/.exec(spec);
    if (az) {
      const target = links[az[1]!];
      return target === undefined ? undefined : resolve(target);
    }
    const mapper = /^\/dev\/mapper\/(.+)$/.exec(spec);
    if (mapper) return devs.find((d) => d.path === spec || d.name === mapper[1]);
    return devs.find((d) => d.path === spec || `/dev/${d.kname}` === spec);
  };

  const ancestors = (k: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(k)) return seen;
    seen.add(k);
    for (const p of byK.get(k)?.parents ?? []) ancestors(p, seen);
    return seen;
  };
  const disksOf = (k: string): string[] => [...ancestors(k)].filter((a) => (byK.get(a)?.parents.length ?? 0) === 0);
  const descendants = (k: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(k)) return seen;
    seen.add(k);
    for (const c of byK.get(k)?.children ?? []) descendants(c, seen);
    return seen;
  };

  // Current mounts per device: findmnt first (the kernel's view), lsblk's MOUNTPOINTS as a fallback.
  const mountsOf = new Map<string, string[]>();
  const addMount = (k: string, target: string) => {
    const list = mountsOf.get(k) ?? [];
    if (!list.includes(target)) list.push(target);
    mountsOf.set(k, list);
  };
  // Without udev (containers, minimal guests) lsblk may not know a mounted file system's type; the kernel does.
  const mountedFs = new Map<string, string>();
  for (const m of input.mounts) {
    const d = m.device.startsWith('/') ? resolve(m.device) : undefined;
    if (d) addMount(d.kname, m.target);
    if (d && !mountedFs.has(d.kname)) mountedFs.set(d.kname, m.fstype);
  }
  for (const d of devs) for (const mp of d.mountpoints) addMount(d.kname, mp);

  // --- disk roles ---
  const osDisks = new Set<string>();
  const rootDev = devs.find((d) => mountsOf.get(d.kname)?.includes('/'));
  let rootChain = new Set<string>();
  if (rootDev) {
    rootChain = ancestors(rootDev.kname);
    disksOf(rootDev.kname).forEach((k) => osDisks.add(k));
  } else if (links['root']) {
    const r = resolve(links['root']);
    if (r) disksOf(r.kname).forEach((k) => osDisks.add(k));
  }
  const bekDisks = new Set<string>();
  for (const d of devs) if (d.label?.trim().toLowerCase() === BEK_LABEL) disksOf(d.kname).forEach((k) => bekDisks.add(k));

  const lunOfDisk = new Map<string, number>();
  for (const [k, target] of lunLinks) {
    const d = resolve(target);
    if (d) lunOfDisk.set(d.kname, Number(/lun(\d+)$/.exec(k)![1]));
  }
  const resourceDisks = new Set<string>();
  const resLink = links['resource'] ? resolve(links['resource']) : undefined;
  if (resLink) disksOf(resLink.kname).forEach((k) => resourceDisks.add(k));
  else {
    const fstabAt = new Map<string, string>();
    for (const e of input.fstab) if (RESOURCE_MOUNTS.has(e.file)) { const d = resolve(e.spec); if (d) fstabAt.set(d.kname, e.file); }
    for (const disk of devs.filter((d) => d.parents.length === 0 && d.type === 'disk')) {
      if (osDisks.has(disk.kname) || bekDisks.has(disk.kname)) continue;
      if (lunLinks.length > 0 && lunOfDisk.has(disk.kname)) continue;
      const on = [...descendants(disk.kname)].map((k) => byK.get(k)!);
      const hint = on.some((d) =>
        (mountsOf.get(d.kname) ?? []).some((mp) => RESOURCE_MOUNTS.has(mp)) || fstabAt.has(d.kname) ||
        d.label?.trim().toLowerCase() === 'temporary storage' || d.fstype === 'ntfs') ||
        /NVMe Direct Disk/i.test(disk.model ?? '');
      if (hint) resourceDisks.add(disk.kname);
    }
  }

  // --- crypt relations ---
  const cryptBelow = (k: string): BlockDevice | undefined => {
    for (const a of ancestors(k)) {
      const d = byK.get(a)!;
      if (d.type === 'crypt') return d;
    }
    return undefined;
  };

  const diskLink = (k: string): [string, string] | undefined => {
    const d = byK.get(k)!;
    const hit = Object.entries(links).find(([name, target]) => /^scsi\d+\/lun\d+(-part\d+)?$/.test(name) && (target === d.path || target === `/dev/${d.kname}`));
    return hit;
  };

  // Two disks with one serial (a cloned virtual disk, two paths to one LUN) get one by-id link between
  // them, whichever udev saw last: such a name may point at the other disk after a reboot.
  const serials = new Map<string, number>();
  for (const d of devs) if (d.parents.length === 0 && d.type === 'disk' && d.serial) serials.set(d.serial, (serials.get(d.serial) ?? 0) + 1);
  const sharedIdentity = (k: string) => disksOf(k).some((dk) => (serials.get(byK.get(dk)?.serial ?? '') ?? 0) > 1);
  const hardwareNamesOf = (d: BlockDevice): string[] => (input.byId === undefined || sharedIdentity(d.kname) ? []
    : hardwareIdNames(input.byId, [d.path, `/dev/${d.kname}`]).map((n) => `/dev/disk/by-id/${n}`));

  return devs.map((d): Volume => {
    const disks = disksOf(d.kname);
    const diskK = disks[0]!;
    const mps = mountsOf.get(d.kname) ?? [];
    const fstype = d.fstype ?? mountedFs.get(d.kname);
    const hasFs = fstype !== undefined && !NOT_A_FILESYSTEM.has(fstype);
    const isContainer = d.fstype === 'crypto_LUKS';
    const below = cryptBelow(d.kname);
    const mapping = isContainer ? d.children.map((c) => byK.get(c)!).find((c) => c.type === 'crypt') : undefined;
    // The mapping's parent is the container (attached header) or the raw data device (detached header).
    const luksDev = below ? byK.get(below.parents[0] ?? '') : undefined;

    let role: VolumeRole;
    if (disks.some((k) => osDisks.has(k))) {
      const onRootPath = rootChain.has(d.kname) || ancestors(d.kname).has(rootDev?.kname ?? '');
      const bootMount = [...mps, ...input.fstab.filter((e) => resolve(e.spec) === d).map((e) => e.file)].some((m) => m === '/boot' || m.startsWith('/boot/'));
      role = !onRootPath && d.type === 'part' && (bootMount || d.fstype === undefined) ? 'boot' : 'os';
    } else if (disks.some((k) => bekDisks.has(k))) role = 'bek';
    else if (disks.some((k) => resourceDisks.has(k))) role = 'resource';
    else if (!disks.some((k) => byK.get(k)?.type === 'disk')) role = 'other';
    else role = hasFs || isContainer || d.type === 'crypt' ? 'data' : 'other';

    const fstabEntry = input.fstab.find((e) => resolve(e.spec) === d) ??
      input.fstab.find((e) => mps.includes(e.file) && resolve(e.spec) === undefined);
    const crypttab = input.crypttab ?? [];
    const crypttabEntry = d.type === 'crypt' ? crypttab.find((e) => e.name === d.name)
      : isContainer ? crypttab.find((e) => resolve(e.device) === d || (mapping !== undefined && e.name === mapping.name)) : undefined;

    const meta = input.luks?.[d.path] ?? (luksDev ? input.luks?.[luksDev.path] : undefined);
    const reencrypt = meta?.reencryptInProgress ? meta.reencrypt : undefined;

    const link = diskLink(d.kname);
    const persistentName = link ? `/dev/disk/azure/${link[0]}`
      : d.type === 'crypt' || d.type === 'lvm' ? `/dev/mapper/${d.name}`
      : d.uuid !== undefined && (input.byUuid === undefined || input.byUuid[d.uuid] === d.path) ? `/dev/disk/by-uuid/${d.uuid}`
      : undefined;
    const hardwareNames = hardwareNamesOf(d);
    const lun = lunOfDisk.get(diskK);
    const mapperName = d.type === 'crypt' ? d.name : mapping?.name ?? below?.name;

    return {
      device: d.path, kname: d.kname, name: d.name, type: d.type,
      disk: byK.get(diskK)!.path,
      ...(persistentName ? { persistentName } : {}),
      ...(hardwareNames.length > 0 ? { hardwareNames } : {}),
      ...(lun !== undefined ? { lun } : {}),
      role,
      ...(fstype ? { fstype } : {}),
      ...(d.uuid ? { uuid: d.uuid } : {}),
      ...(d.label ? { label: d.label } : {}),
      ...(d.partuuid ? { partuuid: d.partuuid } : {}),
      ...(mps[0] !== undefined ? { mountpoint: mps[0] } : {}),
      mountpoints: mps,
      ...(fstabEntry ? { fstabEntry } : {}),
      ...(crypttabEntry ? { crypttabEntry } : {}),
      encrypted: isContainer || below !== undefined,
      ...(mapperName ? { mapperName } : {}),
      ...(luksDev && below ? { luksDevice: luksDev.path } : {}),
      ...(mapping ? { mappedAs: mapping.path } : {}),
      ...(reencrypt ? { reencrypt } : {}),
      size: d.size,
      readOnly: d.ro,
    };
  });
}

/** What the journal knows and the block devices cannot show. */
export interface StatusMarkers {
  /** An encrypt operation is under way for this VolumeType. */
  encrypting?: 'OS' | 'Data' | 'All';
  /** A decrypt operation is under way (data volumes only, as in ADE). */
  decrypting?: boolean;
  /** The OS boot path was prepared and waits for the reboot that starts it. */
  osRestartPending?: boolean;
  /** A detached OS header (in /boot) shows an unfinished reencryption. */
  osHeaderReencrypting?: boolean;
}

/** File systems ADE counts as data volumes (DiskUtil.get_encryption_status). */
const DATA_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
/** ADE's OS mapping name; it exists before the reboot that moves `/` onto it. */
const OS_MAPPER = 'osencrypt';

/**
 * ADE's {"os", "data"} states. Unlike ADE, "encrypted" means "`/` (or the data file system) sits on a
 * dm-crypt mapping" by walking the device tree — not a substring test on mount sources, which made
 * any `/dev/dm*` mount (an LVM root, say) count as an encrypted OS — and an unfinished LUKS2
 * reencryption counts as in progress even when no marker says so (e.g. after the journal was lost).
 */
export function summarize(volumes: readonly Volume[], markers: StatusMarkers = {}): { os: AdeOsState; data: AdeDataState } {
  return { os: osState(volumes, markers), data: dataState(volumes, markers) };
}

function osState(volumes: readonly Volume[], m: StatusMarkers): AdeOsState {
  const root = volumes.find((v) => v.mountpoints.includes('/'));
  const rootEncrypted = root?.encrypted === true;
  if (root?.reencrypt?.mode === 'encrypt' || m.osHeaderReencrypting) return 'EncryptionInProgress';
  const osMapperWaiting = volumes.some((v) => v.type === 'crypt' && v.name === OS_MAPPER && !v.mountpoints.includes('/'));
  if (!rootEncrypted && (m.osRestartPending || osMapperWaiting)) return 'VMRestartPending';
  if (!rootEncrypted && (m.encrypting === 'OS' || m.encrypting === 'All')) return 'EncryptionInProgress';
  return rootEncrypted ? 'Encrypted' : 'NotEncrypted';
}

function dataState(volumes: readonly Volume[], m: StatusMarkers): AdeDataState {
  const data = volumes.filter((v) => v.role === 'data');
  if (m.decrypting || data.some((v) => v.reencrypt?.mode === 'decrypt')) return 'DecryptionInProgress';
  if (m.encrypting === 'Data' || m.encrypting === 'All' || data.some((v) => v.reencrypt && v.reencrypt.mode !== 'decrypt')) return 'EncryptionInProgress';
  const mounted = data.filter((v) => v.mountpoint !== undefined && v.fstype !== undefined && DATA_FS.has(v.fstype));
  if (mounted.length === 0) return 'NotMounted';
  return mounted.every((v) => v.encrypted) ? 'Encrypted' : 'NotEncrypted';
}
