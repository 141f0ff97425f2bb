// Escrow against the fake Azure with the real SDK clients and production URLs (reached through HTTPS_PROXY,
// the test CA and AZURE_POD_IDENTITY_AUTHORITY_HOST): every KEK algorithm, no KEK, sovereign clouds.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { fetchKey } from '../../../src/keys/index.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { blockedConnections, useFakeAzure } from '../../../lab/fakes/env.ts';
import { encryptionSettings } from '../../helpers/settings.ts';
import { rsaUnwrap } from '../../../lab/fakes/vault.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); });
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.vault.resetFaults(); fake.log.clear(); });

const HOST = 'adevault.vault.azure.net';
const volume = { id: 'data0-uuid-1234', fileName: 'LinuxPassPhraseFileName_1_0' };
const pathOf = (u: string) => new URL(u).pathname;

describe('escrowKey with a KEK', () => {
  it.each(['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const)('%s: wraps with the KEK, stores Wrapped BEK with ADE tags, proves the round trip', async (algorithm) => {
    const kek = fake.vault.createKey('kekvault.vault.azure.net', 'kek1');
    const log = memoryLogger();
    const r = await escrowKey({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: kek.url, algorithm }), machineName: 'vm-01', volume, log });

    expect(r.passphrase.length).toBe(172); // base64 of 127 CSPRNG bytes, ADE's format
    expect(r.passphrase.toString('ascii')).toMatch(/^[A-Za-z0-9+/]{170}==$/);
    expect(r.kekUrl).toBe(kek.url);
    expect(r.algorithm).toBe(algorithm);
    expect(r.secretUrl).toMatch(new RegExp(`^https://${HOST}/secrets/[0-9a-f-]{36}/[0-9a-f]{32}$`));

    const stored = fake.vault.secret(r.secretUrl)!;
    expect(stored.contentType).toBe('Wrapped BEK');
    expect(stored.tags).toEqual({
      DiskEncryptionKeyFileName: 'LinuxPassPhraseFileName_1_0',
      DiskEncryptionKeyEncryptionAlgorithm: algorithm,
      DiskEncryptionKeyEncryptionKeyURL: kek.url,
      MachineName: 'vm-01',
      VolumeId: 'data0-uuid-1234',
    });
    // The test unwraps with the KEK's private key: the stored value really is the passphrase wrapped with it.
    expect(rsaUnwrap(kek.privateKey, algorithm, Buffer.from(stored.value, 'base64url'))).toEqual(r.passphrase);

    // Order: secret stored, read back (that version), then unwrapped at the vault; nothing before the key check.
    const calls = fake.log.of('vault').filter((q) => q.status === 200).map((q) => `${q.method} ${q.host} ${q.path}`);
    const setIdx = calls.findIndex((c) => c.startsWith(`PUT ${HOST} /secrets/`));
    const getIdx = calls.indexOf(`GET ${HOST} ${pathOf(r.secretUrl)}`);
    const unwrapIdx = calls.indexOf(`POST kekvault.vault.azure.net ${pathOf(kek.url)}/unwrapkey`);
    expect(calls[0]).toBe(`GET kekvault.vault.azure.net ${pathOf(kek.url)}`);
    expect(setIdx).toBeGreaterThan(0);
    expect(getIdx).toBeGreaterThan(setIdx);
    expect(unwrapIdx).toBeGreaterThan(getIdx);
    // RSA-OAEP-256 is wrapped by the vault; the other two locally by the SDK with the public key.
    expect(calls.some((c) => c.endsWith('/wrapkey'))).toBe(algorithm === 'RSA-OAEP-256');
    expect(log.lines.join('\n')).toContain(`Verified ${r.secretUrl}`);

    expect(await fetchKey({ settings: encryptionSettings({ vaultHost: HOST }), secretUrl: r.secretUrl, log })).toEqual(r.passphrase);
  });
});

describe('escrowKey without a KEK', () => {
  it('stores the passphrase as a BEK secret (base64) with the file-name, machine and volume tags only', async () => {
    const r = await escrowKey({ settings: encryptionSettings({ vaultHost: HOST }), machineName: 'web.example.com', volume: { id: 'os', fileName: 'LinuxPassPhraseFileName' }, log: memoryLogger() });
    const stored = fake.vault.secret(r.secretUrl)!;
    expect(stored.contentType).toBe('BEK');
    expect(Buffer.from(stored.value, 'base64')).toEqual(r.passphrase);
    // A host name with dots is dropped, as ADE does.
    expect(stored.tags).toEqual({ DiskEncryptionKeyFileName: 'LinuxPassPhraseFileName', VolumeId: 'os' });
    expect(r.kekUrl).toBeUndefined();
    expect(fake.log.of('vault').some((q) => q.path.startsWith('/keys/'))).toBe(false);
  });

  it('uses a passphrase given in the protected settings verbatim', async () => {
    const r = await escrowKey({ settings: encryptionSettings({ vaultHost: HOST, passphrase: 'correct horse battery staple' }), machineName: 'vm', volume, log: memoryLogger() });
    expect(r.passphrase.toString()).toBe('correct horse battery staple');
    expect(Buffer.from(fake.vault.secret(r.secretUrl)!.value, 'base64').toString()).toBe('correct horse battery staple');
  });

  it('two escrows generate two different passphrases and secrets', async () => {
    const s = encryptionSettings({ vaultHost: HOST });
    const a = await escrowKey({ settings: s, machineName: 'vm', volume, log: memoryLogger() });
    const b = await escrowKey({ settings: s, machineName: 'vm', volume, log: memoryLogger() });
    expect(a.passphrase.equals(b.passphrase)).toBe(false);
    expect(a.secretUrl).not.toBe(b.secretUrl);
  });
});

describe('sovereign clouds', () => {
  it.each([
    ['cnvault.vault.azure.cn', 'https://vault.azure.cn'],
    ['govvault.vault.usgovcloudapi.net', 'https://vault.usgovcloudapi.net'],
  ])('%s: the token is requested for %s and the vault accepts it', async (host, resource) => {
    const kek = fake.vault.createKey(host, 'kek');
    const r = await escrowKey({ settings: encryptionSettings({ vaultHost: host, kekUrl: kek.url }), machineName: 'vm', volume, log: memoryLogger() });
    expect(rsaUnwrap(kek.privateKey, 'RSA-OAEP', Buffer.from(fake.vault.secret(r.secretUrl)!.value, 'base64url'))).toEqual(r.passphrase);
    const imds = fake.log.of('imds');
    expect(imds.map((q) => q.query['resource'])).toContain(resource);
    // The vault challenged with the sovereign authority.
    expect(fake.log.of('vault').every((q) => q.host === host)).toBe(true);
  });
});

describe('the test network', () => {
  it('no connection left loopback, and only the fake hosts were tunnelled', () => {
    expect(blockedConnections).toEqual([]);
    expect(fake.log.of('refused')).toEqual([]);
  });
});
