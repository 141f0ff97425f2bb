// EnableEncryption of the OS disk, end to end: the facts → every prerequisite, all before anything changes →
// the OS volume's step machine (src/encryption/os-steps.ts), resumed from the journal after the restart.
// src/commands/operations.ts runs it for VolumeType OS, and before the data volumes for All.
import { randomUUID } from 'node:crypto';
import { AdeError } from '../shared/errors.ts';
import type { Report } from '../shared/report.ts';
import { findFstabEntry } from '../parsers/fstab.ts';
import { parseOsRelease } from '../parsers/os-release.ts';
import type { BlockSnapshot } from '../system/blockdev.ts';
import type { OsBoot, OsBootConf } from '../system/os-boot.ts';
import type { Identity } from '../shared/types.ts';
import type { DataDeps } from './data.ts';
import { classifyVolumes, type Volume } from './discovery.ts';
import { describeDistro, type InitramfsTool } from './distro.ts';
import { classifyOsLayout, type OsLayout } from './os-layout.ts';
import { checkOsPrereqs, type OsFacts } from './os-prereq.ts';
import { planSplit, type OsSplit } from './os-split.ts';
import { OS_KEY_FILE, OS_MAPPER } from './os-steps.ts';
import type { PlannedVolume } from './plan.ts';
import { osState, volumeRow } from './progress.ts';
import { runVolumes } from './run-volumes.ts';
import type { VolumeProgress } from './volume-journal.ts';

export const OS_ID = 'os';
/** ADE's place for the detached header; the unencrypted /boot holds it. */
export const OS_HEADER = '/boot/luks/osluksheader';

export async function runOsOperation(deps: DataDeps): Promise<Report> {
  const { settings, tools } = deps;
  const op = settings.operation;
  if (op === 'EnableEncryptionFormatAll') throw new AdeError('OsFormatRefused', { volumeType: settings.volumeType });
  if (op !== 'EnableEncryption') throw new AdeError('NotYetSupported', { operation: op, volumeType: settings.volumeType, version: 'this version' });
  const os = tools.os;
  if (!os) throw new Error('the OS disk operation needs the OS tools');
  const snapshot = await tools.snapshot();
  const volumes = classifyVolumes(snapshot);
  let progress = deps.journal.volumes()[OS_ID];
  if (!progress) {
    const fresh = await planFresh(deps, os, snapshot);
    if ('report' in fresh) return fresh.report;
    progress = fresh.progress;
    deps.journal.save(OS_ID, progress);
  }
  const planned: PlannedVolume = { id: OS_ID, progress, fresh: false, ...withVolume(progress, volumes) };
  const { all, failure } = await runVolumes(op, [planned], volumes, deps);
  const p = all[0]!;
  if (failure?.id === 'OsSplitRefused') {
    // not the end of the operation (the worker keeps the journal open): the next boot splits and goes on
    const { error: _refused, ...again } = p;
    deps.journal.save(OS_ID, again);
    throw failure;
  }
  const rows = all.map((x) => volumeRow(x, (deps.now ?? Date.now)()));
  if (failure) return { operation: op, status: 'error', code: failure.code, message: failure.message, os: osState(p), volumes: rows };
  return { operation: op, status: 'success', code: 0, message: 'Encrypted the OS volume (/).', os: osState(p), volumes: rows };
}

/** The partition by its PARTUUID: kernel names change across boots, and the file-system UUID moves to the mapping. */
function withVolume(p: VolumeProgress, volumes: readonly Volume[]): { volume?: Volume } {
  const v = volumes.find((x) => x.type !== 'crypt' && x.partuuid === p.os?.partuuid);
  return v ? { volume: v } : {};
}

async function planFresh(deps: DataDeps, os: OsBoot, snapshot: BlockSnapshot): Promise<{ report: Report } | { progress: VolumeProgress }> {
  const op = deps.settings.operation;
  const layout = classifyOsLayout(snapshot);
  if (!layout.ok && layout.alreadyEncrypted) {
    const ours = deps.tools.records.list().some((r) => r.action === 'os' && r.state === 'encrypted');
    if (ours) return { report: { operation: op, status: 'success', code: 0, message: 'The OS volume is encrypted; nothing to do.', os: 'Encrypted' } };
  }
  const facts = await gatherFacts(deps, os, layout);
  const check = checkOsPrereqs(facts);
  for (const w of check.warnings) deps.log.warn(w);
  if (check.errors.length > 0 || !layout.ok || !check.builder) {
    for (const e of check.errors) deps.log.error('prerequisite failed', { code: e.code, message: e.message });
    const errs = check.errors;
    return { report: { operation: op, status: 'error', code: errs[0]?.code ?? 601, message: `Nothing was changed. ${errs.map((e) => `[${e.code}] ${e.message}`).join(' ')}`, os: 'NotEncrypted' } };
  }
  const l = layout.layout;
  const newUuid = deps.newUuid ?? randomUUID;
  let split: OsSplit | undefined;
  if (l.kind === 'no-boot') {
    const plan = l.root.uuid ? planSplit((await os.partitionTable(l.target.device)).table, l.target.device, l.root.uuid, newUuid)
      : { ok: false as const, reason: `the root file system on ${l.root.device} has no UUID` };
    if (!plan.ok) {
      const e = new AdeError('OsLayoutUnsupported', { reason: plan.reason });
      return { report: { operation: op, status: 'error', code: e.code, message: `Nothing was changed. [${e.code}] ${e.message}`, os: 'NotEncrypted' } };
    }
    split = plan.split;
  }
  if (!l.target.partuuid || (!split && !l.boot?.uuid)) {
    throw new AdeError('OsLayoutUnsupported', { reason: `${l.target.device} has no PARTUUID or /boot no UUID: the initramfs could not find them` });
  }
  const progress = newProgress(l, snapshot, check.builder, newUuid, split);
  const identity = imdsIdentity(deps.settings.identity);
  if (identity) progress.os = { ...progress.os!, identity };
  if (deps.settings.osRestart === 'Deferred') progress.os = { ...progress.os!, deferRestart: true };
  return { progress };
}

async function gatherFacts(deps: DataDeps, os: OsBoot, layout: OsFacts['layout']): Promise<OsFacts> {
  const l = layout.ok ? layout.layout : undefined;
  const facts: OsFacts = {
    distro: describeDistro(parseOsRelease(os.osRelease())), layout, builders: os.builders(),
    dmCrypt: await deps.tools.mnt.dmCryptAvailable(), keyVolume: await os.keyVolumePresent(),
    largestInitramfsBytes: os.largestInitramfs(), memAvailableBytes: os.memAvailableBytes(),
  };
  if (l?.kind === 'separate-boot') facts.bootFreeBytes = os.freeBytes('/boot');
  if (l?.kind === 'no-boot') {
    facts.splitToolsMissing = os.splitToolsMissing();
    const info = await deps.tools.fs.extInfo(l.root.device);
    facts.rootShrinkableBytes = (await deps.tools.fs.deviceBytes(l.root.device)) - (await deps.tools.fs.extMinBytes(l.root.device, info.blockSize));
  }
  return facts;
}

function newProgress(l: OsLayout, snapshot: BlockSnapshot, builder: InitramfsTool, newUuid: () => string, split?: OsSplit): VolumeProgress {
  const entry = findFstabEntry(snapshot.fstab, '/');
  if (!entry) throw new AdeError('BootLoaderUnsupported', { reason: '/etc/fstab has no entry for /' });
  const { line: _line, ...fstab } = entry;
  return {
    action: 'os', device: l.target.device, ...(l.root.uuid ? { fsUuid: l.root.uuid } : {}), luksUuid: newUuid(), mapperName: OS_MAPPER,
    mountpoint: '/', fstype: l.root.fstype, fstab, fileName: OS_KEY_FILE, step: '', done: false,
    os: {
      partuuid: l.target.partuuid!, header: OS_HEADER, backup: `${OS_HEADER}.backup`, builder,
      // Split: the header is written on the root's /boot directory and copied with it onto the new /boot.
      ...(split ? { headerFs: `UUID=${split.bootUuid}`, headerFsType: 'ext4', split } : { headerFs: `UUID=${l.boot!.uuid!}`, headerFsType: l.boot!.fstype }),
    },
  };
}

/** A user-assigned identity as IMDS names it in the token request; undefined for the system-assigned one. */
function imdsIdentity(id: Identity): OsBootConf['identity'] {
  if (id.kind !== 'user') return undefined;
  if (id.clientId) return { param: 'client_id', value: id.clientId };
  if (id.objectId) return { param: 'object_id', value: id.objectId };
  return id.resourceId ? { param: 'msi_res_id', value: id.resourceId } : undefined;
}

/**
 * The initramfs's network unlock reads the OS key's secret by URL: after a KEK rotation re-wrapped it under a
 * new secret (and disabled the old one), the conf and every initramfs follow the record. Checked on every
 * enable, so a crash between the rotation and the rebuild is mended by the next one.
 */
export async function refreshOsKeys(tools: Pick<DataDeps['tools'], 'os' | 'records'>, log: DataDeps['log']): Promise<void> {
  const r = tools.records.list().find((x) => x.action === 'os' && x.state === 'encrypted' && x.secretUrl && x.os);
  if (!tools.os || !r?.os) return;
  const kv = { secret: r.secretUrl!, ...(r.kekUrl ? { kek: r.kekUrl } : {}), ...(r.algorithm ? { algorithm: r.algorithm } : {}), ...(r.os.recovery ? { recovery: r.os.recovery.secretUrl } : {}) };
  if (!tools.os.setConfKeys(kv)) return;
  log.info(`the initramfs now reads the OS volume's key from ${r.secretUrl}: rebuilding it with ${r.os.builder}`);
  await tools.os.rebuild(r.os.builder);
}
