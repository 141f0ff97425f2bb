// The two parameters of an in-place data encryption that decide its speed, its memory and the disk space it
// takes: cryptsetup's data shift and the encryption sector size. Chosen per volume from its facts; the
// worker journals the shift (a resume must free exactly what the shrink made room for), and the header
// records both.
import type { ExtInfo } from '../parsers/e2fs.ts';

const MiB = 1024 * 1024;
/** cryptsetup's recommended `--reduce-device-size` (twice its default LUKS2 header): the smallest we use. */
export const MIN_SHIFT_BYTES = 32 * MiB;
/**
 * The largest. cryptsetup's memory follows it: the init moves the first half with two buffers of half the
 * shift each (VmHWM ≈ shift + 8 MiB), the reencryption holds one (≈ shift/2 + 8 MiB). At 128 MiB the worker
 * (≈ 90 MiB) and cryptsetup stay under 256 MiB together; 256 MiB would not (README, "Benchmarks").
 */
export const MAX_SHIFT_BYTES = 128 * MiB;

/**
 * `--reduce-device-size` for an in-place encryption: what the file system shrinks by. cryptsetup splits it
 * in two halves (utils_reencrypt.c): the head becomes the header area, kept for good; the other half is the
 * data shift, which is also every hotzone's size and cryptsetup's one data buffer. Each hotzone costs two
 * metadata commits, a dm suspend/resume and an fdatasync, so bigger hotzones go faster (README,
 * "Benchmarks"). Bounded three ways: MAX_SHIFT_BYTES (memory), 1/16 of the disk (the head's half is lost
 * to the file system: at most 1/32), and what the file system can give up (`roomBytes`; below
 * MIN_SHIFT_BYTES the volume is refused, FileSystemFull).
 */
export function dataShiftBytes(deviceBytes: number, roomBytes = Infinity): number {
  let r = MIN_SHIFT_BYTES;
  while (r * 2 <= MAX_SHIFT_BYTES && r * 2 * 16 <= deviceBytes && r * 2 <= roomBytes) r *= 2;
  return r;
}

/**
 * What an in-place encryption can take from the end of a device holding an ext2/3/4 file system: the more
 * of two safe bounds. One is resize2fs's own (`resize2fs -P`, `estimateBytes`), which is exact enough on small
 * or many-file systems; the other is the free blocks less a margin (1/32 of the file system and 32 MiB, for
 * the metadata and extent-tree growth the moved blocks need), which is what counts on large ones:
 * e2fsprogs 1.47.0 (Debian 12, Ubuntu 24.04) puts a half-full 4 GiB ext4 with flex_bg at 99% of its size
 * ("Need 476684 data blocks in last group", measured in the lab), which alone would refuse nearly every
 * real disk, so the shrink is forced past that estimate, within this room. Either way any tail of the
 * device the file system does not use yet counts in full.
 */
export function shrinkRoomBytes(info: ExtInfo, deviceBytes: number, estimateBytes: number): number {
  const size = info.blockCount * info.blockSize;
  const byFree = Math.max(0, info.freeBlocks * info.blockSize - Math.ceil(size / 32) - 32 * MiB) + deviceBytes - size;
  return Math.max(byFree, deviceBytes - estimateBytes, 0);
}

/**
 * The encryption sector size, always given: left to itself cryptsetup 2.6 takes the disk's physical block
 * size (4096 on Azure's 512e disks) without checking the file system, and an ext4 of 1 KiB blocks on 4096-byte
 * sectors no longer mounts. 4096 wherever the file system's blocks allow it: cryptsetup encrypts one sector
 * per cipher call in its userspace loop, and dm-crypt afterwards does the same per bio.
 */
export function sectorSizeFor(fsBlockBytes: number, deviceBytes: number): 512 | 4096 {
  return fsBlockBytes >= 4096 && deviceBytes % 4096 === 0 ? 4096 : 512;
}
