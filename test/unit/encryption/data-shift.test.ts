// The in-place parameters: the data shift grows with the disk up to its cap, never past what the file system
// can give up or 1/16 of the disk; the sector size is 4096 only where the file system's blocks allow it.
import { describe, expect, it } from 'vitest';
import { dataShiftBytes, MAX_SHIFT_BYTES, MIN_SHIFT_BYTES, sectorSizeFor, shrinkRoomBytes } from '../../../src/encryption/data-shift.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('dataShiftBytes', () => {
  it.each([
    ['a small lab disk', 192 * MiB, Infinity, 32 * MiB],
    ['just under 1 GiB', GiB - MiB, Infinity, 32 * MiB],
    ['1 GiB', GiB, Infinity, 64 * MiB],
    ['2 GiB', 2 * GiB, Infinity, 128 * MiB],
    ['Azure\'s smallest data disk (4 GiB): the cap', 4 * GiB, Infinity, MAX_SHIFT_BYTES],
    ['1 TiB: the cap', 1024 * GiB, Infinity, MAX_SHIFT_BYTES],
    ['a nearly full file system gives up 100 MiB', 1024 * GiB, 100 * MiB, 64 * MiB],
    ['exactly 128 MiB of room', 1024 * GiB, 128 * MiB, 128 * MiB],
    ['less room than the minimum (the prerequisite refuses it first)', 1024 * GiB, 10 * MiB, MIN_SHIFT_BYTES],
  ])('%s', (_what, device, room, want) => {
    const got = dataShiftBytes(device, room);
    expect(got).toBe(want);
    // cryptsetup: a multiple of the sector size, at most 1 GiB, halves that stay 4096-aligned
    expect(got % (2 * 4096)).toBe(0);
    expect(got).toBeLessThanOrEqual(GiB);
  });
});

describe('sectorSizeFor', () => {
  it.each([
    ['ext4, 4 KiB blocks', 4096, GiB, 4096],
    ['ext4, 1 KiB blocks (small file systems): 4096-byte sectors would not mount', 1024, GiB, 512],
    ['4 KiB blocks on a device not a multiple of 4096', 4096, GiB + 512, 512],
    ['64 KiB blocks', 65536, GiB, 4096],
  ])('%s', (_what, block, device, want) => {
    expect(sectorSizeFor(block, device)).toBe(want);
  });
});

describe('shrinkRoomBytes', () => {
  const fs = (sizeMiB: number, freeMiB: number) => ({ blockSize: 4096, blockCount: sizeMiB * 256, freeBlocks: freeMiB * 256 });
  it.each([
    // e2fsprogs 1.47.0's resize2fs -P said this one could give up 23 MiB (lab, flex_bg, one 2 GiB file)
    ['a 4 GiB file system half full, resize2fs far too cautious: the free blocks less the margin', fs(4096, 2048), 4096 - 23, 2048 - 128 - 32],
    ['a 1 GiB one with 100 MiB free: the margin (64 MiB) leaves 36, resize2fs 20', fs(1024, 100), 1024 - 20, 100 - 32 - 32],
    // the lab's small disks (CI, session 10): the margin alone left 30 MiB where resize2fs could free 60
    ['a 256 MiB one with 70 MiB free: resize2fs wins', fs(256, 70), 256 - 60, 60],
    ['full', fs(1024, 10), 1024 - 2, 2],
  ])('%s', (_what, info, estimateMiB, wantMiB) => {
    const size = info.blockCount * info.blockSize;
    expect(shrinkRoomBytes(info, size, estimateMiB * MiB)).toBe(wantMiB * MiB);
    // a tail of the device the file system does not cover yet counts in full
    expect(shrinkRoomBytes(info, size + 8 * MiB, estimateMiB * MiB)).toBe((wantMiB + 8) * MiB);
  });
});
