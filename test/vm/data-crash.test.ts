// Issue 5, crash safety on real dm-crypt: power cuts (SIGKILL of qemu) with a real kernel and a real boot
// afterwards, while the packaged extension's worker runs. (a) mid in-place encryption: systemd unlocks the
// half-encrypted volume from crypttab at boot, the agent's enable-after-boot restarts the worker from its
// journal, it finishes: success, every file intact. (b) mid decryption (the header exported to the OS disk):
// the same, back to plain ext4. Progress is read from the LUKS2 metadata the way the worker reads it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLuksDumpJson, reencryptDoneBytes } from '../../src/parsers/luksdump.ts';
import { sha256, sleep, type FileTree, type Vm } from '../../lab/vm.ts';
import { disableSettings, enableSettings, fstabByMount, GuestExtension, isOver, mountDataDisks, parseStatus, startDataGuest, STATE_DIR, type GuestAzure } from '../../lab/e2e.ts';

const files: FileTree = { 'big.bin': randomBytes(48 << 20), 'docs/readme.txt': 'must survive two power cuts\n' };
for (let i = 0; i < 24; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 4099);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const DATA_MiB = 192;

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let g: Awaited<ReturnType<typeof startDataGuest>> | undefined;
let fstabLine = '';

beforeAll(async () => {
  g = await startDataGuest({
    name: 'data-crash',
    disks: [{ name: 'data', kind: 'ext4', sizeMiB: DATA_MiB, files }, { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }],
    // ~20 s of reencryption writes whatever the host's speed: the cuts below land mid-way, not after the end.
    throttleMBps: { data: 8 },
  });
  ({ az, vm, ext } = g);
  // No Azure LUN link here (virtio): half-way through decryption the device has no LUKS UUID and ciphertext
  // at its head, so only its hardware name (/dev/disk/by-id/virtio-data) finds it again after the power cut.
  fstabLine = (await mountDataDisks(vm, [{ disk: 'data', mountpoint: '/data' }])).fstabLines['/data']!;
  expect((await ext.run('install')).code).toBe(0);
});

afterAll(async () => {
  await g?.stop();
});

/** Bytes done of the reencryption described by this LUKS2 metadata (device or exported header), if one runs. */
async function doneFraction(metaPath: string): Promise<number | undefined> {
  const r = await vm.exec(`cryptsetup luksDump --dump-json-metadata ${metaPath} 2>/dev/null`);
  if (r.code !== 0) return undefined;
  const meta = parseLuksDumpJson(r.stdout);
  const done = reencryptDoneBytes(meta);
  return done === undefined ? undefined : done / ((DATA_MiB - 32) * 1024 * 1024);
}

/** Starts the operation of `seq` and cuts the power once the metadata at `metaPath()` says ≥ `at` is done. */
async function enableAndCut(seq: number, metaPath: () => Promise<string | undefined>, at: number): Promise<number> {
  const en = await ext.run('enable');
  expect(en.code, en.stderr).toBe(0);
  expect(en.seq).toBe(seq);
  const deadline = Date.now() + 900_000;
  for (;;) {
    const p = await metaPath();
    const f = p ? await doneFraction(p) : undefined;
    if (f !== undefined && f >= at) { await vm.powerCut(); return f; }
    const s = await ext.status(seq);
    if (s && isOver(s)) throw new Error(`the operation ended before the cut: ${JSON.stringify(s)}\n${await ext.logTail()}`);
    if (Date.now() > deadline) throw new Error(`no reencryption progress seen\n${await ext.logTail()}`);
    await sleep(300);
  }
}

describe('power cuts during the worker\'s reencryption', () => {
  it('(a) mid in-place encryption: boot unlocks from crypttab, enable-after-boot resumes the worker, success, files intact', async () => {
    expect(await vm.hashTree('/data')).toEqual(expected);
    const seq = await ext.settings(enableSettings(az));
    const cutAt = await enableAndCut(seq, async () => (await vm.run('lab-dev data')).trim(), 0.2);
    expect(cutAt).toBeLessThan(1);

    await vm.start();
    // the cut really was mid-way: the header still describes an encryption in progress
    expect(await vm.run('cryptsetup luksDump "$(lab-dev data)"')).toMatch(/online-reencrypt/);
    // The cut came after the early success (the reencryption had started): the status says so, in progress.
    const st0 = parseStatus((await ext.status(seq))!);
    expect([st0.status, st0.state?.data]).toEqual(['success', 'EncryptionInProgress']);

    const boot = await ext.boot();
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.seq).toBe(seq);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'Encrypted' });
    expect(st.volumes?.map((v) => [v.mountpoint, v.state])).toEqual([['/data', 'Encrypted']]);

    const dump = await vm.run('cryptsetup luksDump "$(lab-dev data)"');
    expect(dump).toMatch(/^Version:\s+2$/m);
    expect(dump).toMatch(/cipher:\s+aes-xts-plain64/);
    expect(dump).not.toMatch(/online-reencrypt/);
    const uuid = (await vm.run('cryptsetup luksUUID "$(lab-dev data)"')).trim();
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toBe(`/dev/mapper/ade-${uuid}`);
    expect(await vm.hashTree('/data')).toEqual(expected);
    expect((await vm.run(`e2fsck -fn /dev/mapper/ade-${uuid} >/dev/null 2>&1 && echo CLEAN || (mount -o remount,ro /data; e2fsck -fn /dev/mapper/ade-${uuid} >/dev/null 2>&1 && echo CLEAN_RO; mount -o remount,rw /data)`)).trim()).toMatch(/CLEAN/);
    // one escrowed secret (name) for the volume, even though the worker ran twice
    const puts = az.fake.log.of('vault').filter((r) => r.method === 'PUT' && r.path.startsWith('/secrets/'));
    expect(new Set(puts.map((r) => r.path)).size).toBe(1);
    expect(await vm.run('cat /etc/crypttab')).toMatch(new RegExp(`^ade-${uuid}\\s+UUID=${uuid}\\s+/mnt/azure_bek_disk/LinuxPassPhraseFileName_0_0\\s`, 'm'));
  });

  it('(b) mid decryption: the exported header reopens it at boot, the worker resumes, plain ext4 with the same files', async () => {
    const seq = await ext.settings(disableSettings());
    const header = async (): Promise<string | undefined> => {
      const r = await vm.exec(`ls ${STATE_DIR}/volumes/*.luks-header 2>/dev/null`);
      return r.code === 0 ? r.stdout.trim().split('\n')[0] : undefined;
    };
    const cutAt = await enableAndCut(seq, header, 0.2);
    expect(cutAt).toBeLessThan(1);

    await vm.start();
    const h = await header();
    expect(h).toBeDefined();
    expect(await vm.run(`cryptsetup luksDump ${h}`)).toMatch(/online-reencrypt/);
    // the decrypting crypttab line names the disk by its hardware, not by this boot's /dev/vdX
    expect(await vm.run('cat /etc/crypttab')).toMatch(/^ade-\S+\s+\/dev\/disk\/by-id\/virtio-data\s+\S+\s+\S*header=/m);
    const st0 = parseStatus((await ext.status(seq))!);
    expect([st0.status, st0.state?.data]).toEqual(['success', 'DecryptionInProgress']);

    const boot = await ext.boot();
    expect(boot.code, boot.stderr).toBe(0);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'NotEncrypted' });

    expect(await vm.hashTree('/data')).toEqual(expected);
    expect((await vm.exec('cryptsetup isLuks "$(lab-dev data)"')).code).not.toBe(0);
    expect(await vm.run('blkid -o value -s TYPE "$(lab-dev data)"')).toBe('ext4\n');
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toBe((await vm.run('lab-dev data')).trim());
    expect(fstabByMount(await vm.run('cat /etc/fstab'))['/data']).toBe(fstabLine);
    expect(await vm.run('cat /etc/crypttab')).not.toMatch(/ade-/);
    expect((await vm.exec(`ls ${STATE_DIR}/volumes/*.luks-header`)).code).not.toBe(0);
  });
});
