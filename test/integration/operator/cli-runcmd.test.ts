// --via run-command: the CLI reaches the handler through Managed Run Commands running the bootstrap script,
// against the fake Resource Manager. The wire: one run command per step, a fresh name each, deleted after;
// the settings az would send, as parameters; the handler's status read from the output's last 4 KB. The
// script's own refusals run for real on this host (bash, curl through the fake's proxy to a fake blob),
// stopping before anything is installed; the whole bootstrap runs in a lab guest (test/vm/operator-lab.test.ts).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ScriptRun } from '../../../lab/fakes/arm.ts';
import type { Json } from '../../../lab/fakes/arm-store.ts';
import { buildStatus } from '../../../src/protocol/status.ts';
import { BOOTSTRAP_ROOT, BOOTSTRAP_SCRIPT } from '../../../src/operator/bootstrap.ts';
import { fakeAzureForFile, runCli } from './cli-run.ts';

const SUB = '00000000-0000-0000-0000-00000000dddd';
const RG = 'rg-rc';
const ZIP = Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'), 'latin1'); // an empty zip: the script never gets to unpack it here
const SHA = createHash('sha256').update(ZIP).digest('hex');
const URL_OK = 'https://adelinuxpkgs.blob.core.windows.net/releases/AdeLinux.DiskEncryption-1.1.0.zip';
const fake = fakeAzureForFile((f) => { f.blobs.put(URL_OK, ZIP); });
let n = 0;

const cli = (args: string[]) => runCli(fake(), SUB, args);
const params = (p: Json) => Object.fromEntries(((p['parameters'] ?? []) as Array<{ name: string; value: string }>).map((x) => [x.name, x.value]));
const statusLine = (status: 'transitioning' | 'success' | 'error', data: string, volumes: unknown[], message: string) =>
  `ADE_LINUX_STATUS ${JSON.stringify(buildStatus('AdeLinux.DiskEncryption', { operation: 'EnableEncryption', status, code: status === 'error' ? 52 : 0, message, os: 'NotEncrypted', data: data as 'Encrypted', volumes: volumes as [] }))}\n`;

function seed() {
  const name = `rc${++n}`;
  const id = fake().arm.addVm(SUB, RG, name, { location: 'westeurope', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }] });
  const kvId = fake().arm.addVault(SUB, RG, `kvrc${n}`, { location: 'westeurope', enabledForDiskEncryption: true, vaultUri: `https://kvrc${n}.vault.azure.net/` });
  fake().arm.allowVault(kvId, id);
  return { name, id, kv: `kvrc${n}` };
}

/** The script, run by bash on this host as the run command handler runs it: parameters as environment variables. */
function runScript(p: Json): Promise<ScriptRun> {
  const env = { PATH: process.env['PATH'] ?? '', HTTPS_PROXY: fake().env['HTTPS_PROXY']!, CURL_CA_BUNDLE: fake().pki.caCertPath, ...params(p) };
  return new Promise((resolve) => {
    execFile('/bin/bash', ['-c', String((p['source'] as Json)['script'])], { env, timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ exitCode: e ? Number((e as { code?: number }).code ?? 1) : 0, output: stdout, error: stderr }));
  });
}

describe('enable --via run-command', () => {
  it('the bootstrap with az\'s settings as parameters; status from the output; progress by status run commands; each one deleted', async () => {
    const vm = seed();
    const seen: Array<{ name: string; p: Record<string, string>; script: string }> = [];
    const row = (state: string, percent?: number) => ({ device: '/dev/disk/azure/scsi1/lun0', mountpoint: '/data', state, ...(percent !== undefined ? { percent } : {}), secretUrl: `https://${vm.kv}.vault.azure.net/secrets/s1/1` });
    const later = [statusLine('success', 'EncryptionInProgress', [row('EncryptionInProgress', 40)], 'Encrypting'), statusLine('success', 'Encrypted', [row('Encrypted')], 'Encrypted 1 data volume(s).')];
    fake().arm.onRunCommandPut = async (_vmId, name, p) => {
      seen.push({ name, p: params(p), script: String((p['source'] as Json)['script']) });
      if (params(p)['ADE_OP'] === 'enable') return { exitCode: 0, output: `enable output\n${statusLine('success', 'EncryptionInProgress', [row('EncryptionInProgress', 5)], 'Encrypting')}`, error: 'ade-linux bootstrap: enable (sequence 0) exited 0\n' };
      return { exitCode: 0, output: later.length > 1 ? later.shift()! : later[0]!, error: '' };
    };
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA', '--via', 'run-command', '--package-url', URL_OK, '--package-sha256', SHA]);
    expect(r.code, r.stderr).toBe(0);
    expect(seen.map((s) => s.name)).toEqual([expect.stringMatching(/^ade-linux-enable-[0-9a-f]{8}$/), expect.stringMatching(/^ade-linux-status-/), expect.stringMatching(/^ade-linux-status-/)]);
    expect(new Set(seen.map((s) => s.name)).size).toBe(3);
    expect(seen[0]!.script).toBe(BOOTSTRAP_SCRIPT);
    expect(seen[0]!.p).toMatchObject({ ADE_OP: 'enable', ADE_PACKAGE_URL: URL_OK, ADE_PACKAGE_SHA256: SHA, ADE_PACKAGE_VERSION: '1.1.0' });
    expect(JSON.parse(seen[0]!.p['ADE_SETTINGS']!)).toMatchObject({ KeyVaultURL: `https://${vm.kv}.vault.azure.net`, VolumeType: 'DATA', EncryptionOperation: 'EnableEncryption', SequenceVersion: expect.any(String) });
    expect(seen[1]!.p).toEqual({ ADE_OP: 'status' });
    expect(r.stderr).toMatch(/Deploying the bootstrap \(Managed Run Command\) of package 1\.1\.0 to rc\d+/);
    expect(r.stderr).toMatch(/\[########\.+\]  40%  \/dev\/disk\/azure\/scsi1\/lun0 EncryptionInProgress/);
    expect(r.stdout).toMatch(/data Encrypted \(extension succeeded\)/);
    // the key reference is recorded as on the extension path, and no run command is left behind (a VM holds 25)
    expect(((fake().arm.disk(String(((((fake().arm.vm(vm.id)!['properties'] as Json)['storageProfile'] as Json)['dataDisks'] as Json[])[0]!['managedDisk'] as Json)['id']))!['properties'] as Json)['encryptionSettingsCollection'] as Json)['enabled']).toBe(true);
    await new Promise((res) => setTimeout(res, 200));
    expect([...fake().arm.store.runCommands.keys()].filter((k) => k.includes(`/${vm.name}/`))).toEqual([]);
  }, 90_000);

  it.each([
    ['a package whose sha256 differs', URL_OK, 'ab'.repeat(32), new RegExp(`\\[717\\].*the package's sha256 is ${SHA}, not ${'ab'.repeat(32)}: not installed`)],
    ['a package URL that does not exist', URL_OK.replace('1.1.0', '9.9.9'), SHA, /\[717\].*ended Failed.*cannot download https:\/\/adelinuxpkgs/],
  ])('the script refuses %s before installing anything (run for real on this host)', async (_, url, sha, msg) => {
    const vm = seed();
    const before = existsSync(BOOTSTRAP_ROOT);
    fake().arm.onRunCommandPut = async (_vmId, _name, p) => runScript(p);
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA', '--via', 'run-command', '--package-url', url, '--package-sha256', sha]);
    expect(r.code, r.stderr).toBe(17);
    expect(r.stderr).toMatch(msg);
    expect(existsSync(BOOTSTRAP_ROOT)).toBe(before);
  }, 60_000);

  it('show --via run-command on a VM the bootstrap never ran on: 717, saying so (the script run for real)', async () => {
    const vm = seed();
    fake().arm.onRunCommandPut = async (_vmId, _name, p) => runScript(p);
    const r = await cli(['show', '-g', RG, '-n', vm.name, '--via', 'run-command']);
    expect(r.code, r.stderr).toBe(17);
    expect(r.stderr).toMatch(/\[717\].*ade-linux was never run on this VM by the bootstrap/);
  }, 60_000);

  it.each([
    [['--via', 'run-command', '--package-url', URL_OK], /\[701\] --via run-command needs --package-sha256/],
    [['--via', 'run-command', '--package-url', 'http://x/AdeLinux.DiskEncryption-1.1.0.zip', '--package-sha256', SHA], /\[701\] --via run-command needs --package-url, an https URL/],
    [['--via', 'run-command', '--package-url', 'https://x/package.zip', '--package-sha256', SHA], /\[701\] the package's file name must carry its version/],
    [['--via', 'run-command', '--package-url', URL_OK, '--package-sha256', SHA, '--volume-type', 'ALL'], /\[701\] --via run-command encrypts data volumes only \(--volume-type DATA\), not ALL/],
  ])('usage: %j', async (extra, msg) => {
    const vm = seed();
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA', ...extra]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(msg);
  }, 60_000);
});
