// The OS disk, encrypted in place by the packaged extension as the guest agent drives it, on a grub-booted
// disk shaped like Ubuntu 24.04's Azure image (/boot on p16), under SeaBIOS and under OVMF: enable with
// VolumeType OS → the extension escrows the key, writes the detached header on /boot, installs its initramfs
// hook and restarts the VM itself → the initramfs opens the root as /dev/mapper/osencrypt → the agent's
// enable after the boot resumes the worker, which encrypts online to Encrypted. A marker tree on the root is
// byte-identical throughout, and later boots unlock by themselves. The UEFI guest has 1 GiB of memory: nothing
// of the root is copied into RAM, and cryptsetup's hotzone is bounded; it is enabled with VolumeType All and a
// mounted data disk, which is encrypted after the OS disk and unlocked at the later boot. On the BIOS guest a new kernel package
// is then installed and booted: its initramfs, rebuilt by the package, still opens the disk.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { labLog, sha256, type Firmware, type Vm } from '../../lab/vm.ts';
import { hostDeb } from '../../lab/debs.ts';
import { enableSettings, isOver, mountDataDisks, parseStatus, startOsGuest, STATE_DIR, writeMarkerTree } from '../../lab/e2e.ts';

const MARKER = '/opt/marker';
const files: Record<string, Buffer> = { 'big.bin': randomBytes(24 << 20), 'etc/app.conf': Buffer.from('must survive the restart\n') };
for (let i = 0; i < 8; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 7919);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const dataFiles: Record<string, Buffer> = { 'data.bin': randomBytes(8 << 20), 'notes.txt': Buffer.from('a data volume beside the OS disk\n') };
const dataExpected = Object.fromEntries(Object.entries(dataFiles).map(([k, v]) => [k, sha256(v)]));

const OPENED = /ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/;
/** What the boot needs from a kernel: dm-crypt, the virtio disk, the root's and /boot's ext4, the key volume's vfat. */
const BOOT_MODULES = ['dm-crypt', 'virtio_blk', 'ext4', 'vfat'];
const DPKG = 'DEBIAN_FRONTEND=noninteractive';
/** grub.cfg's kernel lines (`linux /vmlinuz-… root=…`). */
const linuxLines = (cfg: string): string[] => cfg.split('\n').map((l) => l.trim()).filter((l) => /^linux\s/.test(l));

const stops: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(stops.map((s) => s())); });

describe.each<[Firmware, number]>([['bios', 2048], ['uefi', 1024]])('OS disk, /boot on its own partition, %s, %i MiB of memory', (firmware, memMiB) => {
  it('enable OS → the VM restarts itself → up on the encrypted root → Encrypted, marker intact, later boots unlock unaided', async () => {
    // UEFI: VolumeType All, with a data disk beside the OS disk: the OS disk first (its restart), then the data.
    const all = firmware === 'uefi';
    const g = await startOsGuest({
      name: `os-boot-${firmware}`, layout: 'boot', firmware, memMiB,
      disks: [{ name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }, ...(all ? [{ name: 'data', kind: 'ext4' as const, sizeMiB: 96, files: dataFiles }] : [])],
    });
    stops.push(g.stop);
    const { vm, ext } = g;
    expect(await writeMarkerTree(vm, MARKER, files)).toEqual(expected);
    if (all) await mountDataDisks(vm, [{ disk: 'data', mountpoint: '/data' }]);
    expect((await ext.run('install')).code).toBe(0);

    const seq = await ext.settings({ ...enableSettings(g.az), VolumeType: all ? 'All' : 'OS' });
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
    expect((await vm.run('test -d /sys/firmware/efi && echo uefi || echo bios')).trim()).toBe(firmware);
    expect(Number((await vm.run("awk '/^MemTotal/ { print $2 }' /proc/meminfo")).trim())).toBeLessThanOrEqual(memMiB * 1024);

    // The agent's enable after the boot: the worker resumes and reports success once the work is safe.
    expect((await ext.boot()).code).toBe(0);
    const done = await ext.waitDone(seq, { timeoutMs: 1_500_000, everyMs: 3000 });
    const end = parseStatus(done);
    expect(end.status, `${end.message}\n${await ext.logTail()}`).toBe('success');
    expect(end.state?.os).toBe('Encrypted');
    expect(end.volumes?.find((v) => v.mountpoint === '/')?.state).toBe('Encrypted');
    expect(isOver(done)).toBe(true);
    if (all) {
      expect(end.state?.data, end.message).toBe('Encrypted');
      expect(end.volumes?.find((v) => v.mountpoint === '/data')?.state).toBe('Encrypted');
      expect((await vm.run('findmnt -no SOURCE /data')).trim()).toMatch(/^\/dev\/mapper\//);
      expect(await vm.hashTree('/data')).toMatchObject(dataExpected);
    }

    expect(await vm.hashTree(MARKER)).toEqual(expected);
    const dump = JSON.parse(await vm.run('cryptsetup luksDump --dump-json-metadata /boot/luks/osluksheader')) as { segments: Record<string, { type: string }> };
    expect(Object.values(dump.segments).map((x) => x.type)).toEqual(['crypt']);
    // The raw partition shows no file system any more: ciphertext from its first byte.
    expect((await vm.exec('blkid -p -o value -s TYPE /dev/vda1')).stdout.trim()).toBe('');
    expect((await vm.run('cmp /boot/luks/osluksheader /boot/luks/osluksheader.backup && stat -c %a /boot/luks')).trim()).toBe('700');
    expect(await vm.run("awk '$2 == \"/\" { print $1 }' /etc/fstab")).toBe('/dev/mapper/osencrypt\n');
    if (!all) expect(await vm.run(`ls ${STATE_DIR}/volumes`)).toBe('osencrypt.json\n');

    if (firmware === 'bios') { await newKernelBootsEncrypted(vm); return; }
    // A later restart unlocks from the key volume without the extension.
    await vm.reboot();
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(await vm.hashTree(MARKER)).toEqual(expected);
    expect(await vm.hashTree('/data')).toMatchObject(dataExpected);
  }, 3_600_000);
});

/**
 * A different kernel package, installed the way apt would, on the encrypted VM: Debian's cloud kernel of the
 * same release (linux-image-<ABI>-cloud-amd64, what Azure's Debian 12 images run), its .deb fetched on the host
 * (the guest has no network) and `dpkg -i`'d. Its postinst runs update-initramfs (our hook must be in the new
 * initramfs) and update-grub; the generic kernel is then removed, so grub can only boot the cloud kernel, and
 * the restart must open the root with the new kernel's initramfs. Lab note: the cloud kernel has no 9p, so
 * /lab is not mounted in that boot (copyIn/copyOut do not work there); the command channel does.
 */
async function newKernelBootsEncrypted(vm: Vm): Promise<void> {
    // The cloud kernel of the running kernel's release (same ABI, same package version), installed offline.
    const oldVer = (await vm.run('uname -r')).trim();
    expect(oldVer).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    const abi = oldVer.replace(/-amd64$/, '');
    const newVer = `${abi}-cloud-amd64`;
    const pkgVersion = (await vm.run(`dpkg-query -W -f '\${Version}' linux-image-${oldVer}`)).trim();
    const deb = await hostDeb(`linux-image-${newVer}`, pkgVersion);
    labLog(`os-kernel: running ${oldVer} (linux-image-${oldVer} ${pkgVersion}); installing ${path.basename(deb)}`);
    const guestDeb = `/var/cache/lab-debs/${path.basename(deb)}`;
    await vm.copyIn(deb, guestDeb);
    const inst = await vm.exec(`${DPKG} dpkg -i ${guestDeb} 2>&1; rc=$?; rm -f ${guestDeb}; exit $rc`, { timeoutMs: 1_500_000 });
    labLog(`os-kernel: dpkg -i linux-image-${newVer} (exit ${inst.code}):\n${inst.stdout}`);
    expect(inst.code, inst.stdout).toBe(0);
    // The postinst's /etc/kernel/postinst.d: initramfs-tools, then zz-update-grub.
    expect(inst.stdout).toContain(`update-initramfs: Generating /boot/initrd.img-${newVer}`);
    expect(inst.stdout).toMatch(/Generating grub configuration file/);
    expect(inst.stdout).toContain(`Found linux image: /boot/vmlinuz-${newVer}`);
    expect((await vm.run(`dpkg-query -W -f '\${Status}' linux-image-${newVer}`)).trim()).toBe('install ok installed');

    const list = (await vm.run(`lsinitramfs /boot/initrd.img-${newVer}`)).split('\n');
    for (const f of ['scripts/local-top/ade-linux', 'etc/ade-linux/osencrypt.conf', 'usr/sbin/cryptsetup']) {
      expect(list, `${f} in initrd.img-${newVer}`).toContain(f);
    }
    // The conf in the new initramfs is the one in /etc (the hook copies it on every rebuild).
    const confInInitrd = await vm.run(`d=$(mktemp -d) && cd "$d" && unmkinitramfs /boot/initrd.img-${newVer} . >/dev/null 2>&1; ` +
      'f=$(find . -path "*/etc/ade-linux/osencrypt.conf" | head -n1); cat "$f"; cd / && rm -rf "$d"');
    expect(confInInitrd).toBe(await vm.run('cat /etc/ade-linux/osencrypt.conf'));
    // What the boot needs, as modules in the new initramfs or built into the cloud kernel.
    const builtin = await vm.run(`cat /lib/modules/${newVer}/modules.builtin`);
    for (const m of BOOT_MODULES) {
      const ko = new RegExp(`/${m.replace(/[-_]/g, '[-_]')}\\.ko(\\.(xz|zst|gz))?$`);
      const inInitrd = list.some((l) => l.includes(`lib/modules/${newVer}/`) && ko.test(l));
      const isBuiltin = builtin.split('\n').some((l) => ko.test(`/${l}`));
      expect(inInitrd || isBuiltin, `${m}: neither in initrd.img-${newVer} nor built into ${newVer}`).toBe(true);
      labLog(`os-kernel: ${newVer} ${m}: ${isBuiltin ? 'built in' : 'module in its initramfs'}`);
    }
    const bothCfg = await vm.run('cat /boot/grub/grub.cfg');
    labLog(`os-kernel: grub.cfg with both kernels, kernel lines in order:\n${linuxLines(bothCfg).join('\n')}`);
    expect(linuxLines(bothCfg).some((l) => l.includes(`/vmlinuz-${newVer} `))).toBe(true);

    // Only the cloud kernel left (the running one goes: DEBIAN_FRONTEND=noninteractive lets linux-check-removal pass).
    const rm = await vm.exec(`${DPKG} dpkg -r linux-image-amd64 linux-image-${oldVer} 2>&1`, { timeoutMs: 900_000 });
    labLog(`os-kernel: dpkg -r linux-image-amd64 linux-image-${oldVer} (exit ${rm.code}):\n${rm.stdout}`);
    expect(rm.code, rm.stdout).toBe(0);
    expect(rm.stdout).toMatch(/Generating grub configuration file/);
    expect((await vm.run('ls /boot')).split('\n').filter((n) => /^(vmlinuz|initrd\.img)-/.test(n)).sort())
      .toEqual([`initrd.img-${newVer}`, `vmlinuz-${newVer}`]);
    expect(Number((await vm.run("grep -c 'linux.*cloud-amd64' /boot/grub/grub.cfg")).trim())).toBeGreaterThan(0);
    const cfg = await vm.run('cat /boot/grub/grub.cfg');
    const lines = linuxLines(cfg);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => !l.includes(`/vmlinuz-${newVer} `)), 'kernel lines other than the cloud kernel').toEqual([]);
    expect(cfg).not.toMatch(/vmlinuz-[^\s]*-amd64(?<!-cloud-amd64)\s/);
    labLog(`os-kernel: grub.cfg after the removal:\n${lines.join('\n')}`);
    await vm.run('sync');

    // Restart: grub boots the cloud kernel, its initramfs opens the root.
    const mark = vm.serialText().length;
    await vm.reboot();
    expect((await vm.run('uname -r')).trim()).toBe(newVer);
    expect((await vm.run('findmnt -no SOURCE /')).trim()).toBe('/dev/mapper/osencrypt');
    expect(vm.serialText().slice(mark)).toMatch(OPENED);
    expect(await vm.run('cat /proc/cmdline')).toContain(`BOOT_IMAGE=/vmlinuz-${newVer} `);
    expect(await vm.hashTree(MARKER)).toEqual(expected);
}

