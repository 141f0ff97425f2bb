// A different kernel package, installed the way apt would, on a VM whose OS disk is encrypted: Debian's cloud
// kernel of the same release (linux-image-<ABI>-cloud-amd64, what Azure's Debian 12 images run), its .deb fetched
// on the host (the guests have no network) and `dpkg -i`'d. Its postinst runs the initramfs builder
// (/etc/kernel/postinst.d: initramfs-tools' or dracut's; our hook or module must be in the new initramfs) and
// update-grub, which makes it grub's default (its version sorts first): the caller's restart must boot it and
// open the root with the new kernel's initramfs. Lab note: the cloud kernel has no 9p, so /lab is
// not mounted once it runs (copyIn/copyOut and the extension's lab helpers stop working); the command channel works.
import * as path from 'node:path';
import { expect } from 'vitest';
import { labLog, type Vm } from '../../lab/vm.ts';
import { hostDeb } from '../../lab/debs.ts';

export type Builder = 'initramfs-tools' | 'dracut';
const DPKG = 'DEBIAN_FRONTEND=noninteractive';
/** What every encrypted boot needs from a kernel: dm-crypt, the virtio disk, ext4 (root and /boot), vfat (the key volume). */
export const BOOT_MODULES = ['dm-crypt', 'virtio_blk', 'ext4', 'vfat'];

/** grub.cfg's kernel lines (`linux /vmlinuz-… root=…`). */
export const linuxLines = (cfg: string): string[] => cfg.split('\n').map((l) => l.trim()).filter((l) => /^linux\s/.test(l));

/** The paths in an initramfs: lsinitramfs prints one a line, lsinitrd an `ls -l` line (with `-> target` for links). */
async function initrdPaths(vm: Vm, builder: Builder, img: string): Promise<string[]> {
  if (builder === 'initramfs-tools') return (await vm.run(`lsinitramfs ${img}`)).split('\n').filter(Boolean);
  return (await vm.run(`lsinitrd ${img}`)).split('\n').map((l) => l.replace(/ -> .*$/, '').trim().split(/\s+/).pop() ?? '').filter(Boolean);
}

/** Our conf as the new initramfs holds it. */
async function confIn(vm: Vm, builder: Builder, img: string): Promise<string> {
  if (builder === 'dracut') return vm.run(`lsinitrd -f etc/ade-linux/osencrypt.conf ${img}`);
  return vm.run(`d=$(mktemp -d) && cd "$d" && unmkinitramfs ${img} . >/dev/null 2>&1; ` +
    'f=$(find . -path "*/etc/ade-linux/osencrypt.conf" | head -n1); cat "$f"; cd / && rm -rf "$d"');
}

/**
 * Installs the cloud kernel, checks its initramfs (our opener, the conf of /etc, `modules` as modules in it or
 * built into the kernel) and grub.cfg; returns the new kernel's version.
 */
export async function installCloudKernel(vm: Vm, builder: Builder, modules: string[] = BOOT_MODULES): Promise<string> {
  const oldVer = (await vm.run('uname -r')).trim();
  expect(oldVer).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
  const newVer = `${oldVer.replace(/-amd64$/, '')}-cloud-amd64`;
  const pkgVersion = (await vm.run(`dpkg-query -W -f '\${Version}' linux-image-${oldVer}`)).trim();
  const deb = await hostDeb(`linux-image-${newVer}`, pkgVersion);
  labLog(`new kernel: running ${oldVer} (linux-image-${oldVer} ${pkgVersion}); installing ${path.basename(deb)} (${builder})`);
  const guestDeb = `/var/cache/lab-debs/${path.basename(deb)}`;
  await vm.copyIn(deb, guestDeb);
  // --force-unsafe-io: no fsync per file (thousands of modules; each costs under TCG); the caller's restart is clean
  const inst = await vm.exec(`${DPKG} dpkg --force-unsafe-io -i ${guestDeb} 2>&1; rc=$?; rm -f ${guestDeb}; exit $rc`, { timeoutMs: 1_500_000 });
  labLog(`new kernel: dpkg -i linux-image-${newVer} (exit ${inst.code}):\n${inst.stdout}`);
  expect(inst.code, inst.stdout).toBe(0);
  // the postinst's /etc/kernel/postinst.d: the initramfs builder, then zz-update-grub
  expect(inst.stdout).toContain(`${builder === 'dracut' ? 'dracut' : 'update-initramfs'}: Generating /boot/initrd.img-${newVer}`);
  expect(inst.stdout).toMatch(/Generating grub configuration file/);
  expect(inst.stdout).toContain(`Found linux image: /boot/vmlinuz-${newVer}`);
  expect((await vm.run(`dpkg-query -W -f '\${Status}' linux-image-${newVer}`)).trim()).toBe('install ok installed');

  const img = `/boot/initrd.img-${newVer}`;
  const list = await initrdPaths(vm, builder, img);
  const opener = builder === 'dracut' ? /(^|\/)sbin\/ade-linux-open$/ : /^scripts\/local-top\/ade-linux$/;
  for (const f of [opener, /^etc\/ade-linux\/osencrypt\.conf$/, /(^|\/)sbin\/cryptsetup$/]) {
    expect(list.some((l) => f.test(l)), `${f.source} in initrd.img-${newVer}`).toBe(true);
  }
  // the conf in the new initramfs is the one in /etc (the hook or module copies it on every build)
  expect(await confIn(vm, builder, img)).toBe(await vm.run('cat /etc/ade-linux/osencrypt.conf'));
  const builtin = (await vm.run(`cat /lib/modules/${newVer}/modules.builtin`)).split('\n');
  for (const m of modules) {
    const ko = new RegExp(`/${m.replace(/[-_]/g, '[-_]')}\\.ko(\\.(xz|zst|gz))?$`);
    const inInitrd = list.some((l) => l.includes(`lib/modules/${newVer}/`) && ko.test(l));
    const isBuiltin = builtin.some((l) => ko.test(`/${l}`));
    expect(inInitrd || isBuiltin, `${m}: neither in initrd.img-${newVer} nor built into ${newVer}`).toBe(true);
    labLog(`new kernel: ${newVer} ${m}: ${isBuiltin ? 'built in' : 'module in its initramfs'}`);
  }
  // grub's default, the first entry, is the new kernel (its version sorts first); expectRunning checks the boot
  const lines = linuxLines(await vm.run('cat /boot/grub/grub.cfg'));
  labLog(`new kernel: grub.cfg's kernel lines:\n${lines.join('\n')}`);
  expect(lines[0], 'the first grub entry').toContain(`/vmlinuz-${newVer} `);
  expect(lines.some((l) => l.includes(`/vmlinuz-${oldVer} `)), 'the running kernel is still in grub.cfg').toBe(true);
  await vm.run('sync');
  return newVer;
}

/** After the restart: the new kernel runs, and grub booted it by name. */
export async function expectRunning(vm: Vm, newVer: string): Promise<void> {
  expect((await vm.run('uname -r')).trim()).toBe(newVer);
  expect(await vm.run('cat /proc/cmdline')).toContain(`BOOT_IMAGE=/vmlinuz-${newVer} `);
}
