// File-system tools for in-place encryption: check, measure, shrink and grow ext2/3/4; make a file system
// for format-and-encrypt. Sizes are bytes everywhere; the tools' own units are converted here.
import { statSync, truncateSync } from 'node:fs';
import { must as mustRun, type Runner } from './exec.ts';
import { parseDumpe2fs, parseResizeMin, type ExtInfo } from '../parsers/e2fs.ts';

export const EXT_FS = new Set(['ext2', 'ext3', 'ext4']);
export const MKFS_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);

export function fileSystems(run: Runner) {
  const must = (file: string, args: string[], ok: readonly number[] = [0]) => mustRun(run, file, args, { ok });
  return {
    /** Size of a block device, or of an image file (host tests). */
    async deviceBytes(device: string): Promise<number> {
      try {
        const st = statSync(device);
        if (st.isFile()) return st.size;
      } catch { /* not visible here (fake runner) or not a file: ask the kernel */ }
      return Number((await must('blockdev', ['--getsize64', device])).trim());
    },
    /** Forced check with automatic repair; exit 1 (errors corrected) is success, 4+ is not. */
    async fsck(device: string): Promise<void> {
      await must('e2fsck', ['-f', '-y', device], [0, 1]);
    },
    async extInfo(device: string): Promise<ExtInfo> {
      return parseDumpe2fs(await must('dumpe2fs', ['-h', device]));
    },
    /** Bytes of the smallest size resize2fs could shrink to. */
    async extMinBytes(device: string, blockSize: number): Promise<number> {
      return parseResizeMin(await must('resize2fs', ['-P', device])) * blockSize;
    },
    /**
     * Shrinks to exactly `bytes` (a multiple of 512). resize2fs truncates an image *file* to the new size;
     * the device's size is what the encryption's layout hangs on, so a file gets its size back.
     * `pastEstimate`: -f, past resize2fs's own minimum estimate (the caller has checked the free space;
     * src/encryption/data-shift.ts says why) and its "run e2fsck first" check (the caller just did).
     */
    async shrink(device: string, bytes: number, o: { pastEstimate?: boolean } = {}): Promise<void> {
      let fileSize: number | undefined;
      try { const st = statSync(device); if (st.isFile()) fileSize = st.size; } catch { /* block device */ }
      await must('resize2fs', [...(o.pastEstimate ? ['-f'] : []), device, `${Math.floor(bytes / 512)}s`]);
      if (fileSize !== undefined && statSync(device).size !== fileSize) truncateSync(device, fileSize);
    },
    /** Grows to fill the device, online (ext via the device, xfs via its mount point); btrfs is left as is. */
    async grow(device: string, fstype: string, mountpoint: string): Promise<void> {
      if (EXT_FS.has(fstype)) await must('resize2fs', [device]);
      else if (fstype === 'xfs') await must('xfs_growfs', [mountpoint]);
    },
    async mkfs(device: string, fstype: string, label?: string): Promise<void> {
      const force = fstype === 'xfs' || fstype === 'btrfs' ? '-f' : '-F';
      await must(`mkfs.${fstype}`, [force, ...(label ? ['-L', label] : []), device]);
    },
    /** The file system type blkid probes on the device itself (no cache), or undefined. */
    async probeType(device: string): Promise<string | undefined> {
      const r = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device]);
      return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    },
    async probeUuid(device: string): Promise<string | undefined> {
      const r = await run('blkid', ['-p', '-o', 'value', '-s', 'UUID', device]);
      return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    },
  };
}

export type FileSystems = ReturnType<typeof fileSystems>;
