// Issue 4 in the lab, on real dm-crypt: Key Vault faults stop the packaged extension before any disk is
// touched; a KEK rotation re-wraps the key without re-encrypting and retires the old secret only after the
// new one is proven; with the key volume detached, the boot-time network unlock opens the volume from Key
// Vault (through the rotated secret) and mounts it; the passphrase is on no disk but the key volume.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsaUnwrap } from '../fakes/vault.ts';
import { BEK_DIR, GuestExtension, bootVmPerConnection, STATE_DIR, VAULT_HOST, enableSettings, findInFile, mountDataDisks, parseStatus, startGuestAzure, type GuestAzure } from './e2e.ts';
import { readVfatFile, type Vm } from './lab.ts';

const FILES: Record<string, string | Buffer> = { 'docs/readme.txt': 'ade-linux keys lab\n', 'blob.bin': randomBytes(3 << 20), 'deep/a/b/c.txt': 'c\n' };
interface Rec { mapperName: string; luksUuid: string; fileName: string; secretUrl: string; kekUrl?: string; algorithm?: string; state: string }

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let before: Record<string, string>;
let rec: Rec;
let bekImage: string;

const records = async (): Promise<Rec[]> => {
  const files = (await vm.run(`ls ${STATE_DIR}/volumes/ | grep '\\.json$' || true`)).split('\n').filter(Boolean);
  return Promise.all(files.map(async (f) => JSON.parse((await vm.readFile(`${STATE_DIR}/volumes/${f}`)).toString()) as Rec));
};
const isLuks = async () => (await vm.exec('cryptsetup isLuks "$(lab-dev data1)"')).code === 0;

beforeAll(async () => {
  az = await startGuestAzure();
  // One host connection per guest connection (see e2e.ts: the lab's guestfwd form carries only one).
  vm = await bootVmPerConnection({
    flavour: 'full', name: 'keys-unlock', guestfwd: [az.fwd],
    disks: [{ name: 'data1', kind: 'ext4', sizeMiB: 96, files: FILES }, { name: 'bek', kind: 'vfat', label: 'BEK VOLUME' }],
  });
  ext = await GuestExtension.install(vm, az);
  await mountDataDisks(vm, [{ disk: 'data1', mountpoint: '/data1' }]);
  before = await vm.hashTree('/data1');
  expect(Object.keys(before).length).toBeGreaterThanOrEqual(3);
  expect((await ext.run('install')).code).toBe(0);
});
afterAll(async () => { await vm?.destroy(); await az?.close(); });

describe('Key Vault in the lab, through the packaged extension', () => {
  it.each([
    { fault: 'the identity may not set secrets', code: 303, expect: /lacks permission secrets\/set on vault .*lab-kv/, set: () => az.fake.vault.faults.forbidden.add('secrets/set') },
    { fault: 'the KEK is disabled', code: 305, expect: /is disabled or expired/, set: () => az.fake.vault.setKeyAttributes(az.kek.url, { enabled: false }) },
    { fault: 'the vault is unreachable', code: 302, expect: /cannot be reached/, set: () => { az.fake.vault.faults.unreachable = true; } },
  ])('stops before any disk is touched when $fault (code $code)', async (c) => {
    c.set();
    try {
      const seq = await ext.settings(enableSettings(az));
      expect((await ext.run('enable')).code).toBe(0);
      const s = parseStatus(await ext.waitTerminal(seq));
      expect([s.status, s.code]).toEqual(['error', c.code]);
      expect(s.message).toMatch(c.expect);
    } finally {
      az.fake.vault.resetFaults();
      az.fake.vault.setKeyAttributes(az.kek.url, { enabled: true });
    }
    expect(await isLuks()).toBe(false);
    expect(await vm.run('findmnt -n -o SOURCE /data1')).not.toMatch(/mapper/);
    expect(await vm.hashTree('/data1')).toEqual(before);
  });

  it('encrypts with KEK A, then rotates to KEK B without touching the data, retiring A\'s secret last', async () => {
    const seqA = await ext.settings(enableSettings(az));
    expect((await ext.run('enable')).code).toBe(0);
    expect(parseStatus(await ext.waitTerminal(seqA))).toMatchObject({ status: 'success', code: 0, state: { data: 'Encrypted' } });
    [rec] = await records() as [Rec];
    expect(rec).toMatchObject({ state: 'encrypted', kekUrl: az.kek.url, algorithm: 'RSA-OAEP-256' });
    const dumpA = await vm.run('cryptsetup luksDump "$(lab-dev data1)" | grep -E "^UUID|^Keyslots|^  [0-9]: luks2"');

    const kekB = az.fake.vault.createKey(VAULT_HOST, 'kek-b');
    az.fake.log.clear();
    const seqB = await ext.settings({ ...enableSettings(az), KeyEncryptionKeyURL: kekB.url, KeyEncryptionAlgorithm: 'RSA-OAEP' });
    expect((await ext.run('enable')).code).toBe(0);
    const s = parseStatus(await ext.waitTerminal(seqB));
    expect(s).toMatchObject({ status: 'success', code: 0 });
    expect(s.message).toContain(`Re-wrapped the keys of 1 already encrypted volume(s) with ${kekB.url}; their old secrets are disabled.`);
    const [after] = await records() as [Rec];
    expect(after).toMatchObject({ luksUuid: rec.luksUuid, kekUrl: kekB.url, algorithm: 'RSA-OAEP' });
    expect(after.secretUrl).not.toBe(rec.secretUrl);
    // Same LUKS header and keyslots: nothing was re-encrypted, the passphrase is the one on the key volume.
    expect(await vm.run('cryptsetup luksDump "$(lab-dev data1)" | grep -E "^UUID|^Keyslots|^  [0-9]: luks2"')).toBe(dumpA);
    const keyFile = (await vm.readFile(`${BEK_DIR}/${rec.fileName}`)).toString();
    const fresh = az.fake.vault.secret(after.secretUrl)!;
    expect(fresh.contentType).toBe('Wrapped BEK');
    expect(rsaUnwrap(kekB.privateKey, 'RSA-OAEP', Buffer.from(fresh.value, 'base64url')).toString()).toBe(keyFile);
    expect(az.fake.vault.secret(rec.secretUrl)!.attributes.enabled).toBe(false);
    // Order on the wire: new secret stored and read back, then the old one disabled.
    const vaultOps = az.fake.log.of('vault').map((r) => `${r.method} ${r.path.split('/').slice(1, 3).join('/')}`);
    const setNew = vaultOps.findIndex((o) => o.startsWith('PUT secrets/'));
    const disableOld = vaultOps.findIndex((o) => o.startsWith('PATCH secrets/'));
    expect(setNew).toBeGreaterThanOrEqual(0);
    expect(disableOld).toBeGreaterThan(setNew);
    rec = after;
    expect(await vm.hashTree('/data1')).toEqual(before);
  });

  it('opens and mounts the volume from Key Vault at boot when the key volume is missing', async () => {
    await vm.shutdown();
    bekImage = vm.diskPath('bek');
    vm.detach('bek');
    az.fake.log.clear();
    await vm.start();
    const unit = await vm.exec('systemctl is-active ade-linux-unlock.service; journalctl -q --no-pager -b -u ade-linux-unlock.service | tail -20');
    const log = await vm.run('grep -E "\\[unlock:" /var/log/azure/*/extension.log | tail -5');
    expect(unit.stdout.split('\n')[0], `${unit.stdout}\n${log}`).toBe('active');
    expect(log).toContain('with the keyvault protector');
    expect(await vm.run('findmnt -n -o SOURCE /data1')).toMatch(new RegExp(`^/dev/mapper/${rec.mapperName}$`, 'm'));
    expect(await vm.hashTree('/data1')).toEqual(before);
    const gets = az.fake.log.of('vault').filter((r) => r.method === 'GET' && r.path.startsWith('/secrets/'));
    expect(gets.map((r) => `https://${r.host}${r.path}`)).toContain(rec.secretUrl);
  });

  it('leaves the passphrase on no disk but the key volume', async () => {
    const key = await readVfatFile(bekImage, rec.fileName);
    expect(key.length).toBeGreaterThanOrEqual(32);
    await vm.shutdown();
    expect(await findInFile(vm.diskPath('os'), [key])).toEqual([]);
    expect(await findInFile(vm.diskPath('data1'), [key])).toEqual([]);
  });
});
