// The commands, as a table: what each runs, whether the agent may call it (HandlerManifest.json names
// exactly those) and whether it may write a status. Only enable acts on settings, and only it and the
// worker it starts write a status: the agent reads status only for the current sequence number, and
// overwriting enable's result there would lie to the portal.
import { mkdirSync } from 'node:fs';
import { flushCompileCache } from 'node:module';
import type { HandlerEnvironment } from '../protocol/handler-env.ts';
import { lockHolder } from '../protocol/lock.ts';
import { writeStatus } from '../protocol/status.ts';
import type { Logger } from '../shared/log.ts';
import type { Context } from './context.ts';
import { enable } from './enable.ts';
import { loadDataModules } from './operations.ts';
import { runWorker } from './worker.ts';

export interface CommandSpec {
  run: (ctx: Context) => Promise<number>;
  /** The agent runs it; the others are started by ourselves (the worker) or by systemd (the unlock). */
  agent: boolean;
  writesStatus: boolean;
}

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  install: { agent: true, writesStatus: false, run: install },
  enable: { agent: true, writesStatus: true, run: enable },
  // The agent runs the old version's disable before an upgrade and before removal. Encryption must not be
  // undone by either, so disable only stops a running worker at a safe point; enable resumes it.
  disable: { agent: true, writesStatus: false, run: async (ctx) => { await stopWorker(ctx); return 0; } },
  // State lives outside the extension dir (journal) or is copied by the agent (mrseq, status): nothing to move.
  update: {
    agent: true, writesStatus: false,
    run: async (ctx) => { ctx.log.info('updated', { to: ctx.version, from: ctx.processEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION ?? 'unknown' }); return 0; },
  },
  // Encrypted volumes outlive the extension: their journal, fstab backups and keys stay where they are.
  uninstall: {
    agent: true, writesStatus: false,
    run: async (ctx) => { await stopWorker(ctx); ctx.log.info('uninstalled; encryption state kept', { stateDir: ctx.handlerEnv.stateDir }); return 0; },
  },
  worker: { agent: false, writesStatus: true, run: runWorker },
  // ade-linux-unlock.service runs it at boot.
  unlock: { agent: false, writesStatus: false, run: async (ctx) => (await import('./unlock.ts')).unlockCommand(ctx) },
};

/** The status writer a command gets: the real one where the table allows it, else one that only logs. */
export function statusReporter(name: string, command: CommandSpec, he: HandlerEnvironment, seq: number, log: Logger): Context['report'] {
  if (!command.writesStatus) return (r) => log.error(`${name} may not write a status; dropped`, { status: r.status, code: r.code });
  return (r, forSeq = seq) => { writeStatus(he.statusFolder, forSeq, he.name, r); };
}

async function install(ctx: Context): Promise<number> {
  mkdirSync(ctx.handlerEnv.stateDir, { recursive: true, mode: 0o700 });
  // Compiles the worker's modules now, into the cache bin/ade-shim gives Node: the first enable's worker
  // then starts without parsing the Key Vault SDK (over a second on a small VM). Their top level only defines.
  await loadDataModules();
  flushCompileCache();
  ctx.log.info('installed', { version: ctx.version, stateDir: ctx.handlerEnv.stateDir });
  return 0;
}

async function stopWorker(ctx: Context): Promise<void> {
  const holder = lockHolder(ctx.handlerEnv.stateDir);
  if (!holder) return;
  ctx.log.info('stopping worker', { pid: holder.pid });
  try { process.kill(holder.pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 600 && lockHolder(ctx.handlerEnv.stateDir); i++) await new Promise((r) => setTimeout(r, 100));
}
