import { defineConfig } from 'vitest/config';

// Three projects: units run in parallel; integration drives the built package through the fake agent;
// vm boots QEMU guests and runs one file at a time (2 cores, TCG is CPU-bound).
export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 300_000 } },
      {
        test: {
          name: 'vm', include: ['test/vm/**/*.test.ts'], testTimeout: 1_800_000, hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
