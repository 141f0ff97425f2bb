// What each EncryptionOperation does. Query only reads; the others change disks and run in the worker.
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { AdeError } from '../shared/errors.ts';
import { WORKER_ENV_PASSTHROUGH, type Context } from './context.ts';
import { readJournal, writeJournal, type Journal } from '../protocol/journal.ts';
import type { Report, VolumeDetail } from '../shared/report.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import { readBlockSnapshot } from '../system/blockdev.ts';
import { classifyVolumes, summarize, type StatusMarkers, type Volume } from '../encryption/discovery.ts';
import type { JournalAccess } from '../encryption/volume-journal.ts';

export async function runOperation(ctx: Context, settings: EncryptionSettings, signal: AbortSignal): Promise<Report> {
  switch (settings.operation) {
    case 'QueryEncryptionStatus':
      return queryReport(ctx, undefined);
    case 'EnableEncryption':
    case 'EnableEncryptionFormatAll':
    case 'DisableEncryption':
      if (settings.volumeType === 'Data' || (settings.operation === 'DisableEncryption' && settings.volumeType === 'All')) return dataOperation(ctx, settings, signal);
      return osThenData(ctx, settings, signal);
  }
}

/**
 * VolumeType OS, and All: the OS disk first (its restart comes early, before any data volume is worked on),
 * then, for All, the data volumes. A refused or failed OS disk stops there: nothing else is changed.
 */
async function osThenData(ctx: Context, settings: EncryptionSettings, signal: AbortSignal): Promise<Report> {
  if (settings.operation === 'DisableEncryption') {
    throw new AdeError('NotYetSupported', { operation: settings.operation, volumeType: settings.volumeType, version: ctx.version });
  }
  const { runOsOperation } = await import('../encryption/os.ts');
  const all = settings.volumeType === 'All';
  // All: while the OS disk is worked on, the data volumes are still to come; the status must not look over.
  const dataFollows = (r: Report): Report => (r.status === 'error' ? r : { ...r, data: 'EncryptionInProgress', message: `${r.message} The data volumes follow.` });
  const os = await runOsOperation(await coreDeps(ctx, settings, signal, all ? dataFollows : undefined));
  if (!all || os.status !== 'success') return os;
  // and while the data volumes are, the OS disk's state and row stay in the status
  const withOs = (r: Report): Report => ({ ...r, os: os.os ?? 'Encrypted', volumes: [...(os.volumes ?? []), ...(r.volumes ?? [])] });
  const data = await dataOperation(ctx, settings, signal, withOs);
  return { ...withOs(data), message: `${os.message} ${data.message}` };
}

/** The package's own initramfs/ folder: build/handler.mjs sits one level below the package root. */
function initramfsDir(ctx: Context): string {
  return join(dirname(dirname(ctx.self.script)), 'initramfs');
}

/**
 * Loaded on use, not at start-up: enable must answer the agent fast, and only the worker needs these.
 * Install loads them once too, so their compiled code is in Node's compile cache before the first worker.
 */
export function loadDataModules() {
  return Promise.all([
    import('../encryption/data.ts'), import('../keys/index.ts'), import('../system/bek-volume.ts'),
    import('../encryption/rekey.ts'), import('./machine.ts'),
  ]);
}

/** The VM's name as Key Vault's tags record it (ADE's MachineName). */
const machineName = (): string => hostname().split('.')[0] ?? '';

/** What the core needs for an operation: the machine (with the OS disk's boot plumbing), the keys, the journal. */
async function coreDeps(ctx: Context, settings: EncryptionSettings, signal: AbortSignal, decorate: (r: Report) => Report = (r) => r) {
  const [, , { bekVolume }, , { machineTools, volumeKeys }] = await loadDataModules();
  const { handlerEnv: he, log } = ctx;
  return {
    settings, log, signal, tools: machineTools(ctx.run, he.stateDir, '/', initramfsDir(ctx), unlockEnv(ctx)), journal: journalAccess(he.stateDir, ctx.seq),
    keys: volumeKeys({ settings, machineName: machineName(), log, deps: { agentLibDir: he.libDir }, keyVolume: bekVolume({ runner: ctx.run }) }),
    progress: (r: Report) => { ctx.report(decorate(r), ctx.seq); },
  };
}

/** Data volumes: the encryption core with the machine, the keys and the journal wired in. */
async function dataOperation(ctx: Context, settings: EncryptionSettings, signal: AbortSignal, decorate?: (r: Report) => Report): Promise<Report> {
  const [{ runDataOperation }, keys, , { rekeyVolumes }] = await loadDataModules();
  const core = await coreDeps(ctx, settings, signal, decorate);
  const { tools, log } = core;
  const rotated = settings.operation === 'DisableEncryption' ? [] : await rekeyVolumes({
    settings, records: tools.records, log,
    rotate: (recs, onRotated) => keys.rotateKek({ settings, records: recs, machineName: machineName(), log, deps: { agentLibDir: ctx.handlerEnv.libDir }, onRotated }),
  });
  if (settings.operation !== 'DisableEncryption') await (await import('../encryption/os.ts')).refreshOsKeys(tools, log);
  // Enabling: the boot-time unlock goes in once the checks pass, while the volumes are worked on. Its
  // systemd reload then costs no time on the way to the terminal status, and a power cut mid-way already
  // finds it at boot. A rejected enable never installs it.
  let unlockEarly: Promise<void> | undefined;
  const beforeChanges = () => {
    unlockEarly = syncUnlockService(ctx, true);
    unlockEarly.catch(() => undefined); // its failure is reported below, after the volumes
    return unlockEarly;
  };
  const report = await runDataOperation({ ...core, ...(settings.operation !== 'DisableEncryption' ? { beforeChanges } : {}) });
  await unlockEarly;
  const wanted = tools.records.list().some((r) => r.state !== 'decrypting');
  if (!unlockEarly || !wanted) await syncUnlockService(ctx, wanted);
  if (rotated.length === 0) return report;
  return { ...report, message: `${report.message} Re-wrapped the keys of ${rotated.length} already encrypted volume(s) with ${settings.kek?.url ?? 'no KEK'}; their old secrets are disabled.` };
}

/** The core's view of the journal: this operation's volume entries, each save one atomic journal write. */
function journalAccess(stateDir: string, seq: number): JournalAccess {
  return {
    seq,
    volumes: () => mustJournal(stateDir).volumes,
    save: (id, p) => { const j = mustJournal(stateDir); writeJournal(stateDir, { ...j, volumes: { ...j.volumes, [id]: p } }); },
  };
}

/** The boot-time network unlock exists exactly while volumes we encrypted do. */
async function syncUnlockService(ctx: Context, wanted: boolean): Promise<void> {
  const { installUnlockService, removeUnlockService } = await import('../system/unlock-service.ts');
  const he = ctx.handlerEnv;
  const paths = { unitDir: '/etc/systemd/system', stateDir: he.stateDir, libDir: he.libDir, extensionName: he.name };
  if (!wanted) return removeUnlockService(ctx.run, paths);
  await installUnlockService(ctx.run, paths, unlockEnv(ctx));
}

/** The part of our environment a boot-time unlock (the service, the initramfs) needs to reach Azure. */
function unlockEnv(ctx: Context): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of UNLOCK_ENV) { const v = ctx.processEnv[k]; if (v !== undefined) env[k] = v; }
  return env;
}

/** What the network unlock needs to reach Key Vault the way the worker did: proxies, CA trust, IMDS. */
const UNLOCK_ENV = WORKER_ENV_PASSTHROUGH.filter((k) => !k.startsWith('AZURE_GUEST_AGENT_') && k !== 'ConfigSequenceNumber' && k !== 'ADE_LINUX_PBKDF' && k !== 'NODE_COMPILE_CACHE');

function mustJournal(stateDir: string): Journal {
  const j = readJournal(stateDir);
  if (!j) throw new Error(`the journal in ${stateDir} disappeared while the worker ran`);
  return j;
}

/** The machine's real state: block devices as lsblk/findmnt/fstab see them, and any operation under way. */
export async function queryReport(ctx: Context, journal: Journal | undefined): Promise<Report> {
  const volumes = classifyVolumes(await readBlockSnapshot(ctx.run));
  const busy = journal && journal.phase !== 'done' ? journal : undefined;
  const { os, data } = summarize(volumes, markersOf(busy));
  const detail = volumeDetail(volumes);
  const encrypted = detail.filter((d) => d.state === 'Encrypted').length;
  return {
    operation: 'QueryEncryptionStatus', status: 'success', code: 0,
    message: `OS volume: ${os}; data volumes: ${data} (${encrypted} of ${detail.length} volumes encrypted).${busy ? ` ${busy.operation} (sequence ${busy.seq}) is in progress.` : ''}`,
    os, data, volumes: detail,
  };
}

function markersOf(j: Journal | undefined): StatusMarkers {
  if (!j) return {};
  if (j.operation === 'DisableEncryption') return { decrypting: true };
  if (j.operation === 'EnableEncryption' || j.operation === 'EnableEncryptionFormatAll') return { encrypting: j.volumeType };
  return {};
}

/** One row per file system the user knows: an encrypted volume shows as its container, with the mount of its mapping. */
export function volumeDetail(volumes: readonly Volume[]): VolumeDetail[] {
  const byDevice = new Map(volumes.map((v) => [v.device, v]));
  return volumes
    .filter((v) => (v.role === 'os' || v.role === 'data') && v.fstype && !(v.luksDevice && v.luksDevice !== v.device))
    .map((v) => {
      const mountpoint = v.mountpoint ?? (v.mappedAs ? byDevice.get(v.mappedAs)?.mountpoint : undefined);
      const state = v.reencrypt ? (v.reencrypt.mode === 'decrypt' ? 'DecryptionInProgress' : 'EncryptionInProgress')
        : v.encrypted ? 'Encrypted' : mountpoint ? 'NotEncrypted' : 'NotMounted';
      return { device: v.device, ...(mountpoint ? { mountpoint } : {}), state };
    });
}
