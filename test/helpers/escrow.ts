// A new volume key escrowed the way the worker's escrow step does it: a passphrase from the settings (or
// random), sealed by the Key Vault protector (wrapped, stored, read back and proven). Without the key volume.
import { keyVaultProtector, newPassphrase, type EscrowArgs, type EscrowRecord } from '../../src/keys/index.ts';

export async function escrowKey(a: EscrowArgs): Promise<EscrowRecord & { passphrase: Buffer }> {
  const passphrase = newPassphrase(a.settings, a.log, a.deps?.randomBytes);
  const { kind: _k, ...record } = await keyVaultProtector({ settings: a.settings, machineName: a.machineName, log: a.log, ...(a.deps ? { deps: a.deps } : {}) }).seal({ volume: a.volume, passphrase });
  return { passphrase, ...record };
}
