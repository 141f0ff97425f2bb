import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, RetriesExhausted, backoffMs, parseRetryAfter, withRetry, type Verdict } from '../../../src/keys/retry.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, ignores garbage', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('Sun, 29 Nov 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
  });
});

describe('backoffMs', () => {
  it('doubles from the base, jitter between 50% and 100%, capped', () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 5000 };
    expect([1, 2, 3, 4].map((n) => backoffMs(n, p, () => 0.999999))).toEqual([1000, 2000, 4000, 5000]);
    expect([1, 2, 3].map((n) => backoffMs(n, p, () => 0))).toEqual([500, 1000, 2000]);
  });
});

function flaky(failures: unknown[]) {
  let calls = 0;
  return { fn: async () => { const f = failures[calls++]; if (f !== undefined) throw f; return 'ok'; }, calls: () => calls };
}
const retryable = (retryAfter?: string): Verdict => ({ retry: true, reason: 'HTTP 429', ...(retryAfter !== undefined ? { retryAfter } : {}) });
const classify = (e: unknown): Verdict => (e as { ra?: string; fatal?: boolean }).fatal ? { retry: false } : retryable((e as { ra?: string }).ra);

describe('withRetry', () => {
  it('honours Retry-After exactly and reports each retry', async () => {
    const waits: number[] = [];
    const seen: number[] = [];
    const f = flaky([{ ra: '3' }, { ra: '1' }]);
    const r = await withRetry(f.fn, classify, DEFAULT_RETRY, { sleep: async (ms) => { waits.push(ms); }, now: () => NOW, onRetry: (i) => seen.push(i.attempt) });
    expect(r).toBe('ok');
    expect(waits).toEqual([3000, 1000]);
    expect(seen).toEqual([1, 2]);
    expect(f.calls()).toBe(3);
  });

  it('backs off exponentially without Retry-After', async () => {
    const waits: number[] = [];
    await withRetry(flaky([{}, {}, {}]).fn, classify, DEFAULT_RETRY, { sleep: async (ms) => { waits.push(ms); }, random: () => 0.999999 });
    expect(waits).toEqual([1000, 2000, 4000]);
  });

  it('is bounded by attempts and says how many', async () => {
    const waits: number[] = [];
    const f = flaky(Array.from({ length: 10 }, () => ({ ra: '1' })));
    const e = await withRetry(f.fn, classify, { ...DEFAULT_RETRY, attempts: 3 }, { sleep: async (ms) => { waits.push(ms); } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RetriesExhausted);
    expect((e as RetriesExhausted).attempts).toBe(3);
    expect((e as RetriesExhausted).last).toEqual({ ra: '1' });
    expect(f.calls()).toBe(3);
    expect(waits).toEqual([1000, 1000]);
  });

  it('gives up at once on a Retry-After above the bound, and when the total wait budget would be exceeded', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => { waits.push(ms); };
    const e1 = await withRetry(flaky([{ ra: '600' }]).fn, classify, { ...DEFAULT_RETRY, maxRetryAfterMs: 120_000 }, { sleep }).catch((x: unknown) => x);
    expect((e1 as RetriesExhausted).attempts).toBe(1);
    const e2 = await withRetry(flaky([{ ra: '60' }, { ra: '60' }, { ra: '60' }]).fn, classify, { ...DEFAULT_RETRY, maxTotalWaitMs: 100_000 }, { sleep }).catch((x: unknown) => x);
    expect((e2 as RetriesExhausted).attempts).toBe(2);
    expect(waits).toEqual([60_000]);
  });

  it('does not retry what is not retryable', async () => {
    const f = flaky([{ fatal: true }]);
    await expect(withRetry(f.fn, classify, DEFAULT_RETRY, { sleep: async () => undefined })).rejects.toEqual({ fatal: true });
    expect(f.calls()).toBe(1);
  });
});
