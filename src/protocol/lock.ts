// One worker at a time. The lock file names its holder by pid and start time, so a lock left by a worker
// that died (kill, power cut) is recognised as stale and taken over instead of blocking forever.
import { openSync, writeSync, closeSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists } from '../system/files.ts';
import { isRunning, self, type ProcessId } from '../system/process.ts';

export function lockPath(stateDir: string): string {
  return join(stateDir, 'worker.lock');
}

export function lockHolder(stateDir: string): ProcessId | undefined {
  const text = readTextIfExists(lockPath(stateDir));
  if (!text) return undefined;
  try {
    const p = JSON.parse(text) as ProcessId;
    return isRunning(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock for this process; returns false when a live process holds it. */
export function tryLock(stateDir: string): boolean {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = lockPath(stateDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(self()));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockHolder(stateDir)) return false;
      rmSync(path, { force: true }); // stale: its holder is gone
    }
  }
  return false;
}

export function unlock(stateDir: string): void {
  const text = readTextIfExists(lockPath(stateDir));
  if (text && text === JSON.stringify(self())) rmSync(lockPath(stateDir), { force: true });
}
