// KEK rotation A → B against the fake: same passphrases, new secrets wrapped with B and proven by a round
// trip before each old secret (wrapped with A) is disabled; the order is checked on the fake's request log.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { fetchKey, rotateKek } from '../../../src/keys/index.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { blockedConnections, useFakeAzure } from '../../../lab/fakes/env.ts';
import { encryptionSettings } from '../../helpers/settings.ts';
import { rsaUnwrap } from '../../../lab/fakes/vault.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); });
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.vault.resetFaults(); fake.log.clear(); });

const HOST = 'rotvault.vault.azure.net';
const vols = [{ id: 'os', fileName: 'LinuxPassPhraseFileName' }, { id: 'data0', fileName: 'LinuxPassPhraseFileName_1_0' }];
const pathOf = (u: string) => new URL(u).pathname;

async function escrowUnderA() {
  const a = fake.vault.createKey(HOST, 'kek-a');
  const settingsA = encryptionSettings({ vaultHost: HOST, kekUrl: a.url, algorithm: 'RSA-OAEP' });
  const records = [];
  for (const volume of vols) {
    const r = await escrowKey({ settings: settingsA, machineName: 'vm', volume, log: memoryLogger() });
    records.push({ volume, secretUrl: r.secretUrl, kekUrl: r.kekUrl!, algorithm: r.algorithm!, passphrase: r.passphrase });
  }
  return { a, records };
}

describe('rotateKek', () => {
  it('A → B: re-wraps every volume key with B, proves it, then disables the A secret (in that order)', async () => {
    const { records } = await escrowUnderA();
    const b = fake.vault.createKey('kekvault-b.vault.azure.net', 'kek-b');
    const settingsB = encryptionSettings({ vaultHost: HOST, kekUrl: b.url, algorithm: 'RSA-OAEP-256' });
    fake.log.clear();
    const journaled: string[] = [];
    const out = await rotateKek({
      settings: settingsB, records: records.map(({ passphrase: _p, ...r }) => r), machineName: 'vm', log: memoryLogger(),
      onRotated: (r) => { journaled.push(r.secretUrl); fake.log.add({ kind: 'note', host: 'journal', method: 'JOURNAL', path: pathOf(r.secretUrl), query: {}, body: '', headers: {} }); },
    });
    expect(out).toHaveLength(2);
    const ok = fake.log.all.filter((q) => q.status === 200 || q.method === 'JOURNAL').map((q) => `${q.method} ${q.path}`);
    for (const [i, r] of out.entries()) {
      const rec = records[i]!;
      expect(r.unchanged).toBe(false);
      expect(r.oldSecretUrl).toBe(rec.secretUrl);
      expect(r.kekUrl).toBe(b.url);
      expect(r.algorithm).toBe('RSA-OAEP-256');
      // Same passphrase, now really wrapped with B.
      const stored = fake.vault.secret(r.secretUrl)!;
      expect(rsaUnwrap(b.privateKey, 'RSA-OAEP-256', Buffer.from(stored.value, 'base64url'))).toEqual(rec.passphrase);
      expect(stored.tags['DiskEncryptionKeyEncryptionKeyURL']).toBe(b.url);
      expect(stored.tags['VolumeId']).toBe(rec.volume.id);
      // The A secret: disabled, pointing at its successor, tags kept.
      const old = fake.vault.secret(rec.secretUrl)!;
      expect(old.attributes['enabled']).toBe(false);
      expect(old.tags['ReplacedBy']).toBe(r.secretUrl);
      expect(old.tags['DiskEncryptionKeyEncryptionKeyURL']).toBe(rec.kekUrl);
      // Order: unwrap with A, store with B, read back, unwrap with B, journal, and only then disable A.
      const at = (s: string) => { const i = ok.indexOf(s); expect(i, s).toBeGreaterThanOrEqual(0); return i; };
      const unwrapA = at(`POST ${pathOf(rec.kekUrl)}/unwrapkey`);
      const putB = ok.findIndex((s, k) => k > unwrapA && s.startsWith('PUT /secrets/'));
      const getB = at(`GET ${pathOf(r.secretUrl)}`);
      const unwrapB = ok.findIndex((s, k) => k > getB && s === `POST ${pathOf(b.url)}/unwrapkey`);
      const journal = at(`JOURNAL ${pathOf(r.secretUrl)}`);
      const retire = at(`PATCH ${pathOf(rec.secretUrl)}`);
      expect(putB).toBeGreaterThan(unwrapA);
      expect(getB).toBeGreaterThan(putB);
      expect(unwrapB).toBeGreaterThan(getB);
      expect(journal).toBeGreaterThan(unwrapB);
      expect(retire).toBeGreaterThan(journal);
      expect(await fetchKey({ settings: settingsB, secretUrl: r.secretUrl, log: memoryLogger() })).toEqual(rec.passphrase);
    }
    expect(journaled).toEqual(out.map((r) => r.secretUrl));
    // The retired secret can no longer be read.
    const e = await fetchKey({ settings: settingsB, secretUrl: records[0]!.secretUrl, log: memoryLogger() }).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e).toBeInstanceOf(AdeError);
    expect(e!.code).toBe(308);
    expect(e!.message).toContain('Operation get is not allowed on a disabled secret');
  });

  it('when B cannot be proven (no unwrapKey on B), the A secret stays enabled and the error names it', async () => {
    const { records } = await escrowUnderA();
    const b = fake.vault.createKey('kekvault-b.vault.azure.net', 'kek-b2');
    fake.vault.faults.forbidden.add('kekvault-b.vault.azure.net:keys/unwrapKey');
    fake.log.clear();
    const { passphrase: _p, ...rec } = records[0]!;
    let journaled = false;
    const e = await rotateKek({
      settings: encryptionSettings({ vaultHost: HOST, kekUrl: b.url, algorithm: 'RSA-OAEP' }), records: [rec], machineName: 'vm', log: memoryLogger(),
      onRotated: () => { journaled = true; },
    }).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e).toBeInstanceOf(AdeError);
    expect(e!.code).toBe(303);
    expect(e!.message).toContain('lacks permission keys/unwrapKey on vault kekvault-b');
    expect(journaled).toBe(false);
    // The new secret was written (then could not be proven); the A secret was never touched.
    expect(fake.log.all.some((q) => q.method === 'PUT' && q.status === 200)).toBe(true);
    expect(fake.log.all.some((q) => q.method === 'PATCH')).toBe(false);
    expect(fake.vault.secret(rec.secretUrl)!.attributes['enabled']).toBe(true);
  });

  it('a record already under the target KEK is left alone', async () => {
    const { a, records } = await escrowUnderA();
    fake.log.clear();
    const out = await rotateKek({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: a.url, algorithm: 'RSA-OAEP' }), records: [records[0]!], machineName: 'vm', log: memoryLogger() });
    expect(out[0]).toMatchObject({ unchanged: true, secretUrl: records[0]!.secretUrl, oldSecretUrl: records[0]!.secretUrl });
    expect(fake.log.of('vault')).toEqual([]);
  });

  it('nothing left loopback', () => { expect(blockedConnections).toEqual([]); });
});
