import { defineConfig } from 'vitest/config';

// Three projects: units run in parallel; integration drives the built package through the fake agent;
// vm boots QEMU guests, one per file; npm test runs that pass alone with two files at a time (a guest is
// often idle: waiting on a throttled disk, on the fake Azure, on a poll), so two guests share the 2 cores.
export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 300_000, globalSetup: ['test/helpers/bundle-cli.ts'] } },
      {
        test: {
          name: 'vm', include: ['test/vm/**/*.test.ts'], testTimeout: 1_800_000, hookTimeout: 1_800_000, globalSetup: ['test/helpers/bundle-cli.ts'],
        },
      },
    ],
  },
});
