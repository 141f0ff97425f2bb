// The /boot split's last check before it changes the disk (split_fits in
// initramfs/initramfs-tools/scripts/ade-linux-functions), run on the host with e2fsprogs and util-linux on real
// ext4 images: whether the root file system still fits in the partition once /boot is split off, by resize2fs's
// own minimum, and what to free when it does not. The initramfs boots the root unencrypted rather than stop
// when it does not fit (local-top/ade-linux, split_refuse).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const FUNCS = join(import.meta.dirname, '../../../initramfs/initramfs-tools/scripts/ade-linux-functions');
const MiB = 1024 * 1024;
let img = '';

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'ade-split-'));
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'big.bin'), randomBytes(40 * MiB));
  img = join(dir, 'root.img');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, img, '128M'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', MKE2FS_CONFIG: '/etc/mke2fs.conf' } });
});

function splitFits(targetBytes: number, data = img): { code: number; out: string } {
  const r = spawnSync('sh', ['-c', `ADE_BIN=/usr/sbin; . '${FUNCS}'; data='${data}'; ADE_SPLIT_ROOT_BYTES=${targetBytes}; split_fits`],
    { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout };
}

describe('split_fits', () => {
  it('the root shrinks to a partition that holds its files: goes on, says nothing', () => {
    expect(splitFits(100 * MiB)).toEqual({ code: 0, out: '' });
  });

  it('files written since the enable took the room: refuses, with what to free', () => {
    const r = splitFits(24 * MiB);
    expect(r.code).toBe(1);
    const m = /^the root file system needs (\d+) MiB and would have 24 MiB once a \/boot is split off; free (\d+) MiB on \/ and restart\n$/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    // resize2fs's minimum holds the 40 MiB file; what to free is the difference, rounded up
    expect(Number(m![1])).toBeGreaterThanOrEqual(40);
    expect(Number(m![2])).toBe(Number(m![1]) - 24 + 1);
  });

  it('what it cannot size, it refuses', () => {
    expect(splitFits(100 * MiB, '/nonexistent')).toEqual({ code: 1, out: 'resize2fs -P could not size the file system on /nonexistent\n' });
  });
});
