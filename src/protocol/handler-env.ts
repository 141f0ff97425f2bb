// Where the agent put things. The agent writes HandlerEnvironment.json non-atomically just before it runs
// us, so a parse failure is retried briefly before it counts.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdeError } from '../shared/errors.ts';

export interface HandlerEnvironment {
  name: string;
  /** The extension's base dir (the agent's cwd for us, and where mrseq lives). */
  extensionDir: string;
  logFolder: string;
  configFolder: string;
  statusFolder: string;
  heartbeatFile?: string;
  eventsFolder?: string;
  /** The agent's Lib.Dir (certificates live here): configFolder/../.. */
  libDir: string;
  /** Our version-independent state (journal, fstab backups): beside the agent's Lib.Dir, survives upgrades. */
  stateDir: string;
}

export function handlerEnvPath(env: NodeJS.ProcessEnv, cwd: string): string {
  return join(env.AZURE_GUEST_AGENT_EXTENSION_PATH || cwd, 'HandlerEnvironment.json');
}

export async function loadHandlerEnvironment(path: string, sleep = defaultSleep, attempts = 5): Promise<HandlerEnvironment> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return parseHandlerEnvironment(readFileSync(path, 'utf8'), resolve(path, '..'));
    } catch (e) {
      last = e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && i === attempts - 1) break;
      await sleep(200 * (i + 1));
    }
  }
  if (last instanceof AdeError) throw last;
  throw new AdeError('HandlerEnvironmentInvalid', { path, cause: last instanceof Error ? last.message : String(last) });
}

export function parseHandlerEnvironment(text: string, extensionDir: string): HandlerEnvironment {
  const doc: unknown = JSON.parse(text);
  const first = Array.isArray(doc) ? doc[0] : undefined;
  const he = first && typeof first === 'object' ? (first as Record<string, unknown>).handlerEnvironment : undefined;
  if (!he || typeof he !== 'object') throw new Error('expected a JSON array whose first element has handlerEnvironment');
  const h = he as Record<string, unknown>;
  const str = (k: string, required: boolean): string | undefined => {
    const v = h[k];
    if (typeof v === 'string' && v) return v;
    if (required) throw new Error(`handlerEnvironment.${k} is missing`);
    return undefined;
  };
  const configFolder = str('configFolder', true)!;
  const libDir = resolve(configFolder, '..', '..');
  return {
    name: String((first as Record<string, unknown>).name ?? ''),
    extensionDir,
    logFolder: str('logFolder', true)!,
    configFolder,
    statusFolder: str('statusFolder', true)!,
    heartbeatFile: str('heartbeatFile', false),
    eventsFolder: str('eventsFolder', false),
    libDir,
    stateDir: resolve(libDir, '..', 'ade-linux'),
  };
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
