// LUKS metadata as data: `cryptsetup luksDump --dump-json-metadata` (LUKS2 only; cryptsetup 2.6 answers
// "Dump operation is not supported for this device type." for LUKS1, which we never write). The
// reencryption state is what resume decisions hang on: a device with a `reencrypt` keyslot (or the
// online-reencrypt requirement) is mid-way and must be resumed, never formatted again.
import { ParseError } from './parse-error.ts';
import { isObject, num, obj, optStr, parseJson, strArray, type JsonObject } from './json.ts';

export type ReencryptMode = 'encrypt' | 'decrypt' | 'reencrypt';

export interface ReencryptState {
  mode: ReencryptMode;
  /** forward | backward */
  direction?: string;
  /** datashift, datashift-checksum, checksum, journal, none… */
  resilience?: string;
}

export interface LuksKeyslot {
  id: string;
  /** luks2 | reencrypt */
  type: string;
  /** Bytes. */
  keySize: number;
  priority?: number;
  kdf?: { type: string; hash?: string; iterations?: number; time?: number; memory?: number; cpus?: number };
  /** Cipher of the keyslot area. */
  areaEncryption?: string;
  reencrypt?: ReencryptState;
}

export interface LuksSegment {
  id: string;
  /** crypt | linear */
  type: string;
  offset: number;
  /** Bytes, or 'dynamic' (to the end of the device). */
  size: number | 'dynamic';
  encryption?: string;
  sectorSize?: number;
  ivTweak?: number;
  /** backup-final, backup-previous, backup-moved-segment, in-reencryption… */
  flags: string[];
}

export interface LuksDigest { id: string; type: string; keyslots: string[]; segments: string[] }

export interface LuksToken {
  id: string;
  type: string;
  keyslots: string[];
  /** The token's own fields (ours carry the Key Vault secret URL). */
  fields: Record<string, unknown>;
}

export interface LuksMetadata {
  keyslots: LuksKeyslot[];
  segments: LuksSegment[];
  digests: LuksDigest[];
  tokens: LuksToken[];
  /** config.requirements.mandatory, e.g. online-reencrypt-v2. */
  requirements: string[];
  reencryptInProgress: boolean;
  reencrypt?: ReencryptState;
}

const sortById = <T extends { id: string }>(a: T[]): T[] => a.sort((x, y) => Number(x.id) - Number(y.id));

function entries(o: JsonObject, key: string): Array<[string, JsonObject]> {
  const v = o[key];
  if (v === undefined) return [];
  return Object.entries(obj(v, `LUKS2 ${key}`)).map(([id, e]) => [id, obj(e, `LUKS2 ${key}.${id}`)]);
}

function reencryptOf(ks: JsonObject): ReencryptState | undefined {
  if (ks['type'] !== 'reencrypt') return undefined;
  const mode = optStr(ks['mode']);
  if (mode !== 'encrypt' && mode !== 'decrypt' && mode !== 'reencrypt') throw new ParseError('LUKS2 reencrypt keyslot', `unknown mode ${mode}`);
  const area = isObject(ks['area']) ? ks['area'] : {};
  const direction = optStr(ks['direction']);
  const resilience = optStr(area['type']);
  return { mode, ...(direction ? { direction } : {}), ...(resilience ? { resilience } : {}) };
}

export function parseLuksDumpJson(output: string | unknown): LuksMetadata {
  const root = obj(parseJson(output, 'luksDump JSON metadata'), 'luksDump JSON metadata');
  if (!isObject(root['segments']) || !isObject(root['keyslots'])) throw new ParseError('luksDump JSON metadata', 'no keyslots/segments (not LUKS2?)');
  const keyslots = sortById(entries(root, 'keyslots').map(([id, k]): LuksKeyslot => {
    const kdfJ = isObject(k['kdf']) ? k['kdf'] : undefined;
    const area = isObject(k['area']) ? k['area'] : undefined;
    const re = reencryptOf(k);
    const n = (o: JsonObject, key: string) => (o[key] === undefined ? undefined : num(o[key], `keyslot ${id} ${key}`));
    return {
      id,
      type: optStr(k['type']) ?? 'unknown',
      keySize: num(k['key_size'], `keyslot ${id} key_size`),
      ...(k['priority'] === undefined ? {} : { priority: num(k['priority'], 'priority') }),
      ...(kdfJ ? { kdf: dropUndefined({ type: optStr(kdfJ['type']) ?? 'unknown', hash: optStr(kdfJ['hash']), iterations: n(kdfJ, 'iterations'), time: n(kdfJ, 'time'), memory: n(kdfJ, 'memory'), cpus: n(kdfJ, 'cpus') }) } : {}),
      ...(area && optStr(area['encryption']) ? { areaEncryption: optStr(area['encryption'])! } : {}),
      ...(re ? { reencrypt: re } : {}),
    };
  }));
  const segments = sortById(entries(root, 'segments').map(([id, s]): LuksSegment => ({
    id,
    type: optStr(s['type']) ?? 'unknown',
    offset: num(s['offset'], `segment ${id} offset`),
    size: s['size'] === 'dynamic' ? 'dynamic' : num(s['size'], `segment ${id} size`),
    ...(optStr(s['encryption']) ? { encryption: optStr(s['encryption'])! } : {}),
    ...(s['sector_size'] === undefined ? {} : { sectorSize: num(s['sector_size'], 'sector_size') }),
    ...(s['iv_tweak'] === undefined ? {} : { ivTweak: num(s['iv_tweak'], 'iv_tweak') }),
    flags: strArray(s['flags']),
  })));
  const digests = sortById(entries(root, 'digests').map(([id, d]) => ({
    id, type: optStr(d['type']) ?? 'unknown', keyslots: strArray(d['keyslots']), segments: strArray(d['segments']),
  })));
  const tokens = sortById(entries(root, 'tokens').map(([id, t]) => {
    const { type, keyslots, ...fields } = t;
    return { id, type: optStr(type) ?? 'unknown', keyslots: strArray(keyslots), fields: fields as Record<string, unknown> };
  }));
  const config = isObject(root['config']) ? root['config'] : {};
  const reqs = isObject(config['requirements']) ? config['requirements'] : {};
  const requirements = strArray(reqs['mandatory']);
  const reencrypt = keyslots.find((k) => k.reencrypt)?.reencrypt;
  return {
    keyslots, segments, digests, tokens, requirements,
    reencryptInProgress: reencrypt !== undefined || requirements.some((r) => r.startsWith('online-reencrypt')),
    ...(reencrypt ? { reencrypt } : {}),
  };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Segments describing the data now (not the backup copies kept for crash recovery). */
export function activeSegments(meta: Pick<LuksMetadata, 'segments'>): LuksSegment[] {
  return meta.segments.filter((s) => !s.flags.some((f) => f.startsWith('backup-')));
}

/**
 * Bytes already in the target format during an encrypt or decrypt: the active segments whose type is the
 * one the backup-final segment will have. Undefined when no reencryption is running. A done segment of
 * `dynamic` size runs to the device's end, so it needs `deviceBytes` (of the data device): after the last
 * hotzone of an encryption the only active segment is the final one, dynamic, until cryptsetup clears the
 * reencrypt flag; without the device size that state is unknown (undefined), not 0.
 */
/**
 * Bytes the running reencryption covers: the device from where the final segment starts (the data offset
 * an in-place encryption moves the data to; 0 with a detached header) to its end.
 */
export function reencryptTotalBytes(meta: LuksMetadata, deviceBytes: number): number | undefined {
  const final = meta.segments.find((s) => s.flags.includes('backup-final'));
  if (!meta.reencryptInProgress || !final) return undefined;
  return Math.max(0, (final.size === 'dynamic' ? deviceBytes : final.offset + final.size) - final.offset);
}

export function reencryptDoneBytes(meta: LuksMetadata, deviceBytes?: number): number | undefined {
  if (!meta.reencryptInProgress) return undefined;
  const final = meta.segments.find((s) => s.flags.includes('backup-final'));
  if (final === undefined) return undefined;
  let sum = 0;
  for (const s of activeSegments(meta)) {
    // the encryption too: a reencryption from cipher_null (the OS disk's) has crypt segments on both sides
    if (s.type !== final.type || s.encryption !== final.encryption || s.flags.includes('in-reencryption')) continue;
    if (s.size !== 'dynamic') sum += s.size;
    else if (deviceBytes === undefined) return undefined;
    else sum += Math.max(0, deviceBytes - s.offset);
  }
  return sum;
}
