// The detached worker: holds the lock, runs the journaled operation to its end, writes the terminal status,
// then marks the journal done (in that order: a crash between the two only makes the next enable repeat an
// idempotent step, never leaves "transitioning" behind). SIGTERM (disable, upgrade) stops it at a safe
// point and leaves the journal for the next enable to resume; so do a deferred OS restart and a /boot split
// the initramfs refused (both wait for a restart).
import { join } from 'node:path';
import { AdeError, asAdeError } from '../shared/errors.ts';
import type { Context } from './context.ts';
import { readJournal, writeJournal, type Journal } from '../protocol/journal.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import { tryLock, unlock } from '../protocol/lock.ts';
import { readSettings } from '../protocol/settings.ts';
import type { Report } from '../shared/report.ts';
import { ignoredNote, validateSettings } from '../protocol/validate.ts';
import { runOperation } from './operations.ts';
import { RestartPending } from '../encryption/steps.ts';

export async function runWorker(ctx: Context): Promise<number> {
  const he = ctx.handlerEnv;
  const log = ctx.log;
  if (!tryLock(he.stateDir)) {
    log.info('another worker holds the lock; exiting');
    return 0;
  }
  const stop = new AbortController();
  process.on('SIGTERM', () => { log.info('SIGTERM: stopping at the next safe point'); stop.abort(); });
  try {
    const journal = readJournal(he.stateDir);
    if (!journal || journal.phase === 'done') return 0;
    const running = { ...journal, phase: 'running' as const };
    writeJournal(he.stateDir, running);
    let result: Report;
    try {
      const settings = await settingsFor(ctx, journal);
      const r = await runOperation({ ...ctx, seq: journal.seq }, settings, stop.signal);
      result = { ...r, message: r.message + ignoredNote(settings) };
    } catch (e) {
      if (e instanceof RestartPending) {
        // Not the end of the operation: the journal stays open for the enable after the operator's restart.
        ctx.report({ operation: journal.operation, status: 'success', code: 0, message: e.message, os: 'VMRestartPending' }, journal.seq);
        log.info('waiting for the operator to restart the VM (OSRestart Deferred)', { seq: journal.seq });
        return 0;
      }
      if (e instanceof AdeError && e.id === 'OsSplitRefused') {
        // An error for the agent (the VM booted unencrypted), but not the end: every restart tries the split
        // again, and the enable after it must go on from here, so the journal stays open.
        ctx.report({ operation: journal.operation, status: 'error', code: e.code, message: e.message, os: 'VMRestartPending' }, journal.seq);
        log.error('the initramfs refused the /boot split at this boot; the enable after the next restart goes on', { code: e.code, message: e.message });
        return 0;
      }
      if (stop.signal.aborted) {
        log.info('stopped before the end; the next enable resumes', { seq: journal.seq });
        return 0;
      }
      const err = asAdeError(e, join(he.logFolder, 'extension.log'));
      (err.status === 'warning' ? log.warn : log.error)(`operation ended with ${err.status}`, { code: err.code, message: err.message });
      // A warning is not terminal for the agent (it would wait 90 minutes): finish as success, say why.
      result = { operation: journal.operation, status: err.status === 'warning' ? 'success' : 'error', code: err.code, message: err.message };
    }
    ctx.report(result, journal.seq);
    writeJournal(he.stateDir, { ...running, phase: 'done', result });
    log.info('operation finished', { seq: journal.seq, status: result.status, code: result.code });
    return 0;
  } finally {
    unlock(he.stateDir);
  }
}

/**
 * The settings of the journaled operation: from the agent's file, or, when a power cut left that file empty
 * or torn, as recorded when the operation was accepted (less its secrets: keys already escrowed are read
 * back from the key volume or Key Vault, so a resume does not need them).
 */
async function settingsFor(ctx: Context, journal: Journal): Promise<EncryptionSettings> {
  const he = ctx.handlerEnv;
  try {
    return validateSettings(await readSettings(he.configFolder, he.libDir, journal.seq, ctx.run, ctx.log));
  } catch (e) {
    if (!journal.settings || journal.settings.operation !== journal.operation) throw e;
    ctx.log.warn(`settings ${journal.seq} are unreadable (${e instanceof Error ? e.message : String(e)}); resuming with the settings recorded when ${journal.operation} was accepted`);
    return journal.settings;
  }
}
