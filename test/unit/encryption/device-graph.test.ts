// The device-tree lookups one by one: every spec form fstab, crypttab and findmnt use, the walks up and
// down the tree, and where mounts and fstab entries land.
import { describe, expect, it } from 'vitest';
import {
  ancestors, descendants, deviceGraph, disksOf, fstabEntryOf, fstypeOf, mountpointsOf, mountTable, resolveSpec, topDisks,
} from '../../../src/encryption/device-graph.ts';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';
import { parseFstab } from '../../../src/parsers/fstab.ts';

const devices = parseLsblk({ blockdevices: [
  { name: 'sda', type: 'disk', size: 100, children: [
    { name: 'sda1', type: 'part', size: 80, fstype: 'ext4', uuid: 'root-uuid', partuuid: 'PU-1', label: 'root', mountpoints: ['/'] },
    { name: 'sda15', type: 'part', size: 10, fstype: 'vfat', uuid: 'EF00', label: 'EFI System', mountpoints: ['/boot/efi'] }] },
  { name: 'sdc', type: 'disk', size: 100, children: [
    { name: 'sdc1', type: 'part', size: 100, fstype: 'crypto_LUKS', uuid: 'luks-c', children: [
      { name: 'data-c', kname: 'dm-0', path: '/dev/mapper/data-c', type: 'crypt', size: 98, fstype: 'xfs', uuid: 'fs-c' }] }] },
  { name: 'sdd', type: 'disk', size: 50, children: [{ name: 'sdd1', type: 'part', size: 50, fstype: 'linux_raid_member', uuid: 'raid-u', children: [
    { name: 'md0', type: 'raid1', size: 49, fstype: 'ext4', uuid: 'RAID-U' }] }] },
  { name: 'sde', type: 'disk', size: 50, children: [{ name: 'sde1', type: 'part', size: 50, fstype: 'linux_raid_member', uuid: 'raid-u', children: [
    { name: 'md0', type: 'raid1', size: 49, fstype: 'ext4', uuid: 'RAID-U' }] }] },
  { name: 'legacy', kname: 'dm-1', path: '/dev/dm-1', type: 'crypt', size: 10 },
  { name: 'loop0', type: 'loop', size: 10, fstype: 'squashfs', mountpoints: ['/snap/core'] },
] });
const g = deviceGraph(devices, { 'root-part1': '/dev/sda1', 'scsi1/lun0': '/dev/sdc', 'scsi1/lun1': '/dev/sdz' });

describe('resolveSpec: each way a spec names a device', () => {
  it.each<[string, string | undefined]>([
    ['UUID=root-uuid', 'sda1'],
    ['UUID=ROOT-UUID', 'sda1'],
    ['"UUID=root-uuid"', 'sda1'],
    ["UUID='root-uuid'", 'sda1'],
    ['PARTUUID=pu-1', 'sda1'],
    ['LABEL=EFI System', 'sda15'],
    ['LABEL=efi system', undefined],
    ['UUID=raid-u', 'md0'],
    ['UUID=no-such', undefined],
    ['/dev/disk/by-uuid/root-uuid', 'sda1'],
    ['/dev/disk/by-label/EFI\\x20System', 'sda15'],
    ['/dev/disk/by-partuuid/PU-1', 'sda1'],
    ['/dev/disk/azure/root-part1', 'sda1'],
    ['/dev/disk/azure/scsi1/lun0', 'sdc'],
    ['/dev/disk/azure/scsi1/lun1', undefined],
    ['/dev/disk/azure/resource', undefined],
    ['/dev/mapper/data-c', 'dm-0'],
    ['/dev/mapper/legacy', 'dm-1'],
    ['/dev/dm-0', 'dm-0'],
    ['/dev/sdc1', 'sdc1'],
    ['/dev/sdz', undefined],
    ['tmpfs', undefined],
  ])('%s → %s', (spec, kname) => {
    expect(resolveSpec(g, spec)?.kname).toBe(kname);
  });
});

describe('walks of the tree', () => {
  it.each<[string, string, string[]]>([
    ['ancestors', 'dm-0', ['dm-0', 'sdc1', 'sdc']],
    ['ancestors', 'md0', ['md0', 'sdd1', 'sdd', 'sde1', 'sde']],
    ['descendants', 'sdc', ['sdc', 'sdc1', 'dm-0']],
    ['descendants', 'sdd', ['sdd', 'sdd1', 'md0']],
    ['disksOf', 'md0', ['sdd', 'sde']],
    ['disksOf', 'dm-0', ['sdc']],
    ['disksOf', 'sda', ['sda']],
    ['disksOf', 'loop0', ['loop0']],
  ])('%s(%s)', (walk, k, want) => {
    const f = { ancestors, descendants, disksOf }[walk as 'ancestors' | 'descendants' | 'disksOf'];
    expect([...f(g, k)]).toEqual(want);
  });

  it('topDisks: whole disks only, not loop devices or top-level mappings', () => {
    expect(topDisks(g).map((d) => d.kname)).toEqual(['sda', 'sdc', 'sdd', 'sde']);
  });
});

describe('mountTable', () => {
  const mounts = parseFindmnt({ filesystems: [
    { target: '/', source: '/dev/sda1', fstype: 'ext4' },
    { target: '/srv', source: '/dev/sda1[/srv]', fstype: 'ext4' },
    { target: '/data', source: 'UUID=fs-c', fstype: 'xfs' },
    { target: '/data', source: '/dev/mapper/data-c', fstype: 'btrfs' },
    { target: '/tmp', source: 'tmpfs', fstype: 'tmpfs' },
  ] });
  const t = mountTable(g, mounts);

  it.each<[string, string[]]>([
    ['sda1', ['/', '/srv']],
    ['sda15', ['/boot/efi']],
    ['dm-0', ['/data']],
    ['loop0', ['/snap/core']],
    ['sdc1', []],
  ])('mount points of %s: findmnt first, lsblk added, each once; sources that are no path are ignored', (k, want) => {
    expect(mountpointsOf(t, k)).toEqual(want);
  });

  it('file system type: lsblk\'s, else the first findmnt gave', () => {
    const noUdev = parseLsblk({ blockdevices: [{ name: 'vda', type: 'disk', size: 1 }] });
    const gv = deviceGraph(noUdev);
    const tv = mountTable(gv, parseFindmnt({ filesystems: [{ target: '/', source: '/dev/vda', fstype: 'ext4' }, { target: '/x', source: '/dev/vda', fstype: 'xfs' }] }));
    expect(fstypeOf(tv, noUdev[0]!)).toBe('ext4');
    expect(fstypeOf(t, g.byKname.get('dm-0')!)).toBe('xfs');
    expect(fstypeOf(mountTable(gv, []), noUdev[0]!)).toBeUndefined();
  });
});

describe('fstabEntryOf', () => {
  const fstab = parseFstab([
    'UUID=root-uuid / ext4 defaults 0 1',
    '/dev/disk/cloud/azure_resource-part1 /mnt auto defaults 0 0',
    '/dev/sdc1 /data xfs defaults 0 0',
    'LABEL=EFI\\040System /boot/efi vfat defaults 0 0',
  ].join('\n'));
  const dev = (k: string) => g.byKname.get(k)!;

  it.each<[string, string[], string | undefined]>([
    ['sda1', ['/'], '/'],
    ['sda15', [], '/boot/efi'],
    ['dm-0', ['/mnt'], '/mnt'],
    ['dm-0', ['/data'], undefined],
    ['sdd1', [], undefined],
  ])('%s mounted at %j: by spec, else by mount point when the spec names none of ours', (k, mps, file) => {
    expect(fstabEntryOf(g, fstab, dev(k), mps)?.file).toBe(file);
  });
});
