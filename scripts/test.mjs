// npm test: host packages, the package zips, then the fast suites (unit + integration) and the lab's VM
// suite as a second pass so TCG guests don't compete with parallel unit files for the 2 cores.
// Ends with one line 'N passed, N failed' for CI.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const total = { passed: 0, failed: 0, skipped: 0 };
const finish = () => {
  console.log(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
  process.exit(total.failed ? 1 : 0);
};

const step = (what, cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) { console.error(`test: ${what} failed`); total.failed++; finish(); }
};
step('host packages', 'sh', ['scripts/host-deps.sh']);
step('packaging', process.execPath, ['build/package.mjs']);

const passes = process.argv.includes('--fast') ? [['unit', 'integration']] : [['unit', 'integration'], ['vm']];
const dir = mkdtempSync(join(tmpdir(), 'ade-test-'));
for (const [i, projects] of passes.entries()) {
  const summary = join(dir, `pass${i}.json`);
  // The VM pass: two guests at a time (ADE_LAB_PARALLEL=1 for one), each file still boots its own.
  const workers = projects.includes('vm') ? ['--maxWorkers', process.env.ADE_LAB_PARALLEL ?? '2'] : [];
  const args = ['node_modules/vitest/vitest.mjs', 'run', ...projects.flatMap((p) => ['--project', p]), ...workers];
  spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ADE_TEST_SUMMARY: summary, NO_COLOR: '1' } });
  if (!existsSync(summary)) { total.failed++; continue; } // vitest itself failed to start
  const s = JSON.parse(readFileSync(summary, 'utf8'));
  total.passed += s.passed; total.failed += s.failed; total.skipped += s.skipped;
}
finish();
