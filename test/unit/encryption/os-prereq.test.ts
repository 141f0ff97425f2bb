// OS-disk prerequisites: every check on real fixtures (os-release files and Azure image layouts), each failure
// its own code, all of them reported at once, and a machine that passes yields no error.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeDistro, type InitramfsTool } from '../../../src/encryption/distro.ts';
import { classifyOsLayout } from '../../../src/encryption/os-layout.ts';
import { checkOsPrereqs, NEW_BOOT_BYTES, OS_MEMORY_BYTES, SPLIT_HEADROOM_BYTES, type OsFacts } from '../../../src/encryption/os-prereq.ts';
import { parseOsRelease } from '../../../src/parsers/os-release.ts';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';

const MiB = 1024 * 1024;
const distro = (name: string) => describeDistro(parseOsRelease(readFileSync(new URL(`../../fixtures/os-release/${name}`, import.meta.url), 'utf8')));
const layout = (name: string) => {
  const f = JSON.parse(readFileSync(new URL(`../../fixtures/os-layout/${name}.json`, import.meta.url), 'utf8')) as unknown;
  return classifyOsLayout({ devices: parseLsblk(f), mounts: parseFindmnt(f), fstab: [], crypttab: [], azureLinks: {}, byId: {}, luks: {} });
};

function facts(over: Partial<OsFacts> = {}): OsFacts {
  return {
    distro: distro('ubuntu-24.04'), layout: layout('ubuntu-24.04'), builders: new Set<InitramfsTool>(['initramfs-tools']),
    dmCrypt: true, keyVolume: true, bootFreeBytes: 700 * MiB, largestInitramfsBytes: 70 * MiB, rootShrinkableBytes: 20_000 * MiB,
    memAvailableBytes: 900 * MiB, ...over,
  };
}
const codes = (f: OsFacts) => checkOsPrereqs(f).errors.map((e) => e.code);

describe('checkOsPrereqs', () => {
  it.each<[string, Partial<OsFacts>, InitramfsTool]>([
    ['Ubuntu 24.04, /boot on p16', {}, 'initramfs-tools'],
    ['Debian 12, no /boot, room to split one off', { distro: distro('debian-12'), layout: layout('debian-12') }, 'initramfs-tools'],
    ['RHEL 9 on LVM with dracut', { distro: distro('rhel-9.4'), layout: layout('rhel-9-lvm'), builders: new Set(['dracut']) }, 'dracut'],
    ['Azure Linux 3', { distro: distro('azurelinux-3.0'), layout: layout('azurelinux-3-gen2'), builders: new Set(['dracut']) }, 'dracut'],
    ['Debian with a /boot partition and dracut installed instead', { distro: distro('debian-12'), layout: layout('ubuntu-24.04'), builders: new Set(['dracut']) }, 'dracut'],
    ['Debian without /boot, both builders: initramfs-tools, which splits one off', { distro: distro('debian-12'), layout: layout('debian-12'), builders: new Set(['dracut', 'initramfs-tools']) }, 'initramfs-tools'],
  ])('%s passes and picks its initramfs builder', (_n, over, builder) => {
    const r = checkOsPrereqs(facts(over));
    expect(r.errors).toEqual([]);
    expect(r.builder).toBe(builder);
  });

  it.each<[string, Partial<OsFacts>, number, RegExp]>([
    ['distro past the glibc floor', { distro: distro('ubuntu-18.04') }, 51, /Ubuntu 18\.04.*glibc/i],
    ['SLES: data only', { distro: distro('sles-15-sp5') }, 51, /SUSE/i],
    ['xfs root without /boot', { layout: layout('rhel-raw-no-boot') }, 601, /xfs cannot shrink/],
    ['LVM root without /boot', { layout: layout('lvm-no-boot') }, 601, /LVM/],
    ['root on md RAID', { layout: layout('md-raid-root') }, 601, /md|RAID/i],
    ['no /boot and only dracut, which cannot split one off', { distro: distro('debian-12'), layout: layout('debian-12'), builders: new Set(['dracut']) }, 601, /no \/boot partition.*dracut.*install initramfs-tools, or give the VM a \/boot partition/],
    ['no initramfs builder', { builders: new Set() }, 602, /initramfs-tools/],
    ['RHEL without dracut', { distro: distro('rhel-9.4'), layout: layout('rhel-9-lvm'), builders: new Set() }, 602, /dracut/],
    ['no dm_crypt', { dmCrypt: false }, 408, /dm_crypt/],
    ['key volume missing', { keyVolume: false }, 407, /BEK VOLUME/],
    ['/boot too full for the header and an initramfs', { bootFreeBytes: 90 * MiB }, 603, /\/boot .*90 MiB.*118 MiB.*header/],
    ['root cannot give up a /boot', { distro: distro('debian-12'), layout: layout('debian-12'), rootShrinkableBytes: NEW_BOOT_BYTES - MiB }, 603, /1023 MiB.*1536 MiB.*split off/],
    ['root could give up a /boot but would be left full', { distro: distro('debian-12'), layout: layout('debian-12'), rootShrinkableBytes: NEW_BOOT_BYTES + SPLIT_HEADROOM_BYTES - MiB }, 603, /1535 MiB.*1536 MiB.*512 MiB left free until the restart/],
    ['no /boot, no sfdisk nor resize2fs to split one', { distro: distro('debian-12'), layout: layout('debian-12'), splitToolsMissing: ['resize2fs', 'sfdisk'] }, 606, /needs resize2fs, sfdisk.*Install e2fsprogs and fdisk/],
    ['too little memory', { memAvailableBytes: OS_MEMORY_BYTES - MiB }, 409, /255 MiB.*256 MiB/],
  ])('%s: code %d, nothing else', (_n, over, code, message) => {
    const r = checkOsPrereqs(facts(over));
    expect(r.errors.map((e) => e.code)).toEqual([code]);
    expect(r.errors[0]!.message).toMatch(message);
  });

  it('reports every failing check at once, not only the first', () => {
    expect(codes(facts({ distro: distro('ubuntu-18.04'), builders: new Set(), keyVolume: false, dmCrypt: false }))).toEqual([51, 602, 408, 407]);
  });

  it('a distro with the capabilities but not on the list goes ahead with a warning', () => {
    const r = checkOsPrereqs(facts({ distro: distro('rocky-9.3'), layout: layout('rhel-9-lvm'), builders: new Set(['dracut']) }));
    expect(r.errors).toEqual([]);
    expect(r.warnings.join(' ')).toMatch(/Rocky/);
  });

  it('space on /boot is not asked of a layout that has none, nor root space of one that has /boot', () => {
    expect(codes(facts({ layout: layout('debian-12'), distro: distro('debian-12'), bootFreeBytes: 0 }))).toEqual([]);
    expect(codes(facts({ rootShrinkableBytes: 0 }))).toEqual([]);
  });
});
