// /etc/fstab as data. Fields keep libmount's octal escapes on disk (`\040` is a space) and are decoded in
// entries; editors take and return the whole text and leave unchanged lines byte-identical.
import { appendLines, hasOptionIn, joinLines, makeLine, rewriteFields, splitLines, splitOptions, type TabLine } from './tabfile.ts';

export interface FstabEntry {
  /** What to mount, decoded: `UUID=…`, `/dev/sdc1`, `LABEL=BEK VOLUME`. */
  spec: string;
  /** Mount point, decoded. */
  file: string;
  vfstype: string;
  mntops: string[];
  freq: number;
  passno: number;
  /** 0-based line number in the text it was parsed from. */
  line: number;
}

/** Decodes libmount's `\ooo` escapes. */
export function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Encodes what would otherwise split or end a field. */
export function escapeField(value: string): string {
  return value.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

function toEntry(l: TabLine, line: number): FstabEntry | undefined {
  const f = l.fields;
  // libmount needs at least spec and mount point; the rest default as mount(8) does.
  if (f.length < 2) return undefined;
  return {
    spec: unescapeField(f[0]!),
    file: unescapeField(f[1]!),
    vfstype: f[2] ?? 'auto',
    mntops: f[3] === undefined ? ['defaults'] : splitOptions(unescapeField(f[3])),
    freq: toInt(f[4]),
    passno: toInt(f[5]),
    line,
  };
}

function toInt(s: string | undefined): number {
  const n = s === undefined ? 0 : Number.parseInt(s, 10);
  return Number.isFinite(n) ? n : 0;
}

export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  splitLines(text).forEach((l, i) => {
    const e = toEntry(l, i);
    if (e) out.push(e);
  });
  return out;
}

function fields(e: Omit<FstabEntry, 'line'>): string[] {
  return [escapeField(e.spec), escapeField(e.file), e.vfstype, escapeField(e.mntops.join(',') || 'defaults'), String(e.freq), String(e.passno)];
}

function samePath(a: string, b: string): boolean {
  const norm = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  return norm(a) === norm(b);
}

function indexesOf(lines: TabLine[], mountPoint: string): number[] {
  const idx: number[] = [];
  lines.forEach((l, i) => {
    const e = toEntry(l, i);
    if (e && samePath(e.file, mountPoint)) idx.push(i);
  });
  return idx;
}

export interface FstabChange {
  spec?: string;
  vfstype?: string;
  mntops?: readonly string[];
  freq?: number;
  passno?: number;
}

/**
 * Rewrites the entry mounted at mountPoint. Throws when there is none or more than one: guessing which of
 * two entries the admin meant is how a VM stops booting.
 */
export function replaceFstabEntry(text: string, mountPoint: string, change: FstabChange): string {
  const lines = splitLines(text);
  const idx = indexesOf(lines, mountPoint);
  if (idx.length !== 1) throw new Error(`fstab has ${idx.length} entries for ${mountPoint}; expected exactly one`);
  const i = idx[0]!;
  const old = toEntry(lines[i]!, i)!;
  const next = { ...old, ...change, mntops: [...(change.mntops ?? old.mntops)] };
  const want = fields(next);
  const changes = new Map<number, string>();
  const had = lines[i]!.fields;
  if (change.spec !== undefined) changes.set(0, want[0]!);
  if (change.vfstype !== undefined) changes.set(2, want[2]!);
  if (change.mntops !== undefined) changes.set(3, want[3]!);
  if (change.freq !== undefined) changes.set(4, want[4]!);
  if (change.passno !== undefined) changes.set(5, want[5]!);
  // Appending a later field needs the earlier ones written out (their defaults).
  const top = Math.max(-1, ...changes.keys());
  for (let k = had.length; k < top; k++) if (!changes.has(k)) changes.set(k, want[k]!);
  lines[i] = rewriteFields(lines[i]!, changes);
  return joinLines(lines);
}

/** Appends an entry (after optional comment lines); throws if the mount point is already taken. */
export function addFstabEntry(text: string, entry: Omit<FstabEntry, 'line'>, comments: readonly string[] = []): string {
  const lines = splitLines(text);
  if (indexesOf(lines, entry.file).length > 0) throw new Error(`fstab already has an entry for ${entry.file}`);
  const added = [...comments.map((c) => makeLine([`# ${c}`])), makeLine(fields(entry))];
  return joinLines(appendLines(lines, added));
}

export function findFstabEntry(entries: readonly FstabEntry[], mountPoint: string): FstabEntry | undefined {
  return entries.find((e) => samePath(e.file, mountPoint));
}

/**
 * Whether a spec still names the same volume after a reboot or a re-attach: kernel names (sdX, vdX,
 * nvmeXnY, dm-N) are handed out in probe order, so they are not. Every name in a subdirectory of /dev is a
 * udev or device-mapper alias of something stable (/dev/disk/by-*, /dev/disk/azure, /dev/mapper, /dev/<vg>/<lv>,
 * /dev/md/<name>). Non-block specs (tmpfs, NFS) are not persistent block names either.
 */
export function isPersistentSpec(spec: string): boolean {
  if (/^(UUID|PARTUUID|LABEL|PARTLABEL|ID)=./.test(spec)) return true;
  return /^\/dev\/[^/]+\/[^/]/.test(spec);
}

export function hasOption(entry: Pick<FstabEntry, 'mntops'>, name: string): boolean {
  return hasOptionIn(entry.mntops, name);
}
