// Gathers what volume discovery needs from the running system: lsblk, findmnt, blkid, luksDump through the
// injected Runner; fstab, crypttab and the udev links from the file system under `root` (a fake tree in
// tests). Returns them parsed (src/parsers/); which device is what is the core's to decide.
import { readdirSync, readlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { CommandFailed, must, type Runner } from './exec.ts';
import { readTextIfExists } from './files.ts';
import { FINDMNT_COLUMNS, LSBLK_COLUMNS, parseFindmnt, parseLsblk, type BlockDevice, type Mount } from '../parsers/lsblk.ts';
import { mergeBlkid, parseBlkidExport } from '../parsers/blkid.ts';
import { parseFstab, type FstabEntry } from '../parsers/fstab.ts';
import { parseCrypttab, type CrypttabEntry } from '../parsers/crypttab.ts';
import { parseLuksDumpJson, type LuksMetadata } from '../parsers/luksdump.ts';

function lsblkText(runner: Runner): Promise<string> {
  return must(runner, 'lsblk', ['--json', '--bytes', '--output', LSBLK_COLUMNS]);
}

function findmntText(runner: Runner): Promise<string> {
  return must(runner, 'findmnt', ['--json', '--list', '--output', FINDMNT_COLUMNS]);
}

/** blkid exits 2 when it finds nothing to report; that is an empty answer, not a failure. */
async function blkidText(runner: Runner): Promise<string> {
  const r = await runner('blkid', ['-o', 'export']);
  if (r.exitCode === 0 || r.exitCode === 2) return r.stdout;
  throw new CommandFailed('blkid -o export', r.exitCode, r.stderr);
}

/** LUKS2 JSON metadata, or undefined for LUKS1 / not LUKS (cryptsetup exits 1 for both). */
async function luksDumpJsonText(runner: Runner, device: string): Promise<string | undefined> {
  const r = await runner('cryptsetup', ['luksDump', '--dump-json-metadata', device]);
  return r.exitCode === 0 ? r.stdout : undefined;
}

function fstabText(root = '/'): string {
  return readTextIfExists(join(root, 'etc/fstab')) ?? '';
}

function crypttabText(root = '/'): string {
  return readTextIfExists(join(root, 'etc/crypttab')) ?? '';
}

/**
 * Symlinks under <root>/dev/disk/<dir> (recursively, for azure/scsi1/lunN) as 'rel/name' → target device
 * path. Targets are resolved against the link's own /dev path, not the real file system, so a fake root
 * holding udev-style relative links (`../../../sdc`) maps to /dev/sdc.
 */
export function diskLinks(root: string, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, 'dev/disk', dir, rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw e;
    }
    for (const n of names.sort()) {
      const relName = rel ? `${rel}/${n}` : n;
      const real = join(root, 'dev/disk', dir, relName);
      let target: string;
      try {
        target = readlinkSync(real);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EINVAL') { walk(relName); continue; } // a directory
        throw e;
      }
      const logical = posix.join('/dev/disk', dir, relName);
      out[relName] = posix.resolve(dirname(logical), target);
    }
  };
  walk('');
  return out;
}

/** /dev/disk/by-uuid as uuid → device path. */
function byUuidLinks(root = '/'): Record<string, string> {
  return diskLinks(root, 'by-uuid');
}

/** Everything the block devices, mounts and boot tables say, at one moment. */
export interface BlockSnapshot {
  devices: BlockDevice[];
  mounts: Mount[];
  fstab: FstabEntry[];
  crypttab: CrypttabEntry[];
  /** Links under /dev/disk/azure, relative to it ('scsi1/lun0', 'root', …) → device path. */
  azureLinks: Record<string, string>;
  /** /dev/disk/by-uuid; absent where udev made no links at all. */
  byUuid?: Record<string, string>;
  byId: Record<string, string>;
  /** LUKS2 metadata by container device path. */
  luks: Record<string, LuksMetadata>;
}

export async function readBlockSnapshot(runner: Runner, root = '/'): Promise<BlockSnapshot> {
  const [lsblk, findmnt, blkid] = await Promise.all([lsblkText(runner), findmntText(runner), blkidText(runner)]);
  const devices = mergeBlkid(parseLsblk(lsblk), parseBlkidExport(blkid));
  const luks: Record<string, LuksMetadata> = {};
  for (const d of devices.filter((x) => x.fstype === 'crypto_LUKS')) {
    const text = await luksDumpJsonText(runner, d.path);
    if (text !== undefined) luks[d.path] = parseLuksDumpJson(text);
  }
  const byUuid = byUuidLinks(root);
  return {
    devices,
    mounts: parseFindmnt(findmnt),
    fstab: parseFstab(fstabText(root)),
    crypttab: parseCrypttab(crypttabText(root)),
    azureLinks: diskLinks(root, 'azure'),
    // An empty map means "no udev links here" (container, early boot), not "no UUID is linked".
    ...(Object.keys(byUuid).length > 0 ? { byUuid } : {}),
    byId: diskLinks(root, 'by-id'),
    luks,
  };
}
