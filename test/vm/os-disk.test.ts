// The OS disk, encrypted in place by the packaged extension as the guest agent drives it, on a grub-booted
// disk shaped like Ubuntu 24.04's Azure image (/boot on p16): enable with VolumeType All and a mounted data
// disk → the extension escrows the key, writes the detached header on /boot, installs its initramfs hook and
// restarts the VM itself (OVMF) → the initramfs opens the root as /dev/mapper/osencrypt → the agent's enable
// after the boot resumes the worker, which encrypts the root online to Encrypted, then the data disk. A marker
// tree on the root is byte-identical throughout. The guest has 1 GiB of memory: nothing of the root is copied
// into RAM, and cryptsetup's hotzone is bounded. Then a new kernel package is installed and booted, this time
// by SeaBIOS (the hybrid disk's other grub): its initramfs, built by the package, opens the root from the key
// volume, and the data disk is unlocked at boot. (The enable's restart under SeaBIOS in this layout is
// test/vm/os-crash.test.ts's; one guest here keeps CI inside its time budget.)
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256, type Firmware } from '../../lab/vm.ts';
import { expectRunning, installCloudKernel } from '../helpers/new-kernel.ts';
import { bootFirmware, enableSettings, isOver, mountDataDisks, parseStatus, startOsGuest, STATE_DIR, writeMarkerTree } from '../../lab/e2e.ts';

const MARKER = '/opt/marker';
const files: Record<string, Buffer> = { 'big.bin': randomBytes(24 << 20), 'etc/app.conf': Buffer.from('must survive the restart\n') };
for (let i = 0; i < 8; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const dataFiles: Record<string, Buffer> = { 'data.bin': randomBytes(8 << 20), 'notes.txt': Buffer.from('a data volume beside the OS disk\n') };
const dataExpected = Object.fromEntries(Object.entries(dataFiles).map(([k, v]) => [k, sha256(v)]));

const OPENED = /ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/;

const stops: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(stops.map((s) => s())); });

describe('OS disk, /boot on its own partition, UEFI then BIOS, 1 GiB of memory', () => {
  it('enable All → the VM restarts itself → up on the encrypted root → Encrypted, then the data; a new kernel boots encrypted', async () => {
    const firmware: Firmware = 'uefi';
    const memMiB = 1024;
    const g = await startOsGuest({
      name: 'os-boot', layout: 'boot', firmware, memMiB,
      disks: [{ name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }, { name: 'data', kind: 'ext4', sizeMiB: 96, files: dataFiles }],
    });
    stops.push(g.stop);
    const { vm, ext } = g;
    expect(await writeMarkerTree(vm, MARKER, files)).toEqual(expected);
    await mountDataDisks(vm, [{ disk: 'data', mountpoint: '/data' }]);
    expect((await ext.run('install')).code).toBe(0);

    const seq = await ext.settings({ ...enableSettings(g.az), VolumeType: 'All' });
    const rebooted = vm.waitGuestReboot(900_000);
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    await rebooted;

    // The status the worker left before it restarted the VM, and the boot the initramfs made.
    const before = parseStatus((await ext.status(seq))!);
    expect(before.state?.os).toBe('VMRestartPending');
    expect(before.status).toBe('transitioning');
    expect(vm.serialText()).toMatch(OPENED);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(await bootFirmware(vm)).toBe(firmware);
    expect(Number((await vm.run("awk '/^MemTotal/ { print $2 }' /proc/meminfo")).trim())).toBeLessThanOrEqual(memMiB * 1024);

    // The agent's enable after the boot: the worker resumes and reports success once the work is safe.
    expect((await ext.boot()).code).toBe(0);
    const done = await ext.waitDone(seq, { timeoutMs: 1_500_000, everyMs: 3000 });
    const end = parseStatus(done);
    expect(end.status, `${end.message}\n${await ext.logTail()}`).toBe('success');
    expect(end.state?.os).toBe('Encrypted');
    expect(end.volumes?.find((v) => v.mountpoint === '/')?.state).toBe('Encrypted');
    expect(isOver(done)).toBe(true);
    expect(end.state?.data, end.message).toBe('Encrypted');
    expect(end.volumes?.find((v) => v.mountpoint === '/data')?.state).toBe('Encrypted');
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toMatch(/^\/dev\/mapper\//);
    expect(await vm.hashTree('/data')).toMatchObject(dataExpected);

    expect(await vm.hashTree(MARKER)).toEqual(expected);
    const dump = JSON.parse(await vm.run('cryptsetup luksDump --dump-json-metadata /boot/luks/osluksheader')) as { segments: Record<string, { type: string }> };
    expect(Object.values(dump.segments).map((x) => x.type)).toEqual(['crypt']);
    // The raw partition shows no file system any more: ciphertext from its first byte.
    expect((await vm.exec('blkid -p -o value -s TYPE /dev/vda1')).stdout.trim()).toBe('');
    expect((await vm.run('cmp /boot/luks/osluksheader /boot/luks/osluksheader.backup && stat -c %a /boot/luks')).trim()).toBe('700');
    expect(await vm.run("awk '$2 == \"/\" { print $1 }' /etc/fstab")).toBe('/dev/mapper/osencrypt\n');
    expect((await vm.run(`ls ${STATE_DIR}/volumes`)).split('\n').filter(Boolean)).toContain('osencrypt.json');

    // A new kernel package, then a restart through SeaBIOS: the root and the data disk unlock without the extension.
    const newVer = await installCloudKernel(vm, 'initramfs-tools');
    const mark = vm.serialText().length;
    await vm.shutdown();
    vm.setFirmware('bios');
    await vm.start();
    await expectRunning(vm, newVer);
    expect(await bootFirmware(vm)).toBe('bios');
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(vm.serialText().slice(mark)).toMatch(OPENED);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toMatch(/^\/dev\/mapper\//);
    expect(await vm.hashTree('/data')).toMatchObject(dataExpected);
  }, 3_600_000);
});
