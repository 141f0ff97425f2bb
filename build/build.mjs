// Bundles src/main.ts and everything it imports into one ESM file for the shipped Node runtime.
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const outDir = join(root, 'build', 'out');
export const bundlePath = join(outDir, 'handler.mjs');

export async function bundle({ version } = {}) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    // Code splitting: modules behind a dynamic import() (execa, later the Azure SDK) load only when used.
    entryPoints: { handler: join(root, 'src', 'main.ts') },
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    keepNames: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
    define: version ? { __ADE_VERSION__: JSON.stringify(version) } : {},
    // CommonJS dependencies call require() for built-ins; give the ESM bundle one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return result;
}

/** The operator CLI (src/operator/cli.ts), bundled apart: it runs on the operator's machine and is not shipped to VMs. */
export const cliDir = join(root, 'build', 'cli');
export const cliPath = join(cliDir, 'cli.mjs');

export async function bundleCli({ version } = {}) {
  rmSync(cliDir, { recursive: true, force: true });
  return build({
    entryPoints: { cli: join(root, 'src', 'operator', 'cli.ts') },
    outdir: cliDir, outExtension: { '.js': '.mjs' }, splitting: true, chunkNames: 'chunks/[name]-[hash]',
    bundle: true, platform: 'node', format: 'esm', target: 'node24', minify: true, keepNames: true, sourcemap: false,
    legalComments: 'none', logLevel: 'warning', define: version ? { __ADE_VERSION__: JSON.stringify(version) } : {},
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await bundle();
  await bundleCli();
  console.log(`bundle: ${bundlePath}\ncli: ${cliPath}`);
}
