// fstab and crypttab share a line grammar: whitespace-separated fields, `#` comments at line start,
// CR/LF kept as found. Editors must leave every line they do not change byte-identical (admins diff these
// files, and a reformatted fstab is how ADE earned distrust), so a line is kept as its raw text plus the
// spans of its fields, and a change rewrites only the fields it names, keeping the separators between them.

export interface TabLine {
  /** The line without its terminator. */
  raw: string;
  /** `\n`, `\r\n` or '' (last line without a newline). */
  eol: string;
  /** Field texts as written (escapes not decoded); empty for comments and blank lines. */
  fields: string[];
  /** [start, end) of each field in raw. */
  spans: Array<[number, number]>;
}

export function splitLines(text: string): TabLine[] {
  const lines: TabLine[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    const cr = end > pos && text[end - 1] === '\r' && nl !== -1;
    const raw = text.slice(pos, cr ? end - 1 : end);
    const eol = nl === -1 ? '' : cr ? '\r\n' : '\n';
    lines.push({ raw, eol, ...tokenize(raw) });
    pos = nl === -1 ? text.length : nl + 1;
  }
  return lines;
}

function tokenize(raw: string): Pick<TabLine, 'fields' | 'spans'> {
  const fields: string[] = [];
  const spans: Array<[number, number]> = [];
  if (/^\s*(#|$)/.test(raw)) return { fields, spans };
  const re = /[^ \t]+/g;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    fields.push(m[0]);
    spans.push([m.index, m.index + m[0].length]);
  }
  return { fields, spans };
}

export function joinLines(lines: readonly TabLine[]): string {
  return lines.map((l) => l.raw + l.eol).join('');
}

/** Rewrites the given fields of a line in place; fields past the end are appended after one space. */
export function rewriteFields(line: TabLine, changes: ReadonlyMap<number, string>): TabLine {
  let raw = line.raw;
  // Right to left, so earlier spans stay valid.
  const inPlace = [...changes].filter(([i]) => i < line.spans.length).sort((a, b) => b[0] - a[0]);
  for (const [i, text] of inPlace) {
    const [s, e] = line.spans[i]!;
    raw = raw.slice(0, s) + text + raw.slice(e);
  }
  const maxIndex = Math.max(-1, ...changes.keys());
  if (maxIndex >= line.spans.length) {
    const trail = raw.length - raw.trimEnd().length;
    let head = raw.slice(0, raw.length - trail);
    for (let i = line.spans.length; i <= maxIndex; i++) {
      const text = changes.get(i);
      if (text === undefined) throw new Error(`field ${i} must be given to append field ${maxIndex}`);
      head += ' ' + text;
    }
    raw = head + raw.slice(raw.length - trail);
  }
  return { raw, eol: line.eol, ...tokenize(raw) };
}

export function makeLine(fields: readonly string[], eol = '\n'): TabLine {
  const raw = fields.join(' ');
  return { raw, eol, ...tokenize(raw) };
}

/** Appends lines, first giving a last line without a newline its terminator. */
export function appendLines(lines: readonly TabLine[], added: readonly TabLine[]): TabLine[] {
  const out = [...lines];
  const last = out[out.length - 1];
  const eol = lines.find((l) => l.eol !== '')?.eol ?? '\n';
  if (last && last.eol === '') out[out.length - 1] = { ...last, eol };
  for (const l of added) out.push({ ...l, eol });
  return out;
}

/** `a,b=c,,d` → ['a', 'b=c', 'd']. */
export function splitOptions(field: string | undefined): string[] {
  return field === undefined ? [] : field.split(',').filter((o) => o !== '');
}

export function hasOptionIn(options: readonly string[], name: string): boolean {
  return options.some((o) => o === name || o.startsWith(name + '='));
}
