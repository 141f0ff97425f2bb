// Settings that must be rejected, each with the exact code and message the status must carry. Shared by
// the unit test of validate.ts and the integration test that sends them through the packaged extension.
export const VAULT_URL = 'https://contoso-kv.vault.azure.net/';
export const VAULT_ID = '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-ade/providers/Microsoft.KeyVault/vaults/contoso-kv';
export const KEK_URL = 'https://contoso-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef';

export const VALID = {
  EncryptionOperation: 'EnableEncryption',
  VolumeType: 'Data',
  KeyVaultURL: VAULT_URL,
  KeyVaultResourceId: VAULT_ID,
  KeyEncryptionKeyURL: KEK_URL,
  KekVaultResourceId: VAULT_ID,
  KeyEncryptionAlgorithm: 'RSA-OAEP',
  SequenceVersion: '6d8f2f5e-0b1c-4a52-9a8e-3c8e3f0b7a11',
};

const without = (k: string) => Object.fromEntries(Object.entries(VALID).filter(([x]) => x !== k));
const OPS = 'Use EnableEncryption, EnableEncryptionFormatAll, DisableEncryption or QueryEncryptionStatus.';
const URL_FIX = 'Use the vault URI, e.g. https://myvault.vault.azure.net/ (az keyvault show --query properties.vaultUri).';
const ID_FIX = 'Use /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name> (az keyvault show --query id).';
const KEK_FIX = 'Use https://<vault>.vault.azure.net/keys/<name>/<version> (az keyvault key show --query key.kid).';
const GUID = '11111111-2222-3333-4444-555555555555';

export interface BadCase {
  name: string;
  publicSettings: Record<string, unknown>;
  protectedSettings?: Record<string, unknown>;
  code: number;
  message: string;
}

export const BAD_CASES: BadCase[] = [
  { name: 'EncryptionOperation unknown', publicSettings: { ...VALID, EncryptionOperation: 'EncryptEverything' }, code: 53,
    message: 'EncryptionOperation "EncryptEverything" is not supported. Use one of: EnableEncryption, EnableEncryptionFormatAll, DisableEncryption, QueryEncryptionStatus.' },
  { name: 'EncryptionOperation missing', publicSettings: without('EncryptionOperation'), code: 203,
    message: `EncryptionOperation is required for any operation. ${OPS}` },
  { name: 'EncryptionOperation not a string', publicSettings: { ...VALID, EncryptionOperation: 42 }, code: 204,
    message: `EncryptionOperation must be a string, not number. ${OPS}` },
  { name: 'VolumeType unknown', publicSettings: { ...VALID, VolumeType: 'Everything' }, code: 204,
    message: 'VolumeType is "Everything", which is not a volume type this extension knows. Use OS, Data or All.' },
  { name: 'VolumeType missing', publicSettings: without('VolumeType'), code: 203,
    message: 'VolumeType is required for EnableEncryption. Use OS, Data or All.' },
  { name: 'KeyVaultURL not https', publicSettings: { ...VALID, KeyVaultURL: 'http://contoso-kv.vault.azure.net/' }, code: 204,
    message: `KeyVaultURL is "http://contoso-kv.vault.azure.net/", which is not a Key Vault URL. ${URL_FIX}` },
  { name: 'KeyVaultURL other port', publicSettings: { ...VALID, KeyVaultURL: 'https://contoso-kv.vault.azure.net:8443/' }, code: 204,
    message: `KeyVaultURL is "https://contoso-kv.vault.azure.net:8443/", which is not a Key Vault URL. ${URL_FIX}` },
  { name: 'KeyVaultURL with a path', publicSettings: { ...VALID, KeyVaultURL: 'https://contoso-kv.vault.azure.net/secrets/x' }, code: 204,
    message: `KeyVaultURL is "https://contoso-kv.vault.azure.net/secrets/x", which is not a Key Vault URL. ${URL_FIX}` },
  { name: 'KeyVaultURL missing', publicSettings: without('KeyVaultURL'), code: 203,
    message: `KeyVaultURL is required for EnableEncryption. ${URL_FIX}` },
  { name: 'KeyVaultResourceId malformed', publicSettings: { ...VALID, KeyVaultResourceId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/contoso-kv' }, code: 204,
    message: `KeyVaultResourceId is "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/contoso-kv", which is not a Key Vault resource id. ${ID_FIX}` },
  { name: 'KeyVaultResourceId missing', publicSettings: without('KeyVaultResourceId'), code: 203,
    message: `KeyVaultResourceId is required for EnableEncryption. ${ID_FIX}` },
  { name: 'vault names differ', publicSettings: { ...VALID, KeyVaultURL: 'https://other-kv.vault.azure.net/', KeyEncryptionKeyURL: undefined, KekVaultResourceId: undefined }, code: 206,
    message: 'KeyVaultURL names vault "other-kv" but KeyVaultResourceId names vault "contoso-kv". Give the URL and the resource id of the same vault.' },
  { name: 'KEK URL without version', publicSettings: { ...VALID, KeyEncryptionKeyURL: 'https://contoso-kv.vault.azure.net/keys/kek1' }, code: 204,
    message: `KeyEncryptionKeyURL is "https://contoso-kv.vault.azure.net/keys/kek1", which is not a versioned key URL. ${KEK_FIX}` },
  { name: 'KEK URL without its vault id', publicSettings: without('KekVaultResourceId'), code: 207,
    message: 'KeyEncryptionKeyURL is set but KekVaultResourceId is missing. Add the resource id of the vault that holds the key encryption key.' },
  { name: 'KEK vault id without URL', publicSettings: without('KeyEncryptionKeyURL'), code: 208,
    message: 'KekVaultResourceId is set but KeyEncryptionKeyURL is missing. Add the versioned key URL (https://<vault>.vault.azure.net/keys/<name>/<version>) or remove KekVaultResourceId.' },
  { name: 'KEK in another vault than its id', publicSettings: { ...VALID, KeyEncryptionKeyURL: 'https://kek-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef' }, code: 206,
    message: 'KeyEncryptionKeyURL names vault "kek-kv" but KekVaultResourceId names vault "contoso-kv". Give the URL and the resource id of the same vault.' },
  { name: 'KeyEncryptionAlgorithm unknown', publicSettings: { ...VALID, KeyEncryptionAlgorithm: 'RSA-PSS' }, code: 204,
    message: 'KeyEncryptionAlgorithm is "RSA-PSS", which is not a key wrap algorithm this extension knows. Use RSA-OAEP (the default), RSA-OAEP-256 or RSA1_5.' },
  { name: 'SequenceVersion not a string', publicSettings: { ...VALID, SequenceVersion: 7 }, code: 204,
    message: 'SequenceVersion must be a string, not number. Use any unique string, e.g. a GUID.' },
  { name: 'setting name in the wrong case', publicSettings: { ...VALID, KeyVaultUrl: VAULT_URL }, code: 205,
    message: 'KeyVaultUrl (public settings) differs from the setting KeyVaultURL only in the case of its letters, and names are case-sensitive: as written it would be ignored. Rename it to KeyVaultURL.' },
  { name: 'KEK URL name in the wrong case (would skip the KEK)', publicSettings: { ...without('KeyEncryptionKeyURL'), KekVaultResourceId: undefined, KeyEncryptionKeyUrl: KEK_URL }, code: 205,
    message: 'KeyEncryptionKeyUrl (public settings) differs from the setting KeyEncryptionKeyURL only in the case of its letters, and names are case-sensitive: as written it would be ignored. Rename it to KeyEncryptionKeyURL.' },
  { name: 'protected setting name in the wrong case', publicSettings: VALID, protectedSettings: { passphrase: 'correct horse battery' }, code: 205,
    message: 'passphrase (protected settings) differs from the setting Passphrase only in the case of its letters, and names are case-sensitive: as written it would be ignored. Rename it to Passphrase.' },
  { name: 'EncryptionManagedIdentity malformed', publicSettings: { ...VALID, EncryptionManagedIdentity: 'my-identity' }, code: 204,
    message: 'EncryptionManagedIdentity is "my-identity", which is not a managed identity. Use the identity\'s resource id, or client_id=<guid>, object_id=<guid> or res_id=<resource id>.' },
  { name: 'AADClientID not a GUID', publicSettings: { ...VALID, AADClientID: 'my-app' }, protectedSettings: { AADClientSecret: 's3cr3t-value' }, code: 204,
    message: 'AADClientID is "my-app", which is not an application (client) id. Use the GUID of the Entra ID application.' },
  { name: 'AAD secret and certificate both', publicSettings: { ...VALID, AADClientID: GUID, AADClientCertThumbprint: 'A'.repeat(40) }, protectedSettings: { AADClientSecret: 's3cr3t-value' }, code: 210,
    message: 'Both AADClientSecret and AADClientCertThumbprint were supplied. Give exactly one credential for AADClientID.' },
  { name: 'AADClientID without a credential', publicSettings: { ...VALID, AADClientID: GUID }, code: 211,
    message: 'AADClientID is set but neither AADClientSecret (protected settings) nor AADClientCertThumbprint is. Give one, or remove AADClientID to use the VM\'s managed identity.' },
  { name: 'AADClientCertThumbprint malformed', publicSettings: { ...VALID, AADClientID: GUID, AADClientCertThumbprint: 'ABC' }, code: 204,
    message: 'AADClientCertThumbprint is "ABC", which is not a certificate thumbprint. Use the 40-hex-digit SHA-1 thumbprint of a certificate delivered to the VM.' },
  { name: 'DiskFormatQuery (deprecated)', publicSettings: { ...VALID, DiskFormatQuery: '{"dev_path":"/dev/sdc"}' }, code: 204,
    message: 'DiskFormatQuery is deprecated (ADE\'s EnableEncryptionFormat) and not supported. Remove it and use EncryptionOperation EnableEncryptionFormatAll.' },
  { name: 'KeyStoreType (Managed HSM)', publicSettings: { ...VALID, KeyStoreType: 'ManagedHSM' }, code: 204,
    message: 'KeyStoreType selects Managed HSM, which is not supported yet. Remove it and use a Key Vault (KeyVaultURL).' },
  { name: 'Passphrase too short', publicSettings: VALID, protectedSettings: { Passphrase: 'short' }, code: 204,
    message: 'Passphrase is too short. Use 8 to 512 characters, or omit it to have a random one generated.' },
];
