// Settings as the extension hands them to src/keys, for tests.
import type { EncryptionSettings, Identity, KekAlgorithm } from '../../src/shared/types.ts';

export function encryptionSettings(o: { vaultHost: string; identity?: Identity; kekUrl?: string; algorithm?: KekAlgorithm; passphrase?: string }): EncryptionSettings {
  return {
    operation: 'EnableEncryption',
    volumeType: 'Data',
    keyVaultUrl: `https://${o.vaultHost}/`,
    keyVaultResourceId: `/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${o.vaultHost.split('.')[0]}`,
    identity: o.identity ?? { kind: 'system' },
    ...(o.kekUrl ? { kek: { url: o.kekUrl, vaultResourceId: '/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kekvault', algorithm: o.algorithm ?? 'RSA-OAEP' } } : {}),
    ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
  };
}

/** A sleep that returns at once and remembers what it was asked to wait. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => { waits.push(ms); } };
}
