// Each credential kind escrows against the fake with the real @azure/identity: system- and user-assigned
// managed identity (IMDS), ADE 0.1's AAD application with a client secret or with the certificate the agent
// delivers. The vault sees a token issued to exactly that identity. Failures to get a token are code 301.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { Identity } from '../../../src/shared/types.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { makeAppCert } from '../../../lab/fakes/ca.ts';
import { blockedConnections, useFakeAzure } from '../../../lab/fakes/env.ts';
import { encryptionSettings } from '../../helpers/settings.ts';

let fake: FakeAzure;
let libDir: string;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); libDir = mkdtempSync(join(tmpdir(), 'ade-waagent-')); });
afterAll(async () => { await fake?.close(); rmSync(libDir, { recursive: true, force: true }); });
beforeEach(() => { fake.vault.resetFaults(); fake.log.clear(); });

const HOST = 'credvault.vault.azure.net';
const volume = { id: 'vol', fileName: 'LinuxPassPhraseFileName' };

/** Escrows with a KEK and returns the principal label the vault saw on its authorised requests. */
async function escrowAs(identity: Identity) {
  const kek = fake.vault.createKey(HOST, 'kek');
  const r = await escrowKey({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: kek.url, identity }), machineName: 'vm', volume, log: memoryLogger(), deps: { agentLibDir: libDir } });
  const labels = new Set(fake.log.of('vault').filter((q) => q.status === 200).map((q) => fake.tokens.lookup(q.headers['authorization']!.replace('Bearer ', ''))?.principal.label));
  return { r, labels: [...labels] };
}

async function failure(p: Promise<unknown>): Promise<AdeError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AdeError);
  return e as AdeError;
}

describe('credentials', () => {
  // First in the file: MSAL caches managed-identity tokens for the process.
  it('no system-assigned identity on the VM: IdentityUnavailable (301) naming IMDS and the resource', async () => {
    fake.imds.systemAssigned = false;
    try {
      const e = await failure(escrowKey({ settings: encryptionSettings({ vaultHost: HOST }), machineName: 'vm', volume, log: memoryLogger() }));
      expect(e.code).toBe(301);
      expect(e.id).toBe('IdentityUnavailable');
      expect(e.message).toContain('No token for https://vault.azure.net from IMDS (system-assigned managed identity)');
      expect(e.message).toContain('Identity not found');
      expect(e.message).toContain(`make sure ${fake.origin} is reachable`);
      expect(fake.log.of('vault').filter((q) => q.status === 200)).toEqual([]);
    } finally {
      fake.imds.systemAssigned = true;
    }
  });

  it('system-assigned managed identity', async () => {
    const { r, labels } = await escrowAs({ kind: 'system' });
    expect(labels).toEqual(['system']);
    expect(fake.log.of('imds')[0]!.query).toEqual({ 'api-version': '2018-02-01', resource: 'https://vault.azure.net' });
    expect(fake.log.of('imds')[0]!.headers['metadata']).toBe('true');
    expect(r.secretUrl).toContain(HOST);
  });

  it('user-assigned managed identity by client id', async () => {
    const u = fake.imds.addUserIdentity();
    const { labels } = await escrowAs({ kind: 'user', clientId: u.clientId });
    expect(labels).toEqual([`user:${u.clientId}`]);
    expect(fake.log.of('imds')[0]!.query['client_id']).toBe(u.clientId);
  });

  it('user-assigned managed identity by resource id', async () => {
    const u = fake.imds.addUserIdentity(undefined, 'uami-by-res');
    const { labels } = await escrowAs({ kind: 'user', resourceId: u.resourceId });
    expect(labels).toEqual([`user:${u.clientId}`]);
    expect(fake.log.of('imds')[0]!.query['msi_res_id']).toBe(u.resourceId);
  });

  it('a user-assigned identity the VM does not have: IdentityUnavailable naming that identity', async () => {
    const e = await failure(escrowAs({ kind: 'user', clientId: '99999999-0000-0000-0000-000000000000' }));
    expect(e.code).toBe(301);
    expect(e.message).toContain('from IMDS (user-assigned managed identity 99999999-0000-0000-0000-000000000000)');
    expect(e.message).toContain('Identity not found');
  });

  it('AAD application with a client secret (tenant from the vault challenge, secret never logged)', async () => {
    const app = fake.aad.addApp({ clientId: 'aaaaaaaa-1111-2222-3333-444444444444', tenantId: fake.tenantId, secret: 'app-s3cret-value~x' });
    const log = memoryLogger();
    const kek = fake.vault.createKey(HOST, 'kek-aad');
    await escrowKey({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: kek.url, identity: { kind: 'aad', clientId: app.clientId, secret: 'app-s3cret-value~x' } }), machineName: 'vm', volume, log });
    const token = fake.log.of('aad').find((q) => q.path.endsWith('/oauth2/v2.0/token'))!;
    expect(token.host).toBe('login.microsoftonline.com');
    expect(token.path).toBe(`/${fake.tenantId}/oauth2/v2.0/token`);
    expect(new URLSearchParams(token.body).get('scope')).toBe('https://vault.azure.net/.default');
    expect(fake.log.of('imds')).toEqual([]);
    log.info('echo app-s3cret-value~x');
    expect(log.lines.join('\n')).not.toContain('app-s3cret-value~x');
  });

  it('AAD application with the agent-delivered certificate <lib>/<THUMBPRINT>.crt/.prv (signed assertion verified)', async () => {
    const cert = makeAppCert(libDir);
    const app = fake.aad.addApp({ clientId: 'bbbbbbbb-1111-2222-3333-444444444444', tenantId: fake.tenantId, certPem: cert.certPem });
    const { labels } = await escrowAs({ kind: 'aad', clientId: app.clientId, certThumbprint: cert.thumbprint });
    expect(labels).toEqual([`aad:${app.clientId}`]);
    const form = new URLSearchParams(fake.log.of('aad').find((q) => q.path.endsWith('/token'))!.body);
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(form.get('client_secret')).toBeNull();
  });

  // MSAL's built-in metadata sends China-cloud token requests to the preferred alias login.partner.microsoftonline.cn.
  it('AAD application in the China cloud gets a https://vault.azure.cn token from the China authority', async () => {
    const app = fake.aad.addApp({ clientId: 'cccccccc-1111-2222-3333-444444444444', tenantId: fake.tenantId, secret: 'cn-secret' });
    const host = 'cnvault.vault.azure.cn';
    const kek = fake.vault.createKey(host, 'kek');
    await escrowKey({ settings: encryptionSettings({ vaultHost: host, kekUrl: kek.url, identity: { kind: 'aad', clientId: app.clientId, secret: 'cn-secret' } }), machineName: 'vm', volume, log: memoryLogger() });
    const token = fake.log.of('aad').find((q) => q.path.endsWith('/token'))!;
    expect(token.host).toBe('login.partner.microsoftonline.cn');
    expect(new URLSearchParams(token.body).get('scope')).toBe('https://vault.azure.cn/.default');
  });

  it('AAD application in the US Gov cloud goes to login.microsoftonline.us for https://vault.usgovcloudapi.net', async () => {
    const app = fake.aad.addApp({ clientId: 'ffffffff-1111-2222-3333-444444444444', tenantId: fake.tenantId, secret: 'gov-secret' });
    const host = 'govvault.vault.usgovcloudapi.net';
    const kek = fake.vault.createKey(host, 'kek');
    await escrowKey({ settings: encryptionSettings({ vaultHost: host, kekUrl: kek.url, identity: { kind: 'aad', clientId: app.clientId, secret: 'gov-secret' } }), machineName: 'vm', volume, log: memoryLogger() });
    const token = fake.log.of('aad').find((q) => q.path.endsWith('/token'))!;
    expect(token.host).toBe('login.microsoftonline.us');
    expect(new URLSearchParams(token.body).get('scope')).toBe('https://vault.usgovcloudapi.net/.default');
  });

  it('a wrong client secret: IdentityUnavailable naming Entra ID and the authority', async () => {
    const app = fake.aad.addApp({ clientId: 'dddddddd-1111-2222-3333-444444444444', tenantId: fake.tenantId, secret: 'right' });
    const e = await failure(escrowAs({ kind: 'aad', clientId: app.clientId, secret: 'wrong-secret' }));
    expect(e.code).toBe(301);
    expect(e.message).toContain('No token for https://vault.azure.net from Entra ID (client secret)');
    expect(e.message).toContain('AADSTS7000215');
    expect(e.message).toContain('make sure https://login.microsoftonline.com is reachable');
    expect(e.message).not.toContain('wrong-secret');
  });

  it('a certificate thumbprint the agent has not delivered: IdentityUnavailable naming the file', async () => {
    const e = await failure(escrowAs({ kind: 'aad', clientId: 'eeeeeeee-1111-2222-3333-444444444444', certThumbprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01' }));
    expect(e.code).toBe(301);
    expect(e.message).toContain(`${libDir}/ABCDEF0123456789ABCDEF0123456789ABCDEF01.prv`);
  });

  it('nothing left loopback', () => {
    expect(blockedConnections).toEqual([]);
    expect(fake.log.of('refused')).toEqual([]);
  });
});
