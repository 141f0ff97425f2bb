// Vitest global setup of the integration and vm projects: bundles the operator CLI (build/cli/) once, before any
// test file runs. Bundling first deletes build/cli/, so files that bundled it themselves pulled it from under
// each other's running CLI when they ran in parallel.
// @ts-expect-error: plain ESM build script
import { bundleCli } from '../../build/build.mjs';

export default async function setup(): Promise<void> {
  await (bundleCli as () => Promise<unknown>)();
}
