// The "keyvault" protector: network unlock. seal escrows the passphrase (wrapped with the KEK when one is
// set); unseal gets a token, fetches the secret, unwraps it and returns the bytes, never writing them to disk.
import type { Logger } from '../../shared/log.ts';
import type { EncryptionSettings } from '../../shared/types.ts';
import { fetchKey, storePassphrase } from '../escrow.ts';
import type { KeysDeps } from '../session.ts';
import type { KeyProtector, KeyVaultRecord } from './types.ts';

export interface KeyVaultProtectorOptions {
  settings: EncryptionSettings;
  machineName: string;
  log: Logger;
  deps?: KeysDeps;
}

export function keyVaultProtector(o: KeyVaultProtectorOptions): KeyProtector<KeyVaultRecord> {
  return {
    kind: 'keyvault',
    async seal({ volume, passphrase }) {
      const r = await storePassphrase({ settings: o.settings, machineName: o.machineName, volume, log: o.log, passphrase, ...(o.deps ? { deps: o.deps } : {}) });
      return { kind: 'keyvault', ...r };
    },
    unseal: (record) => fetchKey({ settings: o.settings, secretUrl: record.secretUrl, log: o.log, ...(o.deps ? { deps: o.deps } : {}) }),
  };
}
