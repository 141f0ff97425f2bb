// Starts the worker so that it outlives the command that started it: the agent SIGKILLs the command's
// process group after its timeout and, with systemd, kills its scope. Under systemd the worker is its own
// transient service (outside the agent's cgroup and CPU quota); elsewhere a new session.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFileAtomic } from './files.ts';
import type { Runner } from './exec.ts';
import { CHILD_PATH } from './exec.ts';
import { systemdIsInit } from './process.ts';

export interface DetachRequest {
  node: string;
  script: string;
  args: string[];
  /** Non-secret variables the worker needs (proxy, CA trust, identity endpoint), written to a 0600 file. */
  env: Record<string, string>;
  envFile: string;
  unit: string;
}

export interface Detached { how: 'systemd-run' | 'setsid'; unit?: string; pid?: number }

export async function startDetached(run: Runner, req: DetachRequest): Promise<Detached> {
  const env = { PATH: CHILD_PATH, LANG: 'C', ...req.env };
  writeFileAtomic(req.envFile, environmentFileText(env), 0o600);
  if (systemdIsInit() && ['/usr/bin/systemd-run', '/bin/systemd-run'].some((p) => existsSync(p))) {
    const r = await run('systemd-run', ['--unit', req.unit, '--collect', '--quiet', '--property', `EnvironmentFile=${req.envFile}`, '--property', 'KillMode=mixed', '--property', 'TimeoutStopSec=60', req.node, req.script, ...req.args]);
    if (r.exitCode === 0) return { how: 'systemd-run', unit: req.unit };
    throw new Error(`systemd-run failed (${r.exitCode}): ${r.stderr.trim()}`);
  }
  const child = spawn(req.node, [req.script, ...req.args], { detached: true, stdio: 'ignore', env, cwd: '/' });
  child.unref();
  return { how: 'setsid', pid: child.pid };
}

/** A systemd EnvironmentFile: one KEY="value" per line, double quotes and backslashes escaped. */
export function environmentFileText(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}="${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join('\n') + '\n';
}
