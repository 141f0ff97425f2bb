// The OS disk's boot plumbing as the package ships it: every file the extension installs for a builder is in
// initramfs/ and executable, and the conf the initramfs scripts source is a shell file that cannot run code.
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatOsConf, osBoot, PLUMBING, withConfKeys, type OsBootConf } from '../../../src/system/os-boot.ts';
import type { Runner } from '../../../src/system/exec.ts';

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

// The network unlock's shell helpers (initramfs/initramfs-tools/scripts/ade-linux-functions), run on the host
// with its own sed/tr/base64 as the initramfs runs them with the copies the hook puts in /usr/lib/ade-linux.
describe('the initramfs network unlock helpers', () => {
  const FUNCS = join(DIR, 'initramfs-tools/scripts/ade-linux-functions');
  const sh = (script: string, input: string): Buffer =>
    execFileSync('sh', ['-c', `ADE_BIN=/usr/bin; . "$1"; ${script}`, 'sh', FUNCS], { input });

  it.each([
    ['an IMDS token', 'access_token', '{"access_token":"eyJ0eXAi.eyJhdWQi.sig-_x","client_id":"c","expires_in":"86399","token_type":"Bearer"}', 'eyJ0eXAi.eyJhdWQi.sig-_x'],
    ['a Key Vault secret, with tags after the value', 'value', '{"value":"c2VjcmV0","contentType":"BEK","id":"https://v.vault.azure.net/secrets/s/1","tags":{"DiskEncryptionKeyFileName":"LinuxPassPhraseFileName"}}', 'c2VjcmV0'],
    ['spaces around the colon, an escaped slash', 'value', '{ "kid" : "k", "value" : "ab\\/cd+ef" }', 'ab/cd+ef'],
    ['no such member', 'value', '{"error":{"code":"Forbidden"}}', ''],
  ])('json_str: %s', (_, member, json, want) => {
    expect(sh(`json_str ${member}`, json).toString()).toBe(want);
  });

  it('protector_failed: one console line per protector, whatever its reason holds; the names for the summary', () => {
    const out = sh('say() { echo "ade-linux: $*"; }; ADE_TRIED=""; protector_failed "key volume" "no disk labelled BEK VOLUME attached"; '
      + 'protector_failed "Key Vault" "cannot read the secret: HTTP 403: Caller is not authorized; see https://aka.ms/kv"; echo "[$ADE_TRIED]"', '').toString();
    expect(out).toBe('ade-linux: key volume failed: no disk labelled BEK VOLUME attached\n'
      + 'ade-linux: Key Vault failed: cannot read the secret: HTTP 403: Caller is not authorized; see https://aka.ms/kv\n[key volume, Key Vault]\n');
  });

  it.each([0, 1, 2, 3, 31, 32, 33, 64, 65])('b64url then base64 -d gives back %i bytes exactly (any padding)', (n) => {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + 251) % 256));
    expect(sh('b64url | base64 -d', bytes.toString('base64url'))).toEqual(bytes);
  });
});

describe('kv_call: what the console says when Key Vault or IMDS answer no', () => {
  const FUNCS = join(DIR, 'initramfs-tools/scripts/ade-linux-functions');
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') { res.end('{"value":"c2VjcmV0"}'); return; }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.","innererror":{"code":"AccessDenied"}}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => { server.close(); });
  const call = (url: string) => new Promise<{ code: number; out: string }>((resolve) => {
    execFile('sh', ['-c', 'ADE_BIN=/usr/bin; . "$1"; kv_call --retry 0 "$2"', 'sh', FUNCS, url], (e, stdout) => resolve({ code: e ? Number(e.code) : 0, out: stdout }));
  });

  it('2xx: the body, exactly', async () => {
    expect(await call(`${base}/ok`)).toEqual({ code: 0, out: '{"value":"c2VjcmV0"}' });
  });
  it('an HTTP error: the code and Azure\'s message, on one line, and a failure', async () => {
    expect(await call(`${base}/secrets/s/1`)).toEqual({ code: 1, out: 'HTTP 403: Caller is not authorized to perform action on resource.' });
  });
  it('no answer at all: curl\'s own reason', async () => {
    const r = await call('http://127.0.0.1:9/token');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^\(7\) Failed to connect to 127\.0\.0\.1 port 9/);
  });
});

describe('withConfKeys: a KEK rotation moves the conf to the new secret', () => {
  const base = formatOsConf({ ...CONF, kv: { secret: 'https://v.vault.azure.net/secrets/s/1', kek: 'https://v.vault.azure.net/keys/k/1', algorithm: 'RSA-OAEP' } });
  it.each([
    ['a new secret under a new KEK', { secret: 'https://v.vault.azure.net/secrets/s/2', kek: 'https://v.vault.azure.net/keys/k/2', algorithm: 'RSA-OAEP-256' }],
    ['no KEK any more', { secret: 'https://v.vault.azure.net/secrets/s/3' }],
    ['the recovery passphrase re-wrapped too', { secret: 'https://v.vault.azure.net/secrets/s/2', kek: 'https://v.vault.azure.net/keys/k/2', algorithm: 'RSA-OAEP', recovery: 'https://v.vault.azure.net/secrets/r/2' }],
  ])('%s: every other line kept, the conf as formatOsConf writes it', (_, kv) => {
    const next = withConfKeys(base, kv);
    const other = (t: string) => t.split('\n').filter((l) => !/^ADE_(KV_|RECOVERY_)/.test(l));
    expect(other(next)).toEqual(other(base));
    expect(next).toBe(formatOsConf({ ...CONF, kv }));
  });
  it('the same keys: the same text (no rebuild)', () => {
    expect(withConfKeys(base, { secret: 'https://v.vault.azure.net/secrets/s/1', kek: 'https://v.vault.azure.net/keys/k/1', algorithm: 'RSA-OAEP' })).toBe(base);
  });
  it('a conf from before the network unlock gains the lines', () => {
    expect(withConfKeys(formatOsConf(CONF), { secret: 'https://v.vault.azure.net/secrets/s/1' })).toBe(formatOsConf({ ...CONF, kv: { secret: 'https://v.vault.azure.net/secrets/s/1' } }));
  });
  it('refuses an unsafe value', () => {
    expect(() => withConfKeys(base, { secret: 'https://x/$(reboot)' })).toThrow(/would not be safe/);
  });
});

describe('rebuild: the images dracut overwrites are made root-only first', () => {
  it.each([
    ['dracut', ['dracut --force --regenerate-all'], '600'],
    ['initramfs-tools', ['update-initramfs -u -k all'], '644'],
  ] as const)('%s', async (builder, calls, mode) => {
    const root = mkdtempSync(join(tmpdir(), 'ade-rebuild-'));
    mkdirSync(join(root, 'boot'));
    for (const f of ['initrd.img-6.1.0-57-amd64', 'initramfs-5.14.0-427.el9.x86_64.img', 'vmlinuz-6.1.0-57-amd64', 'config-6.1.0-57-amd64']) {
      writeFileSync(join(root, 'boot', f), 'x', { mode: 0o644 });
    }
    const ran: string[] = [];
    const run: Runner = async (file, args) => {
      // dracut runs once the modes are set: cp over an existing image keeps its mode
      ran.push(`${file} ${args.join(' ')}`);
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    await osBoot(run, { root, scriptsDir: DIR }).rebuild(builder);
    expect(ran).toEqual(calls);
    const modeOf = (f: string) => (statSync(join(root, 'boot', f)).mode & 0o777).toString(8);
    expect([modeOf('initrd.img-6.1.0-57-amd64'), modeOf('initramfs-5.14.0-427.el9.x86_64.img')]).toEqual([mode, mode]);
    // not the kernel nor its config: only initramfs images hold our conf and env
    expect([modeOf('vmlinuz-6.1.0-57-amd64'), modeOf('config-6.1.0-57-amd64')]).toEqual(['644', '644']);
  });
});
