// /etc/crypttab as data: `name device [keyfile [options]]`. systemd and Debian's cryptdisks split on blanks
// and know no octal escapes, so fields are taken as written. Editors key on the mapping name (unique by
// definition: it becomes /dev/mapper/<name>) and leave unchanged lines byte-identical.
import { appendLines, joinLines, makeLine, splitLines, splitOptions, type TabLine } from './tabfile.ts';

export interface CrypttabEntry {
  name: string;
  /** `UUID=…`, `/dev/disk/azure/scsi1/lun0`, `/dev/sdc1`… */
  device: string;
  /** Undefined when absent, `none` or `-` (ask, or a token / key protector supplies it). */
  keyfile?: string;
  options: string[];
  /** 0-based line number in the text it was parsed from. */
  line: number;
}

function toEntry(l: TabLine, line: number): CrypttabEntry | undefined {
  const f = l.fields;
  if (f.length < 2) return undefined;
  const key = f[2];
  return {
    name: f[0]!,
    device: f[1]!,
    ...(key === undefined || key === 'none' || key === '-' ? {} : { keyfile: key }),
    options: splitOptions(f[3]),
    line,
  };
}

export function parseCrypttab(text: string): CrypttabEntry[] {
  const out: CrypttabEntry[] = [];
  splitLines(text).forEach((l, i) => {
    const e = toEntry(l, i);
    if (e) out.push(e);
  });
  return out;
}

function fields(e: Omit<CrypttabEntry, 'line'>): string[] {
  // No escapes exist in this format: a blank would silently shift every later field.
  for (const v of [e.name, e.device, e.keyfile ?? '', ...e.options]) {
    if (/\s/.test(v)) throw new Error(`crypttab field "${v}" contains a blank`);
  }
  if (e.name === '' || e.name.startsWith('#')) throw new Error(`crypttab name "${e.name}" is empty or starts with #`);
  const f = [e.name, e.device, e.keyfile ?? 'none'];
  if (e.options.length > 0) f.push(e.options.join(','));
  return f;
}

function indexesOf(lines: TabLine[], name: string): number[] {
  const idx: number[] = [];
  lines.forEach((l, i) => {
    if (toEntry(l, i)?.name === name) idx.push(i);
  });
  return idx;
}

/** Appends an entry (after optional comment lines); throws if the name is taken. */
export function addCrypttabEntry(text: string, entry: Omit<CrypttabEntry, 'line'>, comments: readonly string[] = []): string {
  const lines = splitLines(text);
  if (indexesOf(lines, entry.name).length > 0) throw new Error(`crypttab already has an entry named ${entry.name}`);
  const added = [...comments.map((c) => makeLine([`# ${c}`])), makeLine(fields(entry))];
  return joinLines(appendLines(lines, added));
}

/** Removes the entries named name; absent is not an error, so a resumed step can run it again. */
export function removeCrypttabEntry(text: string, name: string): string {
  const lines = splitLines(text);
  const drop = new Set(indexesOf(lines, name));
  return joinLines(lines.filter((_, i) => !drop.has(i)));
}

export function findCrypttabEntry(entries: readonly CrypttabEntry[], name: string): CrypttabEntry | undefined {
  return entries.find((e) => e.name === name);
}

