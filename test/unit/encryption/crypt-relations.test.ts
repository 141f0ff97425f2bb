// How each device stands to dm-crypt, and the crypttab line and reencryption state that follow from it:
// attached and detached headers, and LVM on top of a mapping.
import { describe, expect, it } from 'vitest';
import { deviceGraph } from '../../../src/encryption/device-graph.ts';
import { cryptBelow, cryptRelations, crypttabEntryOf, mapperNameOf, reencryptOf } from '../../../src/encryption/crypt-relations.ts';
import { parseLsblk } from '../../../src/parsers/lsblk.ts';
import { parseCrypttab } from '../../../src/parsers/crypttab.ts';
import type { LuksMetadata } from '../../../src/parsers/luksdump.ts';

const g = deviceGraph(parseLsblk({ blockdevices: [
  { name: 'sdc', type: 'disk', size: 100, children: [{ name: 'sdc1', type: 'part', size: 100, fstype: 'crypto_LUKS', uuid: 'luks-c', children: [
    { name: 'data-c', kname: 'dm-0', path: '/dev/mapper/data-c', type: 'crypt', size: 98, fstype: 'LVM2_member', children: [
      { name: 'vg-lv', kname: 'dm-1', path: '/dev/mapper/vg-lv', type: 'lvm', size: 90, fstype: 'ext4' }] }] }] },
  { name: 'sdd', type: 'disk', size: 100, children: [
    { name: 'detached', kname: 'dm-2', path: '/dev/mapper/detached', type: 'crypt', size: 100, fstype: 'xfs' }] },
  { name: 'sde', type: 'disk', size: 100, fstype: 'crypto_LUKS' },
  { name: 'sdf', type: 'disk', size: 100, fstype: 'ext4' },
] }));
const dev = (k: string) => g.byKname.get(k)!;
const rel = (k: string) => cryptRelations(g, dev(k));
const paths = (k: string) => {
  const r = rel(k);
  return { container: r.container, below: r.below?.kname, mapping: r.mapping?.kname, luksDevice: r.luksDevice?.kname, mapperName: mapperNameOf(dev(k), r) };
};

describe('cryptRelations', () => {
  it.each<[string, ReturnType<typeof paths>]>([
    ['sdc1', { container: true, below: undefined, mapping: 'dm-0', luksDevice: undefined, mapperName: 'data-c' }],
    ['dm-0', { container: false, below: 'dm-0', mapping: undefined, luksDevice: 'sdc1', mapperName: 'data-c' }],
    ['dm-1', { container: false, below: 'dm-0', mapping: undefined, luksDevice: 'sdc1', mapperName: 'data-c' }],
    ['dm-2', { container: false, below: 'dm-2', mapping: undefined, luksDevice: 'sdd', mapperName: 'detached' }],
    ['sde', { container: true, below: undefined, mapping: undefined, luksDevice: undefined, mapperName: undefined }],
    ['sdf', { container: false, below: undefined, mapping: undefined, luksDevice: undefined, mapperName: undefined }],
  ])('%s', (k, want) => {
    expect(paths(k)).toEqual(want);
  });

  it('cryptBelow finds the mapping under an LV, nothing under a plain disk', () => {
    expect([cryptBelow(g, 'dm-1')?.name, cryptBelow(g, 'sdf')]).toEqual(['data-c', undefined]);
  });
});

describe('crypttabEntryOf', () => {
  it.each<[string, string, string]>([
    ['a mapping by its name', 'data-c UUID=other none luks', 'dm-0'],
    ['a container by its device spec', 'renamed UUID=luks-c none luks', 'sdc1'],
    ['a container by its open mapping\'s name', 'data-c /dev/disk/azure/scsi1/lun9 none luks', 'sdc1'],
    ['a closed container by its device spec', 'e /dev/sde none luks', 'sde'],
  ])('%s', (_, line, k) => {
    expect(crypttabEntryOf(g, parseCrypttab(line), dev(k), rel(k))?.line).toBe(0);
  });

  it.each<[string, string, string]>([
    ['not a mapping, not a container', 'sdf /dev/sdf none luks', 'sdf'],
    ['an LV on a mapping', 'vg-lv /dev/mapper/vg-lv none luks', 'dm-1'],
  ])('none for %s', (_, line, k) => {
    expect(crypttabEntryOf(g, parseCrypttab(line), dev(k), rel(k))).toBeUndefined();
  });
});

describe('reencryptOf', () => {
  const meta = (mode: 'encrypt' | 'decrypt', inProgress = true) => ({ reencryptInProgress: inProgress, reencrypt: { mode } }) as LuksMetadata;
  it.each<[string, Record<string, LuksMetadata> | undefined, string | undefined]>([
    ['sdc1', { '/dev/sdc1': meta('encrypt') }, 'encrypt'],
    ['dm-1', { '/dev/sdc1': meta('decrypt') }, 'decrypt'],
    ['dm-2', { '/dev/sdd': meta('encrypt') }, 'encrypt'],
    ['sdc1', { '/dev/sdc1': meta('encrypt', false) }, undefined],
    ['sdf', { '/dev/sdc1': meta('encrypt') }, undefined],
    ['dm-0', undefined, undefined],
  ])('%s with %j: %s (its own header, else the container\'s below)', (k, luks, mode) => {
    expect(reencryptOf(luks, dev(k), rel(k))?.mode).toBe(mode);
  });
});
