// The block-device tree and the ways fstab, crypttab, findmnt and udev links name a node of it. Every
// discovery rule asks these questions, so they are answered once, here, from data only.
import type { BlockDevice, Mount } from '../parsers/lsblk.ts';
import type { FstabEntry } from '../parsers/fstab.ts';

export interface DeviceGraph {
  readonly devices: readonly BlockDevice[];
  readonly byKname: ReadonlyMap<string, BlockDevice>;
  /** Links under /dev/disk/azure, relative to it ('scsi1/lun0', 'root', 'resource-part1') → device path. */
  readonly azureLinks: Readonly<Record<string, string>>;
}

export function deviceGraph(devices: readonly BlockDevice[], azureLinks: Readonly<Record<string, string>> = {}): DeviceGraph {
  return { devices, byKname: new Map(devices.map((d) => [d.kname, d])), azureLinks };
}

/** The device of a kernel name the graph itself handed out (a parent, a child, a disk). */
export function deviceOf(g: DeviceGraph, kname: string): BlockDevice {
  return g.byKname.get(kname)!;
}

/** udev escapes blanks in by-label names as \x20. */
function udevUnescape(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function stripQuotes(s: string): string {
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.endsWith(s[0]) ? s.slice(1, -1) : s;
}

type Tag = 'UUID' | 'LABEL' | 'PARTUUID';

function hasTag(d: BlockDevice, tag: Tag, value: string): boolean {
  if (tag === 'LABEL') return d.label === value;
  const own = tag === 'UUID' ? d.uuid : d.partuuid;
  return own?.toLowerCase() === value.toLowerCase();
}

function byTag(g: DeviceGraph, tag: Tag, value: string): BlockDevice | undefined {
  const hits = g.devices.filter((d) => hasTag(d, tag, value));
  // A LUKS container and its mapping's file system never share a UUID, but a RAID member and its array
  // can; prefer the topmost (the one without a child of the same value).
  return hits.find((h) => !h.children.some((c) => hits.some((x) => x.kname === c))) ?? hits[0];
}

/** The device a spec (fstab, crypttab, findmnt source) names, if it is one of ours. */
export function resolveSpec(g: DeviceGraph, specIn: string): BlockDevice | undefined {
  const spec = stripQuotes(specIn);
  const eq = /^(UUID|LABEL|PARTUUID)=(.*)$/.exec(spec);
  if (eq) return byTag(g, eq[1] as Tag, stripQuotes(eq[2]!));
  const by = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(spec);
  if (by) return resolveSpec(g, `${by[1]!.toUpperCase()}=${udevUnescape(by[2]!)}`);
  const az = /^\/dev\/disk\/azure\/(.+)$/.exec(spec);
  if (az) {
    const target = g.azureLinks[az[1]!];
    return target === undefined ? undefined : resolveSpec(g, target);
  }
  const mapper = /^\/dev\/mapper\/(.+)$/.exec(spec);
  if (mapper) return g.devices.find((d) => d.path === spec || d.name === mapper[1]);
  return g.devices.find((d) => d.path === spec || `/dev/${d.kname}` === spec);
}

function reach(g: DeviceGraph, k: string, next: (d: BlockDevice) => readonly string[], seen: Set<string>): Set<string> {
  if (seen.has(k)) return seen;
  seen.add(k);
  const d = g.byKname.get(k);
  for (const n of d ? next(d) : []) reach(g, n, next, seen);
  return seen;
}

/** The device and everything it sits on, itself first, then depth-first up its parents. */
export function ancestors(g: DeviceGraph, k: string): Set<string> {
  return reach(g, k, (d) => d.parents, new Set());
}

/** The device and everything on it, itself first, then depth-first down its children. */
export function descendants(g: DeviceGraph, k: string): Set<string> {
  return reach(g, k, (d) => d.children, new Set());
}

/** The top-level devices under it (itself, when it is one); several for an LV or array spanning disks. */
export function disksOf(g: DeviceGraph, k: string): string[] {
  return [...ancestors(g, k)].filter((a) => (g.byKname.get(a)?.parents.length ?? 0) === 0);
}

/** Whole disks at the top of the tree (not loop devices, roms or arrays). */
export function topDisks(g: DeviceGraph): BlockDevice[] {
  return g.devices.filter((d) => d.parents.length === 0 && d.type === 'disk');
}

export interface MountTable {
  /** Mount points by kname: findmnt first (the kernel's view), lsblk's MOUNTPOINTS as a fallback. */
  readonly targets: ReadonlyMap<string, string[]>;
  /** The kernel's file system type of a mounted device, by kname. */
  readonly fstypes: ReadonlyMap<string, string>;
}

export function mountTable(g: DeviceGraph, mounts: readonly Mount[]): MountTable {
  const targets = new Map<string, string[]>();
  const add = (k: string, target: string) => {
    const list = targets.get(k) ?? [];
    if (!list.includes(target)) list.push(target);
    targets.set(k, list);
  };
  const fstypes = new Map<string, string>();
  for (const m of mounts) {
    const d = m.device.startsWith('/') ? resolveSpec(g, m.device) : undefined;
    if (d) add(d.kname, m.target);
    if (d && !fstypes.has(d.kname)) fstypes.set(d.kname, m.fstype);
  }
  for (const d of g.devices) for (const mp of d.mountpoints) add(d.kname, mp);
  return { targets, fstypes };
}

export function mountpointsOf(t: MountTable, k: string): string[] {
  return t.targets.get(k) ?? [];
}

/** Without udev (containers, minimal guests) lsblk may not know a mounted file system's type; the kernel does. */
export function fstypeOf(t: MountTable, d: BlockDevice): string | undefined {
  return d.fstype ?? t.fstypes.get(d.kname);
}

/** The fstab entries whose spec names this device. */
export function fstabEntriesOf(g: DeviceGraph, fstab: readonly FstabEntry[], d: BlockDevice): FstabEntry[] {
  return fstab.filter((e) => resolveSpec(g, e.spec) === d);
}

/** Its fstab entry: by spec, else one for where it is mounted whose spec names none of ours (/dev/disk/cloud/…). */
export function fstabEntryOf(g: DeviceGraph, fstab: readonly FstabEntry[], d: BlockDevice, mountpoints: readonly string[]): FstabEntry | undefined {
  return fstabEntriesOf(g, fstab, d)[0] ?? fstab.find((e) => mountpoints.includes(e.file) && resolveSpec(g, e.spec) === undefined);
}
