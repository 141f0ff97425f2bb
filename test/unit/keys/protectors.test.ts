// The bek-volume protector over an in-memory key volume; the system adapter for the real "BEK VOLUME" with a
// recording runner and a temporary directory as mount point; unlock fallback; cryptsetup gets keys on stdin.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { RunOptions, Runner } from '../../../src/system/exec.ts';
import { bekVolume } from '../../../src/system/bek-volume.ts';
import { cryptsetup } from '../../../src/system/cryptsetup.ts';

const luksOpener = (r: Runner) => async (device: string, name: string, key: Buffer) => { await cryptsetup(r).open(device, name, key); };
import { bekVolumeProtector, unlockVolume } from '../../../src/keys/index.ts';
import type { KeyVolume } from '../../../src/system/bek-volume.ts';
import type { KeyProtector, KeyVaultRecord } from '../../../src/keys/index.ts';

function memoryVolume(): KeyVolume & { files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  return { files, writeKey: async (n, d) => { files.set(n, Buffer.from(d)); }, readKey: async (n) => (files.has(n) ? Buffer.from(files.get(n)!) : undefined) };
}

describe('bek-volume protector', () => {
  it('seals to the per-disk file name and unseals the same bytes', async () => {
    const vol = memoryVolume();
    const p = bekVolumeProtector(vol, memoryLogger());
    const rec = await p.seal({ volume: { id: 'd', fileName: 'LinuxPassPhraseFileName_1_2' }, passphrase: Buffer.from('pass-1'), secretUrl: 'https://v.vault.azure.net/secrets/s/1' });
    expect(rec).toEqual({ kind: 'bek-volume', fileName: 'LinuxPassPhraseFileName_1_2', secretUrl: 'https://v.vault.azure.net/secrets/s/1' });
    expect(vol.files.get('LinuxPassPhraseFileName_1_2')!.toString()).toBe('pass-1');
    expect((await p.unseal(rec)).toString()).toBe('pass-1');
  });

  it('a missing key file is PassphraseFileNotFound (15) naming the file and the escrowed secret', async () => {
    const p = bekVolumeProtector(memoryVolume(), memoryLogger());
    const e = await p.unseal({ kind: 'bek-volume', fileName: 'LinuxPassPhraseFileName', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e).toBeInstanceOf(AdeError);
    if (!e) return;
    expect(e.code).toBe(15);
    expect(e.message).toContain('holds no key file LinuxPassPhraseFileName');
    expect(e.message).toContain('https://v.vault.azure.net/secrets/s/1');
  });

  it('refuses file names that are not ADE\'s (no path tricks)', async () => {
    const p = bekVolumeProtector(memoryVolume(), memoryLogger());
    await expect(p.seal({ volume: { id: 'd', fileName: '../etc/passwd' }, passphrase: Buffer.from('x') })).rejects.toThrow(/not LinuxPassPhraseFileName/);
  });
});

describe('system adapter for the BEK VOLUME', () => {
  let dir: string | undefined;
  afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); dir = undefined; });

  function runner(mounted: string | undefined) {
    const calls: { file: string; args: readonly string[]; opts?: RunOptions }[] = [];
    const r: Runner = async (file, args, opts) => {
      calls.push({ file, args, ...(opts ? { opts } : {}) });
      if (file === 'blkid') return { exitCode: 0, stdout: '/dev/sdc1\n', stderr: '' };
      if (file === 'findmnt') return mounted ? { exitCode: 0, stdout: `${mounted} ro,relatime,fmask=0277\n`, stderr: '' } : { exitCode: 1, stdout: '', stderr: '' };
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    return { r, calls };
  }

  it('not yet mounted: mounts vfat read-write with root-only modes, writes the file 0400 atomically, leaves it read-only', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bek-'));
    const { r, calls } = runner(undefined);
    await bekVolume({ runner: r, mountPoint: dir }).writeKey('LinuxPassPhraseFileName', Buffer.from('k3y'));
    expect(readFileSync(join(dir, 'LinuxPassPhraseFileName'), 'utf8')).toBe('k3y');
    expect(statSync(join(dir, 'LinuxPassPhraseFileName')).mode & 0o777).toBe(0o400);
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).toEqual([
      'blkid -L BEK VOLUME',
      'findmnt -n -o TARGET,OPTIONS --source /dev/sdc1',
      `mount -t vfat -o rw,fmask=0277,dmask=0077,uid=0,gid=0,nodev,nosuid,noexec /dev/sdc1 ${dir}`,
      `mount -o remount,ro ${dir}`,
    ]);
    expect(calls.every((c) => c.opts?.input === undefined)).toBe(true);
  });

  it('already mounted read-only: reads in place without remounting; a missing file is undefined', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bek-'));
    const { r, calls } = runner(dir);
    const vol = bekVolume({ runner: r, mountPoint: '/nonexistent' });
    expect(await vol.readKey('LinuxPassPhraseFileName')).toBeUndefined();
    expect(calls.map((c) => c.file)).toEqual(['blkid', 'findmnt']);
  });

  it('no BEK VOLUME attached: KeyVolumeMissing (407)', async () => {
    const r: Runner = async () => ({ exitCode: 2, stdout: '', stderr: '' });
    const e = await bekVolume({ runner: r }).readKey('LinuxPassPhraseFileName').then(() => undefined, (x: unknown) => x as AdeError);
    expect(e).toBeInstanceOf(AdeError);
    expect(e?.code).toBe(407);
  });
});

describe('unlock', () => {
  it('falls back to the next protector, hands the key on stdin only, and zeroes it', async () => {
    const calls: { file: string; args: readonly string[]; input?: unknown }[] = [];
    const r: Runner = async (file, args, opts) => { calls.push({ file, args, input: Buffer.from(opts!.input as Buffer) }); return { exitCode: 0, stdout: '', stderr: '' }; };
    const key = Buffer.from('the-volume-passphrase');
    const broken = bekVolumeProtector(memoryVolume(), memoryLogger());
    const handed: Buffer[] = [];
    const network: KeyProtector<KeyVaultRecord> = { kind: 'keyvault', seal: async () => ({ kind: 'keyvault', secretUrl: 's' }), unseal: async () => { const b = Buffer.from(key); handed.push(b); return b; } };
    const log = memoryLogger();
    const kind = await unlockVolume('/dev/sdc', 'data0', [
      { protector: broken, record: { kind: 'bek-volume', fileName: 'LinuxPassPhraseFileName' } },
      { protector: network, record: { kind: 'keyvault', secretUrl: 'https://v.vault.azure.net/secrets/s/1' } },
    ], luksOpener(r), log);
    expect(kind).toBe('keyvault');
    expect(calls).toEqual([{ file: 'cryptsetup', args: ['open', '--type', 'luks2', '--key-file', '-', '/dev/sdc', 'data0'], input: key }]);
    expect(JSON.stringify(calls[0]!.args)).not.toContain('the-volume-passphrase');
    expect(handed[0]!.every((b) => b === 0)).toBe(true);
    expect(log.lines.some((l) => l.includes('The bek-volume protector could not open /dev/sdc'))).toBe(true);
  });

  it('all protectors failing throws the last failure as an AdeError', async () => {
    const p = bekVolumeProtector(memoryVolume(), memoryLogger());
    const e = await unlockVolume('/dev/sdc', 'd', [{ protector: p, record: { kind: 'bek-volume', fileName: 'LinuxPassPhraseFileName' } }], async () => undefined, memoryLogger()).then(() => undefined, (x: unknown) => x as AdeError);
    expect(e).toBeInstanceOf(AdeError);
    expect(e?.code).toBe(15);
  });
});
