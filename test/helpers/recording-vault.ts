// Key Vault faked at the SDK-client level (a VaultClientFactory for KeysDeps): secrets with versions, tags
// and an enabled flag, RSA keys that wrap by tagging the bytes with the key and algorithm (so an unwrap with
// another key fails, as RSA would), and every call appended to a caller-owned event list, where the caller
// may also log its own steps to check the order across both. `failOn` makes chosen calls throw.
import type { KeysDeps, VaultClientFactory } from '../../src/keys/index.ts';

interface StoredSecret { value: string; contentType?: string; tags: Record<string, string>; enabled: boolean }

/** What a wrap with this key and algorithm produces: only an unwrap with the same two opens it. */
export function fakeWrap(kekUrl: string, algorithm: string, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${kekUrl}|${algorithm}|`), bytes]);
}

export function recordingVault(events: string[]) {
  const secrets = new Map<string, StoredSecret>();
  const keys = new Set<string>();
  let failOn: (event: string) => Error | undefined = () => undefined;
  let versions = 0;
  const call = (event: string) => {
    events.push(event);
    const e = failOn(event);
    if (e) throw e;
  };
  const secretOf = (url: string) => {
    const s = secrets.get(url);
    if (!s) throw Object.assign(new Error(`SecretNotFound: ${url}`), { name: 'RestError', statusCode: 404 });
    return s;
  };
  const bundle = (url: string, s: StoredSecret) => {
    const version = url.slice(url.lastIndexOf('/') + 1);
    return { name: url.split('/').at(-2)!, value: s.value, properties: { id: url, version, contentType: s.contentType, tags: { ...s.tags }, enabled: s.enabled } };
  };

  const factory = {
    secrets: (origin: string) => ({
      setSecret: async (name: string, value: string, o: { contentType?: string; tags?: Record<string, string>; enabled?: boolean }) => {
        const url = `${origin}secrets/${name}/v${++versions}`;
        call(`setSecret ${url}`);
        const s = { value, ...(o.contentType ? { contentType: o.contentType } : {}), tags: { ...o.tags }, enabled: o.enabled ?? true };
        secrets.set(url, s);
        return bundle(url, s);
      },
      getSecret: async (name: string, o: { version?: string }) => {
        const url = `${origin}secrets/${name}/${o.version ?? ''}`;
        call(`getSecret ${url}`);
        const s = secretOf(url);
        if (!s.enabled) throw Object.assign(new Error('Operation get is not allowed on a disabled secret.'), { name: 'RestError', statusCode: 403 });
        return bundle(url, s);
      },
      updateSecretProperties: async (name: string, version: string, o: { enabled?: boolean; tags?: Record<string, string> }) => {
        const url = `${origin}secrets/${name}/${version}`;
        call(`updateSecretProperties ${url} enabled=${String(o.enabled)}`);
        const s = secretOf(url);
        if (o.enabled !== undefined) s.enabled = o.enabled;
        if (o.tags) s.tags = { ...o.tags };
        return bundle(url, s).properties;
      },
    }),
    keys: (origin: string) => ({
      getKey: async (name: string, o: { version?: string }) => {
        const url = `${origin}keys/${name}/${o.version ?? ''}`;
        call(`getKey ${url}`);
        if (!keys.has(url)) throw Object.assign(new Error(`KeyNotFound: ${url}`), { name: 'RestError', statusCode: 404 });
        return { id: url, name, keyType: 'RSA', key: { n: new Uint8Array(256) }, properties: { enabled: true } };
      },
    }),
    crypto: (key: string | { id?: string }) => {
      const id = typeof key === 'string' ? key : key.id ?? '';
      return {
        wrapKey: async (algorithm: string, bytes: Uint8Array) => {
          call(`wrapKey ${id}`);
          return { result: fakeWrap(id, algorithm, bytes), algorithm, keyID: id };
        },
        unwrapKey: async (algorithm: string, bytes: Uint8Array) => {
          call(`unwrapKey ${id}`);
          const head = Buffer.from(`${id}|${algorithm}|`);
          const b = Buffer.from(bytes);
          if (!b.subarray(0, head.length).equals(head)) throw Object.assign(new Error('The parameter is incorrect (unwrap with another key).'), { name: 'RestError', statusCode: 400 });
          return { result: b.subarray(head.length), algorithm, keyID: id };
        },
      };
    },
  } as unknown as VaultClientFactory;

  const deps: KeysDeps = { clients: factory, credential: { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) } };
  return {
    deps,
    addKey: (url: string) => { keys.add(url); },
    /** A secret as an earlier escrow left it (not logged as an event). */
    seed: (url: string, s: Omit<StoredSecret, 'enabled'> & { enabled?: boolean }) => { secrets.set(url, { enabled: true, ...s }); },
    secret: (url: string) => secrets.get(url),
    failOn: (f: (event: string) => Error | undefined) => { failOn = f; },
  };
}
