// The recovery passphrase's keyslot, with the adapter's exact invocations on a real image and detached header
// (metadata only: no device-mapper on this host). cryptsetup refuses keyslot changes while a reencryption is
// under way, so the OS steps add it after; once added, the typed passphrase (no newline) and the key both open
// the header, a wrong passphrase does not, and a key that itself holds newlines (a user's own passphrase) is
// read to its exact length, not to its first newline. The initramfs's keyslot count (luks2_slots) on the same header.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/system/exec.ts';
import { cryptsetup } from '../../../src/system/cryptsetup.ts';
import { CommandFailed } from '../../../src/system/exec.ts';

const FUNCS = join(import.meta.dirname, '../../../initramfs/initramfs-tools/scripts/ade-linux-functions');
/** The initramfs's count of passphrase keyslots, run on the host as both initramfs openers run it. */
const luks2Slots = async (header: string): Promise<number> =>
  Number((await run('sh', ['-c', '. "$1"; luks2_slots "$2"', 'sh', FUNCS, header])).stdout.trim());

process.env['ADE_LINUX_PBKDF'] = 'pbkdf2:1000';
const dir = mkdtempSync(join(tmpdir(), 'ade-recovery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cs = cryptsetup(run);
const RECOVERY = Buffer.from('123456-000001-000002-000003-000004-000005-000006-000007');

async function image(name: string): Promise<string> {
  const img = join(dir, name);
  expect((await run('truncate', ['-s', '64M', img])).exitCode).toBe(0);
  expect((await run('mkfs.ext4', ['-q', '-F', img])).exitCode).toBe(0);
  return img;
}

describe('cryptsetup addKey (the OS disk\'s recovery passphrase)', () => {
  it('refused during the reencryption, added after it; both the key and the typed passphrase open the header', async () => {
    const img = await image('os.img');
    const header = join(dir, 'os.hdr');
    const key = Buffer.from('first line of a user passphrase\nsecond line\n');
    await cs.initEncryptDetached(img, key, { uuid: '7d5a5f5e-3d0e-4c55-9a43-0d1c1b0e0a01', header });
    const during = await cs.addKey(header, key, RECOVERY).then(() => undefined, (e: unknown) => e);
    expect(during).toBeInstanceOf(CommandFailed);
    expect((during as CommandFailed).stderr).toMatch(/reencryption/i);
    expect(await cs.testKey(img, RECOVERY, { header })).toBe(false);
    // the initramfs offers no prompt yet: one passphrase keyslot beside the reencryption's
    expect(await luks2Slots(header)).toBe(1);

    await cs.resume(img, key, { header, offline: true });
    expect((await cs.dump(header))?.reencryptInProgress).toBe(false);
    await cs.addKey(header, key, RECOVERY);
    expect(await cs.testKey(img, RECOVERY, { header })).toBe(true);
    expect(await cs.testKey(img, key, { header })).toBe(true);
    // neither half of the stdin split opens it: the key's first line, the passphrase with its newline
    expect(await cs.testKey(img, Buffer.from('first line of a user passphrase'), { header })).toBe(false);
    expect(await cs.testKey(img, Buffer.from('123456-000001-000002-000003-000004-000005-000006-000008'), { header })).toBe(false);
    expect((await cs.dump(header))!.keyslots.filter((k) => k.type === 'luks2')).toHaveLength(2);
    expect(await luks2Slots(header)).toBe(2);
  });

  it('a wrong key adds nothing', async () => {
    const img = await image('other.img');
    const header = join(dir, 'other.hdr');
    const key = Buffer.from('right key');
    await cs.initEncryptDetached(img, key, { uuid: '7d5a5f5e-3d0e-4c55-9a43-0d1c1b0e0a02', header });
    await cs.resume(img, key, { header, offline: true });
    await expect(cs.addKey(header, Buffer.from('wrong key'), RECOVERY)).rejects.toBeInstanceOf(CommandFailed);
    expect(await cs.testKey(img, RECOVERY, { header })).toBe(false);
  });
});
