// Prerequisites for encrypting the OS disk, all checked before anything changes, each failure with its own
// code and fix. Pure: the facts (os-release, the block snapshot, free space, installed tools, the key
// volume) are gathered by the caller through src/system. The memory need is ours, not ADE's table: nothing
// is copied into RAM, so it does not grow with the disk (cryptsetup's hotzone buffer is bounded).
import { AdeError } from '../shared/errors.ts';
import type { Distro, InitramfsTool } from './distro.ts';
import type { OsLayoutResult } from './os-layout.ts';

const MiB = 1024 * 1024;
/** The detached LUKS2 header (16 MiB by default) and its backup copy, both on /boot. */
export const OS_HEADER_BYTES = 2 * 16 * MiB;
/** A /boot split off a root that has none: as Ubuntu 24.04's (913 MiB usable). */
export const NEW_BOOT_BYTES = 1024 * MiB;
/**
 * What the root must still have free after giving up that /boot: it shrinks offline at the restart (which an
 * operator may defer), and a root that filled up meanwhile could not give the 1 GiB then.
 */
export const SPLIT_HEADROOM_BYTES = 512 * MiB;
/**
 * What the worker and cryptsetup need at once: Node (about 60 MiB resident), cryptsetup with a 32 MiB
 * hotzone and PBKDF2 keyslots (no Argon2 memory at unlock in the initramfs either), and slack for the
 * initramfs rebuild. Provisional until the OS benchmark measures it.
 */
export const OS_MEMORY_BYTES = 256 * MiB;

export interface OsFacts {
  distro: Distro;
  layout: OsLayoutResult;
  /** Which initramfs builders are installed (update-initramfs, dracut). */
  builders: ReadonlySet<InitramfsTool>;
  dmCrypt: boolean;
  keyVolume: boolean;
  /** Separate /boot: bytes free on it. */
  bootFreeBytes?: number;
  /** Largest initramfs image now in /boot: a rebuild writes one more of about that size beside it. */
  largestInitramfsBytes: number;
  /** No /boot: bytes the root file system can give up (size - resize2fs minimum). */
  rootShrinkableBytes?: number;
  memAvailableBytes: number;
  /** No /boot: the tools the split needs (e2fsck, resize2fs, mke2fs, sfdisk, grub-install) that are not installed. */
  splitToolsMissing?: readonly string[];
}

export interface OsCheck { errors: AdeError[]; warnings: string[]; builder?: InitramfsTool }

const mib = (n: number) => `${Math.floor(Math.max(0, n) / MiB)} MiB`;

export function checkOsPrereqs(f: OsFacts): OsCheck {
  const errors: AdeError[] = [];
  const warnings: string[] = [];
  const d = f.distro;
  if (d.os.verdict === 'refused') errors.push(new AdeError('OsNotSupported', { distro: d.name, version: d.version, reason: d.os.reason }));
  if (d.os.verdict === 'unlisted') warnings.push(`${d.name}: ${d.os.reason}; going ahead because it has what the OS disk needs.`);
  if (!f.layout.ok) errors.push(new AdeError('OsLayoutUnsupported', { reason: f.layout.reason }));
  const builder = pickBuilder(d, f.builders);
  if (!builder) {
    const wanted = d.initramfs ?? 'initramfs-tools or dracut';
    errors.push(new AdeError('InitramfsToolMissing', { detail: `${d.name} builds its initramfs with ${wanted}, and it is not installed`, fix: wanted === 'dracut' ? 'dracut' : 'initramfs-tools (apt-get install initramfs-tools)' }));
  }
  if (builder === 'dracut' && f.layout.ok && f.layout.layout.kind === 'no-boot') {
    // the split runs in initramfs-tools' hook only: a dracut initramfs would look for a /boot that is not there
    errors.push(new AdeError('OsLayoutUnsupported', { reason: 'there is no /boot partition and this VM builds its initramfs with dracut, whose ade-linux module cannot split one off the root (the initramfs-tools hook does); install initramfs-tools, or give the VM a /boot partition' }));
  }
  if (!f.dmCrypt) errors.push(new AdeError('KernelModuleMissing', { module: 'dm_crypt', cause: 'modprobe dm_crypt failed' }));
  if (!f.keyVolume) errors.push(new AdeError('KeyVolumeMissing', { fix: 'The platform attaches it once the VM model has disk encryption settings; it must be present before the OS disk is encrypted, because the boot opens the disk with it.' }));
  if (f.splitToolsMissing?.length) {
    errors.push(new AdeError('SplitToolMissing', { tools: f.splitToolsMissing.join(', '), packages: splitPackages(f.splitToolsMissing) }));
  }
  errors.push(...spaceErrors(f));
  if (f.memAvailableBytes < OS_MEMORY_BYTES) {
    errors.push(new AdeError('MemoryInsufficient', { available: mib(f.memAvailableBytes), operation: 'encrypting the OS disk', needed: mib(OS_MEMORY_BYTES) }));
  }
  return { errors, warnings, ...(builder ? { builder } : {}) };
}

/** The distro's own builder when installed; else whichever one is (a Debian VM may run dracut). */
function pickBuilder(d: Distro, have: ReadonlySet<InitramfsTool>): InitramfsTool | undefined {
  if (d.initramfs && have.has(d.initramfs)) return d.initramfs;
  return have.has('initramfs-tools') ? 'initramfs-tools' : have.has('dracut') ? 'dracut' : undefined;
}

function splitPackages(tools: readonly string[]): string {
  const pkg = (t: string) => (t === 'sfdisk' ? 'fdisk' : t === 'grub-install' ? 'grub2-common' : 'e2fsprogs');
  return [...new Set(tools.map(pkg))].join(' and ');
}

function spaceErrors(f: OsFacts): AdeError[] {
  if (!f.layout.ok) return [];
  const l = f.layout.layout;
  if (l.kind === 'separate-boot' && l.boot) {
    const needed = OS_HEADER_BYTES + f.largestInitramfsBytes + 16 * MiB;
    if (f.bootFreeBytes !== undefined && f.bootFreeBytes < needed) {
      return [new AdeError('OsSpaceInsufficient', { mountpoint: '/boot', device: l.boot.device, available: mib(f.bootFreeBytes), needed: mib(needed), purpose: 'the detached LUKS2 header, its backup and a rebuilt initramfs' })];
    }
  }
  if (l.kind === 'no-boot' && f.rootShrinkableBytes !== undefined && f.rootShrinkableBytes < NEW_BOOT_BYTES + SPLIT_HEADROOM_BYTES) {
    return [new AdeError('OsSpaceInsufficient', { mountpoint: '/', device: l.root.device, available: mib(f.rootShrinkableBytes), needed: mib(NEW_BOOT_BYTES + SPLIT_HEADROOM_BYTES), purpose: `a /boot partition split off the end of the root (${mib(NEW_BOOT_BYTES)}: the kernels, the initramfs and the LUKS2 header) and ${mib(SPLIT_HEADROOM_BYTES)} left free until the restart` })];
  }
  return [];
}
