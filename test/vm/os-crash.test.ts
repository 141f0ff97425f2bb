// Power cuts while the OS disk is being encrypted, each followed by a boot that must come up by itself and an
// enable (the agent's, after every boot) that must finish the job with the marker tree byte-identical:
//   1. in the initramfs step: while update-initramfs rebuilds the initramfs, before the restart;
//   2. early in the online phase: in the first hotzones after the restart (and the recovery passphrase, added
//      before the reencryption began, opens the header then);
//   3. late in the online phase: past 80%.
// The initramfs opens the disk with /boot mounted read-write, so cryptsetup repairs the interrupted hotzone
// before the root is mounted; the worker then resumes from the header's metadata.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labLog, sha256, sleep, type Vm } from '../../lab/vm.ts';
import { enableSettings, parseStatus, recoveryPassphrase, startOsGuest, writeMarkerTree, type GuestAzure, type GuestExtension } from '../../lab/e2e.ts';

const MARKER = '/opt/marker';
const files: Record<string, Buffer> = { 'big.bin': randomBytes(16 << 20), 'note.txt': Buffer.from('survives every cut\n') };
for (let i = 0; i < 6; i++) files[`many/f${i}.bin`] = randomBytes(150_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));

let vm: Vm;
let ext: GuestExtension;
let az: GuestAzure;
let seq = 0;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const g = await startOsGuest({ name: 'os-crash', layout: 'boot', firmware: 'bios' });
  ({ vm, ext, az, stop } = g);
  expect(await writeMarkerTree(vm, MARKER, files)).toEqual(expected);
  expect((await ext.run('install')).code).toBe(0);
  seq = await ext.settings({ ...enableSettings(g.az), VolumeType: 'OS' });
});
afterAll(async () => { await stop?.(); });

/** Polls the guest until `probe` says yes (a command that fails or a reboot in between counts as no). */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 900_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(1000)) {
    if (await probe().catch(() => false)) return;
  }
  throw new Error(`never saw ${what}`);
}

async function percent(): Promise<number> {
  const s = await ext.status(seq);
  return s ? (parseStatus(s).volumes?.find((v) => v.mountpoint === '/')?.percent ?? -1) : -1;
}

async function rootSource(): Promise<string> {
  return (await vm.run('findmnt -no SOURCE /')).trim();
}

describe('power cuts during OS disk encryption', () => {
  it('1. a cut while the initramfs is rebuilt: the next boot comes up, and the enable after it restarts the VM itself', async () => {
    expect((await ext.run('enable')).code).toBe(0);
    await until('update-initramfs running', async () => (await vm.exec('pgrep -f mkinitramfs')).code === 0);
    await sleep(3000);
    await vm.powerCut();
    await vm.start();
    expect(['/dev/vda1', '/dev/mapper/osencrypt']).toContain(await rootSource());
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    if (await rootSource() === '/dev/mapper/osencrypt') {
      labLog('the rebuilt initramfs was complete before the cut: the boot already opened the disk');
      expect((await ext.boot()).code).toBe(0);
    } else {
      const rebooted = vm.waitGuestReboot(900_000);
      expect((await ext.boot()).code).toBe(0);
      await rebooted;
    }
    expect(await rootSource()).toBe('/dev/mapper/osencrypt');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
  });

  /** The agent's enable after the last boot, a cut once the reencryption is `pct` done, and the next boot. */
  async function cutAt(pct: number): Promise<void> {
    expect((await ext.boot()).code).toBe(0);
    await until(`${pct}% of the reencryption`, async () => (await percent()) >= pct);
    const since = vm.serialText().length;
    await vm.powerCut();
    await vm.start();
    expect(vm.serialText().slice(since)).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt/);
    expect(await rootSource()).toBe('/dev/mapper/osencrypt');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
  }

  it('2. a cut early in the online reencryption: the boot repairs the hotzone and opens the root; the recovery passphrase opens it too', async () => {
    await cutAt(1);
    // Mid-reencryption (no enable has resumed it since the boot): the header's keyslots already take the
    // recovery passphrase, for both the old and the new key (the header began as cipher_null).
    const header = '/boot/luks/osluksheader';
    expect(await vm.run(`cryptsetup luksDump ${header} | grep -c 'online-reencrypt' || true`)).not.toBe('0\n');
    const rec = await recoveryPassphrase(az, vm);
    const opens = (pass: string) => vm.exec(`umask 077; printf '%s' '${pass}' > /run/rec; cryptsetup open --test-passphrase --header ${header} --key-file /run/rec /dev/vda1; rc=$?; rm -f /run/rec; exit $rc`);
    expect((await opens(rec.passphrase)).code).toBe(0);
    expect((await opens('000000-111111-222222-333333-444444-555555-666666-777777')).code).not.toBe(0);
    // the progress counts only what is AES already, not the cipher_null side
    expect(await percent()).toBeLessThan(80);
  });

  it('3. a cut late in the online reencryption, then the enable after the boot finishes: Encrypted, every file intact', async () => {
    await cutAt(80);
    expect((await ext.boot()).code).toBe(0);
    const end = parseStatus(await ext.waitDone(seq, { timeoutMs: 1_500_000, everyMs: 3000 }));
    expect(end.status, `${end.message}\n${await ext.logTail()}`).toBe('success');
    expect(end.state?.os).toBe('Encrypted');
    expect((await vm.exec('blkid -p -o value -s TYPE /dev/vda1')).stdout.trim()).toBe('');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    await vm.reboot();
    expect(await rootSource()).toBe('/dev/mapper/osencrypt');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
  });
});
