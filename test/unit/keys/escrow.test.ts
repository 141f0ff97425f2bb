// escrowKey with an injected client factory and credential (no network): the order of operations and the
// checks that need no vault (missing KeyVaultURL, oversized passphrase, non-RSA KEK).
import { describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { type KeysDeps, type VaultClientFactory } from '../../../src/keys/index.ts';
import { escrowKey } from '../../helpers/escrow.ts';
import { encryptionSettings } from '../../helpers/settings.ts';

function memoryVault(keyType = 'RSA') {
  const calls: string[] = [];
  const secrets = new Map<string, { value: string; contentType?: string; tags?: Record<string, string> }>();
  const xor = (b: Uint8Array) => Buffer.from(b).map((x) => x ^ 0x5a);
  const factory = {
    secrets: () => ({
      setSecret: async (name: string, value: string, o: { contentType?: string; tags?: Record<string, string> }) => {
        calls.push(`set ${name}`); secrets.set(name, { value, ...o });
        return { name, properties: { id: `https://v.vault.azure.net/secrets/${name}/v1`, version: 'v1' } };
      },
      getSecret: async (name: string) => { calls.push(`get ${name}`); const s = secrets.get(name)!; return { name, value: s.value, properties: { contentType: s.contentType, tags: s.tags } }; },
      updateSecretProperties: async () => { throw new Error('unused'); },
    }),
    keys: () => ({ getKey: async (name: string) => { calls.push(`getKey ${name}`); return { id: `https://k.vault.azure.net/keys/${name}/1`, keyType, key: { n: new Uint8Array(256) }, properties: { enabled: true } }; } }),
    crypto: () => ({
      made: calls.push('new crypto client'),
      wrapKey: async (_a: string, k: Uint8Array) => { calls.push('wrap'); return { result: xor(k) }; },
      unwrapKey: async (_a: string, k: Uint8Array) => { calls.push('unwrap'); return { result: xor(k) }; },
    }),
  } as unknown as VaultClientFactory;
  const deps: KeysDeps = { clients: factory, credential: { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) } };
  return { calls, secrets, deps };
}

const volume = { id: 'v', fileName: 'LinuxPassPhraseFileName' };
const KEK = 'https://k.vault.azure.net/keys/kek/1';

describe('escrowKey (injected clients)', () => {
  it('get KEK → wrap → set → get that version → unwrap, and returns only after', async () => {
    const m = memoryVault();
    const r = await escrowKey({ settings: encryptionSettings({ vaultHost: 'v.vault.azure.net', kekUrl: KEK }), machineName: 'vm', volume, log: memoryLogger(), deps: m.deps });
    const name = [...m.secrets.keys()][0]!;
    // One crypto client for the wrap and the proving unwrap: each new one costs a 401 challenge round trip.
    expect(m.calls).toEqual(['getKey kek', 'new crypto client', 'wrap', `set ${name}`, `get ${name}`, 'unwrap']);
    expect(r.secretUrl).toBe(`https://v.vault.azure.net/secrets/${name}/v1`);
    expect(r.kekUrl).toBe(KEK);
  });

  it('no KeyVaultURL: SettingMissing (203)', async () => {
    const s = { ...encryptionSettings({ vaultHost: 'v.vault.azure.net' }) };
    delete s.keyVaultUrl;
    const e = await escrowKey({ settings: s, machineName: 'vm', volume, log: memoryLogger(), deps: memoryVault().deps }).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e?.code).toBe(203);
    expect(e?.message).toContain('KeyVaultURL is required for EnableEncryption');
  });

  it('a user passphrase too long for the KEK algorithm is refused before anything is stored', async () => {
    const m = memoryVault();
    const e = await escrowKey({ settings: encryptionSettings({ vaultHost: 'v.vault.azure.net', kekUrl: KEK, algorithm: 'RSA-OAEP-256', passphrase: 'x'.repeat(191) }), machineName: 'vm', volume, log: memoryLogger(), deps: m.deps })
      .then(() => undefined, (x: unknown) => x as AdeError);
    expect(e?.code).toBe(204);
    expect(e?.message).toContain('Passphrase is 191 bytes; RSA-OAEP-256 with this key wraps at most 190');
    expect(m.calls).toEqual(['getKey kek']);
  });

  it('an EC key is refused as KEK', async () => {
    const m = memoryVault('EC');
    const e = await escrowKey({ settings: encryptionSettings({ vaultHost: 'v.vault.azure.net', kekUrl: KEK }), machineName: 'vm', volume, log: memoryLogger(), deps: m.deps }).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e?.message).toContain('KeyEncryptionKeyURL names a EC key; only RSA keys can wrap disk keys');
  });
});
