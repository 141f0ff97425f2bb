// The five commands the agent runs (and the worker we start ourselves), as a table: each entry says what
// it does. Only enable acts on settings; the others never write a status (the agent reads status only for
// the current sequence number, and overwriting enable's result there would lie to the portal).
import { join } from 'node:path';
import { asAdeError, AdeError } from './errors.ts';
import type { Context } from './context.ts';
import { WORKER_ENV_PASSTHROUGH } from './context.ts';
import { readJournal, withoutSecrets, writeJournal, type Journal } from './journal.ts';
import { lockHolder } from './lock.ts';
import { readMrseq, writeMrseq } from './seqnum.ts';
import { readSettings } from './settings.ts';
import { isTerminal, readStatus, writeStatus, type Report } from './status.ts';
import { validateSettings } from './validate.ts';
import { loadDataModules, queryReport } from './operations.ts';
import { startDetached } from '../system/detach.ts';
import { runWorker } from './worker.ts';
import { mkdirSync } from 'node:fs';
import { flushCompileCache } from 'node:module';

export type Command = (ctx: Context) => Promise<number>;

export const COMMANDS: Record<string, Command> = {
  install: async (ctx) => {
    mkdirSync(ctx.handlerEnv.stateDir, { recursive: true, mode: 0o700 });
    // Compiles the worker's modules now, into the cache bin/ade-shim gives Node: the first enable's worker
    // then starts without parsing the Key Vault SDK (over a second on a small VM). Their top level only defines.
    await loadDataModules();
    flushCompileCache();
    ctx.log.info('installed', { version: ctx.version, stateDir: ctx.handlerEnv.stateDir });
    return 0;
  },
  enable,
  // The agent runs the old version's disable before an upgrade and before removal. Encryption must not be
  // undone by either, so disable only stops a running worker at a safe point; enable resumes it.
  disable: async (ctx) => { await stopWorker(ctx); return 0; },
  // State lives outside the extension dir (journal) or is copied by the agent (mrseq, status): nothing to move.
  update: async (ctx) => {
    ctx.log.info('updated', { to: ctx.version, from: ctx.processEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION ?? 'unknown' });
    return 0;
  },
  // Encrypted volumes outlive the extension: their journal, fstab backups and keys stay where they are.
  uninstall: async (ctx) => { await stopWorker(ctx); ctx.log.info('uninstalled; encryption state kept', { stateDir: ctx.handlerEnv.stateDir }); return 0; },
  worker: async (ctx) => runWorker(ctx),
  // Not in the manifest: ade-linux-unlock.service runs it at boot.
  unlock: async (ctx) => (await import('./unlock-command.ts')).unlockCommand(ctx),
};

async function enable(ctx: Context): Promise<number> {
  const { handlerEnv: he, seq, log } = ctx;
  const mrseq = readMrseq(he.extensionDir);
  const journal = readJournal(he.stateDir);
  log.info('enable', { seq, mrseq: mrseq ?? null, journal: journal ? `${journal.seq}:${journal.operation}:${journal.phase}` : null });

  // Seen before (the agent calls enable after every reboot and goal state): resume, never restart.
  if ((mrseq !== undefined && seq <= mrseq) || journal?.seq === seq) {
    if (journal?.seq === seq) await resume(ctx, journal);
    if (mrseq === undefined || seq > mrseq) writeMrseq(he.extensionDir, seq);
    return 0;
  }

  try {
    const settings = validateSettings(await readSettings(he.configFolder, he.libDir, seq, ctx.run, log));
    if (settings.operation === 'QueryEncryptionStatus') {
      report(ctx, await queryReport(ctx, journal));
    } else if (journal && journal.phase !== 'done') {
      throw new AdeError('OperationInProgress', { running: journal.operation, seq: journal.seq });
    } else {
      const next: Journal = { version: 1, seq, operation: settings.operation, volumeType: settings.volumeType, phase: 'accepted', updatedAt: '', settings: withoutSecrets(settings), volumes: {} };
      writeJournal(he.stateDir, next);
      report(ctx, { operation: settings.operation, status: 'transitioning', code: 0, message: `${settings.operation} accepted for VolumeType ${settings.volumeType}; starting.` });
      writeMrseq(he.extensionDir, seq);
      await startWorker(ctx);
      return 0;
    }
  } catch (e) {
    const err = asAdeError(e, join(he.logFolder, 'extension.log'));
    log.error('enable rejected', { code: err.code, message: err.message });
    report(ctx, { operation: 'Enable', status: 'error', code: err.code, message: err.message });
  }
  writeMrseq(he.extensionDir, seq);
  return 0;
}

/** Enable for an operation already accepted: restart a dead worker, or repair a status a crash left behind. */
async function resume(ctx: Context, journal: Journal): Promise<void> {
  const he = ctx.handlerEnv;
  const status = readStatus(he.statusFolder, journal.seq);
  if (journal.phase === 'done') {
    // The status folder may be new (upgrade) or stale: the journal's result is the truth.
    if (journal.result && (!status || !isTerminal(status.status))) report(ctx, journal.result);
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
    const d = await startDetached(ctx.run, {
      node: ctx.self.node, script: ctx.self.script, args: ['worker'], env,
      envFile: join(he.stateDir, 'worker.env'), unit: `ade-linux-worker-${ctx.seq}-${Date.now()}`,
    });
    ctx.log.info('worker started', { ...d });
  } catch (e) {
    const err = new AdeError('WorkerStartFailed', { cause: e instanceof Error ? e.message : String(e) });
    report(ctx, { operation: 'Enable', status: 'error', code: err.code, message: err.message });
    throw err;
  }
}

async function stopWorker(ctx: Context): Promise<void> {
  const holder = lockHolder(ctx.handlerEnv.stateDir);
  if (!holder) return;
  ctx.log.info('stopping worker', { pid: holder.pid });
  try { process.kill(holder.pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 600 && lockHolder(ctx.handlerEnv.stateDir); i++) await new Promise((r) => setTimeout(r, 100));
}

function report(ctx: Context, r: Report): void {
  writeStatus(ctx.handlerEnv.statusFolder, ctx.seq, ctx.handlerEnv.name, r);
}
