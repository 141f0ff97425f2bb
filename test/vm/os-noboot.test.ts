// The OS disk of an image without a /boot partition (Debian 12 and Ubuntu 22.04 on Azure: p14 BIOS boot, p15
// ESP, ext4 root on p1 to the end of the disk), encrypted in place by the packaged extension as the guest agent
// drives it. At the one restart the initramfs splits a 1 GiB /boot off the end of the root (e2fsck, resize2fs,
// sfdisk, mke2fs with the UUID chosen before, a copy of /boot) and opens the root from its detached header;
// after the boot the worker installs grub again for the new /boot, then encrypts online.
//   One guest (CI's time budget; its boots go through both grubs of the hybrid disk), UEFI with 1 GiB of
//   memory: the restart deferred, and the root
//   filled past what the split leaves it before the operator's restart: the initramfs refuses the split and
//   boots the plaintext root unchanged, the enable says why (607); the file removed, power cuts during the split (in
//   resize2fs, between the two partition-table edits, in the copy of /boot), every boot after a cut comes up by
//   itself and the enable after it finishes, marker intact; then a restart that can only boot through the new
//   /boot (the root is ciphertext), into a new kernel package installed since, with the key volume detached:
//   the initramfs opens the root with the key from Key Vault, over the network; and with the vault refusing
//   too, booted by SeaBIOS this time, the recovery passphrase typed at the serial console.
//   (ADE_LAB_NOBOOT_BIOS=1 runs the same on SeaBIOS with 2 GiB as well.)
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { labLog, sha256, sleep, type Firmware, type Vm } from '../../lab/vm.ts';
import { BOOT_MODULES, expectRunning, installCloudKernel } from '../helpers/new-kernel.ts';
import { bootFirmware, enableSettings, isOver, parseStatus, recoveryPassphrase, startOsGuest, STATE_DIR, writeMarkerTree } from '../../lab/e2e.ts';

/** How long after a prompt appears the test types: cryptsetup and systemd's agent print it, then turn the echo off. */
const TYPING_DELAY_MS = 2000;
const MARKER = '/opt/marker';
const files: Record<string, Buffer> = { 'big.bin': randomBytes(24 << 20), 'etc/app.conf': Buffer.from('must survive the split\n') };
for (let i = 0; i < 8; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const OPENED = /ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/;
const SPLIT = /ade-linux: split a \/boot off the root: (\/dev\/vda\d+) \(UUID=([0-9a-f-]{36})\)/;
const MiB = 1024 * 1024;

const stops: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(stops.map((s) => s())); });

/** A file on / that leaves the root file system, by resize2fs's own minimum, `overBytes` past what the split leaves it. */
async function fillRootPastSplit(vm: Vm, overBytes: number): Promise<void> {
  const target = Number((await vm.run('. /etc/ade-linux/osencrypt.conf; echo "$ADE_SPLIT_ROOT_BYTES"')).trim());
  const blocks = Number((await vm.run("resize2fs -P /dev/vda1 2>/dev/null | sed -n 's/.*: *//p'")).trim());
  const bs = Number((await vm.run('blkid -p -o value -s BLOCK_SIZE /dev/vda1')).trim());
  expect(target).toBeGreaterThan(0);
  expect(blocks * bs).toBeLessThan(target);
  await vm.run(`fallocate -l ${target - blocks * bs + overBytes} /var/tmp/filler && sync`);
  const mib = (n: number): number => Math.floor(n / MiB);
  labLog(`os-noboot: the split leaves the root ${mib(target)} MiB; its minimum was ${mib(blocks * bs)} MiB, filled past it by ${mib(overBytes)} MiB`);
}

const VARIANTS: Array<[Firmware, number, boolean]> = [['uefi', 1024, true], ...(process.env['ADE_LAB_NOBOOT_BIOS'] === '1' ? [['bios', 2048, true] as [Firmware, number, boolean]] : [])];
describe.each<[Firmware, number, boolean]>(VARIANTS)('OS disk without /boot, %s, %i MiB, power cuts in the split: %s', (firmware, memMiB, cuts) => {
  it('enable OS → restart → /boot split off the root in the initramfs → up encrypted → grub again → Encrypted; marker intact; restarts unlock', async () => {
    const g = await startOsGuest({ name: `os-noboot-${firmware}`, layout: 'noboot', firmware, memMiB });
    stops.push(g.stop);
    const { vm, ext } = g;
    expect(await writeMarkerTree(vm, MARKER, files)).toEqual(expected);
    const rootBytes = Number((await vm.run('lsblk -bndo SIZE /dev/vda1')).trim());
    const fsUuid = (await vm.run('findmnt -no UUID /')).trim();
    expect((await vm.run('findmnt -no SOURCE /boot || true')).trim()).toBe('');
    expect((await ext.run('install')).code).toBe(0);

    // The restart deferred (OSRestart Deferred), and the root filled meanwhile past what the split would leave it:
    // the initramfs refuses the split and boots the plaintext root as before, unchanged; the enable after the
    // boot says why (607) and restarts nothing. Once the room is freed, the operator's restart splits.
    const seq = await ext.settings({ ...enableSettings(g.az), VolumeType: 'OS', OSRestart: 'Deferred' });
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    // the worker's last word before a deferred restart: success, VMRestartPending (transitioning ones come before)
    const pending = parseStatus(await ext.waitDone(seq, { timeoutMs: 900_000, everyMs: 3000, stopWhen: (st) => st.status.status === 'success' }));
    expect([pending.status, pending.state?.os], pending.message).toEqual(['success', 'VMRestartPending']);
    await fillRootPastSplit(vm, 256 * MiB);
    let since = vm.serialText().length;
    await vm.reboot();
    expect(vm.serialText().slice(since)).toMatch(/ade-linux: a \/boot was not split off the root: the root file system needs \d+ MiB and would have \d+ MiB once a \/boot is split off; free \d+ MiB on \/ and restart/);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/vda1');
    expect(Number((await vm.run('lsblk -bndo SIZE /dev/vda1')).trim())).toBe(rootBytes);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    const upAt = vm.serialText().length;
    const rebuilds = await ext.logCount('initramfs rebuilt with');
    expect(rebuilds).toBeGreaterThan(0);
    expect((await ext.boot()).code).toBe(0);
    const refused = parseStatus(await ext.waitDone(seq, { timeoutMs: 900_000, everyMs: 3000 }));
    expect([refused.status, refused.code], refused.message).toEqual(['error', 607]);
    // the initramfs that refused was ours, whole: the 607 comes without building it again
    expect(await ext.logCount('initramfs rebuilt with')).toBe(rebuilds);
    expect(refused.message).toMatch(/did not split a \/boot off the root: the root file system needs \d+ MiB .* It booted the root unencrypted, as before the enable/);
    expect(vm.serialText().slice(upAt)).not.toMatch(/reboot: Restarting system/);
    await vm.run('rm /var/tmp/filler && sync');

    since = vm.serialText().length;
    const rebooted = vm.waitGuestReboot(900_000);
    void vm.exec('systemctl --no-block reboot').catch(() => undefined);
    if (cuts) {
      // Three boots cut short in the initramfs, each where the one before left the split: in resize2fs, between
      // the two partition-table edits, in the copy of /boot. The fourth boot finishes it.
      let boot: Promise<unknown> = rebooted;
      const at: Array<[RegExp, number]> = [[/ade-linux: shrinking the root file system/, 400], [/ade-linux: adding the \/boot partition/, 0], [/ade-linux: copying \/boot from the root/, 300]];
      for (const [when, delayMs] of at) {
        // the restart (or start) under way: a cut is aimed at the new qemu, not the one that is exiting
        for (let i = 0; !(vm.running && vm.serialText().includes('===== lab boot', since)) && i < 6000; i++) await sleep(100);
        await vm.powerCut({ when, delayMs, since, timeoutMs: 900_000 });
        await boot.catch((e: unknown) => labLog(`os-noboot: boot cut short: ${(e as Error).message.split('\n')[0]}`));
        since = vm.serialText().length;
        boot = vm.start();
      }
      await boot;
    } else {
      await rebooted;
    }
    // until the agent's enable after this boot, the status is the one the refused boot left
    expect(parseStatus((await ext.status(seq))!).code).toBe(607);
    const text = vm.serialText();
    expect(text).toMatch(SPLIT);
    expect(text).toMatch(OPENED);
    const bootDev = SPLIT.exec(text)![1]!;
    const bootUuid = SPLIT.exec(text)![2]!;
    labLog(`os-noboot: /boot split off as ${bootDev} UUID=${bootUuid}`);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect((await vm.run('findmnt -no UUID /boot')).trim()).toBe(bootUuid);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    // the root partition gave up the last 1 GiB (aligned), which the new /boot has
    const sizes = (await vm.run(`lsblk -bndo SIZE /dev/vda1 ${bootDev}`)).trim().split('\n').map(Number);
    expect(sizes[0]! + sizes[1]!).toBe(rootBytes);
    expect(sizes[1]).toBeGreaterThanOrEqual(1024 * MiB);
    expect((await vm.run(`lsblk -no PARTTYPE ${bootDev}`)).trim()).toBe('bc13c2ff-59e6-4262-a352-b275fd6f7172');
    expect(await vm.run(`ls /boot`)).toMatch(/vmlinuz-.*\n/);
    expect(await vm.run("awk '$2 == \"/boot\" { print $1, $3 }' /etc/fstab")).toBe(`UUID=${bootUuid} ext4\n`);

    // The agent's enable after the boot: grub again for the new /boot, then the online reencryption. The journal
    // stayed open through the 607; the resumed worker's first report (success, under way) replaces it.
    expect((await ext.boot()).code).toBe(0);
    for (let i = 0; parseStatus((await ext.status(seq))!).code === 607 && i < 600; i++) await sleep(2000);
    const done = await ext.waitDone(seq, { timeoutMs: 1_500_000, everyMs: 3000 });
    const end = parseStatus(done);
    expect(end.status, `${end.message}\n${await ext.logTail()}`).toBe('success');
    expect(end.state?.os).toBe('Encrypted');
    expect(isOver(done)).toBe(true);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    expect((await vm.exec('blkid -p -o value -s TYPE /dev/vda1')).stdout.trim()).toBe('');
    // the file system on the mapping is the old root, shrunk to the partition
    expect((await vm.run('findmnt -no UUID /')).trim()).toBe(fsUuid);
    expect(Number((await vm.run('df -B1 --output=size / | tail -1')).trim())).toBeLessThanOrEqual(sizes[0]!);
    // the split plan is gone from the conf and the initramfs: a later boot only opens the disk
    expect(await vm.run('cat /etc/ade-linux/osencrypt.conf')).not.toMatch(/ADE_SPLIT/);
    expect(await vm.run(`ls ${STATE_DIR}/volumes`)).toBe('osencrypt.json\n');
    // grub.cfg on the new /boot names kernels on it (no /boot prefix: /boot is its own file system now)
    expect(await vm.run('grep -m1 -E "^\\s*linux\\s" /boot/grub/grub.cfg')).toMatch(/^\s*linux\s+\/vmlinuz-/);
    labLog(`os-noboot: extension log:\n${await ext.logTail(40)}`);

    // A new kernel package first: it goes to the new /boot, its postinst rebuilds the initramfs (our hook, the
    // network unlock's driver) and grub.cfg there, the new kernel first. Then a restart: grub can only read
    // /boot from the new partition (the root is ciphertext), and boots the new kernel. On UEFI the key
    // volume is gone too: the initramfs brings the network up and opens the root with the key from Key Vault.
    const newVer = await installCloudKernel(vm, 'initramfs-tools', [...BOOT_MODULES, 'virtio_net']);
    since = vm.serialText().length;
    if (firmware === 'bios') {
      await vm.reboot();
      expect(vm.serialText().slice(since)).toMatch(OPENED);
    } else {
      await vm.shutdown();
      vm.detach('bek');
      await vm.start();
      const boot = vm.serialText().slice(since);
      expect(boot).not.toMatch(OPENED);
      expect(boot).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key from Key Vault/);
      expect((await vm.exec("blkid -L 'BEK VOLUME'")).stdout.trim()).toBe('');
    }
    expect(vm.serialText().slice(since)).not.toMatch(/ade-linux: split/);
    await expectRunning(vm, newVer);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(await bootFirmware(vm)).toBe(firmware);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    if (firmware === 'bios') return;

    // No protector works (no key volume, and the vault refuses to read the secret): the console says what was
    // tried and prompts; a wrong passphrase is refused, the recovery passphrase escrowed in Key Vault opens it.
    // This boot is SeaBIOS's (the hybrid disk's other grub, core.img in the BIOS boot partition, which the worker
    // installed again for the new /boot): the no-/boot layout proven on both firmwares with one guest.
    const rec = await recoveryPassphrase(g.az, vm);
    expect(rec.passphrase).toMatch(/^\d{6}(-\d{6}){7}$/);
    since = vm.serialText().length;
    await vm.shutdown();
    vm.setFirmware('bios');
    g.az.fake.vault.faults.forbidden.add('secrets/get');
    const up = vm.start();
    for (let i = 0; !vm.running && i < 600; i++) await sleep(50);
    await vm.waitSerial(/Enter passphrase for/, { since, timeoutMs: 600_000 });
    const first = vm.serialText().length;
    // a person reads the prompt before typing: the prompt is printed before the echo is turned off
    await sleep(TYPING_DELAY_MS);
    vm.typeSerial('000000-111111-222222-333333-444444-555555-666666-777777\n');
    await vm.waitSerial(/No key available with this passphrase[\s\S]*Enter passphrase for/, { since: first, timeoutMs: 120_000 });
    expect(vm.serialText().slice(since)).not.toMatch(/LAB_READY|ade-linux: opened/);
    await sleep(TYPING_DELAY_MS);
    vm.typeSerial(`${rec.passphrase}\n`);
    await up;
    g.az.fake.vault.faults.forbidden.delete('secrets/get');
    const prompted = vm.serialText().slice(since);
    // one line per protector, in order, each with its whole reason (Key Vault's message may hold ';'), then the summary
    expect(prompted).toMatch(/ade-linux: key volume failed: no disk labelled BEK VOLUME attached\r?\n[\s\S]*ade-linux: Key Vault failed: cannot read the secret https:\/\/\S+: HTTP 403: [^\n]+\r?\n[\s\S]*ade-linux: every protector failed \(key volume, Key Vault\)/);
    expect(prompted).toContain(`ade-linux: type the recovery passphrase at the prompt (Key Vault secret ${rec.secretUrl};`);
    expect(prompted).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the recovery passphrase/);
    // typed with the echo off: neither passphrase reaches the console
    expect(prompted).not.toContain(rec.passphrase);
    expect(prompted).not.toContain('000000-111111-222222');
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(await bootFirmware(vm)).toBe('bios');
    await expectRunning(vm, newVer);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
  }, 3_600_000);
});
