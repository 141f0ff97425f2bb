// ADE's secret format: content type and tags, so Azure Backup, the portal and ADE's own tools recognise our
// secrets, plus the volume each key protects. Pure.
import type { KekAlgorithm } from '../shared/types.ts';

export const CONTENT_TYPE_WRAPPED = 'Wrapped BEK';
export const CONTENT_TYPE_PLAIN = 'BEK';

export const TAG_FILE_NAME = 'DiskEncryptionKeyFileName';
export const TAG_ALGORITHM = 'DiskEncryptionKeyEncryptionAlgorithm';
export const TAG_KEK_URL = 'DiskEncryptionKeyEncryptionKeyURL';
export const TAG_MACHINE = 'MachineName';
/** Ours: which volume the key opens (ADE had one key per VM, we can have one per volume). */
export const TAG_VOLUME = 'VolumeId';
/** Ours: set on a secret retired by KEK rotation, naming its successor. */
export const TAG_REPLACED_BY = 'ReplacedBy';

/** ADE's rule: the host name when it is a plain word, else nothing (the tag is then dropped). */
export function adeMachineName(hostname: string): string {
  return /^[\w-]+$/.test(hostname) ? hostname : '';
}

export interface TagInput {
  fileName: string;
  machineName: string;
  volumeId: string;
  kek?: { url: string; algorithm: KekAlgorithm };
}

/** Tags for a key secret; empty values are dropped (ADE: they make the host agent fail). */
export function buildSecretTags(t: TagInput): Record<string, string> {
  const tags: Record<string, string> = {
    [TAG_FILE_NAME]: t.fileName,
    [TAG_MACHINE]: adeMachineName(t.machineName),
    [TAG_VOLUME]: t.volumeId,
  };
  if (t.kek) {
    tags[TAG_KEK_URL] = t.kek.url;
    tags[TAG_ALGORITHM] = t.kek.algorithm;
  }
  for (const k of Object.keys(tags)) if (!tags[k]) delete tags[k];
  return tags;
}

export function contentTypeFor(wrapped: boolean): string {
  return wrapped ? CONTENT_TYPE_WRAPPED : CONTENT_TYPE_PLAIN;
}

/** Differences between two tag sets, for the read-back check ("" when equal). */
export function tagDifference(expected: Record<string, string>, actual: Record<string, string> | undefined): string {
  const a = actual ?? {};
  const diffs = [...new Set([...Object.keys(expected), ...Object.keys(a)])].filter((k) => expected[k] !== a[k]);
  return diffs.length ? `tags differ: ${diffs.join(', ')}` : '';
}
