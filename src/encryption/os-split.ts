// A /boot for an OS disk that has none (Debian 12, Ubuntu 22.04: ext4 root on p1, ESP, BIOS boot partition),
// planned here and carried out by the initramfs at the one restart, before the root is opened: the root
// file system shrinks by NEW_BOOT_BYTES (offline: ext4 cannot shrink mounted), its partition ends that much
// earlier, and a new partition in the freed tail becomes an ext4 /boot with the UUIDs chosen here. The result
// is Ubuntu 24.04's layout, so everything after the split is the separate-/boot path.
// Pure: the table comes from `sfdisk --json`; the initramfs script (initramfs/initramfs-tools) reads the plan
// from the conf and checks the disk before each edit, so a power cut at any point redoes only what is missing.
import type { PartitionTable } from '../parsers/sfdisk.ts';
import type { OsSplit } from '../system/os-boot.ts';
import { NEW_BOOT_BYTES } from './os-prereq.ts';

export type { OsSplit };

/** systemd's "Linux extended boot" (XBOOTLDR), the type Ubuntu 24.04 gives its /boot. */
export const XBOOTLDR_TYPE = 'BC13C2FF-59E6-4262-A352-B275FD6F7172';
const ALIGN_BYTES = 1024 * 1024;

export type SplitPlan = { ok: true; split: OsSplit } | { ok: false; reason: string };

/**
 * The split of `rootNode` (its partition in `table`): the last NEW_BOOT_BYTES of it, aligned to 1 MiB,
 * become /boot. The partition keeps its number, start and PARTUUID; the new one takes the table's first free
 * entry (sfdisk --append) and is found again by its PARTUUID.
 */
export function planSplit(table: PartitionTable, rootNode: string, rootFsUuid: string, newUuid: () => string): SplitPlan {
  if (table.label !== 'gpt') return { ok: false, reason: `${rootNode} is on a ${table.label} partition table; a /boot can only be split off a root on GPT (every Azure image without /boot uses GPT)` };
  const p = table.partitions.find((x) => x.node === rootNode);
  if (!p) return { ok: false, reason: `sfdisk does not list ${rootNode}` };
  const ss = table.sectorSize;
  const align = ALIGN_BYTES / ss;
  const end = p.start + p.size;
  const bootStart = Math.floor((end - NEW_BOOT_BYTES / ss) / align) * align;
  if (bootStart <= p.start) return { ok: false, reason: `${rootNode} (${p.size * ss} bytes) is smaller than the /boot split off it` };
  return {
    ok: true,
    split: {
      rootBytes: (bootStart - p.start) * ss, bootStartBytes: bootStart * ss, bootBytes: (end - bootStart) * ss, sectorSize: ss,
      bootPartUuid: newUuid(), bootUuid: newUuid(), rootFsUuid,
    },
  };
}
