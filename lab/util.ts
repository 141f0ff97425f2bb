// Small process/file helpers shared by the lab's image builder and the test API (node built-ins only).
// Plain "erasable" TypeScript so Node 24 can run it directly (lab/demo.mjs, bench/lab.bench.mjs import it).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RunResult { code: number; stdout: string; stderr: string }
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Stream the child's output to this file (appended) instead of keeping it all in memory. */
  logFile?: string;
  /** Do not throw on a non-zero exit code. */
  allowFail?: boolean;
}

/** Runs a program (no shell) and resolves with its exit code and output; throws on failure unless allowFail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
    child.stdout!.on('data', (b: Buffer) => { out.push(b); log?.write(b); });
    child.stderr!.on('data', (b: Buffer) => { err.push(b); log?.write(b); });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      log?.end();
      const res = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (res.code !== 0 && !opts.allowFail) {
        const tail = (res.stderr || res.stdout).split('\n').slice(-30).join('\n');
        reject(new Error(`${cmd} ${args.join(' ').slice(0, 300)} failed (code ${code}${signal ? `, ${signal}` : ''})` +
          `${opts.logFile ? `; log: ${opts.logFile}` : ''}\n${tail}`));
      } else resolve(res);
    });
    if (child.stdin) {
      child.stdin.on('error', () => { /* the child did not read it all: its exit code tells */ });
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a bash script text. */
export function bash(script: string, opts: RunOptions = {}): Promise<RunResult> {
  return run('bash', ['-euo', 'pipefail', '-c', script], opts);
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/** Hash of every file under a directory (sorted relative paths + contents): part of the image cache keys. */
export function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) { h.update(path.relative(dir, p)); h.update('\0'); h.update(fs.readFileSync(p)); h.update('\0'); }
    }
  };
  walk(dir);
  return h.digest('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * Cross-process lock (a directory holding the owner's pid). Stale locks (dead owner) are taken over.
 * Keeps two test runs from building the same image at the same time.
 */
export async function withLock<T>(lockDir: string, what: string, fn: () => Promise<T>): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try { owner = Number(fs.readFileSync(path.join(lockDir, 'pid'), 'utf8')); } catch { /* being written */ }
      if (owner && !isAlive(owner)) { fs.rmSync(lockDir, { recursive: true, force: true }); continue; }
      if (!announced) { labLog(`waiting for another process (pid ${owner}) building ${what}`); announced = true; }
      await sleep(1000);
    }
  }
  try { return await fn(); } finally { fs.rmSync(lockDir, { recursive: true, force: true }); }
}

/** To stderr, with the wall-clock time: a run's log then shows where its minutes went. */
export function labLog(msg: string): void {
  process.stderr.write(`[lab ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function fmtSec(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
