// Issue 4 in the lab, on real dm-crypt, through the packaged extension (its bundle, its Node, the fake guest
// agent): every Key Vault fault stops it before any disk is touched; a KEK rotation re-wraps the key without
// re-encrypting and retires the old secret only after the new one is proven — once per wrap algorithm and
// per credential kind (system- and user-assigned managed identity, AAD app with a secret and with the
// agent-delivered certificate), and through a transient throttle; with the key volume detached, the
// boot-time network unlock opens the volume from Key Vault with the last settings' credential and mounts it;
// the passphrase is on no disk but the key volume.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAppCert } from '../../lab/fakes/ca.ts';
import { rsaUnwrap } from '../../lab/fakes/vault.ts';
import { BEK_DIR, GuestExtension, STATE_DIR, VAULT_HOST, enableSettings, findInFile, mountDataDisks, parseStatus, startGuestAzure, type GuestAzure } from '../../lab/e2e.ts';
import { bootVm, readVfatFile, type Vm } from '../../lab/vm.ts';

const FILES: Record<string, string | Buffer> = { 'docs/readme.txt': 'ade-linux keys lab\n', 'blob.bin': randomBytes(3 << 20), 'deep/a/b/c.txt': 'c\n' };
interface Rec { mapperName: string; luksUuid: string; fileName: string; secretUrl: string; kekUrl?: string; algorithm?: string; state: string }

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let before: Record<string, string>;
let rec: Rec;
let bekImage: string;
let dumpA: string;
let kekCount = 0;
interface Cred { pub?: Record<string, string>; prot?: Record<string, string>; principal: string; throttled?: number }

const records = async (): Promise<Rec[]> => {
  const files = (await vm.run(`ls ${STATE_DIR}/volumes/ | grep '\\.json$' || true`)).split('\n').filter(Boolean);
  return Promise.all(files.map(async (f) => JSON.parse((await vm.readFile(`${STATE_DIR}/volumes/${f}`)).toString()) as Rec));
};
const isLuks = async () => (await vm.exec('cryptsetup isLuks "$(lab-dev data1)"')).code === 0;
const HEADER = 'cryptsetup luksDump "$(lab-dev data1)" | grep -E "^UUID|^Keyslots|^  [0-9]: luks2"';
/** The principals whose tokens the vault accepted since the log was last cleared. */
const principals = () => [...new Set(az.fake.log.of('vault').filter((r) => r.status === 200)
  .map((r) => az.fake.tokens.lookup((r.headers['authorization'] ?? '').replace('Bearer ', ''))?.principal.label))];

beforeAll(async () => {
  az = await startGuestAzure();
  vm = await bootVm({
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
    { fault: 'the KEK does not exist', code: 304, expect: /keys\/no-such-kek\/0123456789abcdef0123456789abcdef was not found/, kek: `https://${VAULT_HOST}/keys/no-such-kek/0123456789abcdef0123456789abcdef` },
    { fault: 'the KEK is disabled', code: 305, expect: /is disabled or expired/, set: () => az.fake.vault.setKeyAttributes(az.kek.url, { enabled: false }) },
    { fault: 'the vault is unreachable', code: 302, expect: /cannot be reached/, set: () => { az.fake.vault.faults.unreachable = true; } },
    { fault: 'the vault keeps throttling', code: 306, expect: /kept answering 429 after 5 attempts/, set: () => { az.fake.vault.faults.throttle = { count: 1000, status: 429, retryAfter: '1' }; } },
  ])('stops before any disk is touched when $fault (code $code)', async (c) => {
    c.set?.();
    try {
      const seq = await ext.settings({ ...enableSettings(az), ...(c.kek ? { KeyEncryptionKeyURL: c.kek } : {}) });
      expect((await ext.run('enable')).code).toBe(0);
      const s = parseStatus(await ext.waitDone(seq));
      expect([s.status, s.code]).toEqual(['error', c.code]);
      expect(s.message).toMatch(c.expect);
    } finally {
      az.fake.vault.resetFaults();
      az.fake.vault.setKeyAttributes(az.kek.url, { enabled: true });
    }
    expect(await isLuks()).toBe(false);
    expect((await vm.run('dmsetup ls --target crypt')).trim()).toBe('No devices found');
    expect(await vm.run('findmnt -n -o SOURCE /data1')).not.toMatch(/mapper/);
    expect(await vm.hashTree('/data1')).toEqual(before);
    expect(await records()).toEqual([]);
  });

  it('encrypts with KEK A (RSA-OAEP-256, system-assigned identity)', async () => {
    const seqA = await ext.settings(enableSettings(az));
    expect((await ext.run('enable')).code).toBe(0);
    expect(parseStatus(await ext.waitDone(seqA))).toMatchObject({ status: 'success', code: 0, state: { data: 'Encrypted' } });
    [rec] = await records() as [Rec];
    expect(rec).toMatchObject({ state: 'encrypted', kekUrl: az.kek.url, algorithm: 'RSA-OAEP-256' });
    dumpA = await vm.run(HEADER);
  });

  // Each row: a new KEK, a wrap algorithm and a credential; every rotation is a full escrow by the bundle
  // (token, wrap, store, read back, unwrap) of the volume's existing key, then the old secret is retired.
  it.each([
    { alg: 'RSA-OAEP', cred: 'system-assigned managed identity, through a transient 429 with Retry-After', setup: (): Cred => {
      az.fake.vault.faults.throttle = { count: 2, status: 429, retryAfter: '1', permission: 'secrets/set' };
      return { principal: 'system', throttled: 2 };
    } },
    { alg: 'RSA1_5', cred: 'user-assigned managed identity (client_id=…)', setup: (): Cred => {
      const u = az.fake.imds.addUserIdentity();
      return { pub: { EncryptionManagedIdentity: `client_id=${u.clientId}` }, principal: `user:${u.clientId}` };
    } },
    { alg: 'RSA-OAEP-256', cred: 'AAD application with a client secret (ADE 0.1)', setup: (): Cred => {
      const app = az.fake.aad.addApp({ clientId: 'aaaaaaaa-1111-2222-3333-444444444444', tenantId: az.fake.tenantId, secret: 'lab-app-s3cret~x' });
      return { pub: { AADClientID: app.clientId }, prot: { AADClientSecret: 'lab-app-s3cret~x' }, principal: `aad:${app.clientId}` };
    } },
    { alg: 'RSA-OAEP', cred: 'AAD application with the certificate the agent delivered (ADE 0.1)', setup: async (): Promise<Cred> => {
      const dir = mkdtempSync(join(tmpdir(), 'lab-appcert-'));
      try {
        const cert = makeAppCert(dir);
        for (const suffix of ['crt', 'prv']) await vm.writeFile(`/var/lib/waagent/${cert.thumbprint}.${suffix}`, readFileSync(join(dir, `${cert.thumbprint}.${suffix}`)), 0o600);
        const app = az.fake.aad.addApp({ clientId: 'bbbbbbbb-1111-2222-3333-444444444444', tenantId: az.fake.tenantId, certPem: cert.certPem });
        return { pub: { AADClientID: app.clientId, AADClientCertThumbprint: cert.thumbprint }, principal: `aad:${app.clientId}` };
      } finally { rmSync(dir, { recursive: true, force: true }); }
    } },
  ])('rotates to a new KEK with $alg as $cred, without touching the data, retiring the old secret last', async (c) => {
    const kek = az.fake.vault.createKey(VAULT_HOST, `kek-${++kekCount}`);
    const cred = await c.setup();
    az.fake.log.clear();
    let s: ReturnType<typeof parseStatus>;
    try {
      const seq = await ext.settings({ ...enableSettings(az), KeyEncryptionKeyURL: kek.url, KeyEncryptionAlgorithm: c.alg, ...cred.pub }, cred.prot);
      expect((await ext.run('enable')).code).toBe(0);
      s = parseStatus(await ext.waitDone(seq));
    } finally { az.fake.vault.resetFaults(); }
    expect(s).toMatchObject({ status: 'success', code: 0 });
    expect(s.message).toContain(`Re-wrapped the keys of 1 already encrypted volume(s) with ${kek.url}; their old secrets are disabled.`);
    const [after] = await records() as [Rec];
    expect(after).toMatchObject({ luksUuid: rec.luksUuid, kekUrl: kek.url, algorithm: c.alg });
    expect(after.secretUrl).not.toBe(rec.secretUrl);
    // Same LUKS header and keyslots: nothing was re-encrypted, the passphrase is the one on the key volume.
    expect(await vm.run(HEADER)).toBe(dumpA);
    const keyFile = (await vm.readFile(`${BEK_DIR}/${rec.fileName}`)).toString();
    const fresh = az.fake.vault.secret(after.secretUrl)!;
    expect(fresh.contentType).toBe('Wrapped BEK');
    expect(fresh.tags).toMatchObject({ DiskEncryptionKeyEncryptionAlgorithm: c.alg, DiskEncryptionKeyEncryptionKeyURL: kek.url, DiskEncryptionKeyFileName: rec.fileName });
    expect(rsaUnwrap(kek.privateKey, c.alg, Buffer.from(fresh.value, 'base64url')).toString()).toBe(keyFile);
    expect(az.fake.vault.secret(rec.secretUrl)!.attributes.enabled).toBe(false);
    // The vault saw tokens of exactly this credential.
    expect(principals()).toEqual([cred.principal]);
    // Order on the wire: new secret stored (after any throttled attempts) and read back, then the old one disabled.
    const vault = az.fake.log.of('vault');
    const puts = vault.filter((r) => r.method === 'PUT' && r.path.startsWith('/secrets/')).map((r) => r.status);
    expect(puts).toEqual([...Array<number>(cred.throttled ?? 0).fill(429), 200]);
    const setNew = vault.findIndex((r) => r.method === 'PUT' && r.status === 200);
    const disableOld = vault.findIndex((r) => r.method === 'PATCH' && r.path.startsWith('/secrets/'));
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
