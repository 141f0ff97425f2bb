// The volume passphrase: 127 bytes from the OS CSPRNG, base64 → 172 ASCII bytes (1016 bits), exactly ADE's
// format, so an ADE BEK file and ours are interchangeable. Pure apart from the CSPRNG.
import { randomBytes as cryptoRandomBytes, randomInt as cryptoRandomInt } from 'node:crypto';
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

/**
 * The OS disk's recovery passphrase, typed at the serial console when no other protector opens the disk:
 * 48 decimal digits in 8 groups of 6 (BitLocker's recovery password shape, about 159 bits), so it survives
 * being read aloud, copied from a portal and typed on a console with no paste and no echo.
 */
export const RECOVERY_GROUPS = 8;
export function generateRecoveryPassphrase(randomInt: (max: number) => number = cryptoRandomInt): Buffer {
  const groups: string[] = [];
  for (let i = 0; i < RECOVERY_GROUPS; i++) groups.push(String(randomInt(1_000_000)).padStart(6, '0'));
  return Buffer.from(groups.join('-'), 'ascii');
}

export function newRecoveryPassphrase(log: Logger, randomInt?: (max: number) => number): Buffer {
  const passphrase = generateRecoveryPassphrase(randomInt);
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
