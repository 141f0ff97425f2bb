// The names recorded to find a device again: which link is chosen as its persistent name, and when a
// hardware name is withheld because it may point at another disk after a reboot.
import { describe, expect, it } from 'vitest';
import { deviceGraph } from '../../../src/encryption/device-graph.ts';
import { hardwareIdNames, hardwareNamer, lunLinkOf, persistentNameOf, sharedSerials } from '../../../src/encryption/names.ts';
import { parseLsblk } from '../../../src/parsers/lsblk.ts';

const g = deviceGraph(parseLsblk({ blockdevices: [
  { name: 'sdc', type: 'disk', size: 100, serial: 'S-C', children: [{ name: 'sdc1', type: 'part', size: 100, fstype: 'ext4', uuid: 'fs-c1' }] },
  { name: 'sdd', type: 'disk', size: 100, serial: 'clone', fstype: 'crypto_LUKS', uuid: 'luks-d', children: [
    { name: 'ade-d', kname: 'dm-0', path: '/dev/mapper/ade-d', type: 'crypt', size: 98, fstype: 'ext4', uuid: 'fs-d' }] },
  { name: 'sde', type: 'disk', size: 100, serial: 'clone', children: [
    { name: 'vg-lv', kname: 'dm-1', path: '/dev/mapper/vg-lv', type: 'lvm', size: 90 }] },
  { name: 'sdf', type: 'disk', size: 100, fstype: 'xfs', uuid: 'fs-f' },
  { name: 'loop0', type: 'loop', size: 1, serial: 'S-C' },
] }), { 'scsi1/lun0': '/dev/sdc', 'scsi1/lun0-part1': '/dev/sdc1', root: '/dev/sdf', 'scsi1/lun5': '/dev/dm-0' });
const dev = (k: string) => g.byKname.get(k)!;

describe('persistentNameOf', () => {
  it.each<[string, Record<string, string> | undefined, string | undefined]>([
    ['sdc', undefined, '/dev/disk/azure/scsi1/lun0'],
    ['sdc1', undefined, '/dev/disk/azure/scsi1/lun0-part1'],
    ['dm-0', undefined, '/dev/disk/azure/scsi1/lun5'],
    ['dm-1', undefined, '/dev/mapper/vg-lv'],
    ['sdf', undefined, '/dev/disk/by-uuid/fs-f'],
    ['sdf', { 'fs-f': '/dev/sdf' }, '/dev/disk/by-uuid/fs-f'],
    ['sdf', { 'fs-f': '/dev/sdg' }, undefined],
    ['sde', undefined, undefined],
  ])('%s with by-uuid %j: %s (LUN link, then mapper name, then a confirmed UUID; never /dev/disk/azure/root)', (k, byUuid, want) => {
    expect(persistentNameOf(g, dev(k), byUuid)).toBe(want);
  });

  it('lunLinkOf takes only scsiN/lunM(-partK) links', () => {
    expect([lunLinkOf(g, dev('sdc1')), lunLinkOf(g, dev('sdf'))]).toEqual(['scsi1/lun0-part1', undefined]);
  });
});

describe('hardware names', () => {
  it('a serial on two disks is shared; one also on a loop device is not', () => {
    expect([...sharedSerials(g)]).toEqual(['clone']);
  });

  it.each<[string, string[]]>([
    ['sdc', ['/dev/disk/by-id/wwn-0x1', '/dev/disk/by-id/scsi-S-C']],
    ['sdc1', ['/dev/disk/by-id/wwn-0x1-part1']],
    ['sdd', []],
    ['dm-0', []],
    ['dm-1', []],
  ])('%s: %j (none on a disk with a shared serial, none made from content)', (k, want) => {
    const byId = { 'scsi-S-C': '/dev/sdc', 'wwn-0x1': '/dev/sdc', 'wwn-0x1-part1': '/dev/sdc1', 'scsi-clone': '/dev/sdd', 'dm-name-ade-d': '/dev/dm-0', 'dm-name-vg-lv': '/dev/mapper/vg-lv' };
    expect(hardwareNamer(g, byId)(dev(k))).toEqual(want);
  });

  it('no by-id links, no hardware names', () => {
    expect(hardwareNamer(g, undefined)(dev('sdc'))).toEqual([]);
  });

  it('hardwareIdNames ranks by bus, then by name, and drops content-derived names', () => {
    const byId = { 'ata-Z': '/dev/sdx', 'usb-A': '/dev/sdx', 'nvme-B': '/dev/sdx', 'nvme-A': '/dev/sdx', 'lvm-pv-uuid-1': '/dev/sdx', 'md-name-r': '/dev/sdx', 'odd-1': '/dev/sdx', 'wwn-9': '/dev/sdy' };
    expect(hardwareIdNames(byId, ['/dev/sdx'])).toEqual(['nvme-A', 'nvme-B', 'ata-Z', 'usb-A', 'odd-1']);
  });
});
