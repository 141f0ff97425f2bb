// Names that find a device again after a reboot, a re-attach or a change of its content: the ones the
// journal and the plans record, so a name that can move to another disk must never be chosen.
import type { BlockDevice } from '../parsers/lsblk.ts';
import { disksOf, topDisks, type DeviceGraph } from './device-graph.ts';

/**
 * by-id names udev derives from what is written on the device (device-mapper and LVM names and UUIDs, md
 * array names and UUIDs, bcache): they change when the device is encrypted or decrypted, so they cannot
 * find it again mid-way.
 */
const CONTENT_ID = /^(dm|lvm|md|bcache)-/;
/** Hardware identities, best first: a WWN is worldwide, the others are bus-specific (model, serial, path). */
const ID_RANK = ['wwn-', 'nvme-', 'scsi-', 'virtio-', 'ata-', 'usb-', 'mmc-', 'xen-', 'ccw-'];

const idRank = (name: string): number => {
  const i = ID_RANK.findIndex((p) => name.startsWith(p));
  return i === -1 ? ID_RANK.length : i;
};

/** The by-id names of one device that identify its hardware, best first (rank, then name: deterministic). */
export function hardwareIdNames(byId: Readonly<Record<string, string>>, paths: readonly string[]): string[] {
  return Object.entries(byId)
    .filter(([name, target]) => paths.includes(target) && !CONTENT_ID.test(name))
    .map(([name]) => name)
    .sort((a, b) => idRank(a) - idRank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Its /dev/disk/azure/scsiN/lunM(-partK) link name, relative to /dev/disk/azure. */
export function lunLinkOf(g: DeviceGraph, d: BlockDevice): string | undefined {
  return Object.entries(g.azureLinks)
    .find(([name, target]) => /^scsi\d+\/lun\d+(-part\d+)?$/.test(name) && (target === d.path || target === `/dev/${d.kname}`))?.[0];
}

/**
 * The LUN link (Azure's own, by slot); a mapper name for dm devices (crypt, LVM); else the UUID, when the
 * by-uuid links (if known) confirm it is this device's and not a clone's.
 */
export function persistentNameOf(g: DeviceGraph, d: BlockDevice, byUuid: Readonly<Record<string, string>> | undefined): string | undefined {
  const link = lunLinkOf(g, d);
  if (link) return `/dev/disk/azure/${link}`;
  if (d.type === 'crypt' || d.type === 'lvm') return `/dev/mapper/${d.name}`;
  if (d.uuid !== undefined && (byUuid === undefined || byUuid[d.uuid] === d.path)) return `/dev/disk/by-uuid/${d.uuid}`;
  return undefined;
}

/** Serials more than one disk has (a cloned virtual disk, two paths to one LUN). */
export function sharedSerials(g: DeviceGraph): Set<string> {
  const count = new Map<string, number>();
  for (const d of topDisks(g)) if (d.serial) count.set(d.serial, (count.get(d.serial) ?? 0) + 1);
  return new Set([...count].filter(([, n]) => n > 1).map(([serial]) => serial));
}

/**
 * The /dev/disk/by-id hardware names of each device, none without by-id links or on a disk whose serial is
 * shared: udev makes one link between such disks, whichever it saw last, so it may name the other after a reboot.
 */
export function hardwareNamer(g: DeviceGraph, byId: Readonly<Record<string, string>> | undefined): (d: BlockDevice) => string[] {
  const shared = sharedSerials(g);
  return (d) => (byId === undefined || disksOf(g, d.kname).some((k) => shared.has(g.byKname.get(k)?.serial ?? '')) ? []
    : hardwareIdNames(byId, [d.path, `/dev/${d.kname}`]).map((n) => `/dev/disk/by-id/${n}`));
}
