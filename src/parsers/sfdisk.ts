// `sfdisk --json <disk>`: the partition table as the kernel will read it, in the table's own sector unit.
// The OS disk's /boot split (src/encryption/os-split.ts) plans its two partition edits from it.
import { ParseError } from './parse-error.ts';
import { num, obj, optStr, parseJson, str, type Json } from './json.ts';

export interface TablePartition {
  /** /dev/vda1 (sfdisk's "node"). */
  node: string;
  /** First sector and length, in the table's sectors. */
  start: number;
  size: number;
  /** GPT type GUID, or the MBR type byte as hex. */
  type: string;
  /** GPT partition GUID (PARTUUID), upper case as sfdisk prints it. */
  uuid?: string;
}

export interface PartitionTable {
  label: 'gpt' | 'dos' | string;
  sectorSize: number;
  /** GPT only: the first and last usable sectors. */
  firstLba?: number;
  lastLba?: number;
  partitions: TablePartition[];
}

export function parseSfdiskJson(output: string | Json): PartitionTable {
  const t = obj(obj(parseJson(output, 'sfdisk --json output'), 'sfdisk --json output')['partitiontable'], 'sfdisk partitiontable');
  if (t['unit'] !== undefined && t['unit'] !== 'sectors') throw new ParseError('sfdisk --json output', `unit ${String(t['unit'])}, expected sectors`);
  const parts = t['partitions'] ?? [];
  if (!Array.isArray(parts)) throw new ParseError('sfdisk --json output', 'partitions is not a list');
  const first = t['firstlba'];
  const last = t['lastlba'];
  return {
    label: str(t['label'], 'sfdisk label'),
    sectorSize: t['sectorsize'] === undefined ? 512 : num(t['sectorsize'], 'sfdisk sectorsize'),
    ...(first !== undefined ? { firstLba: num(first, 'sfdisk firstlba') } : {}),
    ...(last !== undefined ? { lastLba: num(last, 'sfdisk lastlba') } : {}),
    partitions: parts.map((p, i) => {
      const o = obj(p, `sfdisk partition ${i}`);
      const uuid = optStr(o['uuid']);
      return {
        node: str(o['node'], 'sfdisk partition node'), start: num(o['start'], 'sfdisk partition start'),
        size: num(o['size'], 'sfdisk partition size'), type: str(o['type'], 'sfdisk partition type'), ...(uuid ? { uuid } : {}),
      };
    }),
  };
}
