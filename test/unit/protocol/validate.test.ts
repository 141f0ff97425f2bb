import { describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { ignoredNote, validateSettings } from '../../../src/protocol/validate.ts';
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
  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined], ['Automatic', undefined], ['automatic', undefined], ['Deferred', 'Deferred'], ['DEFERRED', 'Deferred'],
  ])('OSRestart %j: the OS volume\'s restart is %j (the extension\'s own when absent)', (given, want) => {
    expect(validateSettings({ publicSettings: clean({ ...VALID, VolumeType: 'OS', OSRestart: given }), protectedSettings: {} }).osRestart).toBe(want);
  });
  it('OSRestart must be Automatic or Deferred', () => {
    expect(() => validateSettings({ publicSettings: { ...VALID, OSRestart: 'Later' }, protectedSettings: {} })).toThrow(/OSRestart .*Use Automatic \(the default\) or Deferred/);
  });
  it('carries a protected passphrase through', () => {
    expect(validateSettings({ publicSettings: VALID, protectedSettings: { Passphrase: 'correct horse battery' } }).passphrase).toBe('correct horse battery');
  });
});

describe('validateSettings reads what real clients send as ADE does', () => {
  const NO_KEK = { ...VALID, KeyEncryptionKeyURL: undefined, KekVaultResourceId: undefined, KeyEncryptionAlgorithm: undefined };
  const v = (pub: Record<string, unknown>, prot: Record<string, unknown> = {}) => validateSettings({ publicSettings: clean(pub), protectedSettings: prot });

  it.each([
    ['absent', undefined], ['null', null], ['""', ''],
  ])('an optional field %s is the same as absent', (_, empty) => {
    const fields = ['KeyEncryptionKeyURL', 'KekVaultResourceId', 'KeyEncryptionAlgorithm', 'SequenceVersion', 'EncryptionManagedIdentity', 'AADClientID', 'AADClientCertThumbprint', 'DiskFormatQuery', 'KeyStoreType'];
    const pub = { ...NO_KEK, ...Object.fromEntries(fields.map((f) => [f, empty])) };
    const s = v(pub, empty === undefined ? {} : { Passphrase: empty, AADClientSecret: empty });
    expect(s).toEqual(v({ ...NO_KEK, SequenceVersion: undefined }));
    expect([s.kek, s.identity, s.passphrase, s.ignored]).toEqual([undefined, { kind: 'system' }, undefined, undefined]);
  });

  it.each([['RSA-OAEP-256'], ['RSA-PSS'], [42]])('KeyEncryptionAlgorithm %j without a KEK is ignored', (alg) => {
    expect(v({ ...NO_KEK, KeyEncryptionAlgorithm: alg }).kek).toBeUndefined();
  });

  it('KeyEncryptionAlgorithm with a KEK still has to be known', () => {
    expect(() => v({ ...VALID, KeyEncryptionAlgorithm: 'RSA-PSS' })).toThrow(/not a key wrap algorithm/);
  });

  it('ignores fields that are no setting of ours, and names them', () => {
    const s = v({ ...VALID, NewClientField: 'x', Another: { a: 1 } }, { SomethingSecret: 'value-5678' });
    expect(s.ignored).toEqual(['NewClientField', 'Another', 'SomethingSecret']);
    expect(s.kek?.url).toBe(KEK_URL);
    expect(ignoredNote(s)).toBe(' Ignored fields that are not a setting of this extension: NewClientField, Another, SomethingSecret.');
    expect(ignoredNote(v(VALID))).toBe('');
  });

  it('an empty EncryptionOperation is a missing one', () => {
    expect(() => v({ ...VALID, EncryptionOperation: '' })).toThrow(/EncryptionOperation is required/);
  });
});
