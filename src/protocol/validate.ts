// Settings → EncryptionSettings, or an AdeError that names the field, what is wrong with the value and the
// fix. Three layers, as in Azure's own handlers: JSON Schema (ajv, every error, formats), then cross-field
// rules (vault names agree, KEK and its vault come together), then normalisation (:443, case, slash).
import type { ErrorObject } from 'ajv';
import { AdeError } from '../shared/errors.ts';
import { KEK_URL, KV_ID, KV_URL } from './patterns.ts';
import type { RawSettings } from './settings.ts';
import { KEK_ALGORITHMS, OPERATIONS, OS_RESTARTS, VOLUME_TYPES, type EncryptionOperation, type EncryptionSettings, type Identity, type KekAlgorithm, type VolumeType } from '../shared/types.ts';
// Compiled from schemas/ at build time (build/validators.mjs): no schema compiler runs on the VM.
import { checkProtected, checkPublic } from './validators.generated.js';

/** What each field is and how to fix it, for messages. */
const FIELD: Record<string, { what: string; fix: string }> = {
  EncryptionOperation: { what: 'an operation', fix: 'Use EnableEncryption, EnableEncryptionFormatAll, DisableEncryption or QueryEncryptionStatus.' },
  VolumeType: { what: 'a volume type', fix: 'Use OS, Data or All.' },
  KeyVaultURL: { what: 'a Key Vault URL', fix: 'Use the vault URI, e.g. https://myvault.vault.azure.net/ (az keyvault show --query properties.vaultUri).' },
  KeyVaultResourceId: { what: 'a Key Vault resource id', fix: 'Use /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name> (az keyvault show --query id).' },
  KeyEncryptionKeyURL: { what: 'a versioned key URL', fix: 'Use https://<vault>.vault.azure.net/keys/<name>/<version> (az keyvault key show --query key.kid).' },
  KekVaultResourceId: { what: 'a Key Vault resource id', fix: 'Use the resource id of the vault holding the key encryption key (az keyvault show --query id).' },
  KeyEncryptionAlgorithm: { what: 'a key wrap algorithm', fix: 'Use RSA-OAEP (the default), RSA-OAEP-256 or RSA1_5.' },
  OSRestart: { what: 'a restart choice', fix: 'Use Automatic (the default) or Deferred.' },
  SequenceVersion: { what: 'a string', fix: 'Use any unique string, e.g. a GUID.' },
  EncryptionManagedIdentity: { what: 'a managed identity', fix: 'Use the identity\'s resource id, or client_id=<guid>, object_id=<guid> or res_id=<resource id>.' },
  AADClientID: { what: 'an application (client) id', fix: 'Use the GUID of the Entra ID application.' },
  AADClientCertThumbprint: { what: 'a certificate thumbprint', fix: 'Use the 40-hex-digit SHA-1 thumbprint of a certificate delivered to the VM.' },
  Passphrase: { what: 'a passphrase', fix: 'Use 8 to 512 characters, or omit it to have a random one generated.' },
  AADClientSecret: { what: 'a client secret', fix: 'Give the client secret of AADClientID as a non-empty string.' },
};
const UNSUPPORTED: Record<string, { problem: string; fix: string }> = {
  DiskFormatQuery: { problem: 'is deprecated (ADE\'s EnableEncryptionFormat) and not supported', fix: 'Remove it and use EncryptionOperation EnableEncryptionFormatAll.' },
  KeyStoreType: { problem: 'selects Managed HSM, which is not supported yet', fix: 'Remove it and use a Key Vault (KeyVaultURL).' },
  MigrateFlag: { problem: 'migrates ADE dual pass to single pass and does not apply here', fix: 'Remove it.' },
  AttestationURL: { problem: 'is for confidential VMs, which are not supported', fix: 'Remove it.' },
  NoConfidentialEncryptionTempDisk: { problem: 'is for confidential VMs, which are not supported', fix: 'Remove it.' },
  'PrivatePreview.ConfidentialEncryptionDataDisk': { problem: 'is for confidential VMs, which are not supported', fix: 'Remove it.' },
};
// Check fields in a fixed order so the first reported problem is stable.
const ORDER = ['EncryptionOperation', 'VolumeType', 'KeyVaultURL', 'KeyVaultResourceId', 'KeyEncryptionKeyURL', 'KekVaultResourceId', 'KeyEncryptionAlgorithm', 'OSRestart', 'SequenceVersion', 'EncryptionManagedIdentity', 'AADClientID', 'AADClientCertThumbprint', 'Passphrase', 'AADClientSecret'];

const PROTECTED = ['Passphrase', 'AADClientSecret'];
const PUBLIC = [...Object.keys(FIELD).filter((k) => !PROTECTED.includes(k)), ...Object.keys(UNSUPPORTED)];

export function validateSettings(raw: RawSettings): EncryptionSettings {
  const t = tidy(raw);
  const pub = canonicalise(t.pub);
  const prot = t.prot;
  if (typeof pub.EncryptionOperation === 'string' && !(OPERATIONS as readonly string[]).includes(pub.EncryptionOperation)) {
    throw new AdeError('UnsupportedOperation', { value: pub.EncryptionOperation });
  }
  if (!checkPublic(pub)) throw schemaError(checkPublic.errors ?? [], pub, 'public');
  if (!checkProtected(prot)) throw schemaError(checkProtected.errors ?? [], prot, 'protected');
  for (const [field, u] of Object.entries(UNSUPPORTED)) if (field in pub) throw new AdeError('SettingInvalid', { field, ...u });

  const operation = pub.EncryptionOperation as EncryptionOperation;
  const str = (k: string) => (typeof pub[k] === 'string' ? (pub[k] as string) : undefined);
  const enabling = operation === 'EnableEncryption' || operation === 'EnableEncryptionFormatAll';
  const identity = identityOf(pub, prot);
  if (operation !== 'QueryEncryptionStatus' && !str('VolumeType')) throw missing('VolumeType', operation);
  if (enabling && !str('KeyVaultURL')) throw missing('KeyVaultURL', operation);
  if (enabling && !str('KeyVaultResourceId') && identity.kind !== 'aad') throw missing('KeyVaultResourceId', operation);

  const keyVaultUrl = str('KeyVaultURL') && normaliseVaultUrl(str('KeyVaultURL')!);
  const keyVaultResourceId = str('KeyVaultResourceId');
  if (keyVaultUrl && keyVaultResourceId) sameVault('KeyVaultURL', keyVaultUrl, 'KeyVaultResourceId', keyVaultResourceId);

  const kekUrl = str('KeyEncryptionKeyURL');
  const kekVault = str('KekVaultResourceId');
  if (kekUrl && !kekVault) throw new AdeError('KekVaultIdMissing');
  if (kekVault && !kekUrl) throw new AdeError('KekUrlMissing');
  let kek: EncryptionSettings['kek'];
  if (kekUrl && kekVault) {
    const url = normaliseKekUrl(kekUrl);
    sameVault('KeyEncryptionKeyURL', url, 'KekVaultResourceId', kekVault);
    kek = { url, vaultResourceId: kekVault, algorithm: (str('KeyEncryptionAlgorithm') ?? 'RSA-OAEP') as KekAlgorithm };
  }
  return {
    operation,
    volumeType: (str('VolumeType') ?? 'Data') as VolumeType,
    ...(keyVaultUrl ? { keyVaultUrl } : {}),
    ...(keyVaultResourceId ? { keyVaultResourceId } : {}),
    ...(kek ? { kek } : {}),
    identity,
    ...(str('SequenceVersion') ? { sequenceVersion: str('SequenceVersion') } : {}),
    ...(str('OSRestart') === 'Deferred' ? { osRestart: 'Deferred' as const } : {}),
    ...(typeof prot.Passphrase === 'string' ? { passphrase: prot.Passphrase } : {}),
    ...(t.ignored.length > 0 ? { ignored: t.ignored } : {}),
  };
}

/**
 * What real clients send, read as ADE reads it: absent, null and "" are the same; KeyEncryptionAlgorithm
 * means nothing without a KEK; a field that is no setting of ours is ignored (newer clients add some) unless
 * it differs from one only in case, a typo that would silently drop what it names (KeyEncryptionKeyUrl: the KEK).
 */
function tidy(raw: RawSettings): { pub: Record<string, unknown>; prot: Record<string, unknown>; ignored: string[] } {
  const ignored: string[] = [];
  const keep = (doc: Record<string, unknown>, known: readonly string[], which: string) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc)) {
      if (v === null || v === '') continue;
      const twin = known.find((n) => n.toLowerCase() === k.toLowerCase());
      if (twin === k) out[k] = v;
      else if (twin) throw new AdeError('SettingCaseTypo', { field: `${k} (${which} settings)`, known: twin });
      else ignored.push(k);
    }
    return out;
  };
  const pub = keep(raw.publicSettings, PUBLIC, 'public');
  if (pub.KeyEncryptionKeyURL === undefined) delete pub.KeyEncryptionAlgorithm;
  return { pub, prot: keep(raw.protectedSettings, PROTECTED, 'protected'), ignored };
}

/** The status's note on ignored fields ("" when none). */
export function ignoredNote(s: Pick<EncryptionSettings, 'ignored'>): string {
  return s.ignored?.length ? ` Ignored ${s.ignored.length === 1 ? 'a field that is' : 'fields that are'} not a setting of this extension: ${s.ignored.join(', ')}.` : '';
}

/** Enum values are accepted in any case (as ADE does for most of them) and stored canonically. */
function canonicalise(pub: Record<string, unknown>): Record<string, unknown> {
  const fix = (k: string, values: readonly string[]) => {
    const v = pub[k];
    if (typeof v !== 'string') return;
    const hit = values.find((c) => c.toLowerCase() === v.trim().toLowerCase());
    if (hit) pub[k] = hit;
  };
  fix('EncryptionOperation', OPERATIONS);
  fix('VolumeType', VOLUME_TYPES);
  fix('KeyEncryptionAlgorithm', KEK_ALGORITHMS);
  fix('OSRestart', OS_RESTARTS);
  return pub;
}

function identityOf(pub: Record<string, unknown>, prot: Record<string, unknown>): Identity {
  const clientId = pub.AADClientID as string | undefined;
  const thumb = pub.AADClientCertThumbprint as string | undefined;
  const secret = prot.AADClientSecret as string | undefined;
  if (clientId) {
    if (secret && thumb) throw new AdeError('AadCredentialConflict');
    if (!secret && !thumb) throw new AdeError('AadCredentialMissing');
    return secret ? { kind: 'aad', clientId, secret } : { kind: 'aad', clientId, certThumbprint: thumb!.toUpperCase() };
  }
  if (secret || thumb) throw new AdeError('SettingMissing', { field: 'AADClientID', operation: 'AAD credentials', fix: 'Give the application (client) id the secret or certificate belongs to, or remove them to use the managed identity.' });
  const mi = pub.EncryptionManagedIdentity as string | undefined;
  if (!mi) return { kind: 'system' };
  const [k, v] = mi.includes('=') ? [mi.slice(0, mi.indexOf('=')).toLowerCase(), mi.slice(mi.indexOf('=') + 1)] : ['res_id', mi];
  if (k === 'client_id') return { kind: 'user', clientId: v };
  if (k === 'object_id') return { kind: 'user', objectId: v };
  return { kind: 'user', resourceId: v };
}

export function normaliseVaultUrl(url: string): string {
  const m = KV_URL.exec(url)!;
  return `https://${m[1]!.toLowerCase()}.${m[2]!.toLowerCase()}/`;
}

export function normaliseKekUrl(url: string): string {
  const m = KEK_URL.exec(url)!;
  return `https://${m[1]!.toLowerCase()}.${m[2]!.toLowerCase()}/keys/${m[4]}/${m[5]}`;
}

function sameVault(urlField: string, url: string, idField: string, id: string): void {
  const urlVault = new URL(url).hostname.split('.')[0]!;
  const idVault = KV_ID.exec(id)![3]!;
  if (urlVault.toLowerCase() !== idVault.toLowerCase()) throw new AdeError('VaultNameMismatch', { urlField, urlVault, idField, idVault });
}

function missing(field: string, operation: string): AdeError {
  return new AdeError('SettingMissing', { field, operation, fix: FIELD[field]!.fix });
}

function schemaError(errors: ErrorObject[], doc: Record<string, unknown>, which: 'public' | 'protected'): AdeError {
  const fieldOf = (e: ErrorObject) => (e.keyword === 'required' ? String(e.params.missingProperty) : e.instancePath.split('/')[1] ?? '');
  const rank = (e: ErrorObject) => {
    const i = ORDER.indexOf(fieldOf(e));
    return i < 0 ? ORDER.length : i;
  };
  const e = [...errors].sort((a, b) => rank(a) - rank(b))[0]!;
  const field = fieldOf(e);
  if (e.keyword === 'required') return missing(field, String(doc.EncryptionOperation ?? 'any operation'));
  const spec = FIELD[field] ?? { what: 'valid', fix: '' };
  // Protected values are secrets: describe them, never quote them.
  const shown = which === 'protected' ? 'the given value' : JSON.stringify(doc[field]);
  const problem =
    e.keyword === 'type' ? `must be a ${String(e.params.type).replace(',', ' or ')}, not ${typeof doc[field] === 'object' ? JSON.stringify(doc[field]) : typeof doc[field]}`
      : e.keyword === 'enum' ? `is ${shown}, which is not ${spec.what} this extension knows`
        : e.keyword === 'minLength' || e.keyword === 'maxLength' ? `is too ${e.keyword === 'minLength' ? 'short' : 'long'}`
          : `is ${shown}, which is not ${spec.what}`;
  return new AdeError('SettingInvalid', { field, problem, fix: spec.fix });
}
