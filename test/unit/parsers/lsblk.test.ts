import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';
import { mergeBlkid, parseBlkidExport } from '../../../src/parsers/blkid.ts';
import { ParseError } from '../../../src/parsers/parse-error.ts';

const fx = (n: string) => readFileSync(new URL(`../../fixtures/blockdev/${n}`, import.meta.url), 'utf8');

describe('parseLsblk', () => {
  const devs = parseLsblk(fx('azure-lsblk.json'));
  const by = (k: string) => devs.find((d) => d.kname === k)!;

  it('flattens the tree once per kernel device', () => {
    expect(devs.map((d) => d.kname)).toEqual(['loop0', 'sda', 'sda1', 'sda14', 'sda15', 'sdb', 'sdb1', 'sdc', 'sdc1', 'sdd', 'sde', 'sde1', 'dm-0', 'sdf', 'sdf1', 'dm-1', 'sdg', 'sdg1', 'sr0']);
  });

  it.each([
    ['sda', { path: '/dev/sda', type: 'disk', parents: [], children: ['sda1', 'sda14', 'sda15'], mountpoints: [], size: 32212254720, ro: false, model: 'Virtual Disk', hctl: '0:0:0:0' }],
    ['sda1', { pkname: 'sda', parents: ['sda'], fstype: 'ext4', label: 'cloudimg-rootfs', mountpoints: ['/'] }],
    ['dm-0', { name: 'datavg-datalv', path: '/dev/mapper/datavg-datalv', type: 'lvm', parents: ['sde1'], mountpoints: ['/data3'] }],
    ['dm-1', { type: 'crypt', parents: ['sdf1'], fstype: 'ext4', mountpoints: ['/data4'] }],
    ['sdg1', { label: 'BEK VOLUME', fstype: 'vfat' }],
    ['loop0', { ro: true, fstype: 'squashfs' }],
  ])('%s', (k, want) => {
    expect(by(k)).toMatchObject(want);
  });

  it('leaves unknown fields out instead of null', () => {
    expect(by('sda14')).not.toHaveProperty('fstype');
    expect(by('sda14')).not.toHaveProperty('uuid');
  });

  it('accepts the pre-2.37 shape (mountpoint string, sizes and ro as strings, no path)', () => {
    const old = { blockdevices: [{ name: 'sdc', kname: 'sdc', type: 'disk', size: '1024', ro: '0', mountpoint: null, children: [{ name: 'sdc1', kname: 'sdc1', type: 'part', size: '512', ro: '1', mountpoint: '/data', fstype: 'ext4' }] }] };
    expect(parseLsblk(JSON.stringify(old))).toEqual([
      { name: 'sdc', path: '/dev/sdc', kname: 'sdc', parents: [], children: ['sdc1'], type: 'disk', size: 1024, mountpoints: [], ro: false },
      { name: 'sdc1', path: '/dev/sdc1', kname: 'sdc1', parents: ['sdc'], children: [], type: 'part', fstype: 'ext4', size: 512, mountpoints: ['/data'], ro: true },
    ]);
  });

  it('merges a device that appears under two parents (LV over two PVs)', () => {
    const lv = { name: 'vg-lv', kname: 'dm-0', type: 'lvm', size: 10, mountpoints: ['/d'] };
    const j = { blockdevices: [
      { name: 'sdc', type: 'disk', size: 5, children: [lv] },
      { name: 'sdd', type: 'disk', size: 5, children: [lv] },
    ] };
    const out = parseLsblk(j);
    expect(out.map((d) => d.kname)).toEqual(['sdc', 'dm-0', 'sdd']);
    expect(out[1]!.parents).toEqual(['sdc', 'sdd']);
  });

  it.each([['[]'], ['{"blockdevices":[{"name":"x","type":"disk","size":"10G"}]}'], ['{"blockdevices":[{"type":"disk","size":1}]}'], ['nope']])('rejects %s', (t) => {
    expect(() => parseLsblk(t)).toThrow(ParseError);
  });
});

describe('parseFindmnt', () => {
  it('reads the list form', () => {
    const m = parseFindmnt(fx('azure-findmnt.json'));
    expect(m).toHaveLength(13);
    expect(m.find((x) => x.target === '/data3')).toEqual({ target: '/data3', source: '/dev/mapper/datavg-datalv', device: '/dev/mapper/datavg-datalv', fstype: 'ext4', options: ['rw', 'relatime'] });
  });
  it('reads the tree form and strips [subvolume] from the device', () => {
    const tree = { filesystems: [{ target: '/', source: '/dev/vda1', fstype: 'btrfs', options: 'rw', children: [{ target: '/home', source: '/dev/vda1[/@home]', fstype: 'btrfs', options: 'rw,subvol=/@home' }] }] };
    expect(parseFindmnt(tree).map((x) => [x.target, x.device, x.options])).toEqual([['/', '/dev/vda1', ['rw']], ['/home', '/dev/vda1', ['rw', 'subvol=/@home']]]);
  });
});

describe('blkid', () => {
  it('parses export output with escaped blanks', () => {
    expect(parseBlkidExport(fx('lab-blkid.txt'))).toEqual([
      { devname: '/dev/vdb', type: 'vfat', uuid: '96FA-7459', label: 'BEK VOLUME' },
      { devname: '/dev/vde', type: 'crypto_LUKS', uuid: 'cce6c401-fbaf-4eda-8828-8c05fb5c814b', label: 'data1' },
    ]);
  });
  it('fills only what lsblk left empty', () => {
    const merged = mergeBlkid(parseLsblk(fx('lab-lsblk.json')), [...parseBlkidExport(fx('lab-blkid.txt')), { devname: '/dev/vdc', type: 'xfs' }]);
    expect(merged.find((d) => d.kname === 'vdb')).toMatchObject({ fstype: 'vfat', label: 'BEK VOLUME' });
    expect(merged.find((d) => d.kname === 'vdc')!.fstype).toBe('ext4');
  });
});
