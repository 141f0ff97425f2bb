// The worker's memory across crashes, kills and reboots: one JSON document in the state dir, replaced
// atomically at every state change, so a resumed worker always starts from a complete, recent record.
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../system/files.ts';
import type { EncryptionOperation, EncryptionSettings, VolumeType } from '../shared/types.ts';
import type { Report } from '../shared/report.ts';
import type { VolumeProgress } from '../encryption/volume-journal.ts';

export type Phase = 'accepted' | 'running' | 'done';

export interface Journal {
  version: 1;
  seq: number;
  operation: EncryptionOperation;
  volumeType: VolumeType;
  phase: Phase;
  /** When the journal was last written (ISO 8601). */
  updatedAt: string;
  /**
   * The validated settings, without secrets, as accepted. A power cut can leave the agent's N.settings empty
   * (it writes them without fsync), and the resumed worker must still know what it was doing.
   */
  settings?: EncryptionSettings;
  /** The final report once phase is done. */
  result?: Report;
  /** Per-volume progress, owned by the encryption core. */
  volumes: Record<string, VolumeProgress>;
}

/** What may be kept on the OS disk: the settings less the passphrase and any client secret. */
export function withoutSecrets(s: EncryptionSettings): EncryptionSettings {
  const { passphrase: _p, ...rest } = s;
  if (rest.identity.kind !== 'aad') return rest;
  const { secret: _s, ...identity } = rest.identity;
  return { ...rest, identity };
}

export function journalPath(stateDir: string): string {
  return join(stateDir, 'journal.json');
}

export function readJournal(stateDir: string): Journal | undefined {
  const text = readTextIfExists(journalPath(stateDir));
  if (!text) return undefined;
  const j = JSON.parse(text) as Journal;
  return j.version === 1 ? j : undefined;
}

export function writeJournal(stateDir: string, j: Journal): void {
  writeFileAtomic(journalPath(stateDir), JSON.stringify({ ...j, updatedAt: new Date().toISOString() }, null, 2) + '\n', 0o600);
}
