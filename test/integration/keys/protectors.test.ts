// The keyvault protector against the fake: seal escrows the given passphrase, unseal fetches and unwraps it
// and hands it to the opener without it touching disk; with the key volume gone, unlock falls back to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { bekVolumeProtector, keyVaultProtector, unlockVolume } from '../../../src/keys/index.ts';
import type { KeyVolume } from '../../../src/system/bek-volume.ts';
import { cryptsetup } from '../../../src/system/cryptsetup.ts';

const luksOpener = (r: Runner) => async (device: string, name: string, key: Buffer) => { await cryptsetup(r).open(device, name, key); };
import type { Runner } from '../../../src/system/exec.ts';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { blockedConnections, useFakeAzure } from '../../../lab/fakes/env.ts';
import { encryptionSettings } from '../../helpers/settings.ts';
import { rsaUnwrap } from '../../../lab/fakes/vault.ts';

let fake: FakeAzure;
beforeAll(async () => { fake = await startFakeAzure(); useFakeAzure(fake); });
afterAll(async () => { await fake?.close(); });

const HOST = 'protvault.vault.azure.net';

describe('keyvault protector', () => {
  it('seal stores the given passphrase wrapped; unseal returns it; unlock pipes it to cryptsetup on stdin', async () => {
    const kek = fake.vault.createKey(HOST, 'kek');
    const log = memoryLogger();
    const p = keyVaultProtector({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: kek.url, algorithm: 'RSA1_5' }), machineName: 'vm', log });
    const passphrase = Buffer.from('a-passphrase-chosen-elsewhere-0123456789');
    const rec = await p.seal({ volume: { id: 'data0', fileName: 'LinuxPassPhraseFileName_1_0' }, passphrase });
    expect(rec).toMatchObject({ kind: 'keyvault', kekUrl: kek.url, algorithm: 'RSA1_5' });
    expect(rsaUnwrap(kek.privateKey, 'RSA1_5', Buffer.from(fake.vault.secret(rec.secretUrl)!.value, 'base64url'))).toEqual(passphrase);
    expect(await p.unseal(rec)).toEqual(passphrase);

    const emptyVolume: KeyVolume = { writeKey: async () => undefined, readKey: async () => undefined };
    const inputs: Buffer[] = [];
    const runner: Runner = async (file, args, opts) => { inputs.push(Buffer.from(opts!.input as Uint8Array)); return { exitCode: file === 'cryptsetup' && args[0] === 'open' ? 0 : 1, stdout: '', stderr: '' }; };
    const kind = await unlockVolume('/dev/sdc', 'data0', [
      { protector: bekVolumeProtector(emptyVolume, log), record: { kind: 'bek-volume', fileName: 'LinuxPassPhraseFileName_1_0', secretUrl: rec.secretUrl } },
      { protector: p, record: rec },
    ], luksOpener(runner), log);
    expect(kind).toBe('keyvault');
    expect(inputs).toEqual([passphrase]);
    expect(log.lines.join('\n')).not.toContain(passphrase.toString());
  });

  it('prepare fetches the KEK while the caller works; every later seal reuses it (one GET of the key per worker)', async () => {
    const kek = fake.vault.createKey(HOST, 'kek-prepared');
    const p = keyVaultProtector({ settings: encryptionSettings({ vaultHost: HOST, kekUrl: kek.url, algorithm: 'RSA-OAEP-256' }), machineName: 'vm', log: memoryLogger() });
    const keyGets = () => fake.log.of('vault').filter((r) => r.method === 'GET' && r.status === 200 && r.path.startsWith('/keys/kek-prepared')).length;
    const before = keyGets();
    await p.prepare!();
    expect(keyGets()).toBe(before + 1);
    const recs = [];
    for (const n of [0, 1]) recs.push(await p.seal({ volume: { id: `data${n}`, fileName: `LinuxPassPhraseFileName_1_${n}` }, passphrase: Buffer.from(`passphrase-number-${n}-0123456789abcdef`) }));
    expect(keyGets()).toBe(before + 1);
    expect(await p.unseal(recs[1]!)).toEqual(Buffer.from('passphrase-number-1-0123456789abcdef'));
  });

  it('a failed prepare leaves the error to seal, coded, and is not remembered', async () => {
    const settings = encryptionSettings({ vaultHost: HOST, kekUrl: `https://${HOST}/keys/no-such-kek/0123456789abcdef0123456789abcdef`, algorithm: 'RSA-OAEP-256' });
    const p = keyVaultProtector({ settings, machineName: 'vm', log: memoryLogger() });
    await expect(p.prepare!()).rejects.toThrow();
    await expect(p.seal({ volume: { id: 'data9', fileName: 'x' }, passphrase: Buffer.from('passphrase-never-stored-0123456789') })).rejects.toMatchObject({ code: expect.any(Number) });
  });

  it('nothing left loopback', () => { expect(blockedConnections).toEqual([]); });
});
