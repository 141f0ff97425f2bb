// What e2fsprogs print about an ext2/3/4 file system: the superblock (dumpe2fs -h) and the smallest size it
// can shrink to (resize2fs -P). Sizes in file-system blocks, as the tools print them. Pure.

export interface ExtInfo { blockSize: number; blockCount: number; freeBlocks: number }

/** `dumpe2fs -h` superblock fields we need. */
export function parseDumpe2fs(text: string): ExtInfo {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    if (!m) throw new Error(`dumpe2fs output has no "${name}"`);
    return Number(m[1]);
  };
  return { blockSize: field('Block size'), blockCount: field('Block count'), freeBlocks: field('Free blocks') };
}

/** `resize2fs -P`: "Estimated minimum size of the filesystem: N" (in fs blocks). */
export function parseResizeMin(text: string): number {
  const m = /minimum size of the filesystem:\s*(\d+)/i.exec(text);
  if (!m) throw new Error(`resize2fs -P gave no estimate: ${text.trim()}`);
  return Number(m[1]);
}
