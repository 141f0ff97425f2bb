// How SDK/identity failures become coded errors (pure; the shapes are those the real SDK throws, as seen
// against the fake in test/integration/keys-faults.test.ts).
import { describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { cloudForVault } from '../../../src/keys/cloud.ts';
import { RetriesExhausted } from '../../../src/keys/retry.ts';
import { classifyVaultError, toAdeError, type ErrorContext } from '../../../src/keys/vault-errors.ts';

const rest = (statusCode: number | undefined, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name: 'RestError', statusCode, ...extra });
const ctx = (op: ErrorContext['op'], kek?: string): ErrorContext => ({
  op, endpoint: 'https://v1.vault.azure.net/', identity: { kind: 'user', clientId: 'cid-1' }, cloud: cloudForVault('https://v1.vault.azure.net/'), ...(kek ? { kek } : {}),
});

describe('classifyVaultError', () => {
  it('retries 429/5xx/408 with the Retry-After header, and failed connections', () => {
    const headers = { get: (n: string) => (n === 'retry-after' ? '5' : undefined) };
    expect(classifyVaultError(rest(429, 'x', { response: { headers } }))).toEqual({ retry: true, reason: 'HTTP 429', retryAfter: '5' });
    expect(classifyVaultError(rest(503, 'x'))).toEqual({ retry: true, reason: 'HTTP 503' });
    expect(classifyVaultError(rest(undefined, 'connect ECONNREFUSED\nmore', { code: 'REQUEST_SEND_ERROR' }))).toEqual({ retry: true, reason: 'connection failed: connect ECONNREFUSED' });
    for (const s of [400, 401, 403, 404, 409, 501]) expect(classifyVaultError(rest(s, 'x'))).toEqual({ retry: false });
    expect(classifyVaultError(new Error('other'))).toEqual({ retry: false });
  });
});

describe('toAdeError', () => {
  it('403 → KeyVaultForbidden with identity, permission, vault and role', () => {
    const e = toAdeError(rest(403, 'does not have secrets set permission'), ctx('secrets/set'));
    expect(e.message).toBe('The identity user-assigned managed identity cid-1 lacks permission secrets/set on vault v1. Grant it (access policy or RBAC role "Key Vault Secrets Officer") and run enable again.');
  });
  it('403 KeyDisabled on a key op → KekDisabled; 404 on a key op → KekNotFound', () => {
    const kek = 'https://k.vault.azure.net/keys/a/1';
    expect(toAdeError(rest(403, 'Operation wrapKey is not allowed on a disabled key.', { details: { error: { innerError: { code: 'KeyDisabled' } } } }), ctx('keys/wrapKey', kek)).id).toBe('KekDisabled');
    expect(toAdeError(rest(404, 'A key with (name/id) a was not found'), ctx('keys/get', kek)).message).toContain(`Key encryption key ${kek} was not found`);
  });
  it('403 SecretDisabled → KeyVaultError, not a permission problem', () => {
    const e = toAdeError(rest(403, 'Operation get is not allowed on a disabled secret.', { details: { error: { innerError: { code: 'SecretDisabled' } } } }), ctx('secrets/get'));
    expect(e.message).toBe('Key Vault https://v1.vault.azure.net/ refused secrets/get: 403 Operation get is not allowed on a disabled secret..');
  });
  it('exhausted retries → Throttled with status and attempts, or Unreachable', () => {
    expect(toAdeError(new RetriesExhausted(5, rest(429, 't')), ctx('secrets/set')).message).toBe('Key Vault https://v1.vault.azure.net/ kept answering 429 after 5 attempts. Run enable again later.');
    const u = toAdeError(new RetriesExhausted(5, rest(undefined, 'getaddrinfo ENOTFOUND v1.vault.azure.net', { code: 'REQUEST_SEND_ERROR' })), ctx('secrets/set'));
    expect(u.code).toBe(302);
    expect(u.message).toContain('cannot be reached: getaddrinfo ENOTFOUND v1.vault.azure.net (5 attempts)');
  });
  it('credential failures → IdentityUnavailable naming source and endpoint', () => {
    const err = Object.assign(new Error('ManagedIdentityCredential: Network unreachable.\nstack'), { name: 'CredentialUnavailableError' });
    const saved = process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'];
    delete process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'];
    try {
      expect(toAdeError(err, ctx('keys/get')).message).toBe('No token for https://vault.azure.net from IMDS (user-assigned managed identity cid-1): ManagedIdentityCredential: Network unreachable.. Assign a managed identity to the VM (or give AADClientID and a credential) and make sure http://169.254.169.254 is reachable.');
    } finally {
      if (saved !== undefined) process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = saved;
    }
  });
  it('anything else → KeyVaultError; AdeErrors pass through', () => {
    expect(toAdeError(rest(400, 'BadParameter'), ctx('keys/unwrapKey')).id).toBe('KeyVaultError');
    const a = new AdeError('KekNotFound', { kek: 'k', vault: 'v' });
    expect(toAdeError(a, ctx('keys/get'))).toBe(a);
  });
});
