// The built package, unzipped and driven by the fake guest agent exactly as WALinuxAgent drives it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAgent, type Extension, type StatusFile } from '../../../lab/agent/agent.mjs';
import statusSchema from '../../../schemas/status.schema.json' with { type: 'json' };
import { packageZip, VERSION } from '../../../lab/package.ts';
import { BAD_CASES, VALID } from '../../helpers/settings-cases.ts';
import { CLIENT_SETTINGS } from '../../helpers/client-settings.ts';
import { diff, filesContaining, snapshot } from '../../helpers/tree.ts';

const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
const validStatus = addFormats(new Ajv({ allErrors: true, strict: false })).compile(statusSchema);
const QUERY = { EncryptionOperation: 'QueryEncryptionStatus' };
// Decrypting the OS volume is not supported: a deterministic way to run the whole enable → worker → status
// path on this host without its worker looking at the host's disks.
const VALID_OS = { ...VALID, EncryptionOperation: 'DisableEncryption', VolumeType: 'OS' };
const OS_NOT_YET = `DisableEncryption for VolumeType OS is not supported by this version (${VERSION}) yet. Nothing was changed; use QueryEncryptionStatus to see the disks.`;
// An enable that includes the OS disk runs its prerequisites on this host, which has no key volume ("BEK
// VOLUME") whatever else it has: refused, all reasons listed, nothing changed.
const OS_REFUSED = /^Nothing was changed\. .*\[407\] The key volume/;
const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

interface Lab { root: string; agent: FakeAgent; stateDir: string }
function newLab(): Lab {
  const root = mkdtempSync(join(tmpdir(), 'ade-it-'));
  return { root, agent: new FakeAgent({ root: join(root, 'var/lib/waagent'), logRoot: join(root, 'var/log/azure') }), stateDir: join(root, 'var/lib/ade-linux') };
}
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

const top = (s: StatusFile | undefined) => s?.[0]?.status;
const logText = (ext: Extension) => readFileSync(join(ext.logFolder, 'extension.log'), 'utf8');
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('the packaged extension under the guest agent', () => {
  let lab: Lab;
  let ext: Extension;
  let zip: string;

  beforeAll(async () => {
    zip = packageZip();
    lab = newLab();
    roots.push(lab.root);
  });

  it('installs and enables; QueryEncryptionStatus reports the real block devices', async () => {
    const d = await lab.agent.deploy(zip, { publicSettings: QUERY });
    ext = d.ext;
    expect([d.install.code, d.enable.code]).toEqual([0, 0]);
    const s = lab.agent.status(ext, 0)!;
    expect(validStatus(s), JSON.stringify(validStatus.errors)).toBe(true);
    expect(top(s)).toMatchObject({ name: 'AdeLinux.DiskEncryption', operation: 'QueryEncryptionStatus', status: 'success', code: 0 });
    const sub = top(s)!.substatus!;
    const state = JSON.parse(sub.find((x) => x.name === 'EncryptionState')!.formattedMessage.message) as Record<string, string>;
    expect(Object.keys(state).sort()).toEqual(['data', 'os']);
    expect(['NotEncrypted', 'Encrypted']).toContain(state.os);
    // The root file system's device, as findmnt sees it, is in the report with mount point "/".
    const rootSource = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '/'], { encoding: 'utf8' }).trim();
    const volumes = JSON.parse(sub.find((x) => x.name === 'Volumes')!.formattedMessage.message) as Array<{ device: string; mountpoint?: string }>;
    expect(volumes).toContainEqual(expect.objectContaining({ device: rootSource, mountpoint: '/' }));
    expect(readFileSync(join(ext.dir, 'mrseq'), 'utf8').trim()).toBe('0');
  });

  it('accepts an operation with transitioning, and its worker ends it with a clear "not yet supported" error', async () => {
    const seq = lab.agent.writeSettings(ext, { publicSettings: VALID_OS, protectedSettings: { Passphrase: 'a passphrase of my own' } });
    const r = await lab.agent.run(ext, 'enable');
    expect(r.code).toBe(0);
    expect(top(lab.agent.status(ext, seq))).toMatchObject({ operation: 'DisableEncryption', status: 'transitioning', code: 0, formattedMessage: { message: 'DisableEncryption accepted for VolumeType OS; starting.' } });
    const done = top(await lab.agent.waitTerminal(ext, seq, 60));
    expect(done).toMatchObject({ operation: 'DisableEncryption', status: 'error', code: 54, formattedMessage: { lang: 'en-US', message: OS_NOT_YET } });
    const journal = JSON.parse(readFileSync(join(lab.stateDir, 'journal.json'), 'utf8')) as { seq: number; phase: string; result: { code: number } };
    expect(journal).toMatchObject({ seq, phase: 'done', result: { code: 54 } });
    expect(readFileSync(join(ext.dir, 'mrseq'), 'utf8').trim()).toBe(String(seq));
  });

  it('does nothing on repeated enables with the same sequence number (reboots, other goal states)', async () => {
    const seq = lab.agent.currentSeq(ext);
    const before = readFileSync(lab.agent.statusPath(ext, seq));
    const started = count(logText(ext), 'worker started');
    for (let i = 0; i < 2; i++) expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(readFileSync(lab.agent.statusPath(ext, seq))).toEqual(before);
    expect(count(logText(ext), 'worker started')).toBe(started);
  });

  it('acts on a new sequence number and leaves earlier status files alone', async () => {
    const earlier = readFileSync(lab.agent.statusPath(ext, 1));
    const seq = lab.agent.writeSettings(ext, { publicSettings: QUERY });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(top(lab.agent.status(ext, seq))).toMatchObject({ operation: 'QueryEncryptionStatus', status: 'success' });
    expect(readFileSync(lab.agent.statusPath(ext, 1))).toEqual(earlier);
  });

  it.each(BAD_CASES)('rejects bad settings: $name → code $code, and changes nothing', async (c) => {
    const outside = () => snapshot(lab.root, (p) => p.startsWith(ext.dir) || p.startsWith(ext.logFolder));
    const before = outside();
    const started = count(logText(ext), 'worker started');
    const seq = lab.agent.writeSettings(ext, { publicSettings: clean(c.publicSettings), ...(c.protectedSettings ? { protectedSettings: c.protectedSettings } : {}) });
    const r = await lab.agent.run(ext, 'enable');
    expect(r.code).toBe(0);
    const s = lab.agent.status(ext, seq);
    expect(validStatus(s)).toBe(true);
    expect(top(s)).toMatchObject({ status: 'error', code: c.code, formattedMessage: { lang: 'en-US', message: c.message } });
    expect(diff(before, outside())).toEqual([]);
    expect(count(logText(ext), 'worker started')).toBe(started);
  });

  it('treats a 0-byte settings file as "no settings" and says what is missing', async () => {
    const seq = lab.agent.writeSettings(ext, { raw: '' });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(top(lab.agent.status(ext, seq))).toMatchObject({ status: 'error', code: 203, formattedMessage: { message: 'EncryptionOperation is required for any operation. Use EnableEncryption, EnableEncryptionFormatAll, DisableEncryption or QueryEncryptionStatus.' } });
  });

  it('rejects a settings file that is not JSON, naming the file', async () => {
    const seq = lab.agent.writeSettings(ext, { raw: '{"runtimeSettings": [' });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    const s = top(lab.agent.status(ext, seq))!;
    expect([s.status, s.code]).toEqual(['error', 202]);
    expect(s.formattedMessage.message).toMatch(new RegExp(`^Settings file ${join(ext.configFolder, `${seq}.settings`)} is not valid JSON \\(.+\\)\\. Re-deploy the extension with valid settings\\.$`));
  });

  it.each([
    { cipher: 'des3', oaep: false }, { cipher: 'aes128', oaep: false }, { cipher: 'aes256', oaep: false }, { cipher: 'aes256', oaep: true },
  ])('decrypts protected settings made by openssl ($cipher, OAEP $oaep)', async ({ cipher, oaep }) => {
    // A protected setting's name in the wrong case is only reported after a successful decryption and parse.
    const seq = lab.agent.writeSettings(ext, { publicSettings: QUERY, protectedSettings: { passphrase: 'value-1234' }, cipher, oaep });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(top(lab.agent.status(ext, seq))).toMatchObject({ status: 'error', code: 205, formattedMessage: { message: expect.stringMatching(/^passphrase \(protected settings\) differs from the setting Passphrase only in the case/) } });
    expect(JSON.stringify(lab.agent.status(ext, seq))).not.toContain('value-1234');
  });

  it('reports protected settings it cannot decrypt with the certificate they name', async () => {
    const seq = lab.agent.writeSettings(ext, { publicSettings: QUERY, protectedSettings: { Passphrase: 'long enough value' } });
    const path = join(ext.configFolder, `${seq}.settings`);
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { runtimeSettings: Array<{ handlerSettings: Record<string, string> }> };
    const other = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';
    doc.runtimeSettings[0]!.handlerSettings.protectedSettingsCertThumbprint = other;
    lab.agent.writeSettings(ext, { raw: JSON.stringify(doc), seq });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(top(lab.agent.status(ext, seq))).toMatchObject({
      status: 'error', code: 209,
      formattedMessage: { message: `Protected settings could not be decrypted with certificate ${other} (${join(lab.agent.root, `${other}.crt`)} does not exist). The agent keeps it as ${join(lab.agent.root, `${other}.crt`)}; redeploy the extension so the agent delivers the certificate again.` },
    });
  });

  it('says so when this host has no data volume to encrypt (success, code 410)', async () => {
    const seq = lab.agent.writeSettings(ext, { publicSettings: VALID });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(top(await lab.agent.waitTerminal(ext, seq, 60))).toMatchObject({ operation: 'EnableEncryption', status: 'success', code: 410, formattedMessage: { message: 'No data volume to encrypt was found (mounted, listed in /etc/fstab, not the OS or resource disk).' } });
  });

  // Exactly what az, PowerShell and the quickstart templates send (test/helpers/client-settings.ts names the
  // source of each): accepted for the operation and volume type the client meant, and run to its end. This host
  // has no data volume, so an enable of data volumes ends in 410 and a disable has nothing to do.
  it.each(CLIENT_SETTINGS)('accepts $client', async (c) => {
    const seq = lab.agent.writeSettings(ext, { publicSettings: c.publicSettings });
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    const first = top(lab.agent.status(ext, seq));
    if (c.expect.operation !== 'QueryEncryptionStatus') expect(first?.formattedMessage.message).toBe(`${c.expect.operation} accepted for VolumeType ${c.expect.volumeType}; starting.`);
    const end = top(await lab.agent.waitTerminal(ext, seq, 60));
    const withOs = c.expect.operation === 'EnableEncryption' && c.expect.volumeType !== 'Data';
    const want = withOs ? { status: 'error', formattedMessage: { message: expect.stringMatching(OS_REFUSED) } }
      : c.expect.operation === 'DisableEncryption' ? { status: 'success', code: 0 } : { status: 'success', code: 410 };
    expect(end).toMatchObject({ operation: c.expect.operation, ...want });
    // The next case is a new operation: wait for this worker to mark its journal done.
    for (let i = 0; i < 100 && !readFileSync(join(lab.stateDir, 'journal.json'), 'utf8').includes('"phase": "done"'); i++) await new Promise((r) => setTimeout(r, 100));
  });

  it('runs the upgrade handshake to a second version, carrying mrseq, status and journal', async () => {
    const seq = lab.agent.writeSettings(ext, { publicSettings: VALID_OS });
    await lab.agent.run(ext, 'enable');
    await lab.agent.waitTerminal(ext, seq, 60);
    const status = readFileSync(lab.agent.statusPath(ext, seq));
    const journal = readFileSync(join(lab.stateDir, 'journal.json'));
    const next = packageZip('1.1.99');
    const up = await lab.agent.upgrade(ext, next);
    expect(up.ops.map((o) => `${o.op}:${o.code}`)).toEqual(['disable:0', 'update:0', 'uninstall:0', 'install:0', 'enable:0']);
    expect(existsSync(ext.dir)).toBe(false);
    expect(readFileSync(join(up.ext.dir, 'mrseq'), 'utf8').trim()).toBe(String(seq));
    expect(readFileSync(lab.agent.statusPath(up.ext, seq))).toEqual(status);
    expect(readFileSync(join(lab.stateDir, 'journal.json'))).toEqual(journal);
    expect(logText(up.ext)).toMatch(new RegExp(`INFO \\[update:\\d+\\] updated \\{"to":"1\\.1\\.99","from":"${VERSION.replace(/\./g, '\\.')}"\\}`));
    ext = up.ext;
  });

  it('disables and uninstalls without touching the encryption state', async () => {
    const journal = readFileSync(join(lab.stateDir, 'journal.json'));
    const ops = await lab.agent.remove(ext);
    expect(ops.map((o) => `${o.op}:${o.code}`)).toEqual(['disable:0', 'uninstall:0']);
    expect(readFileSync(join(lab.stateDir, 'journal.json'))).toEqual(journal);
    expect(readFileSync(join(ext.logFolder, 'extension.log'), 'utf8')).toContain('uninstalled; encryption state kept');
  });
});

describe('secrets', () => {
  it('a planted protected secret reaches no log, status, file, child argv or child environment', async () => {
    const lab = newLab();
    roots.push(lab.root);
    const secret = `PLANTED-${Math.random().toString(36).slice(2)}-SECRET`;
    const ext = lab.agent.installPackage(packageZip());
    const seq = lab.agent.writeSettings(ext, { publicSettings: VALID_OS, protectedSettings: { Passphrase: secret } });
    expect((await lab.agent.run(ext, 'install')).code).toBe(0);
    const trace = join(lab.root, 'trace.txt');
    // strace follows every child (openssl, the detached worker and its openssl) and prints argv and envp.
    const r = await lab.agent.run(ext, 'enable', { prefix: ['strace', '-f', '-qq', '-v', '-s', '65536', '-e', 'trace=execve', '-o', trace] });
    expect(r.code).toBe(0);
    await lab.agent.waitTerminal(ext, seq, 60);
    // strace exits after its last tracee (the worker), so the trace is complete now.
    for (let i = 0; i < 100 && !readFileSync(trace, 'utf8').includes('+++ exited'); i++) await new Promise((res) => setTimeout(res, 100));
    const traced = readFileSync(trace, 'utf8');
    expect(traced).toMatch(/execve\("[^"]*openssl", \["openssl", "cms", "-decrypt"/);
    expect(traced).toMatch(/execve\("[^"]*\/build\/node", \[[^\]]*"worker"\]/);
    expect(traced).not.toContain(secret);
    expect(filesContaining(lab.root, secret)).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(secret);
  });
});

describe('the shim', () => {
  it('runs from any working directory', () => {
    const lab = newLab();
    roots.push(lab.root);
    const ext = lab.agent.installPackage(packageZip());
    let out = '';
    try { execFileSync(join(ext.dir, 'bin/ade-shim'), ['bogus'], { cwd: '/', encoding: 'utf8', stdio: 'pipe' }); } catch (e) { out = String((e as { stderr: string }).stderr); expect((e as { status: number }).status).toBe(2); }
    expect(out).toContain('usage: ade-shim <install|enable|disable|update|uninstall>');
  });

  it('explains a noexec mount instead of failing with a bare 126', () => {
    const mnt = mkdtempSync(join(tmpdir(), 'ade-noexec-'));
    roots.push(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'noexec', 'tmpfs', mnt]);
    try {
      mkdirSync(join(mnt, 'ext'));
      execFileSync('unzip', ['-q', packageZip(), '-d', join(mnt, 'ext')]);
      let err: { status: number; stderr: string } | undefined;
      try { execFileSync('sh', [join(mnt, 'ext/bin/ade-shim'), 'enable'], { encoding: 'utf8', stdio: 'pipe' }); } catch (e) { err = e as typeof err; }
      expect(err?.status).toBe(126);
      expect(err?.stderr).toContain(`ade-linux: cannot execute ${join(mnt, 'ext/build/node')}: ${mnt} is mounted noexec.`);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('a worker that died (kill, power cut)', () => {
  it('is not started twice while alive, and is resumed from the journal by the next enable once gone', async () => {
    const lab = newLab();
    roots.push(lab.root);
    const { ext } = await lab.agent.deploy(packageZip(), { publicSettings: QUERY });
    const seq = lab.agent.writeSettings(ext, { publicSettings: VALID_OS });
    await lab.agent.run(ext, 'enable');
    await lab.agent.waitTerminal(ext, seq, 60);
    // Turn the clock back to "the worker was running": journal not done, transitioning status, and a lock
    // held by a live process standing in for the worker.
    const journalPath = join(lab.stateDir, 'journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(journalPath, JSON.stringify({ ...journal, phase: 'running', result: undefined }));
    rmSync(lab.agent.statusPath(ext, seq));
    const stand = spawn('sleep', ['60'], { stdio: 'ignore' });
    const start = readFileSync(`/proc/${stand.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
    writeFileSync(join(lab.stateDir, 'worker.lock'), JSON.stringify({ pid: stand.pid, start }));
    const started = () => count(logText(ext), 'worker started');
    const before = started();
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(started()).toBe(before);
    expect(logText(ext)).toContain(`worker already running {"pid":${stand.pid}}`);
    stand.kill('SIGKILL');
    await new Promise((r) => stand.on('exit', r));
    // The agent writes N.settings without fsync: a power cut can leave it empty. The worker resumes anyway,
    // from the settings the journal recorded (without secrets), instead of failing with "no settings".
    writeFileSync(join(ext.configFolder, `${seq}.settings`), '');
    expect((await lab.agent.run(ext, 'enable')).code).toBe(0);
    expect(started()).toBe(before + 1);
    expect(top(await lab.agent.waitTerminal(ext, seq, 60))).toMatchObject({ status: 'error', code: 54, formattedMessage: { message: OS_NOT_YET } });
    expect(logText(ext)).toContain(`settings ${seq} are unreadable`);
    expect(JSON.parse(readFileSync(journalPath, 'utf8'))).toMatchObject({ seq, phase: 'done' });
  });
});
