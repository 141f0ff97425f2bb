// Issue 5, end to end on real dm-crypt: the packaged extension, driven by the fake guest agent inside the full
// lab guest (systemd), encrypts two mounted ext4 data disks in place with Key Vault escrow (KEK RSA-OAEP-256,
// fakes on the host reached only through guestfwd), survives a reboot without the extension, ignores the
// agent's enable-after-boot, then decrypts them back.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsaUnwrap } from '../../lab/fakes/vault.ts';
import { bootVm, labLog, readVfatFile, sha256, type FileTree, type Vm } from '../../lab/vm.ts';
import {
  BEK_DIR, disableSettings, enableSettings, EXT_DIR, findInFile, fstabByMount, GuestExtension, mountDataDisks, parseStatus,
  startGuestAzure, VAULT_HOST, type GuestAzure, type VolumeRow,
} from '../../lab/e2e.ts';

const tree = (prefix: string, n: number, size: number): FileTree => {
  const t: FileTree = { [`${prefix}/readme.txt`]: `files of ${prefix}\n`, 'top.bin': randomBytes(size * 2) };
  for (let i = 0; i < n; i++) t[`${prefix}/sub${i % 3}/f${i}.bin`] = randomBytes(size + i * 997);
  return t;
};
const files1 = tree('one', 12, 300_000);
const files2 = tree('two', 8, 200_000);
const hashes = (t: FileTree): Record<string, string> => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, sha256(v)]));
const DISKS = [{ disk: 'data1', mountpoint: '/data1' }, { disk: 'data2', mountpoint: '/data2' }];

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let fstabBefore: Record<string, string>;
let crypttabBefore: string;
let enableSeq = 0;
let rows: VolumeRow[] = [];
const keyFiles: Record<string, string> = {}; // mountpoint → key file name
const mappers: Record<string, string> = {}; // mountpoint → /dev/mapper/ade-<uuid>

beforeAll(async () => {
  az = await startGuestAzure();
  vm = await bootVm({
    flavour: 'full', name: 'data-inplace',
    disks: [
      { name: 'data1', kind: 'ext4', sizeMiB: 80, files: files1 },
      { name: 'data2', kind: 'ext4', sizeMiB: 64, files: files2 },
      { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' },
    ],
    guestfwd: [az.fwd],
  });
  ext = await GuestExtension.install(vm, az);
  await mountDataDisks(vm, DISKS);
  fstabBefore = fstabByMount(await vm.run('cat /etc/fstab'));
  crypttabBefore = await vm.run('cat /etc/crypttab');
});

afterAll(async () => {
  await vm?.destroy();
  await az?.close();
});

async function assertEncryptedAndMounted(): Promise<void> {
  const out = await vm.run(`for m in /data1 /data2; do echo "$m $(findmnt -no SOURCE "$m")"; done; for d in data1 data2; do echo "$d $(blkid -o value -s TYPE "$(lab-dev $d)")"; done`);
  for (const { mountpoint } of DISKS) expect(out).toContain(`${mountpoint} ${mappers[mountpoint]}`);
  expect(out).toMatch(/^data1 crypto_LUKS$/m);
  expect(out).toMatch(/^data2 crypto_LUKS$/m);
  expect(await vm.hashTree('/data1')).toEqual(hashes(files1));
  expect(await vm.hashTree('/data2')).toEqual(hashes(files2));
}

describe('EnableEncryption (data, in place) → reboot → DisableEncryption through the packaged extension', () => {
  it('encrypts both mounted data disks with escrowed, KEK-wrapped keys; every file intact', async () => {
    expect(await vm.hashTree('/data1')).toEqual(hashes(files1));
    expect(await vm.hashTree('/data2')).toEqual(hashes(files2));
    expect((await ext.run('install')).code).toBe(0);
    enableSeq = await ext.settings(enableSettings(az));
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    const final = await ext.waitDone(enableSeq);
    const st = parseStatus(final);
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(final.status.operation).toBe('EnableEncryption');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'Encrypted' });
    rows = st.volumes ?? [];
    expect(rows.map((r) => r.mountpoint).sort()).toEqual(['/data1', '/data2']);
    for (const r of rows) {
      expect(r.state).toBe('Encrypted');
      expect(r.secretUrl).toMatch(new RegExp(`^https://${VAULT_HOST}/secrets/[0-9a-f-]{36}/[0-9a-f]{32}$`));
    }

    // on the disks: LUKS2, aes-xts-plain64, 512-bit key, no reencryption left
    for (const d of ['data1', 'data2']) {
      const dump = await vm.run(`cryptsetup luksDump "$(lab-dev ${d})"`);
      expect(dump).toMatch(/^Version:\s+2$/m);
      expect(dump).toMatch(/cipher:\s+aes-xts-plain64/);
      expect(dump).toMatch(/Cipher key:\s+512 bits/);
      expect(dump).not.toMatch(/online-reencrypt/);
    }
    // crypttab names each mapping with its key file on the BEK VOLUME; fstab mounts the mapping, nofail
    const crypttab = await vm.run('cat /etc/crypttab');
    const fstab = fstabByMount(await vm.run('cat /etc/fstab'));
    for (const { disk, mountpoint } of DISKS) {
      const luksUuid = (await vm.run(`cryptsetup luksUUID "$(lab-dev ${disk})"`)).trim();
      const name = `ade-${luksUuid}`;
      mappers[mountpoint] = `/dev/mapper/${name}`;
      const line = crypttab.split('\n').find((l) => l.startsWith(`${name} `));
      expect(line, crypttab).toBeDefined();
      const [, dev, keyfile, opts] = line!.trim().split(/\s+/);
      expect(dev).toBe(`UUID=${luksUuid}`);
      expect(keyfile).toMatch(new RegExp(`^${BEK_DIR}/LinuxPassPhraseFileName_0_\\d+$`));
      expect(opts!.split(',')).toEqual(expect.arrayContaining(['luks', 'nofail']));
      keyFiles[mountpoint] = keyfile!.slice(BEK_DIR.length + 1);
      expect(fstab[mountpoint]).toMatch(new RegExp(`^/dev/mapper/${name}\\s+${mountpoint}\\s+ext4\\s+\\S*nofail`));
    }
    expect(new Set(Object.values(keyFiles)).size).toBe(2);
    expect(fstab[BEK_DIR]).toMatch(/^LABEL=BEK\\040VOLUME\s+\/mnt\/azure_bek_disk\s.*nofail/);
    await assertEncryptedAndMounted();

    // Key Vault: one Wrapped BEK secret per volume with ADE's tags; the KEK's private key unwraps it to the key file's bytes
    const puts = az.fake.log.of('vault').filter((r) => r.method === 'PUT' && r.path.startsWith('/secrets/'));
    expect(new Set(puts.map((r) => r.path)).size).toBe(2);
    for (const r of rows) {
      const s = az.fake.vault.secret(r.secretUrl!);
      expect(s).toBeDefined();
      expect(s!.contentType).toBe('Wrapped BEK');
      const file = keyFiles[r.mountpoint!]!;
      expect(s!.tags).toMatchObject({
        DiskEncryptionKeyFileName: file, DiskEncryptionKeyEncryptionAlgorithm: 'RSA-OAEP-256',
        DiskEncryptionKeyEncryptionKeyURL: az.kek.url, MachineName: 'lab-full',
      });
      const unwrapped = rsaUnwrap(az.kek.privateKey, 'RSA-OAEP-256', Buffer.from(s!.value, 'base64url'));
      const onBek = await vm.readFile(`${BEK_DIR}/${file}`);
      expect(onBek.length).toBeGreaterThanOrEqual(32);
      expect(unwrapped.equals(onBek)).toBe(true);
      // and that key really opens the volume
      const disk = DISKS.find((d) => d.mountpoint === r.mountpoint)!.disk;
      expect((await vm.exec(`cryptsetup open --test-passphrase --key-file ${BEK_DIR}/${file} "$(lab-dev ${disk})"`)).code).toBe(0);
    }
    // the guest reached nothing but the fake's vault host (and IMDS) through the one forwarded port
    expect(az.fake.log.of('refused')).toEqual([]);
    expect(az.fake.log.of('imds').length).toBeGreaterThan(0);
  });

  it('leaves no passphrase on the OS disk; after a reboot both are unlocked and mounted at boot, with no agent call and no worker', async () => {
    await vm.shutdown();
    const keys = await Promise.all(Object.values(keyFiles).map((f) => readVfatFile(vm.diskPath('bek'), f)));
    expect(keys.length).toBe(2);
    // the raw OS disk image, every byte: neither passphrase (nor its base64) appears
    const needles = keys.flatMap((k) => [k, Buffer.from(k.toString('base64'))]);
    expect(await findInFile(vm.diskPath('os'), needles)).toEqual([]);

    await vm.start();
    await assertEncryptedAndMounted();
    // nothing of the extension ran on this boot
    expect((await vm.run(`systemctl list-units --all --no-legend 'ade-linux-worker*' | wc -l`)).trim()).toBe('0');
    // crypttab's units exist for both; which unlocked them depends on timing: systemd-cryptsetup, or (when the
    // key volume's 10 s device timeout expires first, as under TCG) the extension's boot-time ade-linux-unlock.service
    expect((await vm.run(`systemctl list-units --all --no-legend --plain 'systemd-cryptsetup@ade*' | wc -l`)).trim()).toBe('2');
    labLog(`boot unlock: ${(await vm.run('journalctl -b -q --no-pager -o cat -u ade-linux-unlock.service | grep -i "unlock finished" || echo "(no ade-linux-unlock run)"')).trim()}`);
  });

  it("the agent's enable after boot (same sequence number) changes nothing", async () => {
    const before = await vm.run(`cat ${EXT_DIR}/status/${enableSeq}.status /etc/fstab /etc/crypttab /var/lib/ade-linux/journal.json 2>/dev/null | sha256sum; for d in data1 data2; do cryptsetup luksDump "$(lab-dev $d)" | sha256sum; done`);
    const r = await ext.boot();
    expect(r.code, r.stderr).toBe(0);
    expect(r.seq).toBe(enableSeq);
    await new Promise((res) => setTimeout(res, 3000));
    const after = await vm.run(`cat ${EXT_DIR}/status/${enableSeq}.status /etc/fstab /etc/crypttab /var/lib/ade-linux/journal.json 2>/dev/null | sha256sum; for d in data1 data2; do cryptsetup luksDump "$(lab-dev $d)" | sha256sum; done`);
    expect(after).toBe(before);
    expect((await vm.run(`systemctl list-units --all --no-legend 'ade-linux-worker*' | wc -l`)).trim()).toBe('0');
    expect(parseStatus((await ext.status(enableSeq))!).status).toBe('success');
    await assertEncryptedAndMounted();
  });

  it('DisableEncryption decrypts both in place: files intact, no LUKS, fstab lines restored, crypttab entries gone', async () => {
    const seq = await ext.settings(disableSettings());
    expect(seq).toBe(enableSeq + 1);
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'NotEncrypted' });
    expect(st.volumes?.map((r) => [r.mountpoint, r.state]).sort()).toEqual([['/data1', 'NotEncrypted'], ['/data2', 'NotEncrypted']]);

    expect(await vm.hashTree('/data1')).toEqual(hashes(files1));
    expect(await vm.hashTree('/data2')).toEqual(hashes(files2));
    for (const { disk, mountpoint } of DISKS) {
      expect((await vm.exec(`cryptsetup isLuks "$(lab-dev ${disk})"`)).code).not.toBe(0);
      expect(await vm.run(`blkid -o value -s TYPE "$(lab-dev ${disk})"`)).toBe('ext4\n');
      expect((await vm.run(`findmnt -no SOURCE ${mountpoint}`)).trim()).toBe((await vm.run(`lab-dev ${disk}`)).trim());
    }
    const fstab = fstabByMount(await vm.run('cat /etc/fstab'));
    for (const { mountpoint } of DISKS) expect(fstab[mountpoint]).toBe(fstabBefore[mountpoint]);
    const crypttab = await vm.run('cat /etc/crypttab');
    expect(crypttab).not.toMatch(/ade-/);
    expect(crypttab.trim()).toBe(crypttabBefore.trim());
    expect((await vm.run('dmsetup ls --target crypt')).trim()).toMatch(/^(No devices found)?$/);
  });
});
