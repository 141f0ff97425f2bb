// The status report of a data operation: ADE's {"os","data"} pair plus one row per volume with its state and,
// while reencryption runs, percent done and an ETA from the rate observed since the worker started it.
import type { Report, VolumeDetail, DataState, OsState } from '../shared/report.ts';
import type { VolumeProgress } from './volume-journal.ts';

const IN_PROGRESS: Record<VolumeProgress['action'], string> = { inplace: 'EncryptionInProgress', format: 'EncryptionInProgress', decrypt: 'DecryptionInProgress', os: 'EncryptionInProgress' };
const DONE: Record<VolumeProgress['action'], string> = { inplace: 'Encrypted', format: 'Encrypted', decrypt: 'NotEncrypted', os: 'Encrypted' };
/** The OS disk's steps before the restart (ADE's VMRestartPending once its boot plumbing is in place). */
const OS_BEFORE_RESTART = ['', 'escrow', 'recovery', 'header', 'plumbing'];
/** Everything for the restart is in place, the restart itself not passed yet. */
const OS_RESTART_PENDING = ['fstab', 'grubcfg'];

export interface Rate { startedAt: number; startBytes: number }

/**
 * A volume waiting its turn to be encrypted, or whose escrow failed, is still NotEncrypted: until its key
 * is escrowed (the first step) nothing on it is touched, so no secret and no step done means exactly that.
 */
const untouched = (p: VolumeProgress) => p.action !== 'decrypt' && !p.done && !p.step && !p.secretUrl;

export function osState(p: VolumeProgress): OsState {
  if (p.done) return 'Encrypted';
  if (untouched(p)) return 'NotEncrypted';
  return OS_BEFORE_RESTART.includes(p.step) ? 'EncryptionInProgress' : OS_RESTART_PENDING.includes(p.step) ? 'VMRestartPending' : 'EncryptionInProgress';
}

export function volumeRow(p: VolumeProgress, now: number, rate?: Rate): VolumeDetail {
  const state = p.action === 'os' ? osState(p) : p.done ? DONE[p.action] : untouched(p) ? 'NotEncrypted' : IN_PROGRESS[p.action];
  const row: VolumeDetail = { device: p.persistentName ?? p.device, mountpoint: p.mountpoint, state };
  if (p.secretUrl && p.action !== 'decrypt') row.secretUrl = p.secretUrl;
  if (p.error) row.code = p.error.code;
  if (!p.done && p.totalBytes && p.doneBytes !== undefined) {
    row.percent = Math.min(100, Math.floor((p.doneBytes / p.totalBytes) * 100));
    if (rate && now > rate.startedAt && p.doneBytes > rate.startBytes) {
      const perMs = (p.doneBytes - rate.startBytes) / (now - rate.startedAt);
      row.etaSeconds = Math.round((p.totalBytes - p.doneBytes) / perMs / 1000);
    }
  }
  return row;
}

export function dataState(operation: string, all: readonly VolumeProgress[]): DataState {
  const pending = all.some((p) => !p.done);
  if (operation === 'DisableEncryption') return pending ? 'DecryptionInProgress' : 'NotEncrypted';
  return pending ? 'EncryptionInProgress' : 'Encrypted';
}

/**
 * The running operation's status. Until every volume is past its safe point it is `transitioning`; after,
 * `success` with the progress in the message and substatus: the work is under way and resumes by itself,
 * and ARM's time budget must not run out while a large disk is encrypted. A later failure turns it to error.
 */
export function progressReport(operation: string, all: readonly VolumeProgress[], now: number, rates: ReadonlyMap<string, Rate>, safe = false): Report {
  const rows = all.map((p) => volumeRow(p, now, rates.get(p.mapperName)));
  const os = all.find((p) => p.action === 'os');
  const data = all.filter((p) => p.action !== 'os');
  const running = all.find((p) => !p.done);
  const pct = running ? rows[all.indexOf(running)]?.percent : undefined;
  const verb = operation === 'DisableEncryption' ? 'Decrypting' : 'Encrypting';
  const of = (p: VolumeProgress) => (p.action === 'os' ? 'the OS volume (/)' : `data volume ${data.indexOf(p) + 1}/${data.length} (${p.mountpoint})`);
  const where = !running ? `${all.length} volume(s) done.`
    : os === running && osState(os) === 'VMRestartPending' ? `The OS volume is ready to be opened encrypted: ${os.os?.deferRestart ? 'OSRestart is Deferred: restart the VM to continue' : 'the VM restarts now'}, and the encryption goes on after the boot.`
    : `${verb} ${of(running)}${pct !== undefined ? `: ${pct}%` : ''}.`;
  const underWay = safe && running ? ' Under way: it goes on by itself after a restart, and this status follows it to the end.' : '';
  return {
    operation, status: safe ? 'success' : 'transitioning', code: 0,
    message: `${where}${underWay}`,
    ...(os ? { os: osState(os) } : {}), ...(data.length ? { data: dataState(operation, data) } : {}), volumes: rows,
  };
}
