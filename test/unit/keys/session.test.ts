// A Key Vault call that never answers, or whose answer is cut off, is retried within bounds and ends in a
// coded error: the worker never hangs on a dead connection.
import { describe, expect, it } from 'vitest';
import type { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { type KeysDeps, type VaultClientFactory } from '../../../src/keys/index.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { encryptionSettings } from '../../helpers/settings.ts';

const KEK = 'https://k.vault.azure.net/keys/kek/1';
const volume = { id: 'v', fileName: 'LinuxPassPhraseFileName' };
const key = { id: KEK, keyType: 'RSA', key: { n: new Uint8Array(256) }, properties: { enabled: true } };

function deps(getKey: (o: { abortSignal?: AbortSignal }) => Promise<unknown>, sleeps: number[]): KeysDeps {
  const clients = {
    keys: () => ({ getKey: (_n: string, o: { abortSignal?: AbortSignal }) => getKey(o) }),
    secrets: () => ({}), crypto: () => ({}),
  } as unknown as VaultClientFactory;
  return {
    clients, callTimeoutMs: 50,
    credential: { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) },
    retry: { attempts: 3 }, retryDeps: { sleep: async (ms: number) => { sleeps.push(ms); }, random: () => 1 },
  };
}

describe('Key Vault call deadlines', () => {
  it('gives up on a call that never answers after the retry budget, as "unreachable" (302)', async () => {
    const sleeps: number[] = [];
    let attempts = 0;
    // Like the SDK: the call only ends when its abort signal fires.
    const hang = (o: { abortSignal?: AbortSignal }) => new Promise((_, reject) => { attempts++; o.abortSignal?.addEventListener('abort', () => reject(Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }))); });
    const e = await escrowKey({ settings: encryptionSettings({ vaultHost: 'v.vault.azure.net', kekUrl: KEK }), machineName: 'vm', volume, log: memoryLogger(), deps: deps(hang, sleeps) })
      .then(() => undefined, (x: unknown) => x as AdeError);
    expect(attempts).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(e?.code).toBe(302);
    expect(e?.message).toContain('no answer to keys/get within 0.05 s (3 attempts)');
  });

  it('retries an answer cut off mid-way (the SDK then trips over a missing body) and goes on', async () => {
    const sleeps: number[] = [];
    let n = 0;
    const flaky = async () => { if (n++ === 0) throw new TypeError("Cannot read properties of undefined (reading 'error')"); return { ...key, properties: { enabled: false } }; };
    const e = await escrowKey({ settings: encryptionSettings({ vaultHost: 'v.vault.azure.net', kekUrl: KEK }), machineName: 'vm', volume, log: memoryLogger(), deps: deps(flaky, sleeps) })
      .then(() => undefined, (x: unknown) => x as AdeError);
    // The second answer arrived whole: a disabled KEK, reported as such (not as a transport failure).
    expect(n).toBe(2);
    expect(e?.code).toBe(305);
  });
});
