// /etc/os-release (os-release(5)) as a map. The file is shell-compatible KEY=value assignments: a value is
// single-quoted (literal), double-quoted (\" \\ \$ \` are escapes, any other backslash stays) or bare (a
// backslash escapes the next character). A line a shell would split into more than one word, or that
// never closes its quote, is skipped rather than guessed at: the support verdict rests on ID and VERSION_ID.
// A later assignment wins, as it would when the file is sourced.

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const DOUBLE_QUOTE_ESCAPES = new Set(['"', '\\', '$', '`']);

function doubleQuoted(v: string): string | undefined {
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v[i]!;
    if (c === '"') return i === v.length - 1 ? out : undefined; // `"a""b"` concatenation is not os-release
    if (c === '\\' && i + 1 < v.length && DOUBLE_QUOTE_ESCAPES.has(v[i + 1]!)) out += v[++i];
    else out += c;
  }
  return undefined;
}

function singleQuoted(v: string): string | undefined {
  const end = v.indexOf("'", 1);
  return end === v.length - 1 ? v.slice(1, end) : undefined;
}

function bare(v: string): string | undefined {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\') {
      if (i + 1 === v.length) return undefined;
      out += v[++i];
    } else if (/[\s"']/.test(c)) return undefined;
    else out += c;
  }
  return out;
}

function parseValue(v: string): string | undefined {
  if (v.startsWith('"')) return doubleQuoted(v);
  if (v.startsWith("'")) return singleQuoted(v);
  return bare(v);
}

export function parseOsRelease(text: string): Record<string, string> {
  // A Map, then fromEntries: a key such as __proto__ stays an ordinary entry.
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) continue;
    const value = parseValue(m[2]!);
    if (value !== undefined) out.set(m[1]!, value);
  }
  return Object.fromEntries(out);
}
