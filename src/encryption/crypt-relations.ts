// How a device stands to dm-crypt: a LUKS container, a mapping, or something on top of one. The status
// and the plans follow these links to find the container, its mapping and its crypttab line.
import type { BlockDevice } from '../parsers/lsblk.ts';
import type { CrypttabEntry } from '../parsers/crypttab.ts';
import type { LuksMetadata, ReencryptState } from '../parsers/luksdump.ts';
import { ancestors, deviceOf, resolveSpec, type DeviceGraph } from './device-graph.ts';

export interface CryptRelations {
  /** It is a LUKS container (crypto_LUKS on it). */
  container: boolean;
  /** The nearest dm-crypt mapping at or below it. */
  below?: BlockDevice;
  /** For a container: its open mapping. */
  mapping?: BlockDevice;
  /** With `below`: the mapping's parent, the container (attached header) or the raw data device (detached header). */
  luksDevice?: BlockDevice;
}

/** The first crypt device among it and what it sits on. */
export function cryptBelow(g: DeviceGraph, k: string): BlockDevice | undefined {
  for (const a of ancestors(g, k)) {
    const d = deviceOf(g, a);
    if (d.type === 'crypt') return d;
  }
  return undefined;
}

export function cryptRelations(g: DeviceGraph, d: BlockDevice): CryptRelations {
  const container = d.fstype === 'crypto_LUKS';
  const below = cryptBelow(g, d.kname);
  const mapping = container ? d.children.map((c) => deviceOf(g, c)).find((c) => c.type === 'crypt') : undefined;
  const luksDevice = below ? g.byKname.get(below.parents[0] ?? '') : undefined;
  return {
    container,
    ...(below ? { below } : {}),
    ...(mapping ? { mapping } : {}),
    ...(luksDevice ? { luksDevice } : {}),
  };
}

/** The mapping's name for a mapping, its open mapping's for a container, else the one below it. */
export function mapperNameOf(d: BlockDevice, c: CryptRelations): string | undefined {
  return d.type === 'crypt' ? d.name : c.mapping?.name ?? c.below?.name;
}

/** A mapping's line by name; a container's by its device spec, or by its open mapping's name. */
export function crypttabEntryOf(g: DeviceGraph, crypttab: readonly CrypttabEntry[], d: BlockDevice, c: CryptRelations): CrypttabEntry | undefined {
  if (d.type === 'crypt') return crypttab.find((e) => e.name === d.name);
  if (!c.container) return undefined;
  return crypttab.find((e) => resolveSpec(g, e.device) === d || (c.mapping !== undefined && e.name === c.mapping.name));
}

/** An unfinished LUKS2 reencryption on its own header, else on the header of the container below it. */
export function reencryptOf(luks: Readonly<Record<string, LuksMetadata>> | undefined, d: BlockDevice, c: CryptRelations): ReencryptState | undefined {
  const meta = luks?.[d.path] ?? (c.luksDevice ? luks?.[c.luksDevice.path] : undefined);
  return meta?.reencryptInProgress ? meta.reencrypt : undefined;
}
