// Whether the running root can be encrypted in place with one reboot, decided from a block snapshot alone:
// which partition becomes the LUKS2 container, and where the unencrypted /boot comes from (it holds the
// kernel, the initramfs and the detached header, so it must be readable before the root is unlocked).
// A refusal is shown to the user as is, so it names the devices it found.
import type { BlockDevice, Mount } from '../parsers/lsblk.ts';
import type { BlockSnapshot } from '../system/blockdev.ts';
import {
  ancestors, descendants, deviceGraph, deviceOf, disksOf, fstypeOf, mountpointsOf, mountTable, resolveSpec,
  type DeviceGraph, type MountTable,
} from './device-graph.ts';
import { diskLuns, resourceDisks } from './roles.ts';

export interface OsPart { device: string; kname: string; size: number; fstype?: string; uuid?: string; partuuid?: string }
export interface OsLayout {
  /** 'separate-boot': /boot is its own unencrypted partition (Ubuntu 24.04+, RHEL/Oracle 8/9, Azure Linux). 'no-boot': /boot is a directory of the root (Ubuntu 22.04, Debian 12), so one must be split off the root. */
  kind: 'separate-boot' | 'no-boot';
  /** The whole disk holding the root: /dev/sda, /dev/vda, /dev/nvme0n1. */
  disk: string;
  /** The partition that will become the LUKS2 container: the root partition, or the LVM PV partition under the root LV. */
  target: OsPart;
  /** The root file system as mounted: device (/dev/sda1 or /dev/mapper/rootvg-rootlv), fstype, uuid. */
  root: { device: string; fstype: string; uuid?: string };
  /** Present when the root is on LVM: the VG name and every LV in it (all are encrypted with the PV). */
  lvm?: { vg: string; lvs: string[] };
  /** separate-boot only; may be on another disk than the root. */
  boot?: OsPart & { fstype: string };
  /** UEFI system partition, when there is one. */
  esp?: OsPart;
  /** BIOS boot partition (GPT), when there is one. */
  biosBoot?: OsPart;
}
/** alreadyEncrypted: the root is on dm-crypt already; the caller decides what that means (resume, report). */
export type Refusal = { ok: false; reason: string; alreadyEncrypted?: true };
export type OsLayoutResult = { ok: true; layout: OsLayout } | Refusal;

/** Separate mounts of these (or below them) hold system data that must not stay in the clear beside the root. */
const SYSTEM_DIRS = ['/usr', '/var', '/home', '/opt', '/tmp', '/srv', '/root'];
const ESP_LABELS = /^(u?efi|esp)$/i;
/**
 * A BIOS boot partition holds grub's core.img (tens of KiB) and is 1–8 MiB on every image surveyed; the
 * lower bound keeps an MBR extended partition (1 KiB in lsblk, no file system) out.
 */
const BIOS_BOOT_MIN = 64 * 1024;
const BIOS_BOOT_MAX = 8 * 1024 * 1024;

const refuse = (reason: string): Refusal => ({ ok: false, reason });

interface Ctx { s: BlockSnapshot; g: DeviceGraph; mt: MountTable }

/** The root's device, the partition to encrypt under it and that partition's disk. */
interface RootPlan { root: BlockDevice; target: BlockDevice; disk: BlockDevice; lvm?: { vg: string; lvs: string[] } }

/**
 * What is mounted at `target`: findmnt's topmost row (the kernel's view), lsblk's MOUNTPOINTS when findmnt
 * names no device lsblk lists (`/dev/root` after an initrd-less boot), or the row itself when it is no block
 * device. systemd's autofs placeholders (for /boot, /efi) hide nothing and are skipped.
 */
function mountedAt(c: Ctx, target: string): { dev: BlockDevice } | { row: Mount } | undefined {
  const row = c.s.mounts.filter((m) => m.target === target && m.fstype !== 'autofs').at(-1);
  const dev = row?.device.startsWith('/') ? resolveSpec(c.g, row.device) : undefined;
  if (dev) return { dev };
  if (row && !row.device.startsWith('/dev/')) return { row };
  const listed = c.g.devices.find((d) => d.mountpoints.includes(target));
  if (listed) return { dev: listed };
  return row ? { row } : undefined;
}

function notABlockDevice(what: string, row: Mount): string {
  return row.device.startsWith('/dev/')
    ? `${what} is mounted from ${row.device}, which lsblk does not list`
    : `${what} is not on a block device: it is a ${row.fstype || 'unknown'} mount of ${row.source || 'nothing'}`;
}

/** The disk a partition is on, when it is a partition of a whole disk (not of a loop device or an array). */
function onDiskOf(c: Ctx, part: BlockDevice, what: string): BlockDevice | Refusal {
  const parent = part.parents.length === 1 ? deviceOf(c.g, part.parents[0]!) : undefined;
  if (parent?.type === 'disk') return parent;
  return refuse(`${what} is a partition of ${parent ? `${parent.path}, a ${parent.type} device,` : 'no single device'} not of a disk`);
}

/** dm names an LV `<vg>-<lv>` with each `-` inside a name doubled. */
function lvName(dmName: string): { vg: string; lv: string } | undefined {
  const m = /^((?:[^-]|--)+)-((?:[^-]|--)+)$/.exec(dmName);
  return m ? { vg: m[1]!.replace(/--/g, '-'), lv: m[2]!.replace(/--/g, '-') } : undefined;
}

/** The root LV's volume group must sit on one partition: that partition is encrypted, with every LV in it. */
function lvmTarget(c: Ctx, root: BlockDevice): RootPlan | Refusal {
  const vg = lvName(root.name)?.vg;
  if (vg === undefined) return refuse(`the root (${root.path}) is an LVM volume whose volume group cannot be told from its name ${root.name}`);
  // lsblk shows no VG, but every LV of the group is named after it; their parents are the group's PVs.
  const lvs = c.g.devices.filter((d) => d.type === 'lvm' && lvName(d.name)?.vg === vg);
  const pvs = [...new Set(lvs.flatMap((lv) => lv.parents))].map((k) => deviceOf(c.g, k)).filter((d) => d.type !== 'lvm');
  if (pvs.length !== 1) {
    return refuse(`the root's volume group ${vg} spans ${pvs.length} physical volumes (${pvs.map((p) => p.path).join(', ')}): only a group on one partition can be encrypted in place`);
  }
  const pv = pvs[0]!;
  if (pv.type === 'disk') return refuse(`the root's volume group ${vg} is on a whole disk (${pv.path}) without a partition table: there is no room for a /boot partition`);
  if (pv.type !== 'part') return refuse(`the root's volume group ${vg} is on ${pv.path}, a ${pv.type} device: only a partition can be encrypted in place`);
  const disk = onDiskOf(c, pv, `the root's physical volume (${pv.path})`);
  if ('ok' in disk) return disk;
  return { root, target: pv, disk, lvm: { vg, lvs: lvs.map((lv) => lvName(lv.name)!.lv).sort() } };
}

function osPart(c: Ctx, d: BlockDevice): OsPart {
  const fstype = fstypeOf(c.mt, d);
  return {
    device: d.path, kname: d.kname, size: d.size,
    ...(fstype === undefined ? {} : { fstype }),
    ...(d.uuid === undefined ? {} : { uuid: d.uuid }),
    ...(d.partuuid === undefined ? {} : { partuuid: d.partuuid }),
  };
}

/** The LUKS container (or, without one, the dm-crypt mapping) under a device, named for a refusal. */
function encryptionUnder(c: Ctx, d: BlockDevice): string | undefined {
  const chain = [...ancestors(c.g, d.kname)].map((k) => deviceOf(c.g, k));
  const luks = chain.find((x) => x.fstype === 'crypto_LUKS');
  if (luks) return `the LUKS container ${luks.path}`;
  const crypt = chain.find((x) => x.type === 'crypt');
  return crypt ? `the dm-crypt device ${crypt.path}` : undefined;
}

/** The root's device and what would be encrypted under it. */
function rootPlan(c: Ctx, root: BlockDevice): RootPlan | Refusal {
  const crypt = encryptionUnder(c, root);
  if (crypt) return { ok: false, alreadyEncrypted: true, reason: `the OS disk is already encrypted: the root (${root.path}) is on ${crypt}` };
  const chain = [...ancestors(c.g, root.kname)].map((k) => deviceOf(c.g, k));
  const md = chain.find((d) => /^(raid\d*|md|linear)$/.test(d.type) || d.fstype === 'linux_raid_member');
  if (md) return refuse(`the root (${root.path}) is on md RAID (${md.path}): a RAID member cannot be encrypted in place`);
  if (root.type === 'lvm') return lvmTarget(c, root);
  if (root.type === 'disk') return refuse(`the root (${root.path}) is a whole disk without a partition table: there is no partition to encrypt and no room for a /boot partition`);
  if (root.type !== 'part') return refuse(`the root (${root.path}) is a ${root.type} device: only a partition, or LVM on one, can be encrypted in place`);
  const disk = onDiskOf(c, root, `the root (${root.path})`);
  return 'ok' in disk ? disk : { root, target: root, disk };
}

/** The mounted /boot, when there is one, if it can stay in the clear while the root is encrypted. */
function separateBoot(c: Ctx, plan: RootPlan): { dev?: BlockDevice; fstype?: string } | Refusal {
  const found = mountedAt(c, '/boot');
  if (!found) {
    const listed = c.s.fstab.find((e) => e.file === '/boot');
    return listed ? refuse(`fstab mounts ${listed.spec} at /boot but nothing is mounted there: mount it (or remove the line) and retry`) : {};
  }
  if (!('dev' in found)) return refuse(notABlockDevice('/boot', found.row));
  const b = found.dev;
  if (ancestors(c.g, b.kname).has(plan.target.kname)) {
    return refuse(`/boot (${b.path}) is inside ${plan.target.path}, the partition to encrypt: it must stay readable before the root is unlocked`);
  }
  const crypt = encryptionUnder(c, b);
  if (crypt) return refuse(`/boot (${b.path}) is on ${crypt}: the boot loader and the LUKS header need it in the clear`);
  if (b.type !== 'part') return refuse(`/boot (${b.path}) is a ${b.type} device, not a plain partition: the header on it must be readable by a bare initramfs`);
  const disk = onDiskOf(c, b, `/boot (${b.path})`);
  if ('ok' in disk) return disk;
  // The temporary disk is wiped on redeploy, and the header with it.
  const temp = resourceDisks(c.g, { mounts: c.mt, fstab: c.s.fstab, taken: new Set([plan.disk.kname]), luns: diskLuns(c.g) });
  if (temp.has(disk.kname)) return refuse(`/boot (${b.path}) is on the temporary resource disk ${disk.path}, which Azure may wipe`);
  if (plan.lvm && disk.kname !== plan.disk.kname) {
    return refuse(`the root's volume group ${plan.lvm.vg} is on ${plan.disk.path} but /boot (${b.path}) is on ${disk.path}: with LVM both must be on the OS disk`);
  }
  const fstype = fstypeOf(c.mt, b);
  return fstype === undefined ? refuse(`/boot (${b.path}) is mounted but its file system type is unknown`) : { dev: b, fstype };
}

/** Without a /boot, one is split off the root: only an ext4 root partition can shrink for it. */
function cannotSplitBoot(plan: RootPlan, rootFs: string): Refusal | undefined {
  if (plan.lvm) {
    return refuse(`the root (${plan.root.path}) is on LVM (volume group ${plan.lvm.vg}) and there is no separate /boot: making one would need the logical and physical volumes shrunk, which is not supported`);
  }
  if (rootFs !== 'ext4') {
    const why = rootFs === 'xfs' ? 'xfs cannot shrink' : `only ext4 is shrunk here, not ${rootFs},`;
    return refuse(`the root (${plan.root.path}) is ${rootFs} and there is no separate /boot: ${why} to make room for one`);
  }
  return undefined;
}

/** The first partition matching, on the first of `disks` that has one (the root's disk before /boot's). */
function firstOn(c: Ctx, disks: readonly string[], match: (d: BlockDevice) => boolean): BlockDevice | undefined {
  for (const k of disks) {
    const hit = c.g.devices.find((d) => d.type === 'part' && d.parents.includes(k) && match(d));
    if (hit) return hit;
  }
  return undefined;
}

/** The ESP: the vfat mounted at /boot/efi (or /efi), else an unmounted vfat labelled so on these disks. */
function espOf(c: Ctx, disks: readonly string[]): BlockDevice | undefined {
  const found = mountedAt(c, '/boot/efi') ?? mountedAt(c, '/efi');
  if (found && 'dev' in found && fstypeOf(c.mt, found.dev) === 'vfat') return found.dev;
  return firstOn(c, disks, (d) => d.fstype === 'vfat' && ESP_LABELS.test(d.label?.trim() ?? '') && mountpointsOf(c.mt, d.kname).length === 0);
}

/** lsblk has no partition type GUID; a tiny partition without a file system is what a BIOS boot partition looks like. */
function biosBootOf(c: Ctx, disks: readonly string[]): BlockDevice | undefined {
  return firstOn(c, disks, (d) => fstypeOf(c.mt, d) === undefined && d.children.length === 0 && d.size > BIOS_BOOT_MIN && d.size <= BIOS_BOOT_MAX);
}

const isSystemDir = (mp: string) => SYSTEM_DIRS.some((dir) => mp === dir || mp.startsWith(`${dir}/`));

/** A system directory mounted from another partition of the OS disk would stay in the clear. */
function strayMount(c: Ctx, plan: RootPlan, keep: ReadonlySet<string>): Refusal | undefined {
  const disk = plan.disk;
  for (const d of c.g.devices) {
    if (keep.has(d.kname) || !disksOf(c.g, d.kname).includes(disk.kname)) continue;
    // Already encrypted on its own: nothing would be left in the clear.
    if ([...ancestors(c.g, d.kname)].some((k) => deviceOf(c.g, k).type === 'crypt')) continue;
    const mp = mountpointsOf(c.mt, d.kname).find(isSystemDir);
    if (mp) return refuse(`${mp} is mounted from ${d.path} on the OS disk (${disk.path}), outside ${plan.target.path}, the partition to encrypt: it would stay unencrypted`);
  }
  return undefined;
}

export function classifyOsLayout(s: BlockSnapshot): OsLayoutResult {
  const g = deviceGraph(s.devices, s.azureLinks);
  const c: Ctx = { s, g, mt: mountTable(g, s.mounts) };
  const found = mountedAt(c, '/');
  if (!found) return refuse('no file system is mounted at / (neither findmnt nor lsblk shows one)');
  if (!('dev' in found)) return refuse(notABlockDevice('the root', found.row));
  const plan = rootPlan(c, found.dev);
  if ('ok' in plan) return plan;
  const rootFs = fstypeOf(c.mt, plan.root);
  if (rootFs === undefined) return refuse(`the root (${plan.root.path}) is mounted but its file system type is unknown`);
  const boot = separateBoot(c, plan);
  if ('ok' in boot) return boot;
  const noSplit = boot.dev ? undefined : cannotSplitBoot(plan, rootFs);
  if (noSplit) return noSplit;
  const disks = [...new Set([plan.disk.kname, ...(boot.dev ? disksOf(g, boot.dev.kname) : [])])];
  const esp = espOf(c, disks);
  const biosBoot = biosBootOf(c, disks);
  const keep = new Set([...descendants(g, plan.target.kname), ...[boot.dev, esp].flatMap((d) => (d ? [d.kname] : []))]);
  const stray = strayMount(c, plan, keep);
  if (stray) return stray;
  return { ok: true, layout: {
    kind: boot.dev ? 'separate-boot' : 'no-boot',
    disk: plan.disk.path,
    target: osPart(c, plan.target),
    root: { device: plan.root.path, fstype: rootFs, ...(plan.root.uuid === undefined ? {} : { uuid: plan.root.uuid }) },
    ...(plan.lvm ? { lvm: plan.lvm } : {}),
    ...(boot.dev && boot.fstype ? { boot: { ...osPart(c, boot.dev), fstype: boot.fstype } } : {}),
    ...(esp ? { esp: osPart(c, esp) } : {}),
    ...(biosBoot ? { biosBoot: osPart(c, biosBoot) } : {}),
  } };
}
