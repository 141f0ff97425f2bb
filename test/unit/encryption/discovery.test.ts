import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyVolumes, summarize, type DiscoveryInput, type StatusMarkers, type Volume } from '../../../src/encryption/discovery.ts';
import { parseFindmnt, parseLsblk } from '../../../src/parsers/lsblk.ts';
import { parseFstab } from '../../../src/parsers/fstab.ts';
import { parseCrypttab } from '../../../src/parsers/crypttab.ts';
import { parseLuksDumpJson } from '../../../src/parsers/luksdump.ts';
import { mergeBlkid, parseBlkidExport } from '../../../src/parsers/blkid.ts';

const fx = (n: string) => readFileSync(new URL(`../../fixtures/${n}`, import.meta.url), 'utf8');

const AZURE_LINKS = {
  root: '/dev/sda', 'root-part1': '/dev/sda1', resource: '/dev/sdb', 'resource-part1': '/dev/sdb1',
  'scsi1/lun0': '/dev/sdc', 'scsi1/lun0-part1': '/dev/sdc1', 'scsi1/lun1': '/dev/sdd', 'scsi1/lun2': '/dev/sde',
  'scsi1/lun2-part1': '/dev/sde1', 'scsi1/lun3': '/dev/sdf', 'scsi1/lun3-part1': '/dev/sdf1',
};
const LUNS_ONLY = Object.fromEntries(Object.entries(AZURE_LINKS).filter(([k]) => k.startsWith('scsi1/')));

function azure(over: Partial<DiscoveryInput> = {}): DiscoveryInput {
  return {
    devices: parseLsblk(fx('blockdev/azure-lsblk.json')),
    mounts: parseFindmnt(fx('blockdev/azure-findmnt.json')),
    fstab: parseFstab(fx('blockdev/azure-fstab')),
    crypttab: parseCrypttab(fx('blockdev/azure-crypttab')),
    azureLinks: AZURE_LINKS,
    ...over,
  };
}
const roles = (vs: Volume[]) => Object.fromEntries(vs.map((v) => [v.kname, v.role]));
const AZURE_ROLES = {
  loop0: 'other', sda: 'os', sda1: 'os', sda14: 'boot', sda15: 'boot', sdb: 'resource', sdb1: 'resource',
  sdc: 'other', sdc1: 'data', sdd: 'data', sde: 'other', sde1: 'other', 'dm-0': 'data', sdf: 'other', sdf1: 'data', 'dm-1': 'data',
  sdg: 'bek', sdg1: 'bek', sr0: 'other',
};

describe('classifyVolumes: roles', () => {
  it.each([
    ['all udev links', {}],
    ['LUN links only (resource found by /mnt)', { azureLinks: LUNS_ONLY }],
    ['no links at all', { azureLinks: {} }],
    ['no findmnt (lsblk MOUNTPOINTS only)', { mounts: [] }],
  ])('Azure VM, %s', (_, over) => {
    expect(roles(classifyVolumes(azure(over)))).toEqual(AZURE_ROLES);
  });

  it('finds a fresh temp disk by its platform label when nothing is mounted at /mnt', () => {
    const lsblk = JSON.parse(fx('blockdev/azure-lsblk.json')) as { blockdevices: Array<{ name: string; children?: Array<Record<string, unknown>> }> };
    const sdb1 = lsblk.blockdevices.find((d) => d.name === 'sdb')!.children![0]!;
    Object.assign(sdb1, { fstype: 'ntfs', label: 'Temporary Storage', mountpoints: [null] });
    const vs = classifyVolumes(azure({ devices: parseLsblk(lsblk), mounts: parseFindmnt(fx('blockdev/azure-findmnt.json')).filter((m) => m.target !== '/mnt'), fstab: [], azureLinks: LUNS_ONLY }));
    expect(roles(vs)).toMatchObject({ sdb: 'resource', sdb1: 'resource' });
  });

  it('a data disk mounted at /mnt stays data when its LUN is known (VM size without a temp disk)', () => {
    const mounts = parseFindmnt(fx('blockdev/azure-findmnt.json')).map((m) => (m.target === '/data1' ? { ...m, target: '/mnt' } : m.target === '/mnt' ? { ...m, target: '/other' } : m));
    const lsblk = fx('blockdev/azure-lsblk.json').replace('"/data1"', '"/mnt"').replace(/"\/mnt"\n/, '"/other"\n');
    const vs = classifyVolumes(azure({ devices: parseLsblk(lsblk), mounts, fstab: [], azureLinks: LUNS_ONLY }));
    expect(roles(vs)).toMatchObject({ sdc1: 'data', sdb1: 'data', sdb: 'other' });
  });

  it('the OS disk is found through LVM on LUKS (/ on a crypt mapping of a partition)', () => {
    const lsblk = { blockdevices: [{ name: 'sda', type: 'disk', size: 100, children: [
      { name: 'sda1', type: 'part', size: 10, fstype: 'ext4', mountpoints: ['/boot'] },
      { name: 'sda2', type: 'part', size: 90, fstype: 'crypto_LUKS', children: [
        { name: 'osencrypt', kname: 'dm-0', path: '/dev/mapper/osencrypt', type: 'crypt', size: 89, fstype: 'LVM2_member', children: [
          { name: 'rootvg-rootlv', kname: 'dm-1', path: '/dev/mapper/rootvg-rootlv', type: 'lvm', size: 50, fstype: 'xfs', mountpoints: ['/'] },
          { name: 'rootvg-varlv', kname: 'dm-2', path: '/dev/mapper/rootvg-varlv', type: 'lvm', size: 39, fstype: 'xfs', mountpoints: ['/var'] }] }] }] }] };
    const vs = classifyVolumes({ devices: parseLsblk(lsblk), mounts: [], fstab: [] });
    expect(roles(vs)).toEqual({ sda: 'os', sda1: 'boot', sda2: 'os', 'dm-0': 'os', 'dm-1': 'os', 'dm-2': 'os' });
    expect(vs.find((v) => v.kname === 'dm-1')).toMatchObject({ encrypted: true, mapperName: 'osencrypt', luksDevice: '/dev/sda2', persistentName: '/dev/mapper/rootvg-rootlv' });
    expect(summarize(vs).os).toBe('Encrypted');
  });
});

describe('classifyVolumes: details', () => {
  const vs = classifyVolumes(azure());
  const v = (k: string) => vs.find((x) => x.kname === k)!;
  it.each([
    ['sdc1', { device: '/dev/sdc1', disk: '/dev/sdc', lun: 0, persistentName: '/dev/disk/azure/scsi1/lun0-part1', fstype: 'ext4', mountpoint: '/data1', encrypted: false }],
    ['sdd', { lun: 1, persistentName: '/dev/disk/azure/scsi1/lun1', fstype: 'xfs', mountpoint: '/data2', encrypted: false }],
    ['dm-0', { lun: 2, persistentName: '/dev/mapper/datavg-datalv', mountpoint: '/data3', encrypted: false }],
    ['sdf1', { lun: 3, fstype: 'crypto_LUKS', encrypted: true, mapperName: '8b1f4c5e-6d7a-4e8b-9c0d-1e2f3a4b5c6d', mappedAs: '/dev/mapper/8b1f4c5e-6d7a-4e8b-9c0d-1e2f3a4b5c6d' }],
    ['dm-1', { encrypted: true, mountpoint: '/data4', mapperName: '8b1f4c5e-6d7a-4e8b-9c0d-1e2f3a4b5c6d', luksDevice: '/dev/sdf1' }],
    ['sda1', { persistentName: '/dev/disk/by-uuid/4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11', mountpoint: '/' }],
    ['sdg1', { label: 'BEK VOLUME', mountpoint: '/mnt/azure_bek_disk' }],
  ])('%s', (k, want) => {
    expect(v(k)).toMatchObject(want);
  });

  it.each([
    ['sda1', '/'], ['sda15', '/boot/efi'], ['sdb1', '/mnt'], ['sdc1', '/data1'], ['sdd', '/data2'], ['dm-0', '/data3'], ['dm-1', '/data4'], ['sdg1', '/mnt/azure_bek_disk'],
  ])('fstab entry of %s is %s (UUID=, LABEL=, escaped label, azure links, mapper, kernel name)', (k, file) => {
    expect(v(k).fstabEntry?.file).toBe(file);
  });

  it('without /dev/disk/cloud links the resource entry is matched by mount point', () => {
    expect(v('sdb1').fstabEntry?.spec).toBe('/dev/disk/cloud/azure_resource-part1');
  });

  it('crypttab entries attach to container and mapping', () => {
    expect(v('sdf1').crypttabEntry?.device).toBe('/dev/disk/azure/scsi1/lun3-part1');
    expect(v('dm-1').crypttabEntry?.name).toBe('8b1f4c5e-6d7a-4e8b-9c0d-1e2f3a4b5c6d');
    expect(v('sdc1').crypttabEntry).toBeUndefined();
  });

  it('by-uuid map, when given, must confirm the link', () => {
    const w = classifyVolumes(azure({ byUuid: { '7f3e9c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6b': '/dev/sdc1' }, azureLinks: {} }));
    expect(w.find((x) => x.kname === 'sdc1')!.persistentName).toBe('/dev/disk/by-uuid/7f3e9c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6b');
    expect(w.find((x) => x.kname === 'sda1')!.persistentName).toBeUndefined();
  });
});

describe('the lab (virtio, blkid-filled, LUKS2 mid-encryption)', () => {
  const devices = mergeBlkid(parseLsblk(fx('blockdev/lab-lsblk.json')), parseBlkidExport(fx('blockdev/lab-blkid.txt')));
  const input: DiscoveryInput = { devices, mounts: parseFindmnt(fx('blockdev/lab-findmnt.json')), fstab: [], luks: { '/dev/vde': parseLuksDumpJson(fx('luks/luks2-reencrypt-killed.json')) } };
  const vs = classifyVolumes(input);
  it('classifies', () => {
    expect(roles(vs)).toEqual({ vda: 'os', vda1: 'os', vdb: 'bek', vdc: 'data', vdd: 'other', vdd1: 'data', vde: 'data', 'dm-0': 'data' });
  });
  it('carries the reencryption up to the mounted mapping', () => {
    expect(vs.find((v) => v.kname === 'dm-0')).toMatchObject({ encrypted: true, reencrypt: { mode: 'encrypt' }, luksDevice: '/dev/vde' });
    expect(summarize(vs)).toEqual({ os: 'NotEncrypted', data: 'EncryptionInProgress' });
  });
  it('finished: NotEncrypted while a plain data fs is mounted', () => {
    expect(summarize(classifyVolumes({ ...input, luks: { '/dev/vde': parseLuksDumpJson(fx('luks/luks2-encrypted.json')) } }))).toEqual({ os: 'NotEncrypted', data: 'NotEncrypted' });
  });
  it('decrypt mid-way reports DecryptionInProgress', () => {
    expect(summarize(classifyVolumes({ ...input, luks: { '/dev/vde': parseLuksDumpJson(fx('luks/luks2-decrypt-init.json')) } })).data).toBe('DecryptionInProgress');
  });
});

describe('summarize', () => {
  const base = classifyVolumes(azure());
  const only = (pred: (v: Volume) => boolean) => base.filter((v) => v.role !== 'data' || pred(v));
  const encryptedData = only((v) => v.encrypted);
  const noData = only(() => false);
  const dmRootNoCrypt: Volume[] = base.map((v) => (v.kname === 'sda1' ? { ...v, device: '/dev/dm-5', mountpoints: ['/'] } : v));
  const osencryptWaiting: Volume[] = [...base, { ...base.find((v) => v.kname === 'dm-1')!, kname: 'dm-9', name: 'osencrypt', device: '/dev/mapper/osencrypt', role: 'os', mountpoint: undefined, mountpoints: [] } as Volume];
  const rootReencrypting: Volume[] = base.map((v) => (v.kname === 'sda1' ? { ...v, encrypted: true, reencrypt: { mode: 'encrypt' } } : v));
  // the OS disk's header: a reencryption from cipher_null to AES-XTS (os-steps.ts, headerStep)
  const rootFromNull: Volume[] = base.map((v) => (v.kname === 'sda1' ? { ...v, encrypted: true, reencrypt: { mode: 'reencrypt' } } : v));

  it.each<[string, Volume[], StatusMarkers, { os: string; data: string }]>([
    ['Azure VM as is', base, {}, { os: 'NotEncrypted', data: 'NotEncrypted' }],
    ['only encrypted data mounted', encryptedData, {}, { os: 'NotEncrypted', data: 'Encrypted' }],
    ['no data mounted', noData, {}, { os: 'NotEncrypted', data: 'NotMounted' }],
    ['encrypt marker Data', base, { encrypting: 'Data' }, { os: 'NotEncrypted', data: 'EncryptionInProgress' }],
    ['encrypt marker OS', base, { encrypting: 'OS' }, { os: 'EncryptionInProgress', data: 'NotEncrypted' }],
    ['encrypt marker All', encryptedData, { encrypting: 'All' }, { os: 'EncryptionInProgress', data: 'EncryptionInProgress' }],
    ['decrypt marker wins', encryptedData, { decrypting: true, encrypting: 'Data' }, { os: 'NotEncrypted', data: 'DecryptionInProgress' }],
    ['ADE bug: /dev/dm-* root is not encrypted', dmRootNoCrypt, {}, { os: 'NotEncrypted', data: 'NotEncrypted' }],
    ['osencrypt mapping waiting for reboot', osencryptWaiting, {}, { os: 'VMRestartPending', data: 'NotEncrypted' }],
    ['root mid-reencryption', rootReencrypting, {}, { os: 'EncryptionInProgress', data: 'NotEncrypted' }],
    ['root mid-reencryption from cipher_null', rootFromNull, {}, { os: 'EncryptionInProgress', data: 'NotEncrypted' }],
  ])('%s', (_, vols, markers, want) => {
    expect(summarize(vols, markers)).toEqual(want);
  });
});

describe('file system type without udev', () => {
  it('takes a mounted volume\'s type from findmnt when lsblk has none (as in containers and minimal guests)', () => {
    const lsblk = JSON.stringify({ blockdevices: [{ name: 'vda', path: '/dev/vda', kname: 'vda', type: 'disk', fstype: null, size: 1 << 30, ro: false, mountpoints: ['/'] }] });
    const mounts = parseFindmnt(JSON.stringify({ filesystems: [{ target: '/', source: '/dev/vda', fstype: 'ext4', options: 'rw,relatime' }] }));
    const [v] = classifyVolumes({ devices: parseLsblk(lsblk), mounts, fstab: [] });
    expect(v).toMatchObject({ device: '/dev/vda', role: 'os', fstype: 'ext4', mountpoint: '/' });
    const unmounted = classifyVolumes({ devices: parseLsblk(lsblk), mounts: [], fstab: [] });
    expect(unmounted[0]!.fstype).toBeUndefined();
  });
});

describe('classifyVolumes: hardware names (/dev/disk/by-id, never content-derived)', () => {
  const tree = { blockdevices: [
    { name: 'sda', type: 'disk', size: 100, serial: 'OS1', children: [{ name: 'sda1', type: 'part', size: 100, fstype: 'ext4', uuid: 'root-uuid', mountpoints: ['/'] }] },
    { name: 'sdb', type: 'disk', size: 100, serial: 'WD-123', children: [{ name: 'sdb1', type: 'part', size: 100, fstype: 'ext4', uuid: 'fs-b1' }] },
    { name: 'vdc', type: 'disk', size: 100, serial: 'data', children: [{ name: 'vdc1', type: 'part', size: 100, fstype: 'LVM2_member', children: [
      { name: 'datavg-lv', kname: 'dm-0', path: '/dev/mapper/datavg-lv', type: 'lvm', size: 90, fstype: 'ext4' }] }] },
    { name: 'vdd', type: 'disk', size: 100, serial: 'clone', fstype: 'ext4' },
    { name: 'vde', type: 'disk', size: 100, serial: 'clone', fstype: 'ext4' },
    { name: 'vdf', type: 'disk', size: 100, fstype: 'crypto_LUKS', uuid: 'luks-f', children: [
      { name: 'ade-luks-f', kname: 'dm-1', path: '/dev/mapper/ade-luks-f', type: 'crypt', size: 84, fstype: 'ext4' }] },
    { name: 'nvme0n1', type: 'disk', size: 100, serial: 'SN77', fstype: 'ext4' },
    { name: 'sdg', type: 'disk', size: 100, fstype: 'ext4' },
  ] };
  const devices = parseLsblk(tree);
  const WWN = 'wwn-0x5000c500a1b2c3d4';
  const rows: Array<[string, Record<string, string> | undefined, Record<string, string | undefined>]> = [
    ['a WWN before the bus names; a partition by its own -partN link', {
      'ata-WDC_WD10_WD-123': '/dev/sdb', 'scsi-35000c500a1b2c3d4': '/dev/sdb', [WWN]: '/dev/sdb',
      'ata-WDC_WD10_WD-123-part1': '/dev/sdb1', [`${WWN}-part1`]: '/dev/sdb1',
    }, { sdb: WWN, sdb1: `${WWN}-part1`, sda: undefined, sda1: undefined }],
    ['a virtio serial (the lab), disk and partition', { 'virtio-data': '/dev/vdc', 'virtio-data-part1': '/dev/vdc1' }, { vdc: 'virtio-data', vdc1: 'virtio-data-part1', 'dm-0': undefined }],
    ['links made from the content never count (device-mapper, LVM, md, bcache)', {
      'dm-name-datavg-lv': '/dev/dm-0', 'dm-uuid-LVM-Qx8u2': '/dev/dm-0', 'lvm-pv-uuid-Ab3d-9f': '/dev/vdc1',
      'dm-name-ade-luks-f': '/dev/dm-1', 'dm-uuid-CRYPT-LUKS2-luksf-ade-luks-f': '/dev/dm-1', 'md-uuid-1a2b:3c4d': '/dev/sdg', 'bcache-abc': '/dev/sdg',
    }, { vdc1: undefined, 'dm-0': undefined, 'dm-1': undefined, sdg: undefined }],
    ['a serial two disks share names neither (udev links only one of them, whichever it saw last)', { 'virtio-clone': '/dev/vde' }, { vdd: undefined, vde: undefined }],
    ['same rank: the name decides, whatever order the directory lists them in', { 'nvme-eui.0025388b91b2a1c3': '/dev/nvme0n1', 'nvme-Microsoft_NVMe_Direct_Disk_SN77': '/dev/nvme0n1' }, { nvme0n1: 'nvme-Microsoft_NVMe_Direct_Disk_SN77' }],
    ['an unknown bus ranks after the known ones but is used when alone', { 'google-persistent-disk-1': '/dev/sdg', 'scsi-0Google_PersistentDisk_persistent-disk-1': '/dev/sdg', 'google-persistent-disk-2': '/dev/vdf' },
      { sdg: 'scsi-0Google_PersistentDisk_persistent-disk-1', vdf: 'google-persistent-disk-2' }],
    ['no /dev/disk/by-id (no udev)', undefined, { sdb: undefined, vdc: undefined, vdc1: undefined }],
  ];
  it.each(rows)('%s', (_, byId, want) => {
    const vs = classifyVolumes({ devices, mounts: [], fstab: [], ...(byId ? { byId } : {}) });
    const got = Object.fromEntries(Object.keys(want).map((k) => [k, vs.find((v) => v.kname === k)!.hardwareNames?.[0]]));
    expect(got).toEqual(Object.fromEntries(Object.entries(want).map(([k, n]) => [k, n && `/dev/disk/by-id/${n}`])));
  });

  it('lists every hardware name best first and leaves persistentName as it was', () => {
    const vs = classifyVolumes({ devices, mounts: [], fstab: [], byId: { 'ata-WDC_WD10_WD-123': '/dev/sdb', 'scsi-35000c500a1b2c3d4': '/dev/sdb', [WWN]: '/dev/sdb', [`${WWN}-part1`]: '/dev/sdb1' } });
    expect(vs.find((v) => v.kname === 'sdb')!.hardwareNames).toEqual([WWN, 'scsi-35000c500a1b2c3d4', 'ata-WDC_WD10_WD-123'].map((n) => `/dev/disk/by-id/${n}`));
    expect(vs.find((v) => v.kname === 'sdb1')).toMatchObject({ persistentName: '/dev/disk/by-uuid/fs-b1', hardwareNames: [`/dev/disk/by-id/${WWN}-part1`] });
  });

  it('the Azure VM: LUN links stay the persistent names, the WWN is the hardware name', () => {
    const vs = classifyVolumes(azure({ byId: { 'wwn-0x600224803c2f1e0d9c8b7a6958473625': '/dev/sdc', 'wwn-0x600224803c2f1e0d9c8b7a6958473625-part1': '/dev/sdc1', 'scsi-3600224803c2f1e0d9c8b7a6958473625-part1': '/dev/sdc1' } }));
    const sdc1 = vs.find((v) => v.kname === 'sdc1')!;
    expect(sdc1.persistentName).toBe('/dev/disk/azure/scsi1/lun0-part1');
    expect(sdc1.hardwareNames?.[0]).toBe('/dev/disk/by-id/wwn-0x600224803c2f1e0d9c8b7a6958473625-part1');
    expect(roles(vs)).toEqual(AZURE_ROLES);
  });
});
