// The "keyvault" protector: network unlock. seal escrows the passphrase (wrapped with the KEK when one is
// set); unseal gets a token, fetches the secret, unwraps it and returns the bytes, never writing them to disk.
import type { Logger } from '../../shared/log.ts';
import type { EncryptionSettings } from '../../shared/types.ts';
import { fetchKey, prepareEscrow, storePassphrase } from '../escrow.ts';
import { type KeysDeps, VaultSession } from '../session.ts';
import type { KeyProtector, KeyVaultRecord } from './types.ts';

export interface KeyVaultProtectorOptions {
  settings: EncryptionSettings;
  machineName: string;
  log: Logger;
  deps?: KeysDeps;
}

export function keyVaultProtector(o: KeyVaultProtectorOptions): KeyProtector<KeyVaultRecord> {
  // One session for every seal: one credential, one token, one challenge per client, the KEK fetched once.
  let session: VaultSession | undefined;
  const vault = o.settings.keyVaultUrl;
  const shared = () => (vault ? (session ??= new VaultSession(o.settings.identity, vault, o.log, o.deps)) : undefined);
  return {
    kind: 'keyvault',
    async prepare() {
      const s = shared();
      if (s) await prepareEscrow(s, o.settings);
    },
    async seal({ volume, passphrase }) {
      const s = shared();
      const r = await storePassphrase({ settings: o.settings, machineName: o.machineName, volume, log: o.log, passphrase, ...(o.deps ? { deps: o.deps } : {}), ...(s ? { session: s } : {}) });
      return { kind: 'keyvault', ...r };
    },
    unseal: (record) => fetchKey({ settings: o.settings, secretUrl: record.secretUrl, log: o.log, ...(o.deps ? { deps: o.deps } : {}) }),
  };
}
