// The volumes' step machines in two passes: every volume to its safe point first (key escrowed, boot
// entries written, its reencryption started and journaled, so a kill or a reboot resumes it), then each to
// its end. Once every volume is safe the status says success, with the progress in its substatus: ARM gives
// all of a VM's extensions 90 minutes to report a terminal status, and a large disk takes hours.
import { AdeError } from '../shared/errors.ts';
import { DECRYPT_STEPS } from './decrypt.ts';
import type { Volume } from './discovery.ts';
import { FORMAT_STEPS } from './format.ts';
import { INPLACE_STEPS } from './inplace.ts';
import { OS_STEPS } from './os-steps.ts';
import { locate, steadiestName, type PlannedVolume } from './plan.ts';
import { progressReport, type Rate } from './progress.ts';
import { runSteps, Stopped, type Step, type VolumeRun } from './steps.ts';
import type { DataDeps, DataOperation } from './data.ts';
import type { VolumeAction, VolumeProgress } from './volume-journal.ts';

const STEPS: Record<VolumeAction, readonly Step[]> = { inplace: INPLACE_STEPS, format: FORMAT_STEPS, decrypt: DECRYPT_STEPS, os: OS_STEPS };
/**
 * The last step of the first pass: after it the volume's work goes on by itself after a kill or a reboot.
 * The OS disk's is the restart: once the system runs on the mapping, only the online reencryption is left.
 */
const SAFE_AFTER: Record<VolumeAction, string> = { inplace: 'boot', format: 'record', decrypt: 'mount', os: 'restart' };

const safeIndex = (action: VolumeAction) => STEPS[action].findIndex((s) => s.name === SAFE_AFTER[action]) + 1;

/** Saved progress already past the safe point (a worker that resumes after one). */
export function pastSafePoint(p: VolumeProgress): boolean {
  return p.done || STEPS[p.action].findIndex((s) => s.name === p.step) + 1 >= safeIndex(p.action);
}

interface Tracking { entries: Map<string, VolumeProgress>; rates: Map<string, Rate>; report: () => void }

/**
 * Runs every volume's work with the status rewritten after every step and on a heartbeat. A volume that
 * fails is recorded and the others go on; a stop ends them all at a safe point. `ready` (the boot-time
 * unlock being installed) is awaited before the early success.
 */
export async function runVolumes(op: DataOperation, act: readonly PlannedVolume[], volumes: readonly Volume[], deps: DataDeps, ready?: Promise<void> | void): Promise<{ all: VolumeProgress[]; failure?: AdeError }> {
  const now = deps.now ?? Date.now;
  const entries = new Map<string, VolumeProgress>(act.map((a) => [a.id, a.progress]));
  const rates = new Map<string, Rate>();
  let safe = act.every((a) => pastSafePoint(a.progress));
  const report = () => deps.progress(progressReport(op, [...entries.values()], now(), rates, safe));
  const t: Tracking = { entries, rates, report };
  report();
  let failure: AdeError | undefined;
  const fail = (a: PlannedVolume, e: unknown) => { failure ??= recordFailure(a, e, deps, entries); };
  // A failed write here (disk full) must not kill the worker: the next step or beat writes again.
  const beat = () => { try { report(); } catch (e) { deps.log.warn(`status not refreshed: ${e instanceof Error ? e.message : String(e)}`); } };
  const heartbeat = setInterval(beat, deps.heartbeatMs ?? 5_000);
  const runs = new Map<string, VolumeRun>();
  try {
    for (const a of act) {
      await guard(deps, () => firstPass(a, volumes, deps, t, runs), (e) => fail(a, e));
    }
    // Its own failure is the caller's to report, at the end.
    await Promise.resolve(ready).catch(() => undefined);
    if (!failure && !safe) {
      safe = true;
      deps.log.info('every volume is past its safe point: reporting success while the work goes on');
      report();
    }
    for (const a of act) {
      const v = runs.get(a.id);
      if (v) await guard(deps, () => runSteps(STEPS[v.p.action], STEPS[v.p.action].slice(safeIndex(v.p.action)), v), (e) => fail(a, e));
    }
  } finally {
    clearInterval(heartbeat);
    for (const v of runs.values()) v.key?.fill(0);
  }
  return { all: [...entries.values()], ...(failure ? { failure } : {}) };
}

/** Runs fn; a stop goes on up, any other failure goes to onError. */
async function guard(deps: DataDeps, fn: () => Promise<void>, onError: (e: unknown) => void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Stopped || deps.signal.aborted) throw e;
    onError(e);
  }
}

function recordFailure(a: PlannedVolume, e: unknown, deps: DataDeps, entries: Map<string, VolumeProgress>): AdeError {
  const err = e instanceof AdeError ? e : new AdeError('EncryptionFailed', { device: a.progress.device, cause: e instanceof Error ? e.message : String(e), log: deps.log.path ?? 'the extension log' }, { cause: e });
  deps.log.error(`${a.progress.device}: ${err.message}`, { code: err.code });
  const p = { ...entries.get(a.id)!, error: { code: err.code, message: err.message } };
  entries.set(a.id, p);
  deps.journal.save(a.id, p);
  return err;
}

/** Finds the volume on this boot and runs its steps up to the safe point; the run is kept for the second pass. */
async function firstPass(a: PlannedVolume, volumes: readonly Volume[], deps: DataDeps, t: Tracking, runs: Map<string, VolumeRun>): Promise<void> {
  const p0 = t.entries.get(a.id)!;
  const vol = a.volume ?? locate(p0, volumes);
  if (!vol) throw new AdeError('VolumeVanished', { device: steadiestName(p0, p0.device), uuid: p0.luksUuid, action: p0.action });
  const v = volumeRun(a.id, { ...p0, device: vol.device }, deps, t);
  runs.set(a.id, v);
  await runSteps(STEPS[v.p.action], STEPS[v.p.action].slice(0, safeIndex(v.p.action)), v);
}

function volumeRun(id: string, p: VolumeProgress, deps: DataDeps, t: Tracking): VolumeRun {
  const now = deps.now ?? Date.now;
  const v: VolumeRun = {
    id, p, device: p.device, seq: deps.journal.seq, tools: deps.tools, keys: deps.keys,
    save(patch) {
      v.p = { ...v.p, ...patch };
      if (patch.doneBytes !== undefined && !t.rates.has(v.p.mapperName)) t.rates.set(v.p.mapperName, { startedAt: now(), startBytes: patch.doneBytes });
      t.entries.set(id, v.p);
      deps.journal.save(id, v.p);
    },
    progress: t.report, log: deps.log, signal: deps.signal, pollMs: deps.pollMs ?? 5_000,
  };
  return v;
}
