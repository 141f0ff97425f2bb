// One identity talking to Key Vault: the cloud, the credential, cached clients, and the call wrapper that
// retries and turns failures into coded errors.
import type { TokenCredential } from '@azure/core-auth';
import type { Logger } from '../shared/log.ts';
import type { Identity } from '../shared/types.ts';
import { type Cloud, cloudForVault } from './cloud.ts';
import { type CryptoApi, type KeysApi, type SecretsApi, type VaultClientFactory, realClients } from './clients.ts';
import { createCredential } from './credentials.ts';
import { DEFAULT_RETRY, type RetryDeps, type RetryPolicy, withRetry } from './retry.ts';
import { CallTimedOut, type VaultOp, classifyVaultError, toAdeError } from './vault-errors.ts';
import type { KeyVaultKey } from '@azure/keyvault-keys';

/** What callers may inject; every field defaults to production behaviour. */
export interface KeysDeps {
  clients?: VaultClientFactory;
  /** Used instead of building one from settings.identity. */
  credential?: TokenCredential;
  retry?: Partial<RetryPolicy>;
  retryDeps?: RetryDeps;
  randomBytes?: (n: number) => Buffer;
  /** waagent's Lib.Dir, where AAD certificates are delivered. */
  agentLibDir?: string;
  /** Deadline of one attempt of one call (default 60 s). */
  callTimeoutMs?: number;
}

export class VaultSession {
  readonly cloud: Cloud;
  readonly identity: Identity;
  readonly log: Logger;
  private readonly credential: TokenCredential;
  private readonly clients: VaultClientFactory;
  private readonly policy: RetryPolicy;
  private readonly retryDeps: RetryDeps;
  private readonly callTimeoutMs: number;
  private readonly secretClients = new Map<string, SecretsApi>();
  private readonly keyClients = new Map<string, KeysApi>();
  private readonly cryptoClients = new Map<string, CryptoApi>();
  private readonly remembered = new Map<string, Promise<unknown>>();

  constructor(identity: Identity, anyVaultUrl: string, log: Logger, deps: KeysDeps = {}, field = 'KeyVaultURL') {
    this.identity = identity;
    this.log = log;
    this.cloud = cloudForVault(anyVaultUrl, field);
    this.credential = deps.credential ?? createCredential(identity, this.cloud, log, { ...(deps.agentLibDir ? { agentLibDir: deps.agentLibDir } : {}) });
    this.clients = deps.clients ?? realClients;
    this.policy = { ...DEFAULT_RETRY, ...deps.retry };
    this.retryDeps = deps.retryDeps ?? {};
    this.callTimeoutMs = deps.callTimeoutMs ?? 60_000;
  }

  secrets(origin: string): SecretsApi {
    return cached(this.secretClients, origin, () => this.clients.secrets(origin, this.credential));
  }

  keys(origin: string): KeysApi {
    return cached(this.keyClients, origin, () => this.clients.keys(origin, this.credential));
  }

  /** One client per key: each new client pays its own 401 challenge round trip before its first call. */
  crypto(key: string | KeyVaultKey): CryptoApi {
    const id = typeof key === 'string' ? key : key.id;
    const make = () => this.clients.crypto(key, this.credential);
    return id === undefined ? make() : cached(this.cryptoClients, id, make);
  }

  /** What make() gives, fetched once per session (a failure is forgotten, so the next caller tries again). */
  remember<T>(id: string, make: () => Promise<T>): Promise<T> {
    let p = this.remembered.get(id) as Promise<T> | undefined;
    if (p === undefined) {
      p = make();
      this.remembered.set(id, p);
      p.catch(() => this.remembered.delete(id));
    }
    return p;
  }

  /**
   * Runs one Key Vault call with retries; failures come out as AdeErrors. Each attempt gets its own
   * deadline (fn must pass abortSignal to the SDK): a hung connection is retried, never waited on forever.
   */
  async call<T>(op: VaultOp, endpoint: string, fn: (o: { abortSignal: AbortSignal }) => Promise<T>, kek?: string): Promise<T> {
    const onRetry = (i: { attempt: number; delayMs: number; reason: string }) => {
      this.log.warn(`Key Vault ${op} on ${endpoint}: ${i.reason}; retry ${i.attempt} in ${i.delayMs} ms`);
      this.retryDeps.onRetry?.(i);
    };
    try {
      const attempt = async (): Promise<T> => {
        const abortSignal = AbortSignal.timeout(this.callTimeoutMs);
        try {
          return await fn({ abortSignal });
        } catch (e) {
          if (abortSignal.aborted) throw new CallTimedOut(op, this.callTimeoutMs);
          throw e;
        }
      };
      return await withRetry(attempt, classifyVaultError, this.policy, { ...this.retryDeps, onRetry });
    } catch (e) {
      throw toAdeError(e, { op, endpoint, identity: this.identity, cloud: this.cloud, ...(kek ? { kek } : {}) });
    }
  }
}

/** The client kept under `id`, made on first use. */
function cached<T>(m: Map<string, T>, id: string, make: () => T): T {
  let c = m.get(id);
  if (c === undefined) { c = make(); m.set(id, c); }
  return c;
}
