// The OS disk's boot plumbing as the package ships it: every file the extension installs for a builder is in
// initramfs/ and executable, and the conf the initramfs scripts source is a shell file that cannot run code.
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatOsConf, PLUMBING, type OsBootConf } from '../../../src/system/os-boot.ts';

const DIR = join(import.meta.dirname, '../../../initramfs');
const CONF: OsBootConf = { name: 'osencrypt', data: 'PARTUUID=5b7ce3f1-b69c-4708-a723-6c617a1806c0', headerFs: 'UUID=96d8ac74-1ce5-4419-a199-56b7d22bdd96', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName' };

describe('boot plumbing', () => {
  it.each(Object.entries(PLUMBING))('%s: every file it installs is shipped, executable, and parses as shell', (_b, files) => {
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const path = join(DIR, f.from);
      accessSync(path, constants.X_OK);
      const shell = /^#!\/bin\/bash/.test(readFileSync(path, 'utf8')) ? 'bash' : 'sh';
      expect(() => execFileSync(shell, ['-n', path])).not.toThrow();
    }
  });

  it('the conf reads back in sh exactly as written', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'os-conf-')), 'osencrypt.conf');
    writeFileSync(file, formatOsConf(CONF));
    const out = execFileSync('sh', ['-c', '. "$1"; printf "%s|%s|%s|%s" "$ADE_DATA" "$ADE_HEADER_FS" "$ADE_HEADER" "$ADE_KEY_LABEL"', 'sh', file], { encoding: 'utf8' });
    expect(out).toBe(`${CONF.data}|${CONF.headerFs}|${CONF.header}|BEK VOLUME`);
  });

  it.each(['luks/$(reboot)', 'a"b', 'x`id`', 'a;b'])('a value that would not be inert in a shell file is refused: %s', (bad) => {
    expect(() => formatOsConf({ ...CONF, header: bad })).toThrow(/would not be safe in a shell file/);
  });
});
