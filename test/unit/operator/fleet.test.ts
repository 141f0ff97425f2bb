// Fleets: which VMs a --tag selects, that no more than --max-parallel run at once, and when a VM counts as
// already done (so a second run skips it instead of deploying again).
import { describe, expect, it } from 'vitest';
import { alreadyDone, pool, tagFilter } from '../../../src/operator/fleet.ts';
import type { ExtensionState } from '../../../src/operator/instance-view.ts';

describe('tagFilter', () => {
  it.each([
    [undefined, { env: 'prod' }, true],
    [undefined, undefined, true],
    ['env=prod', { env: 'prod' }, true],
    ['env=prod', { Env: 'prod' }, true],
    ['env=prod', { env: 'Prod' }, false],
    ['env=prod', {}, false],
    ['env', { env: '' }, true],
    ['env', { other: 'x' }, false],
    ['k=a=b', { k: 'a=b' }, true],
  ])('%s on %j → %s', (spec, tags, want) => expect(tagFilter(spec)(tags as Record<string, string> | undefined)).toBe(want));
});

describe('pool', () => {
  it('runs everything, at most `limit` at once, results in order', async () => {
    let now = 0; let peak = 0;
    const out = await pool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, 5 * (8 - n)));
      now--;
      return n * 10;
    });
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });
});

describe('alreadyDone', () => {
  const st = (o: Partial<ExtensionState>): ExtensionState => ({ provisioning: 'succeeded', message: '', volumes: [], ...o });
  const kv = 'https://kv.vault.azure.net/';
  const row = (mountpoint: string, state: string, host = 'kv.vault.azure.net') => ({ device: '/dev/x', mountpoint, state, secretUrl: `https://${host}/secrets/s/1` });
  it.each([
    ['data encrypted, DATA asked', st({ os: 'NotEncrypted', data: 'Encrypted', volumes: [row('/d', 'Encrypted')] }), 'DATA', true],
    ['data encrypted, ALL asked', st({ os: 'NotEncrypted', data: 'Encrypted', volumes: [row('/d', 'Encrypted')] }), 'ALL', false],
    ['a volume still in progress', st({ os: 'NotEncrypted', data: 'Encrypted', volumes: [row('/d', 'EncryptionInProgress')] }), 'DATA', false],
    ['keys in another vault (a re-key is asked)', st({ os: 'NotEncrypted', data: 'Encrypted', volumes: [row('/d', 'Encrypted', 'old.vault.azure.net')] }), 'DATA', false],
    ['the last run failed', st({ provisioning: 'failed', os: 'NotEncrypted', data: 'Encrypted' }), 'DATA', false],
    ['OS and data', st({ os: 'Encrypted', data: 'Encrypted', volumes: [row('/', 'Encrypted'), row('/d', 'Encrypted')] }), 'ALL', true],
  ])('%s', (_, s, volumeType, want) => expect(alreadyDone(s, volumeType, kv)).toBe(want));
});
