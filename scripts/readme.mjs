// Regenerates the parts of README.md that come from code: the settings reference (from schemas/) and the
// error-code table (from src/shared/errors.ts). `--check` exits 1 when README.md is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { ERRORS } = await import(join(root, 'src/shared/errors.ts'));
const schema = (n) => JSON.parse(readFileSync(join(root, 'schemas', `${n}.schema.json`), 'utf8'));
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function settingsTable(s, where) {
  const req = new Set(s.required ?? []);
  const rows = Object.entries(s.properties).map(([k, p]) => {
    const type = p.enum ? p.enum.map((v) => `\`${v}\``).join(', ') : p.format ? `string (${p.format})` : Array.isArray(p.type) ? p.type.join(' or ') : p.type ?? 'any';
    return `| \`${k}\` | ${where} | ${cell(type)} | ${req.has(k) ? 'yes' : ''} | ${cell(p.description ?? '')} |`;
  });
  return rows.join('\n');
}

export function generated() {
  const settings = ['| Setting | In | Type / values | Always required | Meaning |', '|---|---|---|---|---|',
    settingsTable(schema('public-settings'), 'public'), settingsTable(schema('protected-settings'), 'protected')].join('\n');
  const errors = ['| Code | Name | Status | Message (placeholders in braces) |', '|---|---|---|---|',
    ...Object.entries(ERRORS).sort((a, b) => a[1].code - b[1].code).map(([id, e]) => `| ${e.code} | ${id} | ${e.status} | ${cell(e.text)} |`)].join('\n');
  return { settings, errors };
}

function splice(text, name, body) {
  const re = new RegExp(`(<!-- ${name}:begin -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(text)) throw new Error(`README.md has no ${name} markers`);
  return text.replace(re, (_, a, b) => `${a}\n${body}\n${b}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = join(root, 'README.md');
  const old = readFileSync(path, 'utf8');
  const g = generated();
  const next = splice(splice(old, 'settings', g.settings), 'errors', g.errors);
  if (process.argv.includes('--check')) {
    if (next !== old) { console.error('README.md is out of date: run node scripts/readme.mjs'); process.exit(1); }
  } else writeFileSync(path, next);
}
