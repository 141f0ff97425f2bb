import { describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { validateSettings } from '../../../src/protocol/validate.ts';
import { BAD_CASES, KEK_URL, VALID, VAULT_ID } from '../../helpers/settings-cases.ts';

const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

describe('validateSettings rejects', () => {
  it.each(BAD_CASES)('$name → $code', (c) => {
    let err: unknown;
    try { validateSettings({ publicSettings: clean(c.publicSettings), protectedSettings: c.protectedSettings ?? {} }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AdeError);
    expect({ code: (err as AdeError).code, message: (err as AdeError).message }).toEqual({ code: c.code, message: c.message });
  });
});

describe('validateSettings accepts and normalises', () => {
  it('drops :443, lower-cases the host, keeps one trailing slash, defaults the algorithm', () => {
    const s = validateSettings({ publicSettings: { ...VALID, KeyVaultURL: 'https://Contoso-KV.Vault.Azure.Net:443', KeyEncryptionAlgorithm: undefined, KeyEncryptionKeyURL: `${KEK_URL}/` }, protectedSettings: {} });
    expect(s.keyVaultUrl).toBe('https://contoso-kv.vault.azure.net/');
    expect(s.kek).toEqual({ url: KEK_URL, vaultResourceId: VAULT_ID, algorithm: 'RSA-OAEP' });
  });
  it('takes enum values in any case and stores them canonically', () => {
    const s = validateSettings({ publicSettings: { ...VALID, EncryptionOperation: 'enableencryptionformatall', VolumeType: 'data', KeyEncryptionAlgorithm: 'rsa-oaep-256' }, protectedSettings: {} });
    expect([s.operation, s.volumeType, s.kek?.algorithm]).toEqual(['EnableEncryptionFormatAll', 'Data', 'RSA-OAEP-256']);
  });
  it('needs nothing but the operation for QueryEncryptionStatus', () => {
    expect(validateSettings({ publicSettings: { EncryptionOperation: 'QueryEncryptionStatus' }, protectedSettings: {} }).operation).toBe('QueryEncryptionStatus');
  });
  it('chooses the identity: system, user by client id / object id / resource id, AAD secret or certificate', () => {
    const id = (pub: Record<string, unknown>, prot: Record<string, unknown> = {}) => validateSettings({ publicSettings: { ...VALID, ...pub }, protectedSettings: prot }).identity;
    const guid = '11111111-2222-3333-4444-555555555555';
    const rid = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ade';
    expect(id({})).toEqual({ kind: 'system' });
    expect(id({ EncryptionManagedIdentity: `client_id=${guid}` })).toEqual({ kind: 'user', clientId: guid });
    expect(id({ EncryptionManagedIdentity: `object_id=${guid}` })).toEqual({ kind: 'user', objectId: guid });
    expect(id({ EncryptionManagedIdentity: rid })).toEqual({ kind: 'user', resourceId: rid });
    expect(id({ AADClientID: guid }, { AADClientSecret: 'x-secret' })).toEqual({ kind: 'aad', clientId: guid, secret: 'x-secret' });
    expect(id({ AADClientID: guid, AADClientCertThumbprint: 'ab'.repeat(20) })).toEqual({ kind: 'aad', clientId: guid, certThumbprint: 'AB'.repeat(20) });
  });
  it('carries a protected passphrase through', () => {
    expect(validateSettings({ publicSettings: VALID, protectedSettings: { Passphrase: 'correct horse battery' } }).passphrase).toBe('correct horse battery');
  });
});
