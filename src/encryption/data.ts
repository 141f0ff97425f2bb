// Data-volume operations end to end: EnableEncryption (in place), EnableEncryptionFormatAll, DisableEncryption.
// Discover → plan (resume journaled volumes first) → prerequisites for every new volume, all before anything
// changes → per volume, its step machine (escrow first: no disk is touched before its key is in Key Vault).
// src/commands/operations.ts runs it for VolumeType Data, and for All after the OS disk (src/encryption/os.ts).
import { randomUUID } from 'node:crypto';
import { AdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { Report } from '../shared/report.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import { EXT_FS } from '../system/fs.ts';
import { checkDataPrereqs, type VolumeFacts } from './prereq.ts';
import { shrinkRoomBytes } from './data-shift.ts';
import { classifyVolumes, type Volume } from './discovery.ts';
import { planData, type PlannedVolume } from './plan.ts';
import { dataState, volumeRow } from './progress.ts';
import { runVolumes } from './run-volumes.ts';
import type { Tools, VolumeKeys } from './steps.ts';
import type { JournalAccess } from './volume-journal.ts';

export type DataOperation = 'EnableEncryption' | 'EnableEncryptionFormatAll' | 'DisableEncryption';

export interface DataDeps {
  settings: EncryptionSettings;
  journal: JournalAccess;
  log: Logger;
  signal: AbortSignal;
  /** The machine: cryptsetup, file systems, mounts, boot files, volume records, block devices. */
  tools: Tools;
  /** New passphrases, escrow in Key Vault, the key volume ("BEK VOLUME") for boot unlock. */
  keys: VolumeKeys;
  progress: (r: Report) => void;
  /**
   * How often reencryption progress is read from the LUKS2 metadata (default 5 s), and how often the
   * status is rewritten whatever the worker is doing (default 5 s): the portal sees a fresh percent, ETA
   * and timestamp at least every 10 s, during a long fsck or shrink as much as during the reencryption.
   */
  pollMs?: number;
  heartbeatMs?: number;
  /**
   * Called once, when every check has passed and the first volume is about to be worked on: the caller
   * starts work that must exist before the volumes change but need not delay them (the boot-time unlock).
   * What it returns is awaited before the early success: a VM that reports success can boot unattended.
   */
  beforeChanges?: () => Promise<void> | void;
  newUuid?: () => string;
  now?: () => number;
}


export async function runDataOperation(deps: DataDeps): Promise<Report> {
  const { settings, log, tools } = deps;
  const op = settings.operation;
  if (op !== 'EnableEncryption' && op !== 'EnableEncryptionFormatAll' && op !== 'DisableEncryption') {
    throw new AdeError('UnsupportedOperation', { value: op });
  }
  if (settings.volumeType === 'OS') throw new AdeError('NotYetSupported', { operation: op, volumeType: 'OS', version: 'this version' });
  // All: the OS disk is encrypted first by src/encryption/os.ts; it is never decrypted (nor by ADE).
  const osNote = settings.volumeType === 'All' && op === 'DisableEncryption' ? ' The OS volume is never decrypted; only data volumes were handled.' : '';

  // The vault's round trips (token, challenge, KEK) overlap the local checks instead of following them;
  // a failure here comes back, coded, from the escrow itself.
  if (op !== 'DisableEncryption') deps.keys.keyVault.prepare?.().catch(() => undefined);
  const volumes = classifyVolumes(await tools.snapshot());
  const plan = planData({ operation: op, volumes, progress: deps.journal.volumes(), records: tools.records.list(), newUuid: deps.newUuid ?? randomUUID });
  for (const s of plan.skipped) log.info(`Skipping ${s.device}: ${s.reason}`);
  const refused = await checkFresh(op, plan.act, deps);
  if (refused) return refused;
  if (plan.act.length === 0) {
    if (plan.alreadyDone.length === 0 && op !== 'DisableEncryption') throw new AdeError('NoDataVolumes');
    const verb = op === 'DisableEncryption' ? 'decrypted' : 'encrypted';
    return { operation: op, status: 'success', code: 0, message: `All data volumes are ${verb}; nothing to do.${osNote}`, data: op === 'DisableEncryption' ? 'NotEncrypted' : 'Encrypted' };
  }
  for (const a of plan.act) deps.journal.save(a.id, a.progress);
  const ready = deps.beforeChanges?.();

  const { all, failure } = await runVolumes(op, plan.act, volumes, deps, ready);
  const rows = all.map((p) => volumeRow(p, (deps.now ?? Date.now)()));
  if (failure) return { operation: op, status: 'error', code: failure.code, message: `${failure.message}${osNote}`, data: dataState(op, all), volumes: rows };
  const verb = op === 'DisableEncryption' ? 'Decrypted' : 'Encrypted';
  return { operation: op, status: 'success', code: 0, message: `${verb} ${all.length} data volume(s): ${all.map((p) => p.mountpoint).join(', ')}.${osNote}`, data: dataState(op, all), volumes: rows };
}

/** Every new volume passes every check before the first one is touched; a refusal changes nothing. */
async function checkFresh(op: DataOperation, act: readonly PlannedVolume[], deps: DataDeps): Promise<Report | undefined> {
  const fresh = act.filter((a) => a.fresh && a.progress.action !== 'decrypt');
  if (fresh.length === 0) return undefined;
  const mode = op === 'EnableEncryption' ? 'inplace' : 'format';
  const facts: VolumeFacts[] = [];
  for (const a of fresh) facts.push(await factsOf(a.volume!, mode, deps.tools));
  const errors = checkDataPrereqs({ mode, volumes: facts, dmCrypt: await deps.tools.mnt.dmCryptAvailable() });
  if (errors.length === 0) return undefined;
  for (const e of errors) deps.log.error('prerequisite failed', { code: e.code, message: e.message });
  return { operation: op, status: 'error', code: errors[0]!.code, message: `Nothing was changed. ${errors.map((e) => `[${e.code}] ${e.message}`).join(' ')}` };
}
async function factsOf(v: Volume, mode: 'inplace' | 'format', tools: Tools): Promise<VolumeFacts> {
  const users = v.mountpoint ? await tools.mnt.users(v.mountpoint) : [];
  if (mode !== 'inplace' || !v.fstype || !EXT_FS.has(v.fstype)) return { volume: v, users };
  const info = await tools.fs.extInfo(v.device);
  const devBytes = await tools.fs.deviceBytes(v.device);
  const estimate = await tools.fs.extMinBytes(v.device, info.blockSize);
  return { volume: v, users, shrinkableBytes: shrinkRoomBytes(info, devBytes, estimate) };
}
