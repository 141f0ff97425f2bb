// Bounded retries for Key Vault calls: 429 and 5xx (and connections that could not be made) are retried with
// exponential backoff, or exactly the server's Retry-After when it sends one; a Retry-After longer than
// maxRetryAfterMs, or a wait that would exceed the total budget, ends the retries instead. Pure: sleep,
// clock and randomness are injected.

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A server asking for a longer wait than this is not waited for. */
  maxRetryAfterMs: number;
  /** Sum of all waits may not exceed this. */
  maxTotalWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 120_000, maxTotalWaitMs: 300_000 };

export interface RetryDeps {
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); jitter. */
  random?: () => number;
  now?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export type Verdict = { retry: false } | { retry: true; reason: string; retryAfter?: string };

/** Thrown when retrying gave up; `last` is the final failure. */
export class RetriesExhausted extends Error {
  readonly attempts: number;
  readonly last: unknown;
  constructor(attempts: number, last: unknown) {
    super(`gave up after ${attempts} attempts`, { cause: last });
    this.name = 'RetriesExhausted';
    this.attempts = attempts;
    this.last = last;
  }
}

export const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined | null, nowMs: number): number | undefined {
  if (value === undefined || value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - nowMs);
}

/** Exponential backoff for attempt n (1-based retry number) with jitter in [50%, 100%], capped. */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

export async function withRetry<T>(fn: () => Promise<T>, classify: (e: unknown) => Verdict, policy: RetryPolicy = DEFAULT_RETRY, deps: RetryDeps = {}): Promise<T> {
  const sleep = deps.sleep ?? realSleep;
  const random = deps.random ?? Math.random;
  const now = deps.now ?? Date.now;
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const v = classify(e);
      if (!v.retry) throw e;
      if (attempt >= policy.attempts) throw new RetriesExhausted(attempt, e);
      const asked = parseRetryAfter(v.retryAfter, now());
      if (asked !== undefined && asked > policy.maxRetryAfterMs) throw new RetriesExhausted(attempt, e);
      const delay = asked ?? backoffMs(attempt, policy, random);
      if (waited + delay > policy.maxTotalWaitMs) throw new RetriesExhausted(attempt, e);
      deps.onRetry?.({ attempt, delayMs: delay, reason: v.reason });
      waited += delay;
      await sleep(delay);
    }
  }
}
