import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSfdiskJson } from '../../../src/parsers/sfdisk.ts';

const fx = (n: string) => readFileSync(new URL(`../../fixtures/sfdisk/${n}`, import.meta.url), 'utf8');

describe('parseSfdiskJson', () => {
  it.each([
    ['debian-12-30g.json', { label: 'gpt', sectorSize: 512, firstLba: 2048, lastLba: 62914526 }, [['/dev/sda1', 262144, 62650368], ['/dev/sda14', 2048, 6144], ['/dev/sda15', 8192, 253952]]],
    ['ubuntu-22.04-nvme-4k.json', { label: 'gpt', sectorSize: 4096, firstLba: 256, lastLba: 7864314 }, [['/dev/nvme0n1p1', 58624, 7805691], ['/dev/nvme0n1p14', 256, 1024], ['/dev/nvme0n1p15', 1280, 27136]]],
    ['mbr-8g.json', { label: 'dos', sectorSize: 512 }, [['/dev/sda1', 2048, 16775168]]],
  ] as const)('%s', (file, head, parts) => {
    const t = parseSfdiskJson(fx(file));
    expect(t).toMatchObject(head);
    expect(t.partitions.map((p) => [p.node, p.start, p.size])).toEqual(parts);
  });

  it('keeps GPT partition GUIDs and types', () => {
    const p = parseSfdiskJson(fx('debian-12-30g.json')).partitions[0]!;
    expect(p).toEqual({ node: '/dev/sda1', start: 262144, size: 62650368, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', uuid: '6E3A5B3C-0D4C-4E8F-9B51-1D4E2A7C9F01' });
  });

  it.each([
    ['not JSON', 'sfdisk: cannot open /dev/sdz', /Cannot parse sfdisk --json output/],
    ['no table', '{}', /partitiontable/],
    ['another unit', '{"partitiontable":{"label":"gpt","unit":"bytes","partitions":[]}}', /unit bytes/],
    ['a partition without a start', '{"partitiontable":{"label":"gpt","partitions":[{"node":"/dev/sda1","size":1,"type":"x"}]}}', /start/],
  ])('refuses %s', (_, text, err) => {
    expect(() => parseSfdiskJson(text)).toThrow(err);
  });
});
