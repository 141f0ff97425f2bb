// Counts passed/failed/skipped tests. Prints the closing line 'N passed, N failed[, N skipped]' CI reads, or,
// when scripts/test.mjs runs several vitest passes, writes the counts to ADE_TEST_SUMMARY for it to add up.
import { writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of testModules) {
      const tests = [...m.children.allTests()];
      for (const t of tests) {
        const s = t.result().state;
        if (s === 'passed') passed++; else if (s === 'failed') failed++; else skipped++;
      }
      if (m.state() === 'failed' && tests.length === 0) failed++; // the file failed to load
    }
    failed += unhandledErrors.length;
    const file = process.env.ADE_TEST_SUMMARY;
    if (file) writeFileSync(file, JSON.stringify({ passed, failed, skipped }));
    else process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
