// KEK rotation of encrypted volumes: which records need it, and the real rotation (rekeyVolumes with rotate
// wired to rotateKek, as src/commands/operations.ts wires it) against Key Vault faked at the SDK-client level.
// The vault's calls and the record store's writes land in one event list, so the order is the real code's.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needsRekey, rekeyVolumes } from '../../../src/encryption/rekey.ts';
import type { VolumeRecord } from '../../../src/encryption/volume-journal.ts';
import { buildSecretTags, CONTENT_TYPE_PLAIN, CONTENT_TYPE_WRAPPED, fetchKey, rotateKek, TAG_REPLACED_BY } from '../../../src/keys/index.ts';
import { AdeError } from '../../../src/shared/errors.ts';
import type { EncryptionSettings } from '../../../src/shared/types.ts';
import { volumeRecords } from '../../../src/system/sysfiles.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { fakeWrap, recordingVault } from '../../helpers/recording-vault.ts';
import { volumeRecord as rec } from '../../helpers/volume-record.ts';

const KV = 'https://kv.vault.azure.net/';
const kekA = `${KV}keys/a/1`;
const kekB = `${KV}keys/b/2`;
const settings = (kek?: string, algorithm: 'RSA-OAEP' | 'RSA-OAEP-256' = 'RSA-OAEP'): EncryptionSettings => ({
  operation: 'EnableEncryption', volumeType: 'Data', keyVaultUrl: KV, identity: { kind: 'system' },
  ...(kek ? { kek: { url: kek, vaultResourceId: '/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv', algorithm } } : {}),
});

const osOf = (recovery: NonNullable<VolumeRecord['os']>['recovery']): VolumeRecord['os'] => ({
  partuuid: 'p', header: '/boot/luks/osluksheader', headerFs: 'UUID=b', headerFsType: 'ext4', backup: '/boot/luks/osluksheader.backup', builder: 'initramfs-tools', ...(recovery ? { recovery } : {}),
});

describe('needsRekey', () => {
  it.each([
    ['same KEK and algorithm', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekA), false],
    ['same KEK, other case', rec('a', { kekUrl: kekA.toUpperCase().replace('HTTPS', 'https'), algorithm: 'RSA-OAEP' }), settings(kekA), false],
    ['another KEK', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekB), true],
    ['another algorithm', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekA, 'RSA-OAEP-256'), true],
    ['a KEK added', rec('a'), settings(kekA), true],
    ['the KEK removed', rec('a', { kekUrl: kekA }), settings(), true],
    ['another vault', rec('a', { secretUrl: 'https://old.vault.azure.net/secrets/a/1' }), settings(), true],
    ['not finished encrypting', rec('a', { state: 'encrypting' }), settings(kekA), false],
    ['the key under the KEK, the OS recovery passphrase under another', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP', os: osOf({ secretUrl: `${KV}secrets/r/1`, kekUrl: kekB, algorithm: 'RSA-OAEP' }) }), settings(kekA), true],
    ['the key and the OS recovery passphrase under the KEK', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP', os: osOf({ secretUrl: `${KV}secrets/r/1`, kekUrl: kekA, algorithm: 'RSA-OAEP' }) }), settings(kekA), false],
  ])('%s', (_, r, s, want) => expect(needsRekey(r as VolumeRecord, s as EncryptionSettings)).toBe(want));
});

/**
 * Three encrypted volumes escrowed earlier: a wrapped with KEK A, b already with KEK B, c unwrapped. The
 * settings now name KEK B, so a and c are rotated and b is left alone. Records live in a real store whose
 * writes are logged next to the vault's calls.
 */
function rotation() {
  const events: string[] = [];
  const vault = recordingVault(events);
  vault.addKey(kekB);
  const store = volumeRecords<VolumeRecord>(mkdtempSync(join(tmpdir(), 'ade-rekey-')));
  const passphrases = new Map<string, Buffer>();
  const escrowed = (name: string, kek?: string) => {
    const r = rec(name, kek ? { kekUrl: kek, algorithm: 'RSA-OAEP' } : {});
    const pass = randomBytes(48);
    passphrases.set(r.mapperName, pass);
    const wrap = kek ? { url: kek, algorithm: 'RSA-OAEP' as const } : undefined;
    vault.seed(r.secretUrl!, {
      value: wrap ? fakeWrap(wrap.url, wrap.algorithm, pass).toString('base64url') : pass.toString('base64'),
      contentType: wrap ? CONTENT_TYPE_WRAPPED : CONTENT_TYPE_PLAIN,
      tags: buildSecretTags({ fileName: r.fileName, machineName: 'vm', volumeId: r.luksUuid, ...(wrap ? { kek: wrap } : {}) }),
    });
    store.write(r);
    return r;
  };
  const before = { a: escrowed('a', kekA), b: escrowed('b', kekB), c: escrowed('c') };
  const s = settings(kekB);
  const log = memoryLogger();
  const run = () => rekeyVolumes({
    settings: s, log,
    records: { list: () => store.list(), write: (r) => { events.push(`record ${r.mapperName} ${r.secretUrl}`); store.write(r); } },
    rotate: (recs, onRotated) => rotateKek({ settings: s, records: recs, machineName: 'vm', log, deps: vault.deps, onRotated }),
  });
  /** The passphrase a record's secret opens to now, read through the real fetch path. */
  const opens = (secretUrl: string) => fetchKey({ settings: s, secretUrl, log, deps: vault.deps });
  return { events, vault, store, passphrases, before, run, opens };
}

describe('rekeyVolumes with the real rotateKek', () => {
  it('rotates only what needs it, and records each new secret after its proof and before the old one is disabled', async () => {
    const t = rotation();
    const rotated = await t.run();
    expect(rotated.map((r) => r.volume.id).sort()).toEqual(['uuid-a', 'uuid-c']);
    const events = [...t.events];
    const at = (e: string, from = 0) => { const i = events.indexOf(e, from); expect(i, `${e} (after event ${from})`).toBeGreaterThanOrEqual(from); return i; };

    for (const r of rotated) {
      const old = Object.values(t.before).find((x) => x.luksUuid === r.volume.id)!;
      expect(r).toMatchObject({ oldSecretUrl: old.secretUrl, kekUrl: kekB, algorithm: 'RSA-OAEP', unchanged: false });
      expect(r.secretUrl).not.toBe(old.secretUrl);
      // store → read back that version → unwrap with B (the proof) → record → disable the old secret.
      const set = at(`setSecret ${r.secretUrl}`);
      const get = at(`getSecret ${r.secretUrl}`, set);
      const proof = at(`unwrapKey ${kekB}`, get);
      const record = at(`record ${old.mapperName} ${r.secretUrl}`, proof);
      const retire = at(`updateSecretProperties ${old.secretUrl} enabled=false`, record);
      expect(events.filter((e) => e.startsWith(`record ${old.mapperName} `))).toEqual([events[record]]);
      expect(events.filter((e) => e.startsWith(`updateSecretProperties ${old.secretUrl} `))).toEqual([events[retire]]);

      // The record now names the new secret and its wrapping; everything else in it is as it was.
      expect(t.store.read(old.mapperName)).toEqual({ ...old, secretUrl: r.secretUrl, kekUrl: kekB, algorithm: 'RSA-OAEP' });
      // The old secret: disabled, naming its successor, its tags kept.
      const oldSecret = t.vault.secret(old.secretUrl!)!;
      expect(oldSecret.enabled).toBe(false);
      expect(oldSecret.tags).toMatchObject({ [TAG_REPLACED_BY]: r.secretUrl, VolumeId: old.luksUuid });
      expect(t.vault.secret(r.secretUrl)!.tags).toMatchObject({ DiskEncryptionKeyEncryptionKeyURL: kekB, VolumeId: old.luksUuid });
      expect(await t.opens(r.secretUrl)).toEqual(t.passphrases.get(old.mapperName));
    }
    // b was already wrapped with B: never read, never recorded, never retired.
    expect(events.filter((e) => e.includes('/secrets/b/') || e.startsWith('record ade-b '))).toEqual([]);
    expect(t.store.read('ade-b')).toEqual(t.before.b);
    expect(t.vault.secret(t.before.b.secretUrl!)!.enabled).toBe(true);
  });

  it('a failure at the disable leaves the record already pointing at the new, readable secret', async () => {
    const t = rotation();
    const disableA = `updateSecretProperties ${t.before.a.secretUrl} enabled=false`;
    t.vault.failOn((e) => (e === disableA ? Object.assign(new Error('Forbidden: secrets/set denied'), { name: 'RestError', statusCode: 403 }) : undefined));
    const e = await t.run().then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(AdeError);
    expect(t.events).toContain(disableA);

    const a = t.store.read('ade-a')!;
    expect(a.secretUrl).not.toBe(t.before.a.secretUrl);
    expect(a).toMatchObject({ kekUrl: kekB, algorithm: 'RSA-OAEP' });
    expect(t.events.indexOf(`record ade-a ${a.secretUrl}`)).toBeGreaterThan(t.events.indexOf(`getSecret ${a.secretUrl}`));
    expect(t.events.indexOf(`record ade-a ${a.secretUrl}`)).toBeLessThan(t.events.indexOf(disableA));
    expect(await t.opens(a.secretUrl!)).toEqual(t.passphrases.get('ade-a'));
    // The old secret was not retired, so nothing that still names it is stranded either.
    expect(t.vault.secret(t.before.a.secretUrl!)!.enabled).toBe(true);
    // Whatever the failure cut short, every record names a secret that opens to its own volume's key.
    for (const r of t.store.list()) expect(await t.opens(r.secretUrl!), r.mapperName).toEqual(t.passphrases.get(r.mapperName));
  });

  it('the OS disk\'s recovery passphrase is re-wrapped too, into the record\'s os.recovery; the key beside it as needed', async () => {
    const t = rotation();
    const recoveryUrl = `${KV}secrets/rec-os/1`;
    const pass = Buffer.from('123456-000001-000002-000003-000004-000005-000006-000007');
    t.vault.seed(recoveryUrl, {
      value: fakeWrap(kekA, 'RSA-OAEP', pass).toString('base64url'), contentType: CONTENT_TYPE_WRAPPED,
      tags: buildSecretTags({ fileName: 'LinuxRecoveryPassphrase', machineName: 'vm', volumeId: 'uuid-b/recovery', kek: { url: kekA, algorithm: 'RSA-OAEP' } }),
    });
    // b's key is already under KEK B: only its recovery passphrase moves
    const b = { ...t.before.b, action: 'os' as const, os: osOf({ secretUrl: recoveryUrl, kekUrl: kekA, algorithm: 'RSA-OAEP' }) };
    t.store.write(b);
    const rotated = await t.run();
    expect(rotated.map((r) => r.volume.id).sort()).toEqual(['uuid-a', 'uuid-b/recovery', 'uuid-c']);
    const after = t.store.read('ade-b')!;
    expect(after.secretUrl).toBe(b.secretUrl);
    expect(after.os?.recovery?.secretUrl).not.toBe(recoveryUrl);
    expect(after.os?.recovery).toMatchObject({ kekUrl: kekB, algorithm: 'RSA-OAEP' });
    expect(await t.opens(after.os!.recovery!.secretUrl)).toEqual(pass);
    expect(t.vault.secret(after.os!.recovery!.secretUrl)!.tags).toMatchObject({ DiskEncryptionKeyFileName: 'LinuxRecoveryPassphrase', DiskEncryptionKeyEncryptionKeyURL: kekB });
    expect(t.vault.secret(recoveryUrl)!.enabled).toBe(false);
    expect(t.vault.secret(b.secretUrl!)!.enabled).toBe(true);
  });
});
