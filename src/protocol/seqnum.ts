// Which settings to act on, and which we already acted on. ConfigSequenceNumber is authoritative; without it
// (old agents, a worker started by hand) the most recently modified N.settings wins, as in the agent itself.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../system/files.ts';

export function currentSequence(env: NodeJS.ProcessEnv, configFolder: string): number | undefined {
  const fromEnv = env.ConfigSequenceNumber;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  let best: { seq: number; mtime: number } | undefined;
  let names: string[] = [];
  try { names = readdirSync(configFolder); } catch { return undefined; }
  for (const name of names) {
    const m = /^(\d+)\.settings$/.exec(name);
    if (!m) continue;
    const mtime = statSync(join(configFolder, name)).mtimeMs;
    if (!best || mtime > best.mtime || (mtime === best.mtime && Number(m[1]) > best.seq)) best = { seq: Number(m[1]), mtime };
  }
  return best?.seq;
}

/** mrseq lives in the extension dir because the agent copies it to the new version on upgrade. */
export function readMrseq(extensionDir: string): number | undefined {
  const text = readTextIfExists(join(extensionDir, 'mrseq'))?.trim();
  return text && /^\d+$/.test(text) ? Number(text) : undefined;
}

export function writeMrseq(extensionDir: string, seq: number): void {
  writeFileAtomic(join(extensionDir, 'mrseq'), `${seq}\n`, 0o600);
}
