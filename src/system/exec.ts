// The one place that starts processes. Children get a fixed, minimal environment (never ours, which may
// hold the agent's variables) and secrets only on stdin, so nothing secret reaches argv or environ.

export interface RunResult { exitCode: number; stdout: string; stderr: string }
export interface RunOptions {
  /** Written to the child's stdin; the only channel for secrets. */
  input?: string | Uint8Array;
  /** Non-secret additions to the minimal environment. */
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /**
   * Aborting sends the child SIGTERM and waits for it to exit by itself (no SIGKILL follows): cryptsetup
   * ends a reencryption at a hotzone boundary with consistent metadata, where SIGKILL would leave a
   * hotzone that needs `repair`. The result is the child's own exit (non-zero when it was interrupted).
   */
  signal?: AbortSignal;
}
export type Runner = (file: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/** A tool that ran and exited with a code its caller does not accept. */
export class CommandFailed extends Error {
  readonly exitCode: number;
  readonly stderr: string;
  constructor(cmd: string, exitCode: number, stderr: string) {
    super(`${cmd} failed (exit ${exitCode}): ${stderr.trim() || 'no output'}`);
    this.name = 'CommandFailed';
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Runs a tool that must succeed (exit 0, or one of `ok`); returns its stdout, else throws CommandFailed. */
export async function must(run: Runner, file: string, args: readonly string[], opts: RunOptions & { ok?: readonly number[]; name?: string } = {}): Promise<string> {
  const { ok = [0], name = `${file} ${args.join(' ')}`, ...runOpts } = opts;
  const r = await run(file, args, runOpts);
  if (!ok.includes(r.exitCode)) throw new CommandFailed(name, r.exitCode, r.stderr || r.stdout);
  return r.stdout;
}

export const CHILD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: CHILD_PATH, LANG: 'C', LC_ALL: 'C', ...extra };
}

/** Runs a program and returns its exit code and output; never throws for a non-zero exit. */
export const run: Runner = async (file, args, opts = {}) => {
  // Loaded on first use: most enables never start a process, and execa is a third of the bundle.
  const { execa } = await import('execa');
  const r = await execa(file, [...args], {
    input: opts.input,
    env: childEnv(opts.env),
    extendEnv: false,
    cwd: opts.cwd,
    timeout: opts.timeoutMs,
    ...(opts.signal ? { cancelSignal: opts.signal, forceKillAfterDelay: false } : {}),
    reject: false,
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  if (r.failed && r.exitCode === undefined) {
    // Could not start at all (ENOENT, EACCES) or was killed by a signal/timeout.
    return { exitCode: 127, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') || String(r.message) };
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};
