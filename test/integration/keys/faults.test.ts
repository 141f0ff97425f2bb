// Every failure the key side can meet, injected into the fake vault, through the real SDK clients: each one
// ends in its own coded AdeError whose message names what to fix.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { KekAlgorithm } from '../../../src/shared/types.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { blockedConnections, useFakeAzure } from '../../../lab/fakes/env.ts';
import { encryptionSettings, recordingSleep } from '../../helpers/settings.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); });
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.vault.resetFaults(); fake.log.clear(); });

const HOST = 'faultvault.vault.azure.net';
const KEK_HOST = 'kekvault.vault.azure.net';
const volume = { id: 'vol1', fileName: 'LinuxPassPhraseFileName' };

async function run(o: { kek?: boolean; algorithm?: KekAlgorithm; kekUrl?: string } = {}) {
  const kekUrl = o.kekUrl ?? (o.kek === false ? undefined : fake.vault.createKey(KEK_HOST, 'kek').url);
  const log = memoryLogger();
  const rec = recordingSleep();
  const p = escrowKey({
    settings: encryptionSettings({ vaultHost: HOST, ...(kekUrl ? { kekUrl } : {}), ...(o.algorithm ? { algorithm: o.algorithm } : {}) }),
    machineName: 'vm', volume, log, deps: { retryDeps: { sleep: rec.sleep, random: () => 0.5 } },
  });
  const outcome = await p.then((r) => ({ r, e: undefined }), (e: unknown) => ({ r: undefined, e }));
  return { ...outcome, waits: rec.waits, log, kekUrl };
}

function adeError(e: unknown): AdeError {
  expect(e).toBeInstanceOf(AdeError);
  return e as AdeError;
}

describe('permissions (303)', () => {
  it('access-policy vault without secrets/set: names the permission, the vault, the identity and the role', async () => {
    fake.vault.faults.forbidden.add('secrets/set');
    const e = adeError((await run()).e);
    expect(e.code).toBe(303);
    expect(e.message).toBe('The identity system-assigned managed identity lacks permission secrets/set on vault faultvault. Grant it (access policy or RBAC role "Key Vault Secrets Officer") and run enable again.');
  });

  it('RBAC vault without wrapKey on the KEK (RSA-OAEP-256 wraps at the vault): names keys/wrapKey and the KEK vault', async () => {
    fake.vault.faults.forbidden.add('keys/wrapKey');
    fake.vault.faults.rbac = true;
    const e = adeError((await run({ algorithm: 'RSA-OAEP-256' })).e);
    expect(e.code).toBe(303);
    expect(e.message).toContain('lacks permission keys/wrapKey on vault kekvault');
    expect(e.message).toContain('Key Vault Crypto Service Encryption User');
    expect(fake.log.of('vault').some((q) => q.method === 'PUT')).toBe(false); // nothing stored
  });

  it('no keys/get on the KEK', async () => {
    fake.vault.faults.forbidden.add('keys/get');
    const e = adeError((await run()).e);
    expect(e.message).toContain('lacks permission keys/get on vault kekvault');
  });

  it('no secrets/get: the read-back fails and names it', async () => {
    fake.vault.faults.forbidden.add('secrets/get');
    const e = adeError((await run()).e);
    expect(e.code).toBe(303);
    expect(e.message).toContain('lacks permission secrets/get on vault faultvault');
    expect(e.message).toContain('"Key Vault Secrets User"');
  });

  it('no keys/unwrapKey: the round trip cannot be proven', async () => {
    fake.vault.faults.forbidden.add('keys/unwrapKey');
    const e = adeError((await run()).e);
    expect(e.message).toContain('lacks permission keys/unwrapKey on vault kekvault');
  });
});

describe('the KEK', () => {
  it('missing (304): names the key URL and its vault', async () => {
    const kekUrl = `https://${KEK_HOST}/keys/nosuchkey/0123456789abcdef0123456789abcdef`;
    const e = adeError((await run({ kekUrl })).e);
    expect(e.code).toBe(304);
    expect(e.message).toBe(`Key encryption key ${kekUrl} was not found. Check KeyEncryptionKeyURL (name and version) and that the key exists in vault kekvault.`);
  });

  it('disabled (305)', async () => {
    const k = fake.vault.createKey(KEK_HOST, 'disabled-kek');
    fake.vault.setKeyAttributes(k.url, { enabled: false });
    const e = adeError((await run({ kekUrl: k.url })).e);
    expect(e.code).toBe(305);
    expect(e.message).toBe(`Key encryption key ${k.url} is disabled or expired. Enable it in vault kekvault or give another KeyEncryptionKeyURL.`);
    expect(fake.log.of('vault').some((q) => q.method === 'PUT')).toBe(false);
  });

  it('expired (305)', async () => {
    const k = fake.vault.createKey(KEK_HOST, 'expired-kek');
    fake.vault.setKeyAttributes(k.url, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const e = adeError((await run({ kekUrl: k.url })).e);
    expect(e.code).toBe(305);
  });
});

describe('throttling and server errors', () => {
  it('429 twice with Retry-After: 2 → waits exactly 2 s each time, then succeeds', async () => {
    fake.vault.faults.throttle = { count: 2, status: 429, retryAfter: '2', permission: 'secrets/set' };
    const { r, e, waits, log } = await run();
    expect(e).toBeUndefined();
    expect(r!.secretUrl).toContain(HOST);
    expect(waits).toEqual([2000, 2000]);
    expect(fake.log.of('vault').filter((q) => q.status === 429)).toHaveLength(2);
    expect(log.lines.filter((l) => l.includes('HTTP 429; retry'))).toHaveLength(2);
  });

  it('503 without Retry-After → exponential backoff, then succeeds', async () => {
    fake.vault.faults.throttle = { count: 2, status: 503 };
    const { e, waits } = await run();
    expect(e).toBeUndefined();
    expect(waits).toEqual([750, 1500]); // 1 s, 2 s with the injected jitter factor 0.75
  });

  it('429 that does not stop: KeyVaultThrottled (306) after the bounded number of attempts', async () => {
    fake.vault.faults.throttle = { count: 100, status: 429, retryAfter: '1' };
    const { e, waits } = await run({ kek: false });
    const err = adeError(e);
    expect(err.code).toBe(306);
    expect(err.message).toBe('Key Vault https://faultvault.vault.azure.net/ kept answering 429 after 5 attempts. Run enable again later.');
    expect(waits).toEqual([1000, 1000, 1000, 1000]);
    expect(fake.log.of('vault').filter((q) => q.status === 429)).toHaveLength(5);
  });

  it('a Retry-After beyond the bound is not waited for', async () => {
    fake.vault.faults.throttle = { count: 1, status: 429, retryAfter: '3600' };
    const { e, waits } = await run({ kek: false });
    expect(adeError(e).message).toContain('kept answering 429 after 1 attempts');
    expect(waits).toEqual([]);
  });

  it('500 that does not stop: 306 with the status', async () => {
    fake.vault.faults.throttle = { count: 100, status: 500 };
    const err = adeError((await run({ kek: false })).e);
    expect(err.code).toBe(306);
    expect(err.message).toContain('kept answering 500 after 5 attempts');
  });
});

describe('network', () => {
  it('vault unreachable (302): names the endpoint and the network requirement', async () => {
    fake.vault.faults.unreachable = true;
    const { e, waits } = await run({ kek: false });
    const err = adeError(e);
    expect(err.code).toBe(302);
    expect(err.message).toMatch(/^Key Vault https:\/\/faultvault\.vault\.azure\.net\/ cannot be reached: .+\(5 attempts\)\. The VM needs outbound HTTPS \(443\) to the vault and to Entra ID; check NSG, firewall, proxy and DNS\.$/);
    expect(waits).toHaveLength(4);
  });
});

describe('read-back verification (307)', () => {
  it('a value that reads back different is refused and the key is not returned', async () => {
    fake.vault.faults.corruptSecretRead = true;
    const { r, e } = await run();
    const err = adeError(e);
    expect(r).toBeUndefined();
    expect(err.code).toBe(307);
    expect(err.message).toMatch(/^The key stored as https:\/\/faultvault\.vault\.azure\.net\/secrets\/[0-9a-f-]{36}\/[0-9a-f]{32} did not read back intact \(the value read back differs from the value stored\)\. No disk was touched/);
  });

  it('an unwrap that returns other bytes is refused', async () => {
    fake.vault.faults.corruptUnwrap = true;
    const err = adeError((await run()).e);
    expect(err.code).toBe(307);
    expect(err.message).toContain('(unwrapping it returned different bytes)');
  });
});

describe('the test network', () => {
  it('nothing left loopback', () => {
    expect(blockedConnections).toEqual([]);
  });
});
