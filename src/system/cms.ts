// Protected settings are CMS EnvelopedData encrypted to the VM's certificate. openssl decrypts them, as in
// every Microsoft Linux handler: `cms` first (AES and 3DES, FIPS builds), then the legacy `smime`. The
// ciphertext goes in on stdin and the plaintext comes back on stdout: neither touches the disk or argv.
import type { Runner } from './exec.ts';

export interface CmsResult { ok: true; plaintext: string }
export interface CmsFailure { ok: false; cause: string }

export async function decryptCms(run: Runner, der: Uint8Array, certPath: string, keyPath: string): Promise<CmsResult | CmsFailure> {
  let cause = '';
  for (const tool of ['cms', 'smime']) {
    const r = await run('openssl', [tool, '-decrypt', '-inform', 'DER', '-recip', certPath, '-inkey', keyPath], { input: der });
    if (r.exitCode === 0) return { ok: true, plaintext: r.stdout };
    cause ||= firstLine(r.stderr) || `openssl ${tool} exited ${r.exitCode}`;
  }
  return { ok: false, cause };
}

function firstLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}
