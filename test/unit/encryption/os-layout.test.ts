// The OS disk's layout, one row per real Azure image (test/fixtures/os-layout/, lsblk and findmnt JSON in one
// file, with a comment naming the image) and per way a layout is refused; variants edit a fixture's JSON
// the way the system would show the change (lsblk MOUNTPOINTS and findmnt rows together).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyOsLayout, type OsLayout, type OsLayoutResult } from '../../../src/encryption/os-layout.ts';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';
import { parseFstab } from '../../../src/parsers/fstab.ts';
import type { BlockSnapshot } from '../../../src/system/blockdev.ts';

interface Node { name: string; type?: string; fstype?: string; mountpoints?: Array<string | null>; children?: Node[]; [k: string]: unknown }
interface Row { target: string; source: string; fstype: string; options?: string }
interface Fixture { blockdevices: Node[]; filesystems: Row[] }

const load = (name: string): Fixture =>
  JSON.parse(readFileSync(new URL(`../../fixtures/os-layout/${name}.json`, import.meta.url), 'utf8')) as Fixture;

function snapshot(f: Fixture, over: Partial<BlockSnapshot> = {}): BlockSnapshot {
  return { devices: parseLsblk(f), mounts: parseFindmnt(f), fstab: [], crypttab: [], azureLinks: {}, byId: {}, luks: {}, ...over };
}

function node(f: Fixture, name: string): Node {
  const walk = (ns: Node[]): Node | undefined => ns.map((n) => (n.name === name ? n : walk(n.children ?? []))).find((n) => n);
  const n = walk(f.blockdevices);
  if (!n) throw new Error(`no ${name} in the fixture`);
  return n;
}

/** Whatever is mounted at `target` is unmounted (findmnt and lsblk). */
function unmount(f: Fixture, target: string): Fixture {
  f.filesystems = f.filesystems.filter((r) => r.target !== target);
  const walk = (ns: Node[]): void => ns.forEach((n) => { n.mountpoints = (n.mountpoints ?? []).map((m) => (m === target ? null : m)); walk(n.children ?? []); });
  walk(f.blockdevices);
  return f;
}

/** `name` (mounted elsewhere or not) is mounted at `target` instead, over whatever was there. */
function mountAt(f: Fixture, name: string, target: string, source = `/dev/${name}`): Fixture {
  unmount(f, target);
  const n = node(f, name);
  for (const mp of n.mountpoints ?? []) if (mp) unmount(f, mp);
  n.mountpoints = [target];
  f.filesystems.push({ target, source, fstype: n.fstype ?? '' });
  return f;
}

const edit = (name: string, change: (f: Fixture) => void): Fixture => { const f = load(name); change(f); return f; };

interface Want {
  kind: OsLayout['kind']; disk: string; target: string; root: string; boot?: string; esp?: string; biosBoot?: string;
  lvm?: OsLayout['lvm'];
}

function shape(r: OsLayoutResult): Want | string {
  if (!r.ok) return r.reason;
  const l = r.layout;
  return {
    kind: l.kind, disk: l.disk, target: l.target.device, root: `${l.root.device} ${l.root.fstype}`,
    ...(l.boot ? { boot: `${l.boot.device} ${l.boot.fstype}` } : {}),
    ...(l.esp ? { esp: l.esp.device } : {}),
    ...(l.biosBoot ? { biosBoot: l.biosBoot.device } : {}),
    ...(l.lvm ? { lvm: l.lvm } : {}),
  };
}

const UBUNTU_22: Want = { kind: 'no-boot', disk: '/dev/sda', target: '/dev/sda1', root: '/dev/sda1 ext4', esp: '/dev/sda15', biosBoot: '/dev/sda14' };
const RHEL_LVM: Want = {
  kind: 'separate-boot', disk: '/dev/sda', target: '/dev/sda2', root: '/dev/mapper/rootvg-rootlv xfs', boot: '/dev/sda1 xfs',
  esp: '/dev/sda15', biosBoot: '/dev/sda14', lvm: { vg: 'rootvg', lvs: ['homelv', 'optlv', 'rootlv', 'tmplv', 'usrlv', 'varlv'] },
};

describe('classifyOsLayout: the layouts it accepts', () => {
  it.each<[string, Fixture, Want]>([
    ['Ubuntu 22.04', load('ubuntu-22.04'), UBUNTU_22],
    ['Debian 12', load('debian-12'), { ...UBUNTU_22 }],
    ['Ubuntu 24.04', load('ubuntu-24.04'), { ...UBUNTU_22, kind: 'separate-boot', boot: '/dev/sda16 ext4' }],
    ['RHEL 9 LVM', load('rhel-9-lvm'), RHEL_LVM],
    ['RHEL 8 LVM', load('rhel-8-lvm'), RHEL_LVM],
    ['Azure Linux 3 Gen2', load('azurelinux-3-gen2'),
      { kind: 'separate-boot', disk: '/dev/sda', target: '/dev/sda3', root: '/dev/sda3 ext4', boot: '/dev/sda2 ext4', esp: '/dev/sda1' }],
    ['Azure Linux 3 Gen1 (8 MiB BIOS boot, no ESP)', load('azurelinux-3-gen1'),
      { kind: 'separate-boot', disk: '/dev/sda', target: '/dev/sda3', root: '/dev/sda3 ext4', boot: '/dev/sda2 ext4', biosBoot: '/dev/sda1' }],
    ['the lab\'s MBR disk', load('lab-mbr'), { kind: 'separate-boot', disk: '/dev/vda', target: '/dev/vda2', root: '/dev/vda2 ext4', boot: '/dev/vda1 ext4' }],
    ['Ubuntu 22.04 on NVMe', load('nvme-ubuntu-22.04'),
      { kind: 'no-boot', disk: '/dev/nvme0n1', target: '/dev/nvme0n1p1', root: '/dev/nvme0n1p1 ext4', esp: '/dev/nvme0n1p15', biosBoot: '/dev/nvme0n1p14' }],
    ['Ubuntu 22.04, ESP unmounted: found by its UEFI label on the OS disk, not the data disk\'s', edit('ubuntu-22.04', (f) => unmount(f, '/boot/efi')), UBUNTU_22],
    ['Ubuntu 22.04, findmnt only (lsblk shows no mount points)', edit('ubuntu-22.04', (f) => {
      const walk = (ns: Node[]): void => ns.forEach((n) => { n.mountpoints = [null]; walk(n.children ?? []); });
      walk(f.blockdevices);
    }), UBUNTU_22],
    ['Ubuntu 22.04, lsblk only (no findmnt)', edit('ubuntu-22.04', (f) => { f.filesystems = []; }), UBUNTU_22],
    ['Ubuntu 22.04, /boot on the data disk (unencrypted, persistent): allowed', edit('ubuntu-22.04', (f) => mountAt(f, 'sdc1', '/boot')),
      { ...UBUNTU_22, kind: 'separate-boot', boot: '/dev/sdc1 ext4' }],
    ['… and with the ESP unmounted, the root disk\'s UEFI-labelled ESP wins over /boot\'s disk\'s', edit('ubuntu-22.04', (f) => { mountAt(f, 'sdc1', '/boot'); unmount(f, '/boot/efi'); }),
      { ...UBUNTU_22, kind: 'separate-boot', boot: '/dev/sdc1 ext4' }],
    ['Ubuntu 24.04, /var on a partition of the OS disk that is already encrypted', edit('ubuntu-24.04', (f) => {
      node(f, 'sda').children!.push({ name: 'sda2', type: 'part', size: 1 << 30, fstype: 'crypto_LUKS', children: [
        { name: 'var', kname: 'dm-0', path: '/dev/mapper/var', type: 'crypt', size: (1 << 30) - (16 << 20), fstype: 'ext4' }] });
      mountAt(f, 'var', '/var', '/dev/mapper/var');
    }), { ...UBUNTU_22, kind: 'separate-boot', boot: '/dev/sda16 ext4' }],
    ['systemd\'s autofs placeholder on /boot is not the mount', edit('ubuntu-24.04', (f) => {
      f.filesystems.splice(1, 0, { target: '/boot', source: 'systemd-1', fstype: 'autofs' });
    }), { ...UBUNTU_22, kind: 'separate-boot', boot: '/dev/sda16 ext4' }],
  ])('%s', (_, f, want) => {
    const r = classifyOsLayout(snapshot(f));
    expect(shape(r)).toEqual(want);
    // The resource disk, data disks and the NVMe temp disk are never part of the OS layout.
    const l = (r as { layout: OsLayout }).layout;
    const used = [l.target, l.esp, l.biosBoot].flatMap((p) => (p ? [p.device] : []));
    expect(used.filter((d) => /^\/dev\/(sd[b-z]|vd[b-z]|nvme0n[2-9]|nvme1)/.test(d))).toEqual([]);
  });

  it('carries each partition\'s identity through (Ubuntu 24.04)', () => {
    const f = load('ubuntu-24.04');
    const id = (n: string) => { const d = node(f, n); return { device: `/dev/${n}`, kname: n, size: d['size'], uuid: d['uuid'], partuuid: d['partuuid'] }; };
    expect(classifyOsLayout(snapshot(f))).toEqual({ ok: true, layout: {
      kind: 'separate-boot', disk: '/dev/sda',
      target: { ...id('sda1'), fstype: 'ext4' },
      root: { device: '/dev/sda1', fstype: 'ext4', uuid: node(f, 'sda1')['uuid'] },
      boot: { ...id('sda16'), fstype: 'ext4' },
      esp: { ...id('sda15'), fstype: 'vfat' },
      biosBoot: { device: '/dev/sda14', kname: 'sda14', size: 4 << 20, partuuid: node(f, 'sda14')['partuuid'] },
    } });
  });

  it('the PV is the target and keeps its LVM2_member type (RHEL 9)', () => {
    const r = classifyOsLayout(snapshot(load('rhel-9-lvm')));
    expect(r.ok && r.layout.target).toMatchObject({ device: '/dev/sda2', fstype: 'LVM2_member' });
  });
});

const tiny = (blockdevices: Node[], filesystems: Row[]): Fixture => ({ blockdevices, filesystems });
const part = (name: string, fstype: string, mp?: string, extra: Partial<Node> = {}): Node =>
  ({ name, type: 'part', size: 10 << 30, fstype, mountpoints: [mp ?? null], ...extra });
const row = (target: string, source: string, fstype: string): Row => ({ target, source, fstype });

describe('classifyOsLayout: what it refuses, and why', () => {
  it.each<[string, Fixture, RegExp, Partial<BlockSnapshot>?]>([
    ['RHEL raw without /boot: xfs cannot shrink', load('rhel-raw-no-boot'),
      /^the root \(\/dev\/sda2\) is xfs and there is no separate \/boot: xfs cannot shrink to make room for one$/],
    ['btrfs root without /boot', edit('ubuntu-22.04', (f) => { node(f, 'sda1').fstype = 'btrfs'; f.filesystems[0]!.fstype = 'btrfs'; }),
      /root \(\/dev\/sda1\) is btrfs and there is no separate \/boot: only ext4 is shrunk/],
    ['an LVM root without /boot', load('lvm-no-boot'), /root \(\/dev\/mapper\/vg0-root\) is on LVM \(volume group vg0\) and there is no separate \/boot/],
    ['md RAID root', load('md-raid-root'), /root \(\/dev\/md0\) is on md RAID \(\/dev\/md0\)/],
    ['/var on another plain partition of the OS disk', load('var-on-partition'),
      /^\/var is mounted from \/dev\/sda2 on the OS disk \(\/dev\/sda\), outside \/dev\/sda1, the partition to encrypt: it would stay unencrypted$/],
    ['/home on another VG of the OS disk', edit('ubuntu-24.04', (f) => {
      node(f, 'sda').children!.push(part('sda2', 'LVM2_member', undefined, { children: [
        { name: 'homevg-home', kname: 'dm-0', path: '/dev/mapper/homevg-home', type: 'lvm', size: 1 << 30, fstype: 'ext4' }] }));
      mountAt(f, 'homevg-home', '/home', '/dev/mapper/homevg-home');
    }), /^\/home is mounted from \/dev\/mapper\/homevg-home on the OS disk \(\/dev\/sda\), outside \/dev\/sda1/],
    ['a VG spanning two PVs', load('vg-two-pvs'), /volume group rootvg spans 2 physical volumes \(\/dev\/sda2, \/dev\/sdc1\)/],
    ['no mount at /', edit('ubuntu-22.04', (f) => unmount(f, '/')), /^no file system is mounted at \//],
    ['an overlay root', edit('ubuntu-22.04', (f) => { unmount(f, '/'); f.filesystems.unshift(row('/', 'overlay', 'overlay')); }),
      /^the root is not on a block device: it is a overlay mount of overlay$/],
    ['an NFS root', edit('ubuntu-22.04', (f) => { unmount(f, '/'); f.filesystems.unshift(row('/', '10.0.0.4:/export/vm1', 'nfs4')); }),
      /not on a block device: it is a nfs4 mount of 10\.0\.0\.4:\/export\/vm1/],
    ['a tmpfs root', edit('ubuntu-22.04', (f) => { unmount(f, '/'); f.filesystems.unshift(row('/', 'tmpfs', 'tmpfs')); }), /not on a block device: it is a tmpfs mount/],
    ['a root device lsblk does not list', edit('ubuntu-22.04', (f) => { unmount(f, '/'); f.filesystems.unshift(row('/', '/dev/root', 'ext4')); }),
      /^the root is mounted from \/dev\/root, which lsblk does not list$/],
    ['a root on a whole disk', tiny([{ name: 'vda', type: 'disk', size: 4 << 30, fstype: 'ext4', mountpoints: ['/'] }], [row('/', '/dev/vda', 'ext4')]),
      /root \(\/dev\/vda\) is a whole disk without a partition table/],
    ['an LVM PV on a whole disk', tiny([{ name: 'sda', type: 'disk', size: 30 << 30, fstype: 'LVM2_member', children: [
      { name: 'vg0-root', kname: 'dm-0', path: '/dev/mapper/vg0-root', type: 'lvm', size: 29 << 30, fstype: 'ext4', mountpoints: ['/'] }] }], []),
    /volume group vg0 is on a whole disk \(\/dev\/sda\) without a partition table/],
    ['an LVM root whose PV is on another disk than /boot', edit('rhel-9-lvm', (f) => mountAt(f, 'sdb1', '/boot')),
      /volume group rootvg is on \/dev\/sda but \/boot \(\/dev\/sdb1\) is on \/dev\/sdb: with LVM both must be on the OS disk/],
    ['/boot on an LV inside the target PV', edit('rhel-9-lvm', (f) => {
      node(f, 'sda2').children!.push({ name: 'rootvg-bootlv', kname: 'dm-9', path: '/dev/mapper/rootvg-bootlv', type: 'lvm', size: 1 << 30, fstype: 'xfs' });
      mountAt(f, 'rootvg-bootlv', '/boot', '/dev/mapper/rootvg-bootlv');
    }), /^\/boot \(\/dev\/mapper\/rootvg-bootlv\) is inside \/dev\/sda2, the partition to encrypt/],
    ['/boot a btrfs subvolume of the root partition', tiny([{ name: 'sda', type: 'disk', size: 30 << 30, children: [part('sda1', 'btrfs', '/')] }],
      [row('/', '/dev/sda1[/@]', 'btrfs'), { target: '/boot', source: '/dev/sda1[/@boot]', fstype: 'btrfs' }]),
    /^\/boot \(\/dev\/sda1\) is inside \/dev\/sda1, the partition to encrypt/],
    ['/boot on a LUKS container', tiny([{ name: 'sda', type: 'disk', size: 30 << 30, children: [
      part('sda1', 'ext4', '/'),
      part('sda2', 'crypto_LUKS', undefined, { children: [{ name: 'boot', kname: 'dm-0', path: '/dev/mapper/boot', type: 'crypt', size: 1 << 30, fstype: 'ext4', mountpoints: ['/boot'] }] })] }], []),
    /^\/boot \(\/dev\/mapper\/boot\) is on the LUKS container \/dev\/sda2: the boot loader/],
    ['/boot on the resource disk (known by its udev link)', edit('debian-12', (f) => mountAt(f, 'sdb1', '/boot')),
      /^\/boot \(\/dev\/sdb1\) is on the temporary resource disk \/dev\/sdb, which Azure may wipe$/, { azureLinks: { root: '/dev/sda', resource: '/dev/sdb' } }],
    ['/boot on the resource disk (known by the platform\'s label)', edit('debian-12', (f) => { mountAt(f, 'sdb1', '/boot'); node(f, 'sdb1')['label'] = 'Temporary Storage'; }),
      /^\/boot \(\/dev\/sdb1\) is on the temporary resource disk/],
    ['/boot in fstab but not mounted', edit('ubuntu-24.04', (f) => unmount(f, '/boot')),
      /^fstab mounts LABEL=BOOT at \/boot but nothing is mounted there/, { fstab: parseFstab('LABEL=BOOT /boot ext4 defaults 0 2\n') }],
  ])('%s', (_, f, reason, over) => {
    const r = classifyOsLayout(snapshot(f, over));
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });

  it('an already encrypted root says so, for the caller to decide', () => {
    expect(classifyOsLayout(snapshot(load('already-encrypted')))).toEqual({
      ok: false, alreadyEncrypted: true,
      reason: 'the OS disk is already encrypted: the root (/dev/mapper/osencrypt) is on the LUKS container /dev/sda1',
    });
  });

  it('so does an LVM root on a LUKS PV', () => {
    const f = tiny([{ name: 'sda', type: 'disk', size: 30 << 30, children: [part('sda1', 'ext4', '/boot'), part('sda2', 'crypto_LUKS', undefined, { children: [
      { name: 'cr', kname: 'dm-0', path: '/dev/mapper/cr', type: 'crypt', size: 9 << 30, fstype: 'LVM2_member', children: [
        { name: 'vg-root', kname: 'dm-1', path: '/dev/mapper/vg-root', type: 'lvm', size: 8 << 30, fstype: 'ext4', mountpoints: ['/'] }] }] })] }], []);
    expect(classifyOsLayout(snapshot(f))).toMatchObject({ ok: false, alreadyEncrypted: true, reason: expect.stringMatching(/root \(\/dev\/mapper\/vg-root\) is on the LUKS container \/dev\/sda2$/) });
  });
});
