// The disk-role rules one by one, each on the smallest tree that shows it: which disk is the OS, BEK and
// resource disk, the LUN of each, and the role a device on them gets.
import { describe, expect, it } from 'vitest';
import { deviceGraph, mountTable, type DeviceGraph } from '../../../src/encryption/device-graph.ts';
import {
  bekDisks, carriesData, diskLuns, diskRoles, hasResourceHint, osDiskRole, osDisks, resourceDisks, volumeRole,
} from '../../../src/encryption/roles.ts';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';
import { parseFstab } from '../../../src/parsers/fstab.ts';

type Node = Record<string, unknown>;
const graph = (blockdevices: Node[], links: Record<string, string> = {}) => deviceGraph(parseLsblk({ blockdevices }), links);
const dev = (g: DeviceGraph, k: string) => g.byKname.get(k)!;
const findmnt = (rows: Array<[string, string]>) => parseFindmnt({ filesystems: rows.map(([source, target]) => ({ target, source, fstype: 'ext4' })) });

const OS_DISK: Node = { name: 'sda', type: 'disk', size: 100, children: [
  { name: 'sda1', type: 'part', size: 70, fstype: 'ext4', mountpoints: ['/'] },
  { name: 'sda2', type: 'part', size: 10, fstype: 'ext4' },
  { name: 'sda3', type: 'part', size: 10, fstype: 'ext4' },
  { name: 'sda4', type: 'part', size: 5, fstype: 'ext4', mountpoints: ['/var'] },
  { name: 'sda14', type: 'part', size: 1 },
  { name: 'sda15', type: 'part', size: 4, fstype: 'vfat', mountpoints: ['/boot/efi'] },
] };
const LUKS_ROOT: Node = { name: 'sdr', type: 'disk', size: 100, children: [
  { name: 'sdr1', type: 'part', size: 10, fstype: 'ext4', mountpoints: ['/boot'] },
  { name: 'sdr2', type: 'part', size: 90, fstype: 'crypto_LUKS', children: [
    { name: 'osencrypt', kname: 'dm-0', path: '/dev/mapper/osencrypt', type: 'crypt', size: 89, fstype: 'ext4', mountpoints: ['/'] }] }] };
const disk = (name: string, part: Node = {}, extra: Node = {}): Node =>
  ({ name, type: 'disk', size: 100, ...extra, children: [{ name: `${name}1`, type: 'part', size: 100, fstype: 'ext4', ...part }] });

describe('osDisks', () => {
  it('the disk under `/`, through a LUKS partition, with the chain below `/`', () => {
    const g = graph([LUKS_ROOT, disk('sdc')]);
    const os = osDisks(g, mountTable(g, []));
    expect([...os.disks]).toEqual(['sdr']);
    expect(os.root?.kname).toBe('dm-0');
    expect([...os.rootChain]).toEqual(['dm-0', 'sdr2', 'sdr']);
  });

  it('/dev/disk/azure/root when nothing is mounted at `/`; none without either', () => {
    const g = graph([disk('sda', { mountpoints: [null] }), disk('sdc')], { root: '/dev/sdc' });
    expect([...osDisks(g, mountTable(g, [])).disks]).toEqual(['sdc']);
    const bare = graph([disk('sda', { mountpoints: [null] })]);
    expect(osDisks(bare, mountTable(bare, []))).toEqual({ disks: new Set(), rootChain: new Set() });
  });

  it('findmnt\'s `/` counts when lsblk shows no mount point', () => {
    const g = graph([disk('sda'), disk('sdc')]);
    expect([...osDisks(g, mountTable(g, findmnt([['/dev/sdc1', '/']]))).disks]).toEqual(['sdc']);
  });
});

describe('bekDisks', () => {
  it.each<[string, string, boolean]>([
    ['exact label', 'BEK VOLUME', true],
    ['any case, blanks around', ' bek volume ', true],
    ['another label', 'BEK VOLUMES', false],
  ])('%s', (_, label, bek) => {
    const g = graph([disk('sdg', { fstype: 'vfat', label }), disk('sdc')]);
    expect([...bekDisks(g)]).toEqual(bek ? ['sdg'] : []);
  });
});

describe('diskLuns', () => {
  it('LUN from each scsiN/lunM link of a disk; partition, root and dangling links give none', () => {
    const g = graph([disk('sdc'), disk('sdd'), disk('sde')], {
      'scsi1/lun0': '/dev/sdc', 'scsi1/lun0-part1': '/dev/sdc1', 'scsi0/lun12': '/dev/sdd', root: '/dev/sde', 'scsi1/lun3': '/dev/sdz',
    });
    expect(Object.fromEntries(diskLuns(g))).toEqual({ sdc: 0, sdd: 12 });
  });
});

describe('hasResourceHint: each sign of a temp disk', () => {
  it.each<[string, Node, Node, Array<[string, string]>, boolean, boolean]>([
    ['mounted at /mnt', { mountpoints: ['/mnt'] }, {}, [], false, true],
    ['mounted at /mnt/resource (findmnt)', {}, {}, [['/dev/sdb1', '/mnt/resource']], false, true],
    ['in fstab at /mnt', {}, {}, [], true, true],
    ['labelled Temporary Storage', { label: ' temporary STORAGE' }, {}, [], false, true],
    ['ntfs', { fstype: 'ntfs' }, {}, [], false, true],
    ['an NVMe Direct Disk (v6 sizes)', {}, { model: 'Microsoft NVMe Direct Disk' }, [], false, true],
    ['a data file system at /data', { mountpoints: ['/data'] }, { model: 'Virtual Disk' }, [], false, false],
    ['mounted below /mnt', { mountpoints: ['/mnt/data'] }, {}, [], false, false],
  ])('%s', (_, part, extra, mounts, inFstab, hint) => {
    const g = graph([disk('sdb', part, extra)]);
    expect(hasResourceHint(g, dev(g, 'sdb'), mountTable(g, findmnt(mounts)), new Set(inFstab ? ['sdb1'] : []))).toBe(hint);
  });
});

describe('resourceDisks', () => {
  const g = graph([disk('sdb', { mountpoints: ['/mnt'] }), disk('sdc', { fstype: 'ntfs' }), disk('sdd')], { 'scsi1/lun0': '/dev/sdc' });
  const inputs = (over: Partial<Parameters<typeof resourceDisks>[1]> = {}) => ({ mounts: mountTable(g, []), fstab: [], taken: new Set<string>(), luns: diskLuns(g), ...over });

  it('a hinted disk without a LUN; a hinted disk with one is a data disk', () => {
    expect([...resourceDisks(g, inputs())]).toEqual(['sdb']);
  });

  it('without LUN links every hinted disk is taken for it', () => {
    expect([...resourceDisks(g, inputs({ luns: new Map() }))]).toEqual(['sdb', 'sdc']);
  });

  it('never the OS or BEK disk', () => {
    expect([...resourceDisks(g, inputs({ taken: new Set(['sdb']) }))]).toEqual([]);
  });

  it('an fstab entry at /mnt that names the disk\'s partition is a hint', () => {
    const fstab = parseFstab('/dev/disk/azure/scsi1/lun9-part1 /mnt auto defaults 0 0\n/dev/sdd1 /mnt/resource auto defaults 0 0');
    expect([...resourceDisks(g, inputs({ fstab, taken: new Set(['sdb']) }))]).toEqual(['sdd']);
  });

  it('/dev/disk/azure/resource decides alone, hints or not', () => {
    const linked = graph([disk('sdb', { mountpoints: ['/mnt'] }), disk('sdd')], { resource: '/dev/sdd' });
    expect([...resourceDisks(linked, { mounts: mountTable(linked, []), fstab: [], taken: new Set(), luns: new Map() })]).toEqual(['sdd']);
  });
});

describe('osDiskRole: boot or os on the OS disk', () => {
  const g = graph([OS_DISK]);
  const os = osDisks(g, mountTable(g, []));
  it.each<[string, string[], string, 'os' | 'boot']>([
    ['sda', [], '', 'os'],
    ['sda1', ['/'], '', 'os'],
    ['sda15', ['/boot/efi'], '', 'boot'],
    ['sda14', [], '', 'boot'],
    ['sda2', [], '/dev/sda2 /boot ext4 defaults 0 0', 'boot'],
    ['sda3', [], '/dev/sda3 /bootstrap ext4 defaults 0 0', 'os'],
    ['sda4', ['/var'], '', 'os'],
  ])('%s mounted at %j, fstab %j: %s', (k, mps, fstab, want) => {
    expect(osDiskRole(g, os, dev(g, k), mps, parseFstab(fstab))).toBe(want);
  });

  const lg = graph([LUKS_ROOT]);
  const luksOs = osDisks(lg, mountTable(lg, []));
  it.each<[string, string[], 'os' | 'boot']>([
    ['sdr1', ['/boot'], 'boot'],
    ['sdr2', [], 'os'],
    ['dm-0', ['/'], 'os'],
  ])('LUKS root: %s is %s', (k, mps, want) => {
    expect(osDiskRole(lg, luksOs, dev(lg, k), mps, [])).toBe(want);
  });

  it('a partition on the way to `/` is never boot, even with no file system known (no udev)', () => {
    const vg = graph([{ name: 'vda', type: 'disk', size: 10, children: [
      { name: 'vda1', type: 'part', size: 9, mountpoints: ['/'] }, { name: 'vda2', type: 'part', size: 1 }] }]);
    const vos = osDisks(vg, mountTable(vg, []));
    expect(osDiskRole(vg, vos, dev(vg, 'vda1'), ['/'], [])).toBe('os');
    expect(osDiskRole(vg, vos, dev(vg, 'vda2'), [], [])).toBe('boot');
  });
});

describe('carriesData', () => {
  it.each<[string, Node, string | undefined, boolean]>([
    ['a file system', { type: 'part' }, 'ext4', true],
    ['a LUKS container', { type: 'part', fstype: 'crypto_LUKS' }, 'crypto_LUKS', true],
    ['a dm-crypt mapping with nothing on it yet', { type: 'crypt' }, undefined, true],
    ['an LVM PV', { type: 'part' }, 'LVM2_member', false],
    ['swap', { type: 'part' }, 'swap', false],
    ['a RAID member', { type: 'part' }, 'linux_raid_member', false],
    ['nothing', { type: 'disk' }, undefined, false],
  ])('%s: %s', (_, d, fstype, want) => {
    const [b] = parseLsblk({ blockdevices: [{ name: 'x', size: 1, ...d }] });
    expect(carriesData(b!, fstype)).toBe(want);
  });
});

describe('volumeRole', () => {
  const g = graph([
    OS_DISK,
    disk('sdg', { fstype: 'vfat', label: 'BEK VOLUME', mountpoints: ['/mnt'] }),
    disk('sdb', { fstype: 'ntfs' }),
    { name: 'sdc', type: 'disk', size: 100, children: [{ name: 'sdc1', type: 'part', size: 100, fstype: 'LVM2_member', children: [
      { name: 'vg-lv', kname: 'dm-3', path: '/dev/mapper/vg-lv', type: 'lvm', size: 90, fstype: 'xfs' }] }] },
    { name: 'loop0', type: 'loop', size: 10, fstype: 'squashfs' },
  ]);
  const mounts = mountTable(g, []);
  const r = { mounts, fstab: [], roles: diskRoles(g, mounts, []) };

  it.each<[string, string]>([
    ['sda4', 'os'], ['sda15', 'boot'],
    ['sdg1', 'bek'], ['sdb', 'resource'], ['sdb1', 'resource'],
    ['sdc', 'other'], ['sdc1', 'other'], ['dm-3', 'data'],
    ['loop0', 'other'],
  ])('%s: %s', (k, want) => {
    expect(volumeRole(g, r, dev(g, k))).toBe(want);
  });

  it('the BEK disk wins over the resource hints (it is mounted at /mnt here)', () => {
    expect([...r.roles.resource]).toEqual(['sdb']);
  });
});
