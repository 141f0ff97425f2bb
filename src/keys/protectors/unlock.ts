// Unlock with the first protector that yields a key, in the one order every unlock uses: the key volume
// first (no network needed), then Key Vault. The key goes from the protector straight to its user (e.g.
// cryptsetup's open, key on stdin) and is zeroed afterwards when the caller only opens with it. Several
// protectors mean one failure (key volume missing, vault unreachable) never locks a VM out.
import { asAdeError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { BekVolumeRecord, KeyProtector, KeyVaultRecord, ProtectorRecord } from './types.ts';

export type OpenWithKey = (device: string, name: string, key: Buffer) => Promise<void>;

export interface ProtectorSlot<R extends ProtectorRecord = ProtectorRecord> {
  protector: KeyProtector<R>;
  record: R;
}

export interface VolumeProtectors {
  bek: KeyProtector<BekVolumeRecord>;
  keyVault: KeyProtector<KeyVaultRecord>;
}

/** What a volume's key is kept by: its file on the key volume, and its escrowed secret once there is one. */
export function unlockSlots(p: VolumeProtectors, r: { fileName: string; secretUrl?: string | undefined }): ProtectorSlot[] {
  const bek: ProtectorSlot<BekVolumeRecord> = { protector: p.bek, record: { kind: 'bek-volume', fileName: r.fileName, ...(r.secretUrl ? { secretUrl: r.secretUrl } : {}) } };
  if (!r.secretUrl) return [bek as ProtectorSlot];
  const kv: ProtectorSlot<KeyVaultRecord> = { protector: p.keyVault, record: { kind: 'keyvault', secretUrl: r.secretUrl } };
  return [bek as ProtectorSlot, kv as ProtectorSlot];
}

/**
 * The key from the first protector that yields one (and that `use` accepts, when given); throws the last
 * failure when none does. `what` completes "the <kind> protector could not …" in the log. A key `use` refused is zeroed before the next protector is tried.
 */
export async function firstKey(slots: readonly ProtectorSlot[], log: Logger, what: string, use?: (key: Buffer) => Promise<void>): Promise<{ key: Buffer; by: ProtectorRecord['kind'] }> {
  let last: unknown = new Error('no key protector configured');
  for (const { protector, record } of slots) {
    let key: Buffer | undefined;
    try {
      key = await (protector as KeyProtector).unseal(record);
      log.addSecret(key.toString('utf8'));
      await use?.(key);
      return { key, by: protector.kind };
    } catch (e) {
      key?.fill(0);
      last = e;
      log.warn(`The ${protector.kind} protector could not ${what}: ${asAdeError(e).message}`);
    }
  }
  throw asAdeError(last);
}

/** Tries each protector in order; returns the kind that opened the device, or throws the last failure. */
export async function unlockVolume(device: string, name: string, slots: ProtectorSlot[], open: OpenWithKey, log: Logger): Promise<ProtectorRecord['kind']> {
  const { key, by } = await firstKey(slots, log, `open ${device}`, (k) => open(device, name, k));
  key.fill(0);
  log.info(`Opened ${device} as ${name} with the ${by} protector`);
  return by;
}
