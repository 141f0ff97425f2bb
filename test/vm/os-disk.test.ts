// The OS disk, encrypted in place by the packaged extension as the guest agent drives it, on a grub-booted
// disk shaped like Ubuntu 24.04's Azure image (/boot on p16), under SeaBIOS and under OVMF: enable with
// VolumeType OS → the extension escrows the key, writes the detached header on /boot, installs its initramfs
// hook and restarts the VM itself → the initramfs opens the root as /dev/mapper/osencrypt → the agent's
// enable after the boot resumes the worker, which encrypts online to Encrypted. A marker tree on the root is
// byte-identical throughout, and later boots unlock by themselves.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256, type Firmware } from '../../lab/vm.ts';
import { enableSettings, isOver, parseStatus, startOsGuest, STATE_DIR } from '../../lab/e2e.ts';

const MARKER = '/opt/marker';
const files: Record<string, Buffer> = { 'big.bin': randomBytes(24 << 20), 'etc/app.conf': Buffer.from('must survive the restart\n') };
for (let i = 0; i < 8; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));

const stops: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(stops.map((s) => s())); });

describe.each<[Firmware]>([['bios'], ['uefi']])('OS disk, /boot on its own partition, %s', (firmware) => {
  it('enable OS → the VM restarts itself → up on the encrypted root → Encrypted, marker intact, later boots unlock unaided', async () => {
    const g = await startOsGuest({ name: `os-boot-${firmware}`, layout: 'boot', firmware });
    stops.push(g.stop);
    const { vm, ext } = g;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'os-marker-'));
    for (const [name, data] of Object.entries(files)) { fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true }); fs.writeFileSync(path.join(dir, name), data); }
    await vm.copyIn(dir, MARKER);
    fs.rmSync(dir, { recursive: true, force: true });
    await vm.run('sync');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    expect((await ext.run('install')).code).toBe(0);

    const seq = await ext.settings({ ...enableSettings(g.az), VolumeType: 'OS' });
    const rebooted = vm.waitGuestReboot(900_000);
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    await rebooted;

    // The status the worker left before it restarted the VM, and the boot the initramfs made.
    const before = parseStatus((await ext.status(seq))!);
    expect(before.state?.os).toBe('VMRestartPending');
    expect(before.status).toBe('transitioning');
    expect(vm.serialText()).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect((await vm.run('test -d /sys/firmware/efi && echo uefi || echo bios')).trim()).toBe(firmware);

    // The agent's enable after the boot: the worker resumes and reports success once the work is safe.
    expect((await ext.boot()).code).toBe(0);
    const done = await ext.waitDone(seq, { timeoutMs: 1_500_000, everyMs: 3000 });
    const end = parseStatus(done);
    expect(end.status, `${end.message}\n${await ext.logTail()}`).toBe('success');
    expect(end.state?.os).toBe('Encrypted');
    expect(end.volumes?.find((v) => v.mountpoint === '/')?.state).toBe('Encrypted');
    expect(isOver(done)).toBe(true);

    expect(await vm.hashTree(MARKER)).toEqual(expected);
    const dump = JSON.parse(await vm.run('cryptsetup luksDump --dump-json-metadata /boot/luks/osluksheader')) as { segments: Record<string, { type: string }> };
    expect(Object.values(dump.segments).map((x) => x.type)).toEqual(['crypt']);
    // The raw partition shows no file system any more: ciphertext from its first byte.
    expect((await vm.exec('blkid -p -o value -s TYPE /dev/vda1')).stdout.trim()).toBe('');
    expect((await vm.run('cmp /boot/luks/osluksheader /boot/luks/osluksheader.backup && stat -c %a /boot/luks')).trim()).toBe('700');
    expect(await vm.run("awk '$2 == \"/\" { print $1 }' /etc/fstab")).toBe('/dev/mapper/osencrypt\n');
    expect(await vm.run(`ls ${STATE_DIR}/volumes`)).toBe('osencrypt.json\n');

    // A later restart unlocks from the key volume without the extension.
    await vm.reboot();
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
  });
});
