// The passphrase never appears in what we log (checked with a logger that does NOT redact), in error
// messages, or in any request the fake Azure receives, except the wrapkey body (RSA-OAEP-256 wraps at the
// vault) and, without a KEK, the secret-set body. A wrapped secret's value never contains it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/shared/log.ts';
import type { KekAlgorithm } from '../../../src/shared/types.ts';
import { fetchKey } from '../../../src/keys/index.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { useFakeAzure } from '../../../lab/fakes/env.ts';
import type { RecordedRequest } from '../../../lab/fakes/http.ts';
import { encryptionSettings, recordingSleep } from '../../helpers/settings.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); });
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.vault.resetFaults(); fake.log.clear(); });

const HOST = 'secretvault.vault.azure.net';
const volume = { id: 'v', fileName: 'LinuxPassPhraseFileName' };

/** Records every line verbatim: no redaction, so a leak would show. */
function rawLogger(): Logger & { text: () => string; registered: string[] } {
  const lines: string[] = [];
  const registered: string[] = [];
  const w = (m: string, f?: Record<string, unknown>) => { lines.push(`${m} ${f ? JSON.stringify(f) : ''}`); };
  return { info: w, warn: w, error: w, addSecret: (s) => { registered.push(s); }, text: () => lines.join('\n'), registered };
}

const forms = (p: Buffer) => [p.toString('utf8'), p.toString('base64'), p.toString('base64url'), p.toString('utf8').slice(0, 24)];
const haystack = (q: RecordedRequest) => [q.method, q.host, q.path, JSON.stringify(q.query), JSON.stringify(q.headers), q.body].join('\n');
const leaks = (text: string, p: Buffer) => forms(p).filter((f) => text.includes(f));

describe('the passphrase stays secret', () => {
  it.each(['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5', 'none'] as const)('KEK algorithm %s', async (alg) => {
    const kekUrl = alg === 'none' ? undefined : fake.vault.createKey(HOST, `kek-${alg}`).url;
    const log = rawLogger();
    const settings = encryptionSettings({ vaultHost: HOST, ...(kekUrl ? { kekUrl, algorithm: alg as KekAlgorithm } : {}) });
    const r = await escrowKey({ settings, machineName: 'vm', volume, log });
    await fetchKey({ settings, secretUrl: r.secretUrl, log });

    expect(log.registered).toContain(r.passphrase.toString('utf8')); // registered for redaction before use
    expect(leaks(log.text(), r.passphrase)).toEqual([]);

    const allowed = (q: RecordedRequest) => (q.path.endsWith('/wrapkey') && q.method === 'POST') || (alg === 'none' && q.method === 'PUT' && q.path.startsWith('/secrets/'));
    const leaking = fake.log.all.filter((q) => !allowed(q) && leaks(haystack(q), r.passphrase).length > 0);
    expect(leaking.map((q) => `${q.method} ${q.path}`)).toEqual([]);
    if (alg === 'RSA-OAEP-256') {
      // The one place it may travel: to the vault's wrapkey, base64url of the bytes.
      const wrap = fake.log.all.find((q) => q.path.endsWith('/wrapkey') && q.status === 200)!;
      expect(JSON.parse(wrap.body).value).toBe(r.passphrase.toString('base64url'));
    }
    if (alg !== 'none') expect(leaks(fake.vault.secret(r.secretUrl)!.value, r.passphrase)).toEqual([]);
  });

  it('nor in error messages or their causes when escrow fails after wrapping', async () => {
    const kekUrl = fake.vault.createKey(HOST, 'kek-err').url;
    for (const fault of ['corruptSecretRead', 'corruptUnwrap', 'throttle'] as const) {
      fake.vault.resetFaults();
      if (fault === 'throttle') fake.vault.faults.throttle = { count: 100, status: 503, permission: 'keys/unwrapKey' };
      else fake.vault.faults[fault] = true;
      const log = rawLogger();
      let captured: Buffer | undefined;
      const rec = recordingSleep();
      const e = await escrowKey({
        settings: encryptionSettings({ vaultHost: HOST, kekUrl }), machineName: 'vm', volume, log,
        deps: { randomBytes: (n) => { const b = Buffer.alloc(n, 7); captured = Buffer.from(b.toString('base64')); return b; }, retryDeps: { sleep: rec.sleep } },
      }).then(() => undefined, (x: unknown) => x as Error);
      expect(e).toBeInstanceOf(Error);
      const texts = [e!.message, String(e), String((e!.cause as Error | undefined)?.message ?? ''), JSON.stringify(e), log.text()].join('\n');
      expect(leaks(texts, captured!)).toEqual([]);
    }
  });
});
