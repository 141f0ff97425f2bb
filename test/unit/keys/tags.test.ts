import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { PASSPHRASE_RANDOM_BYTES, generatePassphrase, generateRecoveryPassphrase, maxWrapBytes, newRecoveryPassphrase, registerSecret } from '../../../src/keys/passphrase.ts';
import { adeMachineName, buildSecretTags, contentTypeFor, tagDifference } from '../../../src/keys/tags.ts';

describe('secret tags (ADE format)', () => {
  it('wrapped: file name, algorithm, KEK URL, machine name, volume', () => {
    expect(buildSecretTags({ fileName: 'LinuxPassPhraseFileName_1_0', machineName: 'vm-1', volumeId: 'uuid-1', kek: { url: 'https://k.vault.azure.net/keys/k/1', algorithm: 'RSA-OAEP-256' } })).toEqual({
      DiskEncryptionKeyFileName: 'LinuxPassPhraseFileName_1_0',
      DiskEncryptionKeyEncryptionAlgorithm: 'RSA-OAEP-256',
      DiskEncryptionKeyEncryptionKeyURL: 'https://k.vault.azure.net/keys/k/1',
      MachineName: 'vm-1',
      VolumeId: 'uuid-1',
    });
    expect(contentTypeFor(true)).toBe('Wrapped BEK');
  });

  it('unwrapped: no KEK tags; empty values dropped', () => {
    expect(buildSecretTags({ fileName: 'LinuxPassPhraseFileName', machineName: 'host.domain', volumeId: '' })).toEqual({ DiskEncryptionKeyFileName: 'LinuxPassPhraseFileName' });
    expect(contentTypeFor(false)).toBe('BEK');
  });

  it('machine name follows ADE: only ^[\\w-]+$', () => {
    expect(adeMachineName('vm_01-a')).toBe('vm_01-a');
    expect(adeMachineName('vm.example.com')).toBe('');
    expect(adeMachineName('')).toBe('');
  });

  it('tagDifference names the differing keys', () => {
    expect(tagDifference({ a: '1', b: '2' }, { a: '1', b: '2' })).toBe('');
    expect(tagDifference({ a: '1', b: '2' }, { a: '1', b: '3', c: '4' })).toBe('tags differ: b, c');
    expect(tagDifference({ a: '1' }, undefined)).toBe('tags differ: a');
  });
});

describe('passphrase', () => {
  it('is base64 of 127 CSPRNG bytes: 172 ASCII bytes, 1016 bits', () => {
    let asked = 0;
    const p = generatePassphrase((n) => { asked = n; return Buffer.alloc(n, 0xab); });
    expect(asked).toBe(PASSPHRASE_RANDOM_BYTES);
    expect(p.toString('ascii')).toBe(Buffer.alloc(127, 0xab).toString('base64'));
    expect(p.length).toBe(172);
    expect(PASSPHRASE_RANDOM_BYTES * 8).toBeGreaterThanOrEqual(256);
    expect(generatePassphrase().equals(generatePassphrase())).toBe(false);
  });

  it('the OS disk\'s recovery passphrase: 8 groups of 6 CSPRNG digits (typed at a console), leading zeros kept, redacted from the log', () => {
    const draws: number[] = [];
    const p = generateRecoveryPassphrase((max) => { draws.push(max); return draws.length === 1 ? 42 : 999_999 - draws.length; });
    expect(draws).toEqual(Array(8).fill(1_000_000));
    expect(p.toString('ascii')).toBe('000042-999997-999996-999995-999994-999993-999992-999991');
    const real = generateRecoveryPassphrase().toString('ascii');
    expect(real).toMatch(/^\d{6}(-\d{6}){7}$/);
    expect(generateRecoveryPassphrase().toString()).not.toBe(real);
    const log = memoryLogger();
    const q = newRecoveryPassphrase(log);
    log.info(`typed ${q.toString()}`);
    expect(log.lines[0]).toBe('info typed [REDACTED]');
  });

  it('every textual form is registered for redaction', () => {
    const log = memoryLogger();
    const p = Buffer.from('my-secret-passphrase');
    registerSecret(log, p);
    log.info(`a ${p.toString()} b ${p.toString('base64')} c ${p.toString('base64url')}`);
    expect(log.lines[0]).toBe('info a [REDACTED] b [REDACTED] c [REDACTED]');
  });

  it('wrap size limits per algorithm for a 2048-bit key', () => {
    expect(maxWrapBytes('RSA-OAEP', 256)).toBe(214);
    expect(maxWrapBytes('RSA-OAEP-256', 256)).toBe(190);
    expect(maxWrapBytes('RSA1_5', 256)).toBe(245);
  });
});
