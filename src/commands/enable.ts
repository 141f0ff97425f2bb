// enable, the one command that acts on settings. A sequence number seen before (the agent calls enable after
// every reboot and goal state) resumes, never restarts; a new one is validated, journaled and handed to the
// detached worker, so enable answers the agent in well under a second.
import { join } from 'node:path';
import { asAdeError, AdeError } from '../shared/errors.ts';
import { readJournal, withoutSecrets, writeJournal, type Journal } from '../protocol/journal.ts';
import { lockHolder } from '../protocol/lock.ts';
import { readMrseq, writeMrseq } from '../protocol/seqnum.ts';
import { readSettings } from '../protocol/settings.ts';
import { isTerminal, readStatus } from '../protocol/status.ts';
import { ignoredNote, validateSettings } from '../protocol/validate.ts';
import { WORKER_ENV_PASSTHROUGH, type Context } from './context.ts';
import { queryReport } from './operations.ts';

export async function enable(ctx: Context): Promise<number> {
  const { handlerEnv: he, seq, log } = ctx;
  const mrseq = readMrseq(he.extensionDir);
  const journal = readJournal(he.stateDir);
  log.info('enable', { seq, mrseq: mrseq ?? null, journal: journal ? `${journal.seq}:${journal.operation}:${journal.phase}` : null });

  // Seen before: resume, never restart. A finished journal of the same number that this extension folder never
  // recorded is another installation's (removed and installed again, or the run-command bootstrap beside the
  // agent's): both number from 0, so it is a new operation. An upgrade copies mrseq, so it still resumes.
  if ((mrseq !== undefined && seq <= mrseq) || (journal?.seq === seq && journal.phase !== 'done')) {
    if (journal?.seq === seq) await resume(ctx, journal);
    if (mrseq === undefined || seq > mrseq) writeMrseq(he.extensionDir, seq);
    return 0;
  }
  try {
    await accept(ctx, journal);
  } catch (e) {
    const err = asAdeError(e, join(he.logFolder, 'extension.log'));
    log.error('enable rejected', { code: err.code, message: err.message });
    ctx.report({ operation: 'Enable', status: 'error', code: err.code, message: err.message });
  }
  writeMrseq(he.extensionDir, seq);
  return 0;
}

/** New settings: answered at once (query), or journaled and started in the worker; bad ones throw. */
async function accept(ctx: Context, journal: Journal | undefined): Promise<void> {
  const { handlerEnv: he, seq } = ctx;
  const settings = validateSettings(await readSettings(he.configFolder, he.libDir, seq, ctx.run, ctx.log));
  if (settings.operation === 'QueryEncryptionStatus') {
    const r = await queryReport(ctx, journal);
    ctx.report({ ...r, message: r.message + ignoredNote(settings) });
    return;
  }
  if (journal && journal.phase !== 'done') throw new AdeError('OperationInProgress', { running: journal.operation, seq: journal.seq });
  writeJournal(he.stateDir, { version: 1, seq, operation: settings.operation, volumeType: settings.volumeType, phase: 'accepted', updatedAt: '', settings: withoutSecrets(settings), volumes: {} });
  ctx.report({ operation: settings.operation, status: 'transitioning', code: 0, message: `${settings.operation} accepted for VolumeType ${settings.volumeType}; starting.${ignoredNote(settings)}` });
  writeMrseq(he.extensionDir, seq);
  await startWorker(ctx);
}

/** Enable for an operation already accepted: restart a dead worker, or repair a status a crash left behind. */
async function resume(ctx: Context, journal: Journal): Promise<void> {
  const he = ctx.handlerEnv;
  if (journal.phase === 'done') {
    // The status folder may be new (upgrade) or stale: the journal's result is the truth.
    const status = readStatus(he.statusFolder, journal.seq);
    if (journal.result && (!status || !isTerminal(status.status))) ctx.report(journal.result);
    return;
  }
  const holder = lockHolder(he.stateDir);
  if (holder) {
    ctx.log.info('worker already running', { pid: holder.pid });
    return;
  }
  ctx.log.info('resuming operation', { seq: journal.seq, operation: journal.operation, phase: journal.phase });
  await startWorker(ctx);
}

async function startWorker(ctx: Context): Promise<void> {
  const he = ctx.handlerEnv;
  const env: Record<string, string> = { ConfigSequenceNumber: String(ctx.seq), AZURE_GUEST_AGENT_EXTENSION_PATH: he.extensionDir };
  for (const k of WORKER_ENV_PASSTHROUGH) {
    const v = ctx.processEnv[k];
    if (v !== undefined && !(k in env)) env[k] = v;
  }
  try {
    const d = await ctx.detach({
      node: ctx.self.node, script: ctx.self.script, args: ['worker'], env,
      envFile: join(he.stateDir, 'worker.env'), unit: `ade-linux-worker-${ctx.seq}-${Date.now()}`,
    });
    ctx.log.info('worker started', { ...d });
  } catch (e) {
    const err = new AdeError('WorkerStartFailed', { cause: e instanceof Error ? e.message : String(e) });
    ctx.report({ operation: 'Enable', status: 'error', code: err.code, message: err.message });
    throw err;
  }
}
