// The environment contract for the worker: a fresh Node process given only PATH plus the variables listed
// in src/keys/README.md (HTTPS_PROXY, NO_PROXY, AZURE_POD_IDENTITY_AUTHORITY_HOST, NODE_EXTRA_CA_CERTS)
// escrows against the fake with production URLs; without them it cannot, and it never leaves loopback.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { encryptionSettings } from '../../helpers/settings.ts';
import { rsaUnwrap } from '../../../lab/fakes/vault.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); });
afterAll(async () => { await fake?.close(); });

const CHILD = join(import.meta.dirname, '../../helpers/escrow-child.ts');

function runChild(env: Record<string, string>, input: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = execFile(process.execPath, [CHILD], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && !stdout) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
    p.stdin!.end(JSON.stringify(input));
  });
}

describe('worker environment', () => {
  it('only the documented variables are needed', async () => {
    const host = 'envvault.vault.azure.net';
    const kek = fake.vault.createKey(host, 'kek');
    const out = await runChild({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...fake.env }, {
      settings: encryptionSettings({ vaultHost: host, kekUrl: kek.url, algorithm: 'RSA-OAEP-256' }), volume: { id: 'v', fileName: 'LinuxPassPhraseFileName' }, machineName: 'vm',
    });
    expect(out).toMatchObject({ ok: true, kekUrl: kek.url, fetchedMatches: true, blockedConnections: [] });
    const stored = fake.vault.secret(String(out['secretUrl']))!;
    const unwrapped = rsaUnwrap(kek.privateKey, 'RSA-OAEP-256', Buffer.from(stored.value, 'base64url'));
    expect(createHash('sha256').update(unwrapped).digest('hex')).toBe(out['sha256']);
    expect(fake.log.of('imds').length).toBeGreaterThanOrEqual(1);
  });

  it('without the CA trust the vault TLS is refused: KeyVaultUnreachable, still nothing off loopback', async () => {
    const { NODE_EXTRA_CA_CERTS: _ca, ...rest } = fake.env;
    const out = await runChild({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...rest }, {
      settings: encryptionSettings({ vaultHost: 'envvault.vault.azure.net' }), volume: { id: 'v', fileName: 'LinuxPassPhraseFileName' }, machineName: 'vm',
    });
    expect(out['ok']).toBe(false);
    expect(out['code']).toBe(302);
    expect(String(out['error'])).toContain('Key Vault https://envvault.vault.azure.net/ cannot be reached');
    expect(String(out['error'])).toMatch(/certificate/i);
    expect(out['blockedConnections']).toEqual([]);
  });
});
