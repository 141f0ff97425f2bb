// Fake Key Vault data plane, one instance serving every vault host (myvault.vault.azure.net, ...vault.azure.cn,
// ...) it is tunnelled to: keys get/wrapkey/unwrapkey with real RSA (RSA-OAEP, RSA-OAEP-256, RSA1_5), secrets
// set/get/update with tags and contentType, the 401 bearer challenge, audience checks, the real error bodies,
// and fault-injection switches.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type KeyObject, constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { type RecordedRequest, type RequestLog, flatHeaders, readBody, sendJson } from './http.ts';
import type { TokenStore } from './tokens.ts';

const ALGS: Record<string, { padding: number; oaepHash?: string }> = {
  'RSA1_5': { padding: constants.RSA_PKCS1_PADDING },
  'RSA-OAEP': { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
  'RSA-OAEP-256': { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
};

/** Node refuses PKCS#1 v1.5 private decryption (Marvin); do raw RSA and strip the type-2 padding. */
export function rsa15Decrypt(key: KeyObject, input: Buffer): Buffer {
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, input);
  if (em[0] !== 0 || em[1] !== 2) throw new Error('bad PKCS#1 v1.5 padding');
  const sep = em.indexOf(0, 2);
  if (sep < 10) throw new Error('bad PKCS#1 v1.5 padding');
  return em.subarray(sep + 1);
}

/** What a test can do to the private key of a KEK: unwrap what the code under test wrapped. */
export function rsaUnwrap(key: KeyObject, alg: string, input: Buffer): Buffer {
  const a = ALGS[alg];
  if (!a) throw new Error(`unsupported alg ${alg}`);
  return alg === 'RSA1_5' ? rsa15Decrypt(key, input) : privateDecrypt({ key, ...a }, input);
}

interface KeyVersion { privateKey: KeyObject; jwk: Record<string, unknown>; attributes: Record<string, unknown> }
interface SecretVersion { value: string; contentType?: string; tags: Record<string, string>; attributes: Record<string, unknown> }
interface VaultState { keys: Map<string, Map<string, KeyVersion>>; secrets: Map<string, Map<string, SecretVersion>> }

export interface VaultFaults {
  /** Permissions the caller lacks, e.g. 'secrets/set', or on one vault only: 'v.vault.azure.net:keys/wrapKey'. */
  forbidden: Set<string>;
  /** Word the 403 like an RBAC vault (true) or an access-policy vault (false). */
  rbac: boolean;
  /** The next `count` authenticated requests (optionally only those needing `permission`) get `status`. */
  throttle: { count: number; status: number; retryAfter?: string; permission?: string };
  /** The proxy drops every tunnel to a vault host, as a firewall would. */
  unreachable: boolean;
  /** GET secret returns a value that differs from the one stored. */
  corruptSecretRead: boolean;
  /** unwrapkey returns bytes that differ from what was wrapped. */
  corruptUnwrap: boolean;
}

const now = () => Math.floor(Date.now() / 1000);
const newVersion = () => randomBytes(16).toString('hex');

export function cloudOfVaultHost(host: string): { resource: string; authority: string } | undefined {
  const table: [string, string, string][] = [
    ['.vault.azure.net', 'https://vault.azure.net', 'https://login.microsoftonline.com'],
    ['.managedhsm.azure.net', 'https://managedhsm.azure.net', 'https://login.microsoftonline.com'],
    ['.vault.azure.cn', 'https://vault.azure.cn', 'https://login.chinacloudapi.cn'],
    ['.managedhsm.azure.cn', 'https://managedhsm.azure.cn', 'https://login.chinacloudapi.cn'],
    ['.vault.usgovcloudapi.net', 'https://vault.usgovcloudapi.net', 'https://login.microsoftonline.us'],
    ['.managedhsm.usgovcloudapi.net', 'https://managedhsm.usgovcloudapi.net', 'https://login.microsoftonline.us'],
  ];
  const row = table.find(([suffix]) => host.endsWith(suffix));
  return row && { resource: row[1], authority: row[2] };
}

export class FakeVault {
  private readonly vaults = new Map<string, VaultState>();
  readonly faults: VaultFaults = { forbidden: new Set(), rbac: false, throttle: { count: 0, status: 429 }, unreachable: false, corruptSecretRead: false, corruptUnwrap: false };
  private readonly tokens: TokenStore;
  private readonly log: RequestLog;
  readonly tenantId: string;
  constructor(tokens: TokenStore, log: RequestLog, tenantId: string) { this.tokens = tokens; this.log = log; this.tenantId = tenantId; }

  resetFaults(): void {
    Object.assign(this.faults, { forbidden: new Set(), rbac: false, throttle: { count: 0, status: 429 }, unreachable: false, corruptSecretRead: false, corruptUnwrap: false });
  }

  private vault(host: string): VaultState {
    let v = this.vaults.get(host);
    if (!v) { v = { keys: new Map(), secrets: new Map() }; this.vaults.set(host, v); }
    return v;
  }

  /** Creates an RSA key version; returns its versioned URL and private key. */
  createKey(host: string, name: string, size = 2048): { url: string; version: string; privateKey: KeyObject } {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: size });
    const { n, e } = publicKey.export({ format: 'jwk' });
    const version = newVersion();
    const t = now();
    const keys = this.vault(host).keys;
    if (!keys.has(name)) keys.set(name, new Map());
    keys.get(name)!.set(version, {
      privateKey, jwk: { kty: 'RSA', key_ops: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'], n, e },
      attributes: { enabled: true, created: t, updated: t, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
    });
    return { url: `https://${host}/keys/${name}/${version}`, version, privateKey };
  }

  setKeyAttributes(keyUrl: string, attrs: { enabled?: boolean; exp?: number }): void {
    const k = this.findKeyByUrl(keyUrl);
    if (!k) throw new Error(`no key ${keyUrl}`);
    Object.assign(k.attributes, attrs);
  }

  private findKeyByUrl(keyUrl: string): KeyVersion | undefined {
    const u = new URL(keyUrl);
    const [, name, version] = u.pathname.split('/').filter(Boolean);
    return this.vault(u.host).keys.get(name!)?.get(version!);
  }

  /** A stored secret version, by its URL (versioned or not: then the latest). */
  secret(secretUrl: string): SecretVersion | undefined {
    const u = new URL(secretUrl);
    const [, name, version] = u.pathname.split('/').filter(Boolean);
    const m = this.vault(u.host).secrets.get(name!);
    if (!m) return undefined;
    return m.get(version ?? [...m.keys()].at(-1)!);
  }

  async handle(req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
    const url = new URL(req.url ?? '/', `https://${host}`);
    const body = await readBody(req);
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? '';
    const rec = this.log.add({ kind: 'vault', host, method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: flatHeaders(req), permission: permissionOf(method, parts) });
    const err = (status: number, code: string, message: string, inner?: string, headers: Record<string, string> = {}) =>
      sendJson(res, rec, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
    const cloud = cloudOfVaultHost(host);
    if (!cloud) return err(400, 'BadRequest', `fake vault: ${host} is no vault host`);

    const auth = req.headers.authorization;
    if (!auth) {
      return err(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, {
        'www-authenticate': `Bearer authorization="${cloud.authority}/${this.tenantId}", resource="${cloud.resource}"`,
      });
    }
    const issued = this.tokens.lookup(auth.replace(/^Bearer\s+/i, ''));
    if (!issued) return err(401, 'Unauthorized', 'AKV10032: Invalid issuer. Expected one of https://sts.windows.net/..., found unknown.');
    if (issued.resource !== cloud.resource) return err(401, 'Unauthorized', `AKV10022: Invalid audience. Expected ${cloud.resource}, found: ${issued.resource}.`);

    const th = this.faults.throttle;
    if (th.count > 0 && (!th.permission || th.permission === rec.permission)) {
      th.count--;
      if (th.status === 429) {
        return err(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached', undefined,
          th.retryAfter !== undefined ? { 'retry-after': th.retryAfter } : {});
      }
      return err(th.status, th.status === 503 ? 'ServiceUnavailable' : 'InternalServerError', 'The service is temporarily unavailable.', undefined,
        th.retryAfter !== undefined ? { 'retry-after': th.retryAfter } : {});
    }
    if (rec.permission && (this.faults.forbidden.has(rec.permission) || this.faults.forbidden.has(`${host}:${rec.permission}`))) return this.forbid(err, rec, host, issued.principal);

    const v = this.vault(host);
    const json = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    if (parts[0] === 'keys') {
      const [, name, given, op] = parts;
      // GET /keys/<name> (no version) is the newest version, as Key Vault's get-key answers.
      const version = given ?? (method === 'GET' && name ? [...(v.keys.get(name)?.keys() ?? [])].at(-1) : undefined);
      const k = name && version ? v.keys.get(name)?.get(version) : undefined;
      if (!k) return err(404, 'KeyNotFound', `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
      const kid = `https://${host}/keys/${name}/${version}`;
      if (method === 'GET' && !op) return sendJson(res, rec, 200, { key: { kid, ...k.jwk }, attributes: k.attributes });
      if (method === 'POST' && (op === 'wrapkey' || op === 'unwrapkey')) {
        const opName = op === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
        const exp = k.attributes['exp'];
        if (k.attributes['enabled'] === false) return err(403, 'Forbidden', `Operation ${opName} is not allowed on a disabled key.`, 'KeyDisabled');
        if (typeof exp === 'number' && exp < now()) return err(403, 'Forbidden', `Operation ${opName} is not allowed on an expired key.`, 'KeyExpired');
        const alg = String(json['alg']);
        const a = ALGS[alg];
        if (!a) return err(400, 'BadParameter', `Invalid algorithm ${alg}.`);
        const input = Buffer.from(String(json['value']), 'base64url');
        let out: Buffer;
        try {
          out = op === 'wrapkey' ? publicEncrypt({ key: k.privateKey, ...a }, input) : rsaUnwrap(k.privateKey, alg, input);
        } catch {
          return err(400, 'BadParameter', 'The parameter is incorrect.\r\n');
        }
        if (op === 'unwrapkey' && this.faults.corruptUnwrap) out = Buffer.concat([out.subarray(0, out.length - 1), Buffer.from([out[out.length - 1]! ^ 1])]);
        return sendJson(res, rec, 200, { kid, value: out.toString('base64url') });
      }
    }
    if (parts[0] === 'secrets' && parts[1]) {
      const name = parts[1];
      const version = parts[2];
      if (method === 'PUT' && !version) {
        const ver = newVersion();
        const t = now();
        const s: SecretVersion = {
          value: String(json['value']), contentType: json['contentType'] as string | undefined, tags: (json['tags'] as Record<string, string>) ?? {},
          attributes: { enabled: true, created: t, updated: t, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90, ...((json['attributes'] as object) ?? {}) },
        };
        if (!v.secrets.has(name)) v.secrets.set(name, new Map());
        v.secrets.get(name)!.set(ver, s);
        return sendJson(res, rec, 200, this.bundle(host, name, ver, s, true));
      }
      const m = v.secrets.get(name);
      const ver = version ?? (m ? [...m.keys()].at(-1) : undefined);
      const s = ver ? m?.get(ver) : undefined;
      if (!s || !ver) return err(404, 'SecretNotFound', `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
      if (method === 'GET') {
        if (s.attributes['enabled'] === false) return err(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        const b = this.bundle(host, name, ver, s, true);
        // One character early in the value: it carries six whole bits. (Overwriting the last two with "AA", as
        // before, changed nothing when they already were "A" and the last one's data bits were 0: about one
        // wrapped key in 256, seen as a flaky escrow that did not fail.)
        if (this.faults.corruptSecretRead) b['value'] = `${s.value.slice(0, 4)}${s.value[4] === 'A' ? 'B' : 'A'}${s.value.slice(5)}`;
        return sendJson(res, rec, 200, b);
      }
      if (method === 'PATCH' && version) {
        if (json['attributes']) Object.assign(s.attributes, json['attributes'], { updated: now() });
        if (json['tags']) s.tags = json['tags'] as Record<string, string>;
        if (json['contentType'] !== undefined) s.contentType = json['contentType'] as string;
        return sendJson(res, rec, 200, this.bundle(host, name, ver, s, false));
      }
    }
    return err(400, 'BadParameter', `fake vault: unsupported ${method} ${url.pathname}`);
  }

  private bundle(host: string, name: string, ver: string, s: SecretVersion, withValue: boolean): Record<string, unknown> {
    return { ...(withValue ? { value: s.value } : {}), ...(s.contentType !== undefined ? { contentType: s.contentType } : {}), id: `https://${host}/secrets/${name}/${ver}`, attributes: s.attributes, tags: s.tags };
  }

  private forbid(err: (s: number, c: string, m: string, i?: string) => void, rec: RecordedRequest, host: string, p: { appId: string; objectId: string; tenantId: string }): void {
    const vaultName = host.split('.')[0];
    const [kind, op] = (rec.permission ?? '/').split('/') as [string, string];
    const caller = `appid=${p.appId};oid=${p.objectId};iss=https://sts.windows.net/${p.tenantId}/`;
    if (this.faults.rbac) {
      const action = `Microsoft.KeyVault/vaults/${kind}/${op === 'set' ? 'setSecret' : op === 'get' ? 'readMetadata' : op}/action`;
      return err(403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: ${caller}\r\nAction: '${action}'\r\nResource: '/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg/providers/microsoft.keyvault/vaults/${vaultName}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: ${vaultName};location=eastus\r\n`, 'ForbiddenByRbac');
    }
    return err(403, 'Forbidden', `The user, group or application '${caller}' does not have ${kind} ${op} permission on key vault '${vaultName};location=eastus'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`, 'AccessDenied');
  }
}

function permissionOf(method: string, parts: string[]): string | undefined {
  if (parts[0] === 'keys') {
    if (parts[3] === 'wrapkey') return 'keys/wrapKey';
    if (parts[3] === 'unwrapkey') return 'keys/unwrapKey';
    if (method === 'GET') return 'keys/get';
  }
  if (parts[0] === 'secrets') {
    if (method === 'PUT' || method === 'PATCH') return 'secrets/set';
    if (method === 'GET') return 'secrets/get';
    if (method === 'DELETE') return 'secrets/delete';
  }
  return undefined;
}
