// For units: a Logger that collects lines in memory, redacted the same way as the file logger.
import { redact, type Level, type Logger } from '../../src/shared/log.ts';

export function memoryLogger(): Logger & { lines: string[] } {
  const secrets = new Set<string>();
  const lines: string[] = [];
  const w = (level: Level) => (m: string, f?: Record<string, unknown>) => {
    lines.push(redact(`${level} ${m}${f ? ' ' + JSON.stringify(f) : ''}`, secrets));
  };
  return { lines, info: w('info'), warn: w('warn'), error: w('error'), addSecret: (s) => { if (s) secrets.add(s); } };
}
