// Turns what the SDK and the identity library throw into coded AdeErrors that name the fix. Pure.
import { AdeError } from '../shared/errors.ts';
import type { Identity } from '../shared/types.ts';
import type { Cloud } from './cloud.ts';
import { vaultName } from './cloud.ts';
import { describeIdentity, tokenSource } from './credentials.ts';
import { RetriesExhausted, type Verdict } from './retry.ts';

/** The data-plane permission an operation needs (access-policy wording: <kind>/<permission>). */
export type VaultOp = 'keys/get' | 'keys/wrapKey' | 'keys/unwrapKey' | 'secrets/set' | 'secrets/get';

/** The least built-in RBAC role that grants each operation. */
export const ROLE_FOR: Record<VaultOp, string> = {
  'keys/get': 'Key Vault Crypto Service Encryption User',
  'keys/wrapKey': 'Key Vault Crypto Service Encryption User',
  'keys/unwrapKey': 'Key Vault Crypto Service Encryption User',
  'secrets/set': 'Key Vault Secrets Officer',
  'secrets/get': 'Key Vault Secrets User',
};

export interface ErrorContext {
  op: VaultOp;
  /** The vault origin called, https://<vault>/ */
  endpoint: string;
  identity: Identity;
  cloud: Cloud;
  /** The key URL, for key operations. */
  kek?: string;
}

interface RestLike { name?: string; statusCode?: number; code?: string; message?: string; details?: unknown; response?: { headers?: { get(n: string): string | undefined } } }

const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

const firstLine = (s: string | undefined) => (s ?? '').split(/\r?\n/)[0]!.trim();

function innerCode(e: RestLike): string | undefined {
  const d = e.details as { error?: { innerError?: { code?: string }; innererror?: { code?: string } } } | undefined;
  return d?.error?.innerError?.code ?? d?.error?.innererror?.code;
}

/** A transient failure to connect (DNS, refused, reset, timeout): worth retrying. */
const isConnectionFailure = (e: RestLike) => e.name === 'RestError' && e.statusCode === undefined && e.code === 'REQUEST_SEND_ERROR';
/** No HTTP answer at all (also TLS failures such as an untrusted intercepting proxy): the vault was not reached. */
const isNoResponse = (e: RestLike) => e.name === 'RestError' && e.statusCode === undefined && e.code !== 'PARSE_ERROR';

/** A call that got no complete answer in time (a hung connection would otherwise block the worker forever). */
export class CallTimedOut extends Error {
  readonly op: string;
  readonly ms: number;
  constructor(op: string, ms: number) {
    super(`no answer to ${op} within ${ms / 1000} s`);
    this.name = 'CallTimedOut';
    this.op = op;
    this.ms = ms;
  }
}

/** Which failures are worth another attempt. */
export function classifyVaultError(e: unknown): Verdict {
  if (e instanceof CallTimedOut) return { retry: true, reason: e.message };
  // The SDK dereferences a missing body when a connection drops mid-answer: a transport failure, not a bug here.
  if (e instanceof TypeError) return { retry: true, reason: `truncated answer: ${firstLine(e.message)}` };
  const r = e as RestLike;
  if (r?.name === 'RestError' && r.statusCode !== undefined && RETRY_STATUS.has(r.statusCode)) {
    const retryAfter = r.response?.headers?.get('retry-after');
    return { retry: true, reason: `HTTP ${r.statusCode}`, ...(retryAfter !== undefined ? { retryAfter } : {}) };
  }
  if (r && isConnectionFailure(r)) return { retry: true, reason: `connection failed: ${firstLine(r.message)}` };
  return { retry: false };
}

export function toAdeError(e: unknown, ctx: ErrorContext): AdeError {
  if (e instanceof AdeError) return e;
  const vault = vaultName(ctx.endpoint);
  const kek = ctx.kek ?? '';
  if (e instanceof RetriesExhausted) {
    const last = e.last as RestLike;
    if (last?.statusCode !== undefined) return new AdeError('KeyVaultThrottled', { endpoint: ctx.endpoint, status: last.statusCode, attempts: e.attempts }, { cause: e });
    return new AdeError('KeyVaultUnreachable', { endpoint: ctx.endpoint, cause: `${firstLine(last?.message)} (${e.attempts} attempts)` }, { cause: e });
  }
  const r = (e ?? {}) as RestLike;
  if (r.name && CREDENTIAL_ERRORS.has(r.name)) {
    const { source, endpoint } = tokenSource(ctx.identity, ctx.cloud);
    return new AdeError('IdentityUnavailable', { resource: ctx.cloud.resource, source, cause: firstLine(r.message), endpoint }, { cause: e });
  }
  if (isNoResponse(r)) return new AdeError('KeyVaultUnreachable', { endpoint: ctx.endpoint, cause: `${firstLine(r.message)}${r.code && r.code !== 'REQUEST_SEND_ERROR' ? ` (${r.code})` : ''}` }, { cause: e });
  const isKeyOp = ctx.op.startsWith('keys/');
  if (r.statusCode === 403) {
    const inner = innerCode(r);
    if (inner === 'SecretDisabled') {
      return new AdeError('KeyVaultError', { endpoint: ctx.endpoint, operation: ctx.op, status: 403, cause: firstLine(r.message) }, { cause: e });
    }
    if (isKeyOp && (inner === 'KeyDisabled' || inner === 'KeyExpired' || /disabled|expired/i.test(r.message ?? ''))) {
      return new AdeError('KekDisabled', { kek, vault }, { cause: e });
    }
    return new AdeError('KeyVaultForbidden', { identity: describeIdentity(ctx.identity), permission: ctx.op, vault, role: ROLE_FOR[ctx.op] }, { cause: e });
  }
  if (r.statusCode === 404 && isKeyOp) return new AdeError('KekNotFound', { kek, vault }, { cause: e });
  return new AdeError('KeyVaultError', {
    endpoint: ctx.endpoint, operation: ctx.op, status: r.statusCode ?? 'no response', cause: firstLine(r.message) || String(e),
  }, { cause: e });
}
