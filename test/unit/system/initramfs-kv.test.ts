// The initramfs's Key Vault protector (kv_protector in initramfs/initramfs-tools/scripts/ade-linux-functions, which
// both builders' openers run), run on the host under each shell an initramfs may have (dash: klibc's kin and
// Debian's /bin/sh; busybox ash: initramfs-tools; bash: dracut), against IMDS and Key Vault faked over loopback
// HTTP with a real RSA KEK. Every tool it starts (curl, sed, tr, base64, cryptsetup) is a shim that records its
// argv: the bearer token, the wrapped key and the key itself must reach none of them, and the key must reach
// cryptsetup's stdin byte for byte.
import { constants, createPrivateKey, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const FUNCS = join(import.meta.dirname, '../../../initramfs/initramfs-tools/scripts/ade-linux-functions');
const TOKEN = `eyJ0eXAiOiJKV1QifQ.${randomBytes(48).toString('base64url')}.sig`;
const KEY = randomBytes(64);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const WRAPPED = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, KEY).toString('base64url');

interface Seen { auth: string[]; unwrapBodies: string[]; imdsMetadata: string[] }
let seen: Seen;
let server: http.Server;
let base = '';
/** What the fake vault answers for the secret: 'wrapped' (with a KEK), 'plain' (base64 of the key), 'forbidden'. */
let secretMode: 'wrapped' | 'plain' | 'forbidden' = 'wrapped';

const json = (res: http.ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/metadata/identity/oauth2/token') {
        seen.imdsMetadata.push(String(req.headers['metadata']));
        json(res, 200, { access_token: TOKEN, token_type: 'Bearer', expires_in: '86399' });
        return;
      }
      seen.auth.push(String(req.headers['authorization']));
      if (req.headers['authorization'] !== `Bearer ${TOKEN}`) { json(res, 401, { error: { code: 'Unauthorized', message: 'no bearer token' } }); return; }
      if (url.pathname === '/secrets/s/1' && req.method === 'GET') {
        if (secretMode === 'forbidden') { json(res, 403, { error: { code: 'Forbidden', message: 'Caller is not authorized to perform action on resource.' } }); return; }
        json(res, 200, { value: secretMode === 'wrapped' ? WRAPPED : KEY.toString('base64'), id: `${base}/secrets/s/1` });
        return;
      }
      if (url.pathname === '/keys/k/1/unwrapkey' && req.method === 'POST') {
        seen.unwrapBodies.push(body);
        const { alg, value } = JSON.parse(body) as { alg: string; value: string };
        if (alg !== 'RSA-OAEP') { json(res, 400, { error: { code: 'BadParameter', message: `alg ${alg}` } }); return; }
        const plain = privateDecrypt({ key: createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(value, 'base64url'));
        json(res, 200, { kid: `${base}/keys/k/1`, value: plain.toString('base64url') });
        return;
      }
      json(res, 404, { error: { code: 'NotFound', message: `no ${url.pathname}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => { server.close(); });

/** A directory of shims that log their argv (NUL-separated) to $ARGV_LOG and run the host's tool. */
function shims(): { dir: string; argvLog: string; keyOut: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ade-kv-'));
  const argvLog = join(dir, 'argv.log');
  const keyOut = join(dir, 'key.out');
  for (const t of ['curl', 'sed', 'tr', 'base64']) {
    writeFileSync(join(dir, t), `#!/bin/sh\nprintf '%s\\0' "$0" "$@" >> '${argvLog}'\nexec /usr/bin/${t} "$@"\n`);
    chmodSync(join(dir, t), 0o755);
  }
  // cryptsetup open --header H --key-file - DATA NAME: the key is what it reads
  writeFileSync(join(dir, 'cryptsetup'), `#!/bin/sh\nprintf '%s\\0' "$0" "$@" >> '${argvLog}'\ncat > '${keyOut}'\n`);
  chmodSync(join(dir, 'cryptsetup'), 0o755);
  return { dir, argvLog, keyOut };
}

const SHELLS = [['dash', ['dash']], ['busybox ash', ['busybox', 'sh']], ['bash', ['bash']]] as const;

/** Runs kv_protector with the fake vault answering `mode`, a KEK in the conf or not; what the vault saw starts empty. */
function runProtector(shell: readonly string[], mode: typeof secretMode, kek: boolean): Promise<{ out: string; argv: string; key: Buffer | undefined }> {
  seen = { auth: [], unwrapBodies: [], imdsMetadata: [] };
  secretMode = mode;
  const s = shims();
  const script = `ADE_BIN='${s.dir}'; PATH='${s.dir}':$PATH; . '${FUNCS}'
    say() { echo "ade-linux: $*"; }; net_up() { return 0; }; net_down() { echo net_down >&2; return 0; }
    hdr=/run/ade-linux/boot/luks/osluksheader; data=/dev/vda1; NAME=osencrypt; opened=""; ADE_TRIED=""
    AZURE_POD_IDENTITY_AUTHORITY_HOST='${base}'; ADE_KV_SECRET='${base}/secrets/s/1'
    ${kek ? `ADE_KV_KEK='${base}/keys/k/1'; ADE_KV_ALG=RSA-OAEP` : ''}
    kv_protector; echo "opened=[$opened] tried=[$ADE_TRIED]"`;
  return new Promise((resolve) => {
    execFile(shell[0]!, [...shell.slice(1), '-c', script], { env: { PATH: '/usr/bin:/bin' } }, (_e, stdout, stderr) => {
      resolve({ out: stdout + stderr, argv: existsSync(s.argvLog) ? readFileSync(s.argvLog, 'utf8') : '', key: existsSync(s.keyOut) ? readFileSync(s.keyOut) : undefined });
    });
  });
}

describe.each(SHELLS)('kv_protector under %s', (_name, shell) => {
  it('a KEK-wrapped secret: unwrapped by the vault, the key on cryptsetup\'s stdin, no secret in any argv', async () => {
    const r = await runProtector(shell, 'wrapped', true);
    expect(r.out).toContain('opened=[key from Key Vault] tried=[]');
    expect(r.key).toEqual(KEY);
    expect(seen.imdsMetadata).toEqual(['true']);
    expect(seen.auth).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
    expect(seen.unwrapBodies.map((b) => JSON.parse(b) as unknown)).toEqual([{ alg: 'RSA-OAEP', value: WRAPPED }]);
    // curl ran (three calls), and cryptsetup; none was handed a secret
    expect(r.argv.split('\0').filter((a) => a.endsWith('/curl'))).toHaveLength(3);
    expect(r.argv).toContain('--key-file\0-\0');
    for (const secret of [TOKEN, WRAPPED, KEY.toString('base64url'), KEY.toString('base64').slice(0, 40)]) expect(r.argv).not.toContain(secret);
    expect(r.out).toContain('net_down');
  });

  it('a plain secret (no KEK): base64 of the key, opened; the token in no argv', async () => {
    const r = await runProtector(shell, 'plain', false);
    expect(r.out).toContain('opened=[key from Key Vault]');
    expect(r.key).toEqual(KEY);
    expect(seen.unwrapBodies).toEqual([]);
    expect(r.argv).not.toContain(TOKEN);
    expect(r.argv).not.toContain(KEY.toString('base64').slice(0, 40));
  });

  it('the vault refusing: one console line with Azure\'s reason, nothing opened, the network taken down', async () => {
    const r = await runProtector(shell, 'forbidden', true);
    expect(r.out).toContain(`ade-linux: Key Vault failed: cannot read the secret ${base}/secrets/s/1: HTTP 403: Caller is not authorized to perform action on resource.\n`);
    expect(r.out).toContain('opened=[] tried=[Key Vault]');
    expect(r.key).toBeUndefined();
    expect(r.out).toContain('net_down');
  });
});
