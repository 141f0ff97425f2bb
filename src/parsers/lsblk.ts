// `lsblk --json --bytes` and `findmnt --json` output as flat, typed lists. lsblk nests children under their
// parents and repeats a child under every parent it has (an LV spanning two PVs, an md array), so the
// flat list holds each kernel device once with all its parents.
import { ParseError } from './parse-error.ts';
import { isObject, num, obj, optStr, parseJson, str, type Json, type JsonObject } from './json.ts';

/** The columns lsblk is asked for; discovery relies on each. */
export const LSBLK_COLUMNS = 'NAME,PATH,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,PARTUUID,SIZE,MOUNTPOINTS,RO,SERIAL,MODEL,HCTL';
export const FINDMNT_COLUMNS = 'TARGET,SOURCE,FSTYPE,OPTIONS';

export interface BlockDevice {
  /** lsblk NAME: the kernel name, or the mapper name for dm devices (`osencrypt`, `datavg-lv1`). */
  name: string;
  /** /dev/sdc1, /dev/mapper/osencrypt. */
  path: string;
  /** Kernel name: sdc1, dm-0. */
  kname: string;
  /** Parent's kernel name as lsblk reports it (one, even when there are several). */
  pkname?: string;
  /** knames of every parent, from the tree. */
  parents: string[];
  /** knames of the children. */
  children: string[];
  /** disk, part, crypt, lvm, loop, rom, raid1, … */
  type: string;
  fstype?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  /** Bytes. */
  size: number;
  mountpoints: string[];
  ro: boolean;
  serial?: string;
  model?: string;
  hctl?: string;
}

function toBool(v: Json | undefined): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

function mountpointsOf(d: JsonObject): string[] {
  // util-linux ≥ 2.37: MOUNTPOINTS, an array that is [null] when unmounted; older: MOUNTPOINT, a string.
  const mps = d['mountpoints'];
  if (Array.isArray(mps)) return mps.map(optStr).filter((s): s is string => s !== undefined);
  const mp = optStr(d['mountpoint']);
  return mp === undefined ? [] : [mp];
}

export function parseLsblk(output: string | unknown): BlockDevice[] {
  const root = obj(parseJson(output, 'lsblk output'), 'lsblk output');
  const top = root['blockdevices'];
  if (!Array.isArray(top)) throw new ParseError('lsblk output', 'no "blockdevices" array');
  const byKname = new Map<string, BlockDevice>();
  const walk = (node: Json, parent: BlockDevice | undefined): void => {
    const d = obj(node, 'lsblk device');
    const name = str(d['name'], 'lsblk NAME');
    const kname = optStr(d['kname']) ?? name;
    let dev = byKname.get(kname);
    if (!dev) {
      const path = optStr(d['path']) ?? `/dev/${name}`;
      const opt = (k: string) => optStr(d[k]);
      dev = {
        name, path, kname,
        ...defined('pkname', opt('pkname')),
        parents: [], children: [],
        type: str(d['type'], `lsblk TYPE of ${name}`),
        ...defined('fstype', opt('fstype')),
        ...defined('uuid', opt('uuid')),
        ...defined('label', opt('label')),
        ...defined('partuuid', opt('partuuid')),
        size: num(d['size'], `lsblk SIZE of ${name} (run with --bytes)`),
        mountpoints: mountpointsOf(d),
        ro: toBool(d['ro']),
        ...defined('serial', opt('serial')?.trim()),
        ...defined('model', opt('model')?.trim()),
        ...defined('hctl', opt('hctl')),
      };
      byKname.set(kname, dev);
    }
    if (parent) {
      if (!dev.parents.includes(parent.kname)) dev.parents.push(parent.kname);
      if (!parent.children.includes(kname)) parent.children.push(kname);
    }
    const kids = d['children'];
    if (Array.isArray(kids)) for (const k of kids) walk(k, dev);
  };
  for (const n of top) walk(n, undefined);
  return [...byKname.values()];
}

function defined<K extends string, V>(key: K, v: V | undefined | ''): { [P in K]?: V } {
  return (v === undefined || v === '' ? {} : { [key]: v }) as { [P in K]?: V };
}

export interface Mount {
  target: string;
  /** As findmnt prints it: `/dev/sda1`, `/dev/sda1[/subvol]` for bind/btrfs subvolume mounts, `tmpfs`. */
  source: string;
  /** source without a `[/path]` suffix. */
  device: string;
  fstype: string;
  options: string[];
}

export function parseFindmnt(output: string | unknown): Mount[] {
  const root = obj(parseJson(output, 'findmnt output'), 'findmnt output');
  const fss = root['filesystems'];
  if (!Array.isArray(fss)) throw new ParseError('findmnt output', 'no "filesystems" array');
  const out: Mount[] = [];
  // --list gives a flat array; the default tree nests under "children". Accept both.
  const walk = (node: Json): void => {
    if (!isObject(node)) throw new ParseError('findmnt output', 'entry is not an object');
    const source = optStr(node['source']) ?? '';
    out.push({
      target: str(node['target'], 'findmnt TARGET'),
      source,
      device: source.replace(/\[.*\]$/, ''),
      fstype: optStr(node['fstype']) ?? '',
      options: (optStr(node['options']) ?? '').split(',').filter((o) => o !== ''),
    });
    const kids = node['children'];
    if (Array.isArray(kids)) kids.forEach(walk);
  };
  fss.forEach(walk);
  return out;
}
