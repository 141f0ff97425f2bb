// npm run bench: runs every bench/*.bench.mjs (each exports run() → { metric: {value, unit, baseline, ratio} }),
// prints one table and writes bench/results/latest.json. `npm run bench -- handler` runs only matching files.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs') && (!filter.length || filter.some((w) => f.includes(w)))).sort();
const results = {};
for (const f of files) {
  console.error(`bench: ${f} …`);
  const mod = await import(join(here, f));
  Object.assign(results, await mod.run());
}
const rows = Object.entries(results).map(([k, m]) => [k, `${m.value} ${m.unit}`, `${m.baseline} ${m.unit}`, String(m.ratio), m.note ?? '']);
const head = ['metric', 'value', 'baseline', 'ratio', 'baseline is'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(w[i])).join('  ');
console.log([line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n'));
mkdirSync(join(here, 'results'), { recursive: true });
// A partial run (`npm run bench -- data`) replaces its own metrics and keeps the others' last values.
const file = join(here, 'results', 'latest.json');
const kept = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
writeFileSync(file, JSON.stringify({ ...kept, ...results }, null, 2) + '\n');
console.log(`\nwrote ${file}`);
