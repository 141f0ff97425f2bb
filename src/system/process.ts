// Process identity that survives pid reuse: a pid plus its start time (field 22 of /proc/<pid>/stat).
import { readFileSync } from 'node:fs';

export interface ProcessId { pid: number; start: string }

export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function self(): ProcessId {
  return { pid: process.pid, start: processStart(process.pid) ?? '' };
}

export function isRunning(p: ProcessId): boolean {
  return processStart(p.pid) === p.start;
}

/** PID 1 is systemd: the worker then runs as its own transient unit, outside the agent's cgroup. */
export function systemdIsInit(): boolean {
  try { return readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd'; } catch { return false; }
}
