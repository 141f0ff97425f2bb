// The extension's log: one timestamped line per event in <logFolder>/extension.log, capped in size (the
// previous file is kept as extension.log.1). Every line passes through redact(): secrets registered with
// addSecret() and anything shaped like a bearer token or JWT never reach the file.
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Every later line has this value replaced by [REDACTED]. */
  addSecret(secret: string): void;
  readonly path?: string;
}

export const MAX_LOG_BYTES = 4 * 1024 * 1024;
const REDACTED = '[REDACTED]';
// A JWT (three base64url parts, the first starting "eyJ") or an Authorization header value.
const TOKEN_PATTERNS = [/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, /(Bearer\s+)[^\s"',]+/gi];

export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  for (const p of TOKEN_PATTERNS) out = out.replace(p, (m, prefix?: string) => (typeof prefix === 'string' ? prefix + REDACTED : REDACTED));
  return out;
}

export interface FileLoggerOptions {
  folder: string;
  /** Who writes: "enable", "worker", ... so interleaved processes stay readable. */
  source: string;
  maxBytes?: number;
  /** Also write each line to stderr (the agent keeps the head of stderr in its own log). */
  echo?: boolean;
}

export function fileLogger(opts: FileLoggerOptions): Logger {
  const path = join(opts.folder, 'extension.log');
  const secrets = new Set<string>();
  const maxBytes = opts.maxBytes ?? MAX_LOG_BYTES;
  let folderReady = false;
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
    const line = redact(`${new Date().toISOString()} ${level.toUpperCase()} [${opts.source}:${process.pid}] ${msg}${extra}`, secrets).replace(/\n/g, '\\n') + '\n';
    try {
      if (!folderReady) { mkdirSync(opts.folder, { recursive: true, mode: 0o700 }); folderReady = true; }
      rotateIfLarge(path, maxBytes);
      appendFileSync(path, line, { mode: 0o600 });
    } catch {
      // Logging must never take the operation down with it.
    }
    if (opts.echo) process.stderr.write(line);
  };
  return {
    path,
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    addSecret: (s) => { if (s) secrets.add(s); },
  };
}

function rotateIfLarge(path: string, maxBytes: number): void {
  let size = 0;
  try { size = statSync(path).size; } catch { return; }
  if (size >= maxBytes) renameSync(path, `${path}.1`);
}
