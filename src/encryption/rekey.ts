// KEK rotation for volumes already encrypted (ADE: "call the same command with another KEK"): when the
// settings name another KEK, algorithm or vault than the one holding a volume's secret, its passphrase is
// stored anew under the new KEK, proven by a round trip, recorded, and only then is the old secret retired.
// The data is not re-encrypted and the key volume's copy (the plain passphrase) stays as it is.
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import type { KeyRecord, RotatedRecord } from '../keys/rotate.ts';
import { OS_RECOVERY_FILE } from './os-steps.ts';
import type { VolumeRecord } from './volume-journal.ts';

export interface RekeyDeps {
  settings: EncryptionSettings;
  records: { list(): VolumeRecord[]; write(r: VolumeRecord): void };
  rotate(records: KeyRecord[], onRotated: (r: RotatedRecord) => void): Promise<RotatedRecord[]>;
  log: Logger;
}

/** A secret of the record (the key, or the OS disk's recovery passphrase) and how it is wrapped. */
interface Held { secretUrl?: string | undefined; kekUrl?: string | undefined; algorithm?: string | undefined }

function heldElsewhere(h: Held, s: EncryptionSettings): boolean {
  if (!h.secretUrl) return false;
  if (s.keyVaultUrl && `${new URL(h.secretUrl).origin}/` !== s.keyVaultUrl) return true;
  const have = (h.kekUrl ?? '').toLowerCase();
  const want = (s.kek?.url ?? '').toLowerCase();
  return have !== want || (s.kek !== undefined && (h.algorithm ?? 'RSA-OAEP') !== s.kek.algorithm);
}

export function needsRekey(r: VolumeRecord, s: EncryptionSettings): boolean {
  if (r.state !== 'encrypted') return false;
  return heldElsewhere(r, s) || (r.os?.recovery !== undefined && heldElsewhere(r.os.recovery, s));
}

/** The recovery passphrase's volume id in a rotation: the key's own, marked. */
const RECOVERY_SUFFIX = '/recovery';

/** Rotates what needs it; returns the volumes whose secret changed. */
export async function rekeyVolumes(d: RekeyDeps): Promise<RotatedRecord[]> {
  const todo = d.records.list().filter((r) => needsRekey(r, d.settings));
  if (todo.length === 0) return [];
  d.log.info(`Re-wrapping the keys of ${todo.length} encrypted volume(s) for ${d.settings.kek?.url ?? 'no KEK'}`);
  const keyRecord = (h: Held, id: string, fileName: string): KeyRecord => ({
    secretUrl: h.secretUrl!, ...(h.kekUrl ? { kekUrl: h.kekUrl } : {}), ...(h.algorithm ? { algorithm: h.algorithm as KeyRecord['algorithm'] } : {}),
    volume: { id, fileName },
  });
  const keyRecords: KeyRecord[] = todo.flatMap((r) => [
    ...(heldElsewhere(r, d.settings) ? [keyRecord(r, r.luksUuid, r.fileName)] : []),
    ...(r.os?.recovery && heldElsewhere(r.os.recovery, d.settings) ? [keyRecord(r.os.recovery, `${r.luksUuid}${RECOVERY_SUFFIX}`, OS_RECOVERY_FILE)] : []),
  ]);
  // The new secret is recorded before the old one is retired: a crash in between leaves a usable record.
  return d.rotate(keyRecords, (rot) => {
    const recovery = rot.volume.id.endsWith(RECOVERY_SUFFIX);
    const id = recovery ? rot.volume.id.slice(0, -RECOVERY_SUFFIX.length) : rot.volume.id;
    const rec = d.records.list().find((x) => x.luksUuid === id);
    if (!rec) return;
    const held = { secretUrl: rot.secretUrl, ...(rot.kekUrl ? { kekUrl: rot.kekUrl } : {}), ...(rot.algorithm ? { algorithm: rot.algorithm } : {}) };
    if (recovery && rec.os) { d.records.write({ ...rec, os: { ...rec.os, recovery: held } }); return; }
    const { kekUrl: _k, algorithm: _a, ...rest } = rec;
    d.records.write({ ...rest, ...held });
  });
}
