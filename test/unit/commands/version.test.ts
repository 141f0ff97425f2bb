// `az vm encryption enable|show|disable` take the extension from ADE_TEST_EXTENSION_PUBLISHER and
// ADE_TEST_EXTENSION_NAME and ask for typeHandlerVersion 1.1 with autoUpgradeMinorVersion (azure-cli
// vm/disk_encryption.py vm_extension_info). The package's numbering must satisfy that, and the names the
// README tells users to set must be the package's own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../../src/shared/version.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('the version az vm encryption asks for', () => {
  it('is 1.x with x ≥ 1, so typeHandlerVersion 1.1 with autoUpgradeMinorVersion installs it', () => {
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(VERSION);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(1);
    expect(Number(m![2])).toBeGreaterThanOrEqual(1);
  });

  it('the README names the publisher and type of HandlerManifest.json for ADE_TEST_EXTENSION_*', () => {
    const name = (JSON.parse(readFileSync(join(ROOT, 'HandlerManifest.json'), 'utf8')) as Array<{ name: string }>)[0]!.name;
    const [publisher, type] = [name.slice(0, name.lastIndexOf('.')), name.slice(name.lastIndexOf('.') + 1)];
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`export ADE_TEST_EXTENSION_PUBLISHER=${publisher}`);
    expect(readme).toContain(`export ADE_TEST_EXTENSION_NAME=${type}`);
  });
});
