// KEK rotation: the passphrases stay (nothing on the disks changes); each volume's key is fetched and
// unwrapped with the old KEK, stored as a NEW secret wrapped with the new KEK, proven by a round trip, and
// only then the old secret is retired.
//
// Retire = disable, not delete. A disabled secret can no longer be read (so the old wrapping is out of use),
// but it stays recoverable: if anything still points at it (a VM model or backup not yet updated) an
// operator can re-enable it, whereas delete starts soft-delete (or is final without purge protection) and
// would need the extra secrets/delete permission. The old secret is tagged ReplacedBy=<new secret URL>.
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings, KekAlgorithm } from '../shared/types.ts';
import { parseItemUrl } from './cloud.ts';
import { type EscrowRecord, type VolumeRef, fetchKeyDetailed, storePassphrase } from './escrow.ts';
import { type KeysDeps, VaultSession } from './session.ts';
import { TAG_REPLACED_BY } from './tags.ts';

export interface KeyRecord extends EscrowRecord {
  volume: VolumeRef;
}

export interface RotatedRecord extends KeyRecord {
  /** The secret this one replaced (now disabled); equal to secretUrl when nothing had to change. */
  oldSecretUrl: string;
  unchanged: boolean;
}

export interface RotateArgs {
  /** settings.kek is the NEW key encryption key (absent = store unwrapped); new secrets go to settings.keyVaultUrl. */
  settings: EncryptionSettings;
  records: KeyRecord[];
  machineName: string;
  log: Logger;
  deps?: KeysDeps;
  /** Awaited once a volume's new secret is proven and before its old one is retired: journal the new URL here. */
  onRotated?: (r: RotatedRecord) => Promise<void> | void;
}

export async function rotateKek(a: RotateArgs): Promise<RotatedRecord[]> {
  const session = new VaultSession(a.settings.identity, a.settings.keyVaultUrl ?? a.records[0]?.secretUrl ?? '', a.log, a.deps);
  const kek = a.settings.kek;
  const out: RotatedRecord[] = [];
  for (const rec of a.records) {
    if (kek && rec.kekUrl === kek.url && rec.algorithm === kek.algorithm) {
      out.push({ ...rec, oldSecretUrl: rec.secretUrl, unchanged: true });
      continue;
    }
    const old = await fetchKeyDetailed({ settings: a.settings, secretUrl: rec.secretUrl, log: a.log, session });
    try {
      const fresh = await storePassphrase({ settings: a.settings, machineName: a.machineName, volume: rec.volume, log: a.log, passphrase: old.passphrase, kek: kek ?? null, session });
      const rotated: RotatedRecord = { volume: rec.volume, ...fresh, oldSecretUrl: rec.secretUrl, unchanged: false };
      await a.onRotated?.(rotated);
      await retire(session, rec.secretUrl, old.tags, fresh.secretUrl);
      a.log.info(`Rotated the key of volume ${rec.volume.id}: ${rec.secretUrl} (${describeWrap(old.kekUrl, old.algorithm)}) → ${fresh.secretUrl} (${describeWrap(fresh.kekUrl, fresh.algorithm)}); the old secret is disabled`);
      out.push(rotated);
    } finally {
      old.passphrase.fill(0);
    }
  }
  return out;
}

async function retire(s: VaultSession, secretUrl: string, tags: Record<string, string>, replacedBy: string): Promise<void> {
  const ref = parseItemUrl(secretUrl, 'secrets', 'secret URL');
  await s.call('secrets/set', ref.origin, (o) => s.secrets(ref.origin).updateSecretProperties(ref.name, ref.version ?? '', { enabled: false, tags: { ...tags, [TAG_REPLACED_BY]: replacedBy }, ...o }));
}

const describeWrap = (kekUrl?: string, alg?: KekAlgorithm) => (kekUrl ? `${alg ?? 'RSA-OAEP'} with ${kekUrl}` : 'unwrapped');
