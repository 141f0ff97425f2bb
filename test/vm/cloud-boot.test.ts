// Lab self-test (e): the cloud flavour boots like an Azure VM. Firmware (SeaBIOS, then OVMF on the same disk)
// → grub from the disk → the kernel and initramfs the guest wrote → systemd, in both layouts Azure's images
// have: Debian 12's (no /boot partition) and Ubuntu 24.04's (/boot on p16). A change the guest makes to its
// grub configuration is what the next boot runs: the OS-disk scenarios depend on exactly that.
import { afterAll, describe, expect, it } from 'vitest';
import { bootVm, type CloudLayout, type Vm } from '../../lab/vm.ts';

const vms: Vm[] = [];
afterAll(async () => { await Promise.all(vms.map((v) => v.destroy())); });

interface Seen { efi: boolean; cmdline: string; root: string; boot: string; esp: string; bootLoader: string }

async function look(vm: Vm): Promise<Seen> {
  const out = await vm.run([
    'test -d /sys/firmware/efi && echo efi=yes || echo efi=no',
    'echo "cmdline=$(cat /proc/cmdline)"',
    'echo "root=$(findmnt -no SOURCE /)"',
    'echo "boot=$(findmnt -no SOURCE /boot || echo none)"',
    'echo "esp=$(findmnt -no SOURCE,FSTYPE /boot/efi)"',
    // the ESP holds shim and grub at the removable path; the MBR holds grub's boot.img (its core.img is in p14)
    'echo "bootLoader=$(ls /boot/efi/EFI/BOOT | tr "\\n" " ")mbr:$(dd if=/dev/vda bs=440 count=1 2>/dev/null | grep -c -a GRUB)"',
  ].join('; '));
  const kv = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { efi: kv['efi'] === 'yes', cmdline: kv['cmdline']!, root: kv['root']!, boot: kv['boot']!, esp: kv['esp']!, bootLoader: kv['bootLoader']! };
}

describe.each<[CloudLayout, string]>([
  ['noboot', 'none'],
  ['boot', '/dev/vda16'],
])('cloud guest, layout %s', (layout, bootSource) => {
  let vm: Vm;

  it('SeaBIOS → grub (BIOS boot partition) → the guest kernel, root on p1', async () => {
    vm = await bootVm({ flavour: 'cloud', layout, firmware: 'bios', name: `cloud-${layout}` });
    vms.push(vm);
    const s = await look(vm);
    expect(s.efi).toBe(false);
    expect(s.cmdline).toMatch(/^BOOT_IMAGE=\S*vmlinuz-\S+ root=UUID=[0-9a-f-]{36} ro console=tty0 console=ttyS0,115200/); // grub wrote it
    expect(s.root).toBe('/dev/vda1');
    expect(s.boot).toBe(bootSource);
    expect(s.esp).toBe('/dev/vda15 vfat');
    expect(s.bootLoader).toMatch(/BOOTX64\.EFI .*grubx64\.efi .*mbr:1$/i);
  });

  it('OVMF → shim → grub (ESP) on the same disk; a grub setting the guest changes is what the next boot runs', async () => {
    await vm.run('echo \'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT lab.marker=1"\' > /etc/default/grub.d/90-marker.cfg && update-grub 2>&1');
    await vm.shutdown();
    vm.setFirmware('uefi');
    await vm.start();
    const s = await look(vm);
    expect(s.efi).toBe(true);
    expect(s.cmdline).toMatch(/ lab\.marker=1( |$)/);
    expect(s.root).toBe('/dev/vda1');
    expect(s.boot).toBe(bootSource);
  });
});
