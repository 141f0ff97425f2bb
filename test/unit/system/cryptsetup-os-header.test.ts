// The OS disk header's cryptsetup calls, on a recording runner: what reaches argv (never a secret), what
// reaches stdin, and the refusals that keep a passphrase from being cut at a newline.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cryptsetup } from '../../../src/system/cryptsetup.ts';
import type { Runner } from '../../../src/system/exec.ts';

interface Call { args: readonly string[]; input: string }

function recorder(): { calls: Call[]; run: Runner } {
  const calls: Call[] = [];
  // a copy of stdin: the adapter zeroes its buffer once the command has returned
  const run: Runner = async (_file, args, opts) => { calls.push({ args, input: Buffer.from(opts?.input ?? '').toString() }); return { exitCode: 0, stdout: '', stderr: '' }; };
  return { calls, run };
}

const KEY = Buffer.from('generated-key-172-chars-of-base64');
const RECOVERY = Buffer.from('123456-000001-000002-000003-000004-000005-000006-000007');
let knob: string | undefined;
beforeEach(() => { knob = process.env['ADE_LINUX_PBKDF']; delete process.env['ADE_LINUX_PBKDF']; });
afterEach(() => { if (knob === undefined) delete process.env['ADE_LINUX_PBKDF']; else process.env['ADE_LINUX_PBKDF'] = knob; });

describe('the OS disk header', () => {
  it('cipher_null format: the header file named, AES keyslots, the key on stdin only; PBKDF2 at the floor for a generated key', async () => {
    const r = recorder();
    await cryptsetup(r.run).formatNullDetached('/dev/vda1', KEY, { uuid: 'u-1', header: '/boot/luks/h', generatedKey: true });
    const { args, input } = r.calls[0]!;
    expect(args.slice(0, 6)).toEqual(['luksFormat', '--type', 'luks2', '--header', '/boot/luks/h', '--cipher']);
    expect(args).toContain('cipher_null-ecb');
    expect(args.join(' ')).toContain('--keyslot-cipher aes-xts-plain64 --keyslot-key-size 512 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid u-1 --key-file -');
    expect(args.at(-1)).toBe('/dev/vda1');
    expect(input).toBe(KEY.toString());
    expect(args.join(' ')).not.toContain(KEY.toString());
  });

  it('an operator\'s passphrase keeps the benchmarked PBKDF2', async () => {
    const r = recorder();
    await cryptsetup(r.run).formatNullDetached('/dev/vda1', KEY, { uuid: 'u-1', header: '/boot/luks/h', generatedKey: false });
    expect(r.calls[0]!.args).not.toContain('--pbkdf-force-iterations');
  });

  it('reencryption init: every keyslot\'s passphrase on stdin, one per line in keyslot order, none in argv', async () => {
    const r = recorder();
    await cryptsetup(r.run).initReencryptDetached('/dev/vda1', [KEY, RECOVERY], { header: '/boot/luks/h', generatedKey: true });
    const { args, input } = r.calls[0]!;
    expect(args).toEqual(['reencrypt', '--init-only', '--header', '/boot/luks/h', '--cipher', 'aes-xts-plain64', '--key-size', '512',
      '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--batch-mode', '/dev/vda1']);
    expect(input).toBe(`${KEY}\n${RECOVERY}\n`);
  });

  it('refuses a passphrase with a newline before running anything (cryptsetup would read half of it)', async () => {
    const r = recorder();
    expect(() => cryptsetup(r.run).initReencryptDetached('/dev/vda1', [Buffer.from('line one\nline two'), RECOVERY], { header: '/boot/luks/h', generatedKey: false }))
      .toThrow(/newline/);
    expect(r.calls).toEqual([]);
  });
});
