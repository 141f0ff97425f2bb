import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { activeSegments, parseLuksDumpJson, reencryptDoneBytes, reencryptTotalBytes } from '../../../src/parsers/luksdump.ts';
import { ParseError } from '../../../src/parsers/parse-error.ts';

const fx = (n: string) => readFileSync(new URL(`../../fixtures/luks/${n}`, import.meta.url), 'utf8');

describe('parseLuksDumpJson (real cryptsetup 2.6.1 output)', () => {
  it.each([
    ['luks2-fresh.json', false, undefined, [], 1, ['crypt'], undefined],
    ['luks2-encrypted.json', false, undefined, [], 1, ['crypt'], undefined],
    ['luks2-token.json', false, undefined, [], 2, ['crypt'], undefined],
    ['luks2-reencrypt-init.json', true, { mode: 'encrypt', direction: 'backward', resilience: 'datashift' }, ['online-reencrypt-v2'], 2, ['linear', 'linear'], 0],
    ['luks2-reencrypt-killed.json', true, { mode: 'encrypt', direction: 'backward', resilience: 'datashift' }, ['online-reencrypt-v2'], 2, ['linear', 'linear', 'crypt', 'crypt'], 721420288],
    ['luks2-decrypt-init.json', true, { mode: 'decrypt', direction: 'forward', resilience: 'datashift-checksum' }, ['online-reencrypt-v3'], 2, ['crypt', 'crypt'], 0],
    ['luks2-reencrypt-last-hotzone.json', true, { mode: 'encrypt', direction: 'backward', resilience: 'datashift' }, ['online-reencrypt-v2'], 2, ['crypt', 'crypt'], 112 * 1024 * 1024],
    // Every byte converted, the reencrypt flag not yet cleared: one dynamic final segment, size unknown here.
    ['luks2-reencrypt-final.json', true, { mode: 'encrypt', direction: 'backward', resilience: 'datashift' }, ['online-reencrypt-v2'], 2, ['crypt'], undefined],
    // The OS disk's detached header (lab, 256 MiB): cipher_null with the key's and the recovery passphrase's
    // keyslots, then a reencryption to AES-XTS (each keyslot gets a twin), then 32 MiB in. Both sides are
    // `crypt`: only the encryption tells what is done (the cipher_null segment is not).
    ['luks2-os-null-null.json', false, undefined, [], 1, ['crypt'], undefined],
    ['luks2-os-null-init.json', true, { mode: 'reencrypt', direction: 'forward', resilience: 'checksum' }, ['online-reencrypt-v2'], 5, ['crypt'], 0],
    ['luks2-os-null-killed.json', true, { mode: 'reencrypt', direction: 'forward', resilience: 'checksum' }, ['online-reencrypt-v2'], 5, ['crypt', 'crypt'], 32 * 1024 * 1024],
  ])('%s', (file, inProgress, reencrypt, reqs, slots, activeTypes, done) => {
    const m = parseLuksDumpJson(fx(file));
    expect(m.reencryptInProgress).toBe(inProgress);
    expect(m.reencrypt).toEqual(reencrypt);
    expect(m.requirements).toEqual(reqs);
    expect(m.keyslots).toHaveLength(slots);
    expect(activeSegments(m).map((s) => s.type)).toEqual(activeTypes);
    expect(reencryptDoneBytes(m)).toBe(done);
  });

  it('counts a dynamic done segment to the end of the device (160 MiB image, 16 MiB header)', () => {
    const MiB = 1024 * 1024;
    expect(reencryptDoneBytes(parseLuksDumpJson(fx('luks2-reencrypt-final.json')), 160 * MiB)).toBe(144 * MiB);
    expect(reencryptDoneBytes(parseLuksDumpJson(fx('luks2-reencrypt-last-hotzone.json')), 160 * MiB)).toBe(112 * MiB);
    expect(reencryptDoneBytes(parseLuksDumpJson(fx('luks2-reencrypt-killed.json')), 1 << 40)).toBe(721420288);
  });

  it('measures the reencryption from the data offset to the end (the progress bar\'s 100%)', () => {
    const MiB = 1024 * 1024;
    expect(reencryptTotalBytes(parseLuksDumpJson(fx('luks2-reencrypt-init.json')), 160 * MiB)).toBe(144 * MiB);
    expect(reencryptTotalBytes(parseLuksDumpJson(fx('luks2-reencrypt-killed.json')), 1 << 30)).toBe((1 << 30) - 16 * MiB);
    expect(reencryptTotalBytes(parseLuksDumpJson(fx('luks2-encrypted.json')), 1 << 30)).toBeUndefined();
  });

  it('reads a fresh container fully', () => {
    const m = parseLuksDumpJson(fx('luks2-fresh.json'));
    expect(m.segments).toEqual([{ id: '0', type: 'crypt', offset: 16777216, size: 'dynamic', encryption: 'aes-xts-plain64', sectorSize: 4096, ivTweak: 0, flags: [] }]);
    expect(m.keyslots[0]).toMatchObject({ id: '0', type: 'luks2', keySize: 64, areaEncryption: 'aes-xts-plain64', kdf: { type: 'pbkdf2', hash: 'sha256', iterations: 1000 } });
    expect(m.digests).toEqual([{ id: '0', type: 'pbkdf2', keyslots: ['0'], segments: ['0'] }]);
    expect(m.tokens).toEqual([]);
  });

  it('reads a mid-reencryption segment table', () => {
    const m = parseLuksDumpJson(fx('luks2-reencrypt-killed.json'));
    expect(m.segments.find((s) => s.flags.includes('in-reencryption'))).toEqual({ id: '2', type: 'crypt', offset: 318767104, size: 16777216, encryption: 'aes-xts-plain64', sectorSize: 512, ivTweak: 589824, flags: ['in-reencryption'] });
    expect(m.segments.map((s) => s.flags.join())).toEqual(['', '', 'in-reencryption', '', 'backup-previous', 'backup-final', 'backup-moved-segment']);
    expect(m.keyslots[1]).toMatchObject({ type: 'reencrypt', keySize: 1, priority: 0 });
  });

  it('reads tokens with their own fields', () => {
    const m = parseLuksDumpJson(fx('luks2-token.json'));
    expect(m.tokens).toEqual([{ id: '0', type: 'ade-linux-keyvault', keyslots: ['1'], fields: { secretUrl: 'https://vault.example/secrets/x/1' } }]);
    expect(m.digests[0]!.keyslots).toEqual(['0', '1']);
  });

  it.each([['not json'], ['{}'], ['{"keyslots":{},"segments":{"0":{"type":"crypt","offset":"x","size":"dynamic"}}}'], ['{"keyslots":{"0":{"type":"reencrypt","key_size":1,"mode":"bogus"}},"segments":{}}']])('rejects %s', (t) => {
    expect(() => parseLuksDumpJson(t)).toThrow(ParseError);
  });
});
