// The built package the integration tests drive. npm test builds it first; a single test file run on its
// own builds what is missing. A second version (for upgrade tests) is built into a temp folder.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const manifest = JSON.parse(readFileSync(join(ROOT, 'HandlerManifest.json'), 'utf8')) as Array<{ name: string }>;
export const EXTENSION_NAME = manifest[0]!.name;
export const VERSION = pkg.version;

export function packageZip(version = VERSION): string {
  const zip = join(ROOT, 'dist', `${EXTENSION_NAME}-${version}.zip`);
  // Another version is always rebuilt: a zip left from an older build would test old code.
  if (!existsSync(zip) || version !== VERSION) {
    execFileSync(process.execPath, ['-e', `import('./build/package.mjs').then((m) => m.makePackage({ arches: ['x64'], version: ${JSON.stringify(version)} }))`], { cwd: ROOT, stdio: 'inherit' });
  }
  return zip;
}
