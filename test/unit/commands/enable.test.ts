// enable's decision table, in process: a fake Context over a temporary agent tree (HandlerEnvironment,
// N.settings, status folder, mrseq, the state dir with journal and lock), a worker launcher that only
// records what it was asked, and a Runner that answers lsblk/findmnt/blkid (and openssl) from fixtures.
// Each case checks what enable leaves behind: status files, journal, mrseq, and which worker it started.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Context } from '../../../src/commands/context.ts';
import { enable } from '../../../src/commands/enable.ts';
import { parseHandlerEnvironment, type HandlerEnvironment } from '../../../src/protocol/handler-env.ts';
import { journalPath, readJournal, writeJournal, type Journal } from '../../../src/protocol/journal.ts';
import { lockHolder, lockPath, tryLock, unlock } from '../../../src/protocol/lock.ts';
import { readMrseq, writeMrseq } from '../../../src/protocol/seqnum.ts';
import { readStatus, statusPath, writeStatus } from '../../../src/protocol/status.ts';
import type { Report } from '../../../src/shared/report.ts';
import type { DetachRequest } from '../../../src/system/detach.ts';
import type { RunResult } from '../../../src/system/exec.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { BAD_CASES, VALID } from '../../helpers/settings-cases.ts';
import { filesContaining } from '../../helpers/tree.ts';

const NAME = 'AdeLinux.DiskEncryption';
const THUMBPRINT = 'AB'.repeat(20);
const PASSPHRASE = 'correct horse battery staple, the secret';
const fx = (n: string) => readFileSync(new URL(`../../fixtures/${n}`, import.meta.url), 'utf8');
const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const LSBLK = 'lsblk --json --bytes --output NAME,PATH,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,PARTUUID,SIZE,MOUNTPOINTS,RO,SERIAL,MODEL,HCTL';
const FINDMNT = 'findmnt --json --list --output TARGET,SOURCE,FSTYPE,OPTIONS';
const OPENSSL_CMS = (libDir: string) => `openssl cms -decrypt -inform DER -recip ${join(libDir, `${THUMBPRINT}.crt`)} -inkey ${join(libDir, `${THUMBPRINT}.prv`)}`;
/** What the block tools print on the Azure VM of test/fixtures/blockdev (sdf1 is an ADE-encrypted LUKS2 partition). */
const AZURE_VM: Record<string, RunResult> = {
  [LSBLK]: ok(fx('blockdev/azure-lsblk.json')),
  [FINDMNT]: ok(fx('blockdev/azure-findmnt.json')),
  'blkid -o export': { exitCode: 2, stdout: '', stderr: '' },
  'cryptsetup luksDump --dump-json-metadata /dev/sdf1': ok(fx('luks/luks2-encrypted.json')),
};
/** The agent's environment: a proxy the worker must see, and identity variables it must not. */
const PROCESS_ENV = { HTTPS_PROXY: 'http://proxy.corp:3128', IDENTITY_HEADER: 'identity-header-secret', MSI_SECRET: 'msi-secret-value', PATH: '/usr/bin' };

const fileText = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

interface Harness {
  root: string;
  he: HandlerEnvironment;
  ctx: Context;
  log: ReturnType<typeof memoryLogger>;
  /** Every command line the Runner was asked to run. */
  calls: string[];
  /** Every worker start enable asked for, with what the state dir held at that moment. */
  detached: Array<{ req: DetachRequest; journal: Journal | undefined; status: Report | undefined; mrseq: number | undefined }>;
  reports: Array<{ r: Report; seq: number }>;
  /** Makes the next worker starts fail like systemd-run would. */
  failDetach(message: string): void;
  settings(seq: number, publicSettings: Record<string, unknown> | string, withPassphrase?: boolean): void;
  /** What earlier enables and workers left: a journal, mrseq, and this sequence's status. */
  left(o: { journal?: Journal; mrseq?: number; status?: Report }): void;
  /** The journal's and a status file's bytes, to prove they were not touched. */
  files(seq: number): { journal: string | undefined; status: string | undefined };
  run(): Promise<number>;
}

/** The agent's layout: <root>/waagent/<ext>/{config,status}, Lib.Dir <root>/waagent, state <root>/ade-linux. */
function harness(seq: number): Harness {
  const root = mkdtempSync(join(tmpdir(), 'ade-enable-'));
  roots.push(root);
  const extDir = join(root, 'waagent', `${NAME}-0.1.0`);
  const folders = { logFolder: join(root, 'log'), configFolder: join(extDir, 'config'), statusFolder: join(extDir, 'status') };
  for (const f of Object.values(folders)) mkdirSync(f, { recursive: true });
  writeFileSync(join(extDir, 'HandlerEnvironment.json'), JSON.stringify([{ name: NAME, version: 1.0, handlerEnvironment: folders }]));
  const he = parseHandlerEnvironment(readFileSync(join(extDir, 'HandlerEnvironment.json'), 'utf8'), extDir);
  mkdirSync(he.stateDir, { recursive: true });
  // The certificate the protected settings are encrypted to, where the agent delivers it.
  writeFileSync(join(he.libDir, `${THUMBPRINT}.crt`), 'certificate');
  writeFileSync(join(he.libDir, `${THUMBPRINT}.prv`), 'private key');

  const calls: string[] = [];
  const answers: Record<string, RunResult> = { ...AZURE_VM, [OPENSSL_CMS(he.libDir)]: ok(JSON.stringify({ Passphrase: PASSPHRASE })) };
  const detached: Harness['detached'] = [];
  const reports: Harness['reports'] = [];
  let detachError: string | undefined;
  const log = memoryLogger();
  const ctx: Context = {
    handlerEnv: he, seq, log,
    run: async (file, args) => {
      const line = [file, ...args].join(' ');
      calls.push(line);
      return answers[line] ?? { exitCode: 127, stdout: '', stderr: `not on this fake machine: ${line}` };
    },
    detach: async (req) => {
      detached.push({ req, journal: readJournal(he.stateDir), status: readStatus(he.statusFolder, seq), mrseq: readMrseq(he.extensionDir) });
      if (detachError) throw new Error(detachError);
      return { how: 'setsid', pid: 4242 };
    },
    report: (r, forSeq = seq) => { reports.push({ r, seq: forSeq }); writeStatus(he.statusFolder, forSeq, he.name, r); },
    processEnv: { ...PROCESS_ENV },
    version: '0.1.0',
    self: { node: '/usr/bin/node', script: join(extDir, 'handler.mjs') },
  };
  return {
    root, he, ctx, log, calls, detached, reports,
    failDetach: (m) => { detachError = m; },
    settings: (n, pub, withPassphrase = false) => {
      const handlerSettings = {
        publicSettings: pub,
        ...(withPassphrase ? { protectedSettings: Buffer.from('cms enveloped data').toString('base64'), protectedSettingsCertThumbprint: THUMBPRINT } : {}),
      };
      writeFileSync(join(he.configFolder, `${n}.settings`), typeof pub === 'string' ? pub : JSON.stringify({ runtimeSettings: [{ handlerSettings }] }));
    },
    left: (o) => {
      if (o.journal) writeJournal(he.stateDir, o.journal);
      if (o.mrseq !== undefined) writeMrseq(he.extensionDir, o.mrseq);
      if (o.status) writeStatus(he.statusFolder, seq, he.name, o.status);
    },
    files: (n) => ({ journal: fileText(journalPath(he.stateDir)), status: fileText(statusPath(he.statusFolder, n)) }),
    run: () => enable(ctx),
  };
}

const journal = (seq: number, phase: Journal['phase'], over: Partial<Journal> = {}): Journal => ({
  version: 1, seq, operation: 'EnableEncryption', volumeType: 'Data', phase, updatedAt: '', volumes: {}, ...over,
});
const RUNNING_STATUS: Report = { operation: 'EnableEncryption', status: 'transitioning', code: 0, message: 'Encrypting /data1: 40%.', data: 'EncryptionInProgress' };

describe('enable: a new sequence number', () => {
  it('with valid settings: journals them without secrets, reports transitioning, writes mrseq and starts one worker', async () => {
    const h = harness(1);
    h.settings(1, VALID, true);
    expect(await h.run()).toBe(0);

    const j = readJournal(h.he.stateDir);
    expect(j).toMatchObject({ version: 1, seq: 1, operation: 'EnableEncryption', volumeType: 'Data', phase: 'accepted', volumes: {} });
    expect(j!.settings).toMatchObject({ operation: 'EnableEncryption', keyVaultUrl: VALID.KeyVaultURL, kek: { url: VALID.KeyEncryptionKeyURL } });
    expect(j!.settings).not.toHaveProperty('passphrase');
    // The passphrase came in (decrypted by "openssl") and went nowhere: no file, no log line, no worker request.
    expect(h.calls).toEqual([OPENSSL_CMS(h.he.libDir)]);
    expect(filesContaining(h.root, PASSPHRASE)).toEqual([]);
    expect(h.log.lines.join('\n')).not.toContain(PASSPHRASE);

    expect(h.reports).toEqual([{ seq: 1, r: { operation: 'EnableEncryption', status: 'transitioning', code: 0, message: 'EnableEncryption accepted for VolumeType Data; starting.' } }]);
    expect(readStatus(h.he.statusFolder, 1)).toEqual(h.reports[0]!.r);
    expect(readMrseq(h.he.extensionDir)).toBe(1);

    expect(h.detached).toHaveLength(1);
    const { req, ...atStart } = h.detached[0]!;
    // The worker is started only once the journal, the status and mrseq are in place.
    expect(atStart).toMatchObject({ journal: { seq: 1, phase: 'accepted' }, status: { status: 'transitioning' }, mrseq: 1 });
    expect(req).toMatchObject({ node: '/usr/bin/node', script: h.ctx.self.script, args: ['worker'], envFile: join(h.he.stateDir, 'worker.env') });
    expect(req.unit).toMatch(/^ade-linux-worker-1-\d+$/);
    expect(req.env).toEqual({ ConfigSequenceNumber: '1', AZURE_GUEST_AGENT_EXTENSION_PATH: h.he.extensionDir, HTTPS_PROXY: PROCESS_ENV.HTTPS_PROXY });
    for (const secret of [PASSPHRASE, PROCESS_ENV.IDENTITY_HEADER, PROCESS_ENV.MSI_SECRET]) expect(JSON.stringify(req)).not.toContain(secret);
  });

  const bad = (name: string) => BAD_CASES.find((c) => c.name === name && !c.protectedSettings)!;
  it.each([
    ['fails validation', bad('KeyVaultURL missing').publicSettings, bad('KeyVaultURL missing').code, bad('KeyVaultURL missing').message],
    ['names an unknown operation', bad('EncryptionOperation unknown').publicSettings, 53, bad('EncryptionOperation unknown').message],
    ['is not JSON', '{"runtimeSettings": [', 202, 'is not valid JSON'],
  ])('whose settings %s: a terminal error with its code, no journal, no worker, mrseq written', async (_, pub, code, message) => {
    const h = harness(2);
    h.settings(2, pub);
    expect(await h.run()).toBe(0);
    const s = readStatus(h.he.statusFolder, 2);
    expect(s).toMatchObject({ operation: 'Enable', status: 'error', code });
    expect(s!.message).toContain(message);
    expect(existsSync(journalPath(h.he.stateDir))).toBe(false);
    expect(h.detached).toEqual([]);
    expect(h.calls).toEqual([]);
    expect(readMrseq(h.he.extensionDir)).toBe(2);
  });

  it('while another operation\'s journal is not done: OperationInProgress (213), the old journal untouched, no worker', async () => {
    const h = harness(3);
    h.left({ journal: journal(2, 'running', { settings: { operation: 'EnableEncryption', volumeType: 'Data', identity: { kind: 'system' } } }), mrseq: 2 });
    writeStatus(h.he.statusFolder, 2, NAME, RUNNING_STATUS);
    const before = h.files(2);
    h.settings(3, { ...VALID, VolumeType: 'All' });
    expect(await h.run()).toBe(0);
    expect(readStatus(h.he.statusFolder, 3)).toEqual({
      operation: 'Enable', status: 'error', code: 213,
      message: 'Operation EnableEncryption (sequence 2) is still running on this VM. Wait for it to finish (QueryEncryptionStatus shows progress), then send the new settings again.',
    });
    expect(h.files(2)).toEqual(before);
    expect(h.detached).toEqual([]);
    expect(readMrseq(h.he.extensionDir)).toBe(3);
  });

  it('when the worker cannot be started: WorkerStartFailed (501), the accepted journal kept for the next enable', async () => {
    const h = harness(4);
    h.settings(4, VALID);
    h.failDetach('systemd-run failed (1): Unit ade-linux-worker-4 already exists.');
    expect(await h.run()).toBe(0);
    expect(h.detached).toHaveLength(1);
    expect(readStatus(h.he.statusFolder, 4)).toEqual({
      operation: 'Enable', status: 'error', code: 501,
      message: 'The background worker could not be started: systemd-run failed (1): Unit ade-linux-worker-4 already exists..',
    });
    // transitioning first, then only the error (startWorker reports it, and enable's catch reports it again).
    const [first, ...rest] = h.reports.map(({ r }) => [r.status, r.code]);
    expect(first).toEqual(['transitioning', 0]);
    expect(rest.length).toBeGreaterThan(0);
    for (const r of rest) expect(r).toEqual(['error', 501]);
    expect(readJournal(h.he.stateDir)).toMatchObject({ seq: 4, phase: 'accepted' });
    expect(readMrseq(h.he.extensionDir)).toBe(4);
  });

  it('QueryEncryptionStatus: answered at once from lsblk/findmnt/blkid, success, no journal, no worker', async () => {
    const h = harness(5);
    h.settings(5, { EncryptionOperation: 'QueryEncryptionStatus' });
    expect(await h.run()).toBe(0);
    expect(h.calls).toEqual(expect.arrayContaining([LSBLK, FINDMNT, 'blkid -o export']));
    const s = readStatus(h.he.statusFolder, 5)!;
    expect(s).toMatchObject({ operation: 'QueryEncryptionStatus', status: 'success', code: 0 });
    expect(s.message).toMatch(/^OS volume: \w+; data volumes: \w+ \(\d+ of \d+ volumes encrypted\)\.$/);
    // The fixture's devices, as the tools printed them: the root file system and the ADE-encrypted partition.
    expect(s.volumes).toEqual(expect.arrayContaining([
      expect.objectContaining({ device: '/dev/sda1', mountpoint: '/' }),
      expect.objectContaining({ device: '/dev/sdf1', state: 'Encrypted' }),
    ]));
    expect(existsSync(journalPath(h.he.stateDir))).toBe(false);
    expect(h.detached).toEqual([]);
    expect(readMrseq(h.he.extensionDir)).toBe(5);
  });
});

describe('enable: a sequence number seen before', () => {
  const RESULT: Report = { operation: 'EnableEncryption', status: 'success', code: 0, message: 'Encrypted 2 data volume(s).', os: 'NotEncrypted', data: 'Encrypted', volumes: [{ device: '/dev/sdc1', mountpoint: '/data1', state: 'Encrypted' }] };
  const DEAD_WORKER = { pid: process.pid, start: 'not-its-start-time' }; // its pid since reused by another process
  interface Row {
    seq: number;
    left: { journal?: Journal; mrseq?: number; status?: Report };
    /** 'live': held by this (running) process, as tryLock takes it. */
    lock?: 'live' | typeof DEAD_WORKER;
    /** Expected: a worker started, the journal's result reported again, mrseq afterwards. */
    worker: boolean;
    rereport: boolean;
    mrseq: number;
  }
  const rows: Array<[string, Row]> = [
    ['older than mrseq, no journal: nothing happens', { seq: 3, left: { mrseq: 5 }, worker: false, rereport: false, mrseq: 5 }],
    ['equal to mrseq, no journal: nothing happens', { seq: 5, left: { mrseq: 5 }, worker: false, rereport: false, mrseq: 5 }],
    ['older than mrseq, whose operation is journaled with its worker gone: nothing happens',
      { seq: 3, left: { mrseq: 5, journal: journal(5, 'running') }, worker: false, rereport: false, mrseq: 5 }],
    ['journaled and running, no lock file: the worker is restarted, status untouched',
      { seq: 6, left: { mrseq: 6, journal: journal(6, 'running'), status: RUNNING_STATUS }, worker: true, rereport: false, mrseq: 6 }],
    ['journaled and running, the lock left by a dead worker, mrseq lost: the worker is restarted, mrseq written',
      { seq: 6, left: { journal: journal(6, 'running'), status: RUNNING_STATUS }, lock: DEAD_WORKER, worker: true, rereport: false, mrseq: 6 }],
    ['journaled and running, a live lock holder: no second worker',
      { seq: 7, left: { mrseq: 7, journal: journal(7, 'running'), status: RUNNING_STATUS }, lock: 'live', worker: false, rereport: false, mrseq: 7 }],
    ['journaled done, the status missing (a new status folder after an upgrade): the journal\'s result is reported again',
      { seq: 8, left: { mrseq: 8, journal: journal(8, 'done', { result: RESULT }) }, worker: false, rereport: true, mrseq: 8 }],
    ['journaled done, the status transitioning (a crash before the last write): the journal\'s result is reported again',
      { seq: 8, left: { mrseq: 8, journal: journal(8, 'done', { result: RESULT }), status: RUNNING_STATUS }, worker: false, rereport: true, mrseq: 8 }],
    ['journaled done, a terminal status there: left as it is',
      { seq: 8, left: { mrseq: 8, journal: journal(8, 'done', { result: RESULT }), status: { ...RESULT, message: 'the status the agent already has' } }, worker: false, rereport: false, mrseq: 8 }],
  ];

  afterEach(() => {
    for (const r of roots) if (existsSync(lockPath(join(r, 'ade-linux')))) unlock(join(r, 'ade-linux'));
  });

  it('a finished journal of the same number this folder never recorded (another installation): a new operation', async () => {
    // e.g. the extension removed and installed again, or the run-command bootstrap beside the agent's: both number from 0
    const h = harness(0);
    h.settings(0, VALID);
    h.left({ journal: journal(0, 'done', { result: RESULT }) });
    expect(await h.run()).toBe(0);
    expect(h.detached.map((d) => d.req.env.ConfigSequenceNumber)).toEqual(['0']);
    expect(readJournal(h.he.stateDir)).toMatchObject({ seq: 0, phase: 'accepted' });
    expect(readMrseq(h.he.extensionDir)).toBe(0);
  });

  it.each(rows)('%s', async (_, row) => {
    const h = harness(row.seq);
    h.settings(row.seq, VALID);
    h.left(row.left);
    if (row.lock === 'live') expect(tryLock(h.he.stateDir)).toBe(true);
    else if (row.lock) writeFileSync(lockPath(h.he.stateDir), JSON.stringify(row.lock));
    expect(lockHolder(h.he.stateDir)?.pid).toBe(row.lock === 'live' ? process.pid : undefined);
    const before = h.files(row.seq);
    expect(await h.run()).toBe(0);

    expect(h.detached.map((d) => d.req.env.ConfigSequenceNumber)).toEqual(row.worker ? [String(row.seq)] : []);
    expect(h.reports).toEqual(row.rereport ? [{ seq: row.seq, r: RESULT }] : []);
    expect(h.files(row.seq)).toEqual(row.rereport ? { journal: before.journal, status: expect.any(String) } : before);
    if (row.rereport) expect(readStatus(h.he.statusFolder, row.seq)).toEqual(RESULT);
    expect(h.calls).toEqual([]);
    expect(readMrseq(h.he.extensionDir)).toBe(row.mrseq);
  });
});
