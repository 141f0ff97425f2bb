// ARM gives all of a VM's extensions a time budget (extensionsTimeBudget, 90 minutes by default) to report a
// terminal status; a deployment that waits longer fails with VMExtensionProvisioningTimeout while the work
// goes on. Here the budget is 60 s and the data disk's writes are throttled so that its encryption takes
// longer: the packaged extension must report success inside the budget, once the work is safe, keep the same
// status file up to date until the substatus says Encrypted, and heal by itself after a power cut that comes
// after the early success. The settings are az's own (`az vm encryption enable --volume-type DATA` without a
// KEK, test/helpers/client-settings.ts), with the lab's vault: the key is escrowed as ADE escrows it without a
// KEK (content type BEK, the passphrase in base64, ADE's tags).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLuksDumpJson, reencryptDoneBytes } from '../../src/parsers/luksdump.ts';
import { sha256, sleep, type FileTree, type Vm } from '../../lab/vm.ts';
import { BEK_DIR, GuestExtension, isOver, mountDataDisks, parseStatus, startDataGuest, VAULT_RESOURCE_ID, VAULT_URL, type GuestAzure } from '../../lab/e2e.ts';
import { CLIENT_SETTINGS } from '../helpers/client-settings.ts';

const BUDGET_MS = 60_000;
const AZ_NO_KEK = CLIENT_SETTINGS.find((c) => c.client === 'az vm encryption enable (no KEK, --volume-type ALL)')!;
/** What `az vm encryption enable -g RG -n VM --disk-encryption-keyvault lab-kv --volume-type DATA` sends. */
const azSettings = (): Record<string, unknown> => ({ ...AZ_NO_KEK.publicSettings, VolumeType: 'DATA', KeyVaultURL: VAULT_URL.replace(/\/$/, ''), KeyVaultResourceId: VAULT_RESOURCE_ID });
const DATA_MiB = 256;
const files: FileTree = { 'big.bin': randomBytes(64 << 20), 'docs/readme.txt': 'must survive the budget and a power cut\n' };
for (let i = 0; i < 16; i++) files[`many/f${i}.bin`] = randomBytes(200_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let g: Awaited<ReturnType<typeof startDataGuest>> | undefined;

beforeAll(async () => {
  g = await startDataGuest({
    name: 'arm-budget',
    disks: [{ name: 'data', kind: 'ext4', sizeMiB: DATA_MiB, files }, { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }],
    // 224 MiB to reencrypt at 2 MB/s: about two minutes, twice the budget, whatever the host's speed.
    throttleMBps: { data: 2 },
  });
  ({ az, vm, ext } = g);
  await mountDataDisks(vm, [{ disk: 'data', mountpoint: '/data' }]);
  expect((await ext.run('install')).code).toBe(0);
});

afterAll(async () => {
  await g?.stop();
});

/** Fraction of the data reencrypted, from the LUKS2 metadata on the disk; undefined when none runs. */
async function doneFraction(): Promise<number | undefined> {
  const r = await vm.exec('cryptsetup luksDump --dump-json-metadata "$(lab-dev data)" 2>/dev/null');
  if (r.code !== 0) return undefined;
  const done = reencryptDoneBytes(parseLuksDumpJson(r.stdout));
  return done === undefined ? undefined : done / ((DATA_MiB - 32) * 1024 * 1024);
}

describe('a deployment inside ARM\'s time budget', () => {
  it('sees success within the budget while the encryption goes on, survives a power cut after it, and ends Encrypted', async () => {
    expect(await vm.hashTree('/data')).toEqual(expected);
    const sent = azSettings();
    expect([sent.KeyEncryptionKeyURL, sent.KekVaultResourceId, sent.KeyEncryptionAlgorithm]).toEqual([null, '', 'RSA-OAEP']);
    const seq = await ext.settings(sent);
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);

    const { status, ms } = await ext.waitDeployed(seq, BUDGET_MS);
    const early = parseStatus(status);
    expect(early.status, `${early.message}\n${await ext.logTail()}`).toBe('success');
    expect(early.state).toEqual({ os: 'NotEncrypted', data: 'EncryptionInProgress' });
    expect(early.volumes?.map((v) => [v.mountpoint, v.state])).toEqual([['/data', 'EncryptionInProgress']]);
    expect(ms).toBeLessThan(BUDGET_MS);
    // The success came before the end: the disk is still being reencrypted.
    const atSuccess = await doneFraction();
    expect(atSuccess).toBeDefined();
    expect(atSuccess!).toBeLessThan(1);

    // The same status file follows the work: the percent goes up while it stays success.
    let percent = -1;
    for (const end = Date.now() + 600_000; ;) {
      const s = await ext.status(seq);
      if (s && isOver(s)) throw new Error(`it ended before the power cut: ${JSON.stringify(s)}`);
      const p = s && parseStatus(s);
      expect(p?.status).toBe('success');
      percent = p?.volumes?.[0]?.percent ?? percent;
      const f = await doneFraction();
      if (f !== undefined && f >= 0.3 && percent > 0) break;
      if (Date.now() > end) throw new Error(`no progress\n${await ext.logTail()}`);
      await sleep(1000);
    }
    await vm.powerCut();

    await vm.start();
    expect(await vm.run('cryptsetup luksDump "$(lab-dev data)"')).toMatch(/online-reencrypt/);
    const boot = await ext.boot();
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.seq).toBe(seq);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'Encrypted' });
    expect(st.volumes?.map((v) => [v.mountpoint, v.state])).toEqual([['/data', 'Encrypted']]);
    expect(await vm.run('cryptsetup luksDump "$(lab-dev data)"')).not.toMatch(/online-reencrypt/);
    expect(await vm.hashTree('/data')).toEqual(expected);

    // Escrowed as ADE does without a KEK: content type BEK, the key file's bytes in base64, ADE's tags.
    const secretUrl = st.volumes?.[0]?.secretUrl;
    expect(secretUrl).toMatch(/^https:\/\/lab-kv\.vault\.azure\.net\/secrets\//);
    const secret = az.fake.vault.secret(secretUrl!)!;
    const fileName = (await vm.run('cat /etc/crypttab')).match(/\/mnt\/azure_bek_disk\/(\S+)/)![1]!;
    const onBek = await vm.readFile(`${BEK_DIR}/${fileName}`);
    expect(secret.contentType).toBe('BEK');
    expect(Buffer.from(secret.value, 'base64').equals(onBek)).toBe(true);
    expect(secret.tags['DiskEncryptionKeyFileName']).toBe(fileName);
    expect(secret.tags['MachineName']).toBeTruthy();
    expect(secret.tags['DiskEncryptionKeyEncryptionKeyURL']).toBeUndefined();
  });
});
