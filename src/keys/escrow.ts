// Escrow: a volume's passphrase is (optionally) wrapped with the KEK, stored as a Key Vault secret in ADE's
// format, read back and unwrapped to prove the round trip, and only then handed to the caller. And the way
// back: fetch a secret, unwrap, return the passphrase.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import { AdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings, Identity, Kek, KekAlgorithm } from '../shared/types.ts';
import { parseItemUrl, vaultName, vaultOrigin } from './cloud.ts';
import { maxWrapBytes, registerSecret } from './passphrase.ts';
import { type KeysDeps, VaultSession } from './session.ts';
import { CONTENT_TYPE_WRAPPED, TAG_ALGORITHM, TAG_KEK_URL, buildSecretTags, contentTypeFor, tagDifference } from './tags.ts';

export interface VolumeRef {
  /** Stable id of the volume (e.g. its LUKS/file-system UUID or device path); stored as a tag. */
  id: string;
  /** Key file name on the BEK volume: LinuxPassPhraseFileName or LinuxPassPhraseFileName_<ctrl>_<lun>. */
  fileName: string;
}

export interface EscrowRecord {
  /** Versioned secret URL, for the status and the VM model. */
  secretUrl: string;
  /** Versioned KEK URL when the key is wrapped. */
  kekUrl?: string;
  algorithm?: KekAlgorithm;
}

export interface EscrowArgs {
  settings: EncryptionSettings;
  machineName: string;
  volume: VolumeRef;
  log: Logger;
  deps?: KeysDeps;
}

export interface StoreArgs extends EscrowArgs {
  passphrase: Buffer;
  /** Overrides settings.kek (rotation stores under the new KEK). null = store unwrapped. */
  kek?: Kek | null;
  session?: VaultSession;
}

/** Stores a given passphrase as a new secret and proves it reads back and unwraps to the same bytes. */
export async function storePassphrase(a: StoreArgs): Promise<EscrowRecord> {
  const vaultUrl = a.settings.keyVaultUrl;
  if (!vaultUrl) {
    throw new AdeError('SettingMissing', { field: 'KeyVaultURL', operation: a.settings.operation, fix: 'Give the URL of the vault that keeps the disk keys, e.g. https://myvault.vault.azure.net/.' });
  }
  registerSecret(a.log, a.passphrase);
  const s = a.session ?? new VaultSession(a.settings.identity, vaultUrl, a.log, a.deps);
  const kek = a.kek === undefined ? a.settings.kek : a.kek ?? undefined;
  const origin = vaultOrigin(vaultUrl);

  let value: string;
  let wrapped: { key: KeyVaultKey; url: string; algorithm: KekAlgorithm } | undefined;
  if (kek) {
    const key = await getUsableKek(s, kek);
    const kekUrl = key.id ?? kek.url;
    const limit = maxWrapBytes(kek.algorithm, key.key?.n?.length ?? 256);
    if (a.passphrase.length > limit) {
      throw new AdeError('SettingInvalid', { field: 'Passphrase', problem: `is ${a.passphrase.length} bytes; ${kek.algorithm} with this key wraps at most ${limit}`, fix: 'Use a shorter passphrase, or omit it so one is generated.' });
    }
    const w = await s.call('keys/wrapKey', vaultOrigin(kekUrl), (o) => s.crypto(key).wrapKey(kek.algorithm, a.passphrase, o), kekUrl);
    value = Buffer.from(w.result).toString('base64url');
    wrapped = { key, url: kekUrl, algorithm: kek.algorithm };
    a.log.info(`Wrapped the key for volume ${a.volume.id} with ${kekUrl} (${kek.algorithm})`);
  } else {
    value = a.passphrase.toString('base64');
  }

  const tags = buildSecretTags({ fileName: a.volume.fileName, machineName: a.machineName, volumeId: a.volume.id, ...(wrapped ? { kek: { url: wrapped.url, algorithm: wrapped.algorithm } } : {}) });
  const contentType = contentTypeFor(wrapped !== undefined);
  const name = randomUUID();
  const secrets = s.secrets(origin);
  const set = await s.call('secrets/set', origin, (o) => secrets.setSecret(name, value, { contentType, tags, enabled: true, ...o }));
  const secretUrl = set.properties.id ?? `${origin}secrets/${name}/${set.properties.version}`;
  a.log.info(`Stored the key for volume ${a.volume.id} as ${secretUrl} (${contentType})`);

  // Read back exactly that version and prove it opens to the same bytes.
  const back = await s.call('secrets/get', origin, (o) => secrets.getSecret(name, { version: set.properties.version ?? '', ...o }));
  const fail = (cause: string) => new AdeError('EscrowVerifyFailed', { secret: secretUrl, cause });
  if (back.value !== value) throw fail('the value read back differs from the value stored');
  if (back.properties.contentType !== contentType) throw fail(`content type is "${back.properties.contentType}", expected "${contentType}"`);
  const td = tagDifference(tags, back.properties.tags);
  if (td) throw fail(td);
  let opened: Buffer;
  if (wrapped) {
    const w = wrapped;
    const u = await s.call('keys/unwrapKey', vaultOrigin(w.url), (o) => s.crypto(w.key).unwrapKey(w.algorithm, Buffer.from(back.value ?? '', 'base64url'), o), w.url);
    opened = Buffer.from(u.result);
  } else {
    opened = Buffer.from(back.value ?? '', 'base64');
  }
  const same = opened.length === a.passphrase.length && timingSafeEqual(opened, a.passphrase);
  opened.fill(0);
  if (!same) throw fail(wrapped ? 'unwrapping it returned different bytes' : 'decoding it returned different bytes');
  a.log.info(`Verified ${secretUrl}: it reads back${wrapped ? ' and unwraps' : ''} to the key`);
  return { secretUrl, ...(wrapped ? { kekUrl: wrapped.url, algorithm: wrapped.algorithm } : {}) };
}

/**
 * Gets the session ready to escrow while the caller does other work: the token, the vault's challenge and
 * the KEK (fetched once per session). A failure here is left for storePassphrase to report, coded.
 */
export async function prepareEscrow(s: VaultSession, settings: Pick<EncryptionSettings, 'kek'>): Promise<void> {
  if (settings.kek) await getUsableKek(s, settings.kek);
}

/** The KEK, checked to exist, be enabled, be within its validity and be RSA. */
async function getUsableKek(s: VaultSession, kek: Kek): Promise<KeyVaultKey> {
  const ref = parseItemUrl(kek.url, 'keys', 'KeyEncryptionKeyURL');
  const key = await s.remember(`kek ${kek.url}`, () => s.call('keys/get', ref.origin, (o) => s.keys(ref.origin).getKey(ref.name, { version: ref.version ?? '', ...o }), kek.url));
  const p = key.properties;
  const now = Date.now();
  if (p.enabled === false || (p.expiresOn && p.expiresOn.getTime() < now) || (p.notBefore && p.notBefore.getTime() > now)) {
    throw new AdeError('KekDisabled', { kek: kek.url, vault: vaultName(kek.url) });
  }
  if (!String(key.keyType ?? '').startsWith('RSA')) {
    throw new AdeError('SettingInvalid', { field: 'KeyEncryptionKeyURL', problem: `names a ${String(key.keyType)} key; only RSA keys can wrap disk keys`, fix: 'Create an RSA key (2048 bits or more) and give its versioned URL.' });
  }
  return key;
}

export interface FetchArgs {
  settings: Pick<EncryptionSettings, 'identity'> & Partial<EncryptionSettings>;
  secretUrl: string;
  log: Logger;
  deps?: KeysDeps;
  session?: VaultSession;
}

export interface FetchedKey {
  passphrase: Buffer;
  /** The secret's tags (to carry them over on rotation). */
  tags: Record<string, string>;
  kekUrl?: string;
  algorithm?: KekAlgorithm;
}

/** Gets a key secret and unwraps it when it is wrapped (KEK and algorithm from its tags, as ADE writes them). */
export async function fetchKey(args: FetchArgs): Promise<Buffer> {
  return (await fetchKeyDetailed(args)).passphrase;
}

export async function fetchKeyDetailed(args: FetchArgs): Promise<FetchedKey> {
  const ref = parseItemUrl(args.secretUrl, 'secrets', 'secret URL');
  const s = args.session ?? new VaultSession(args.settings.identity as Identity, args.secretUrl, args.log, args.deps, 'secret URL');
  const bundle = await s.call('secrets/get', ref.origin, (o) => s.secrets(ref.origin).getSecret(ref.name, { version: ref.version ?? '', ...o }));
  const tags = bundle.properties.tags ?? {};
  const value = bundle.value ?? '';
  const kekUrl = tags[TAG_KEK_URL];
  if (bundle.properties.contentType === CONTENT_TYPE_WRAPPED || kekUrl) {
    if (!kekUrl) throw new AdeError('KeyVaultError', { endpoint: ref.origin, operation: 'secrets/get', status: 200, cause: `${args.secretUrl} is a wrapped key without the ${TAG_KEK_URL} tag` });
    const algorithm = (tags[TAG_ALGORITHM] ?? 'RSA-OAEP') as KekAlgorithm;
    const u = await s.call('keys/unwrapKey', vaultOrigin(kekUrl), (o) => s.crypto(kekUrl).unwrapKey(algorithm, Buffer.from(value, 'base64url'), o), kekUrl);
    const passphrase = Buffer.from(u.result);
    registerSecret(args.log, passphrase);
    return { passphrase, tags, kekUrl, algorithm };
  }
  const passphrase = Buffer.from(value, 'base64');
  registerSecret(args.log, passphrase);
  return { passphrase, tags };
}
