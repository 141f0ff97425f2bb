// `blkid -o export`: the probe that works without udev (containers, early boot), where lsblk's FSTYPE,
// UUID and LABEL columns come back empty. Used only to fill those gaps.
import type { BlockDevice } from './lsblk.ts';

export interface BlkidInfo {
  devname: string;
  type?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
}

/** Export format: KEY=value lines, blank line between devices; values escape blanks etc. with `\`. */
export function parseBlkidExport(text: string): BlkidInfo[] {
  const out: BlkidInfo[] = [];
  for (const block of text.split(/\r?\n\s*\r?\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split(/\r?\n/)) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) kv.set(m[1]!, m[2]!.replace(/\\(.)/g, '$1'));
    }
    const devname = kv.get('DEVNAME');
    if (devname === undefined) continue;
    const info: BlkidInfo = { devname };
    const set = (k: 'type' | 'uuid' | 'label' | 'partuuid', key: string) => {
      const v = kv.get(key);
      if (v !== undefined && v !== '') info[k] = v;
    };
    set('type', 'TYPE');
    set('uuid', 'UUID');
    set('label', 'LABEL');
    set('partuuid', 'PARTUUID');
    out.push(info);
  }
  return out;
}

/** lsblk's values win; blkid only fills what lsblk left empty. */
export function mergeBlkid(devices: readonly BlockDevice[], blkid: readonly BlkidInfo[]): BlockDevice[] {
  const byPath = new Map(blkid.map((b) => [b.devname, b]));
  return devices.map((d) => {
    const b = byPath.get(d.path) ?? byPath.get(`/dev/${d.kname}`);
    if (!b) return d;
    const fill: Partial<BlockDevice> = {};
    if (d.fstype === undefined && b.type !== undefined) fill.fstype = b.type;
    if (d.uuid === undefined && b.uuid !== undefined) fill.uuid = b.uuid;
    if (d.label === undefined && b.label !== undefined) fill.label = b.label;
    if (d.partuuid === undefined && b.partuuid !== undefined) fill.partuuid = b.partuuid;
    return { ...d, ...fill };
  });
}
