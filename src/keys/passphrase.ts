// The volume passphrase: 127 bytes from the OS CSPRNG, base64 → 172 ASCII bytes (1016 bits), exactly ADE's
// format, so an ADE BEK file and ours are interchangeable. Pure apart from the CSPRNG.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings, KekAlgorithm } from '../shared/types.ts';

export const PASSPHRASE_RANDOM_BYTES = 127;

export function generatePassphrase(randomBytes: (n: number) => Buffer = cryptoRandomBytes): Buffer {
  const raw = randomBytes(PASSPHRASE_RANDOM_BYTES);
  const out = Buffer.from(raw.toString('base64'), 'ascii');
  raw.fill(0);
  return out;
}

/** A new volume's passphrase: the user's own from the protected settings, else a fresh random one. */
export function newPassphrase(settings: Pick<EncryptionSettings, 'passphrase'>, log: Logger, randomBytes?: (n: number) => Buffer): Buffer {
  const passphrase = settings.passphrase !== undefined ? Buffer.from(settings.passphrase, 'utf8') : generatePassphrase(randomBytes);
  registerSecret(log, passphrase);
  return passphrase;
}

/** Registers every textual form the passphrase could appear in, before anything can log it. */
export function registerSecret(log: Logger, passphrase: Buffer): void {
  log.addSecret(passphrase.toString('utf8'));
  log.addSecret(passphrase.toString('base64'));
  log.addSecret(passphrase.toString('base64url'));
}

/** Largest plaintext an RSA key of `modulusBytes` can wrap with `alg`. */
export function maxWrapBytes(alg: KekAlgorithm, modulusBytes: number): number {
  switch (alg) {
    case 'RSA-OAEP': return modulusBytes - 2 * 20 - 2;
    case 'RSA-OAEP-256': return modulusBytes - 2 * 32 - 2;
    case 'RSA1_5': return modulusBytes - 11;
  }
}
