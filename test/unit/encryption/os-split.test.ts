// The /boot split off a root that has none, planned from the partition table alone: where the root ends,
// where /boot starts (1 MiB aligned), that the two cover exactly the old partition, and the refusals.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSfdiskJson, type PartitionTable } from '../../../src/parsers/sfdisk.ts';
import { planSplit } from '../../../src/encryption/os-split.ts';
import { NEW_BOOT_BYTES } from '../../../src/encryption/os-prereq.ts';

const table = (n: string) => parseSfdiskJson(readFileSync(new URL(`../../fixtures/sfdisk/${n}`, import.meta.url), 'utf8'));
let n = 0;
const ids = () => `uuid-${++n}`;
const MiB = 1024 * 1024;

describe('planSplit', () => {
  it.each([
    ['Debian 12, 30 GiB, 512-byte sectors', 'debian-12-30g.json', '/dev/sda1'],
    ['Ubuntu 22.04 on NVMe, 4 KiB sectors, a length not a multiple of 1 MiB', 'ubuntu-22.04-nvme-4k.json', '/dev/nvme0n1p1'],
  ])('%s', (_, file, node) => {
    const t = table(file);
    const p = t.partitions.find((x) => x.node === node)!;
    const r = planSplit(t, node, 'root-fs', ids);
    if (!r.ok) throw new Error(r.reason);
    const s = r.split;
    const start = p.start * t.sectorSize;
    const end = (p.start + p.size) * t.sectorSize;
    // the root keeps its start; /boot begins where it now ends, on a 1 MiB boundary, and runs to the old end
    expect(start + s.rootBytes).toBe(s.bootStartBytes);
    expect(s.bootStartBytes % MiB).toBe(0);
    expect(s.bootStartBytes + s.bootBytes).toBe(end);
    expect(s.bootBytes).toBeGreaterThanOrEqual(NEW_BOOT_BYTES);
    expect(s.bootBytes).toBeLessThan(NEW_BOOT_BYTES + MiB);
    expect(s.rootBytes % MiB).toBe(0);
    // sfdisk takes sectors: every size is whole sectors
    for (const b of [s.rootBytes, s.bootStartBytes, s.bootBytes]) expect(b % t.sectorSize).toBe(0);
    expect(s.sectorSize).toBe(t.sectorSize);
    expect(s.rootFsUuid).toBe('root-fs');
    expect(s.bootUuid).not.toBe(s.bootPartUuid);
  });

  it.each<[string, PartitionTable, string, RegExp]>([
    ['an MBR disk', table('mbr-8g.json'), '/dev/sda1', /on a dos partition table; a \/boot can only be split off a root on GPT/],
    ['a partition sfdisk does not list', table('debian-12-30g.json'), '/dev/sdb1', /sfdisk does not list \/dev\/sdb1/],
    ['a root smaller than the /boot', { label: 'gpt', sectorSize: 512, partitions: [{ node: '/dev/sda1', start: 2048, size: 1_000_000, type: 'x' }] }, '/dev/sda1', /smaller than the \/boot split off it/],
  ])('refuses %s', (_, t, node, reason) => {
    const r = planSplit(t, node, 'fs', ids);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});
