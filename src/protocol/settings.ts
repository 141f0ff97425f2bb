// Reads config/<seq>.settings as the agent writes it: one runtimeSettings element whose handlerSettings
// carry publicSettings (object or null) and protectedSettings (base64 CMS or null). A 0-byte file means
// "no settings". Decrypted protected settings stay in memory and are registered as log secrets at once.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../system/exec.ts';
import { decryptCms } from '../system/cms.ts';
import { AdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

export interface RawSettings {
  publicSettings: Record<string, unknown>;
  protectedSettings: Record<string, unknown>;
}

export function settingsPath(configFolder: string, seq: number): string {
  return join(configFolder, `${seq}.settings`);
}

export async function readSettings(configFolder: string, libDir: string, seq: number, run: Runner, log: Logger): Promise<RawSettings> {
  const path = settingsPath(configFolder, seq);
  const text = readWithRetry(path);
  if (text.trim() === '') return { publicSettings: {}, protectedSettings: {} };
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new AdeError('SettingsUnreadable', { path, cause: (e as Error).message }); }
  const rs = (doc as { runtimeSettings?: unknown }).runtimeSettings;
  if (!Array.isArray(rs) || rs.length !== 1) throw new AdeError('SettingsUnreadable', { path, cause: 'runtimeSettings must be an array with one element' });
  const hs = (rs[0] as { handlerSettings?: Record<string, unknown> }).handlerSettings ?? {};
  const pub = hs.publicSettings ?? {};
  if (typeof pub !== 'object' || Array.isArray(pub)) throw new AdeError('SettingsUnreadable', { path, cause: 'publicSettings must be a JSON object' });
  const blob = hs.protectedSettings;
  const thumbprint = hs.protectedSettingsCertThumbprint;
  if (blob === undefined || blob === null || blob === '') return { publicSettings: pub as Record<string, unknown>, protectedSettings: {} };
  if (typeof blob !== 'string' || typeof thumbprint !== 'string' || !/^[0-9A-Fa-f]{40}$/.test(thumbprint)) {
    throw new AdeError('SettingsUnreadable', { path, cause: 'protectedSettings needs a base64 string and protectedSettingsCertThumbprint a SHA-1 thumbprint' });
  }
  const protectedSettings = await decryptProtected(blob, thumbprint.toUpperCase(), libDir, run);
  registerSecrets(protectedSettings, log);
  return { publicSettings: pub as Record<string, unknown>, protectedSettings };
}

async function decryptProtected(blob: string, thumbprint: string, libDir: string, run: Runner): Promise<Record<string, unknown>> {
  const crt = join(libDir, `${thumbprint}.crt`);
  const prv = join(libDir, `${thumbprint}.prv`);
  const fail = (cause: string) => new AdeError('ProtectedSettingsUndecryptable', { thumbprint, cause, path: crt });
  if (!existsSync(crt) || !existsSync(prv)) throw fail(`${existsSync(crt) ? prv : crt} does not exist`);
  const r = await decryptCms(run, Buffer.from(blob, 'base64'), crt, prv);
  if (!r.ok) throw fail(r.cause);
  let parsed: unknown;
  try { parsed = JSON.parse(r.plaintext); } catch { throw fail('the decrypted content is not JSON'); }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw fail('the decrypted content is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** Every string value in protected settings is secret, whatever its name. */
function registerSecrets(value: unknown, log: Logger): void {
  if (typeof value === 'string') log.addSecret(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) registerSecrets(v, log);
}

function readWithRetry(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new AdeError('SettingsUnreadable', { path, cause: (e as Error).message });
  }
}
