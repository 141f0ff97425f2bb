// status/<seq>.status in the shape the Linux agent parses (a one-element array; status.status one of four
// values; formattedMessage with lang and message). The first substatus keeps ADE's machine-readable
// {"os": STATE, "data": STATE} message; the second adds per-volume detail.
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../system/files.ts';
import type { DataState, OsState, Report, StatusValue, VolumeDetail } from '../shared/report.ts';

export const MAX_STATUS_BYTES = 128 * 1024;
const TERMINAL: ReadonlySet<StatusValue> = new Set(['success', 'error']);

export function statusPath(statusFolder: string, seq: number): string {
  return join(statusFolder, `${seq}.status`);
}

export function buildStatus(name: string, r: Report, now = new Date()): unknown[] {
  const substatus: unknown[] = [];
  if (r.os || r.data) {
    substatus.push({ name: 'EncryptionState', status: r.status, code: r.code, formattedMessage: { lang: 'en-US', message: JSON.stringify({ os: r.os ?? 'NotEncrypted', data: r.data ?? 'NotMounted' }) } });
  }
  if (r.volumes?.length) {
    let volumes = r.volumes;
    // Keep the file well under the agent's 128 KiB limit, however many volumes a VM has.
    while (volumes.length > 1 && JSON.stringify(volumes).length > MAX_STATUS_BYTES / 2) volumes = volumes.slice(0, Math.ceil(volumes.length / 2));
    substatus.push({ name: 'Volumes', status: r.status, code: r.code, formattedMessage: { lang: 'en-US', message: JSON.stringify(volumes) } });
  }
  return [{
    version: 1.0,
    timestampUTC: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    status: {
      name,
      operation: r.operation,
      status: r.status,
      code: r.code,
      formattedMessage: { lang: 'en-US', message: r.message.slice(0, 1024) },
      ...(substatus.length ? { substatus } : {}),
    },
  }];
}

export function readStatus(statusFolder: string, seq: number): Report | undefined {
  const text = readTextIfExists(statusPath(statusFolder, seq));
  if (!text) return undefined;
  try {
    const s = (JSON.parse(text) as Array<{ status: { operation: string; status: StatusValue; code: number; formattedMessage: { message: string }; substatus?: Array<{ name: string; formattedMessage: { message: string } }> } }>)[0]!.status;
    const state = s.substatus?.find((x) => x.name === 'EncryptionState');
    const vols = s.substatus?.find((x) => x.name === 'Volumes');
    const os = state ? (JSON.parse(state.formattedMessage.message) as { os: OsState; data: DataState }) : undefined;
    return {
      operation: s.operation, status: s.status, code: s.code, message: s.formattedMessage.message,
      ...(os ? { os: os.os, data: os.data } : {}),
      ...(vols ? { volumes: JSON.parse(vols.formattedMessage.message) as VolumeDetail[] } : {}),
    };
  } catch {
    return undefined;
  }
}

export function isTerminal(status: StatusValue): boolean {
  return TERMINAL.has(status);
}

/**
 * Writes the status unless that would replace a terminal status with a non-terminal one: a repeated
 * enable or a stale worker must never turn a finished operation back into "transitioning".
 * Returns whether it wrote.
 */
export function writeStatus(statusFolder: string, seq: number, name: string, r: Report): boolean {
  const existing = readStatus(statusFolder, seq);
  if (existing && isTerminal(existing.status) && !isTerminal(r.status)) return false;
  writeFileAtomic(statusPath(statusFolder, seq), JSON.stringify(buildStatus(name, r), null, 2) + '\n', 0o600);
  return true;
}
