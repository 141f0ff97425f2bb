// KEK rotation for volumes already encrypted (ADE: "call the same command with another KEK"): when the
// settings name another KEK, algorithm or vault than the one holding a volume's secret, its passphrase is
// stored anew under the new KEK, proven by a round trip, recorded, and only then is the old secret retired.
// The data is not re-encrypted and the key volume's copy (the plain passphrase) stays as it is.
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import type { KeyRecord, RotatedRecord } from '../keys/rotate.ts';
import type { VolumeRecord } from './volume-journal.ts';

export interface RekeyDeps {
  settings: EncryptionSettings;
  records: { list(): VolumeRecord[]; write(r: VolumeRecord): void };
  rotate(records: KeyRecord[], onRotated: (r: RotatedRecord) => void): Promise<RotatedRecord[]>;
  log: Logger;
}

export function needsRekey(r: VolumeRecord, s: EncryptionSettings): boolean {
  if (r.state !== 'encrypted' || !r.secretUrl) return false;
  if (s.keyVaultUrl && `${new URL(r.secretUrl).origin}/` !== s.keyVaultUrl) return true;
  const have = (r.kekUrl ?? '').toLowerCase();
  const want = (s.kek?.url ?? '').toLowerCase();
  return have !== want || (s.kek !== undefined && (r.algorithm ?? 'RSA-OAEP') !== s.kek.algorithm);
}

/** Rotates what needs it; returns the volumes whose secret changed. */
export async function rekeyVolumes(d: RekeyDeps): Promise<RotatedRecord[]> {
  const todo = d.records.list().filter((r) => needsRekey(r, d.settings));
  if (todo.length === 0) return [];
  d.log.info(`Re-wrapping the keys of ${todo.length} encrypted volume(s) for ${d.settings.kek?.url ?? 'no KEK'}`);
  const keyRecords: KeyRecord[] = todo.map((r) => ({
    secretUrl: r.secretUrl!, ...(r.kekUrl ? { kekUrl: r.kekUrl } : {}), ...(r.algorithm ? { algorithm: r.algorithm as KeyRecord['algorithm'] } : {}),
    volume: { id: r.luksUuid, fileName: r.fileName },
  }));
  // The new secret is recorded before the old one is retired: a crash in between leaves a usable record.
  return d.rotate(keyRecords, (rot) => {
    const rec = d.records.list().find((x) => x.luksUuid === rot.volume.id);
    if (!rec) return;
    const { kekUrl: _k, algorithm: _a, ...rest } = rec;
    d.records.write({ ...rest, secretUrl: rot.secretUrl, ...(rot.kekUrl ? { kekUrl: rot.kekUrl } : {}), ...(rot.algorithm ? { algorithm: rot.algorithm } : {}) });
  });
}
