// The step machine shared by in-place encryption, format-and-encrypt and decryption. A volume's work is an
// ordered list of steps; every step checks the machine's real state first and does only what is missing, so
// running the list again from the top after a kill, a power cut or a reboot (which may have remounted the
// plaintext file system, or opened the mapping from crypttab) converges on the same end state. The journal
// is rewritten after each step: it says how far we got (status, tests), the devices say what is true.
import { AdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { firstKey, unlockSlots, type VolumeProtectors } from '../keys/protectors/unlock.ts';
import type { BlockSnapshot } from '../system/blockdev.ts';
import type { Cryptsetup, ReencryptOptions } from '../system/cryptsetup.ts';
import type { FileSystems } from '../system/fs.ts';
import type { Mounts } from '../system/mount.ts';
import type { SysFiles } from '../system/sysfiles.ts';
import type { OsBoot } from '../system/os-boot.ts';
import { reencryptDoneBytes, reencryptTotalBytes } from '../parsers/luksdump.ts';
import type { BootTexts } from './boot.ts';
import type { RecordState, VolumeProgress, VolumeRecords } from './volume-journal.ts';

/** The machine, as the system adapters show it (the caller builds them: src/commands/machine.ts). */
export interface Tools {
  cs: Cryptsetup;
  fs: FileSystems;
  mnt: Mounts;
  files: SysFiles;
  records: VolumeRecords;
  /** The OS disk's boot plumbing, restart and facts (only operations on the OS disk use it). */
  os?: OsBoot;
  /** The block devices, mounts and boot tables now. */
  snapshot(): Promise<BlockSnapshot>;
}

/** Where volume keys come from and are kept: a new passphrase, sealed by Key Vault (escrow) and the key volume. */
export interface VolumeKeys extends VolumeProtectors {
  newPassphrase(): Buffer;
  /** newPassphrase() makes random ones (no Passphrase setting): the keyslot then needs no costly KDF. */
  readonly generatesKeys: boolean;
  /** The OS disk's typed last resort (digits in groups: src/keys/passphrase.ts). */
  newRecoveryPassphrase(): Buffer;
}

export interface VolumeRun {
  id: string;
  /** The entry as saved so far (steps read it; save() replaces it). */
  p: VolumeProgress;
  /** Current kernel path of the raw device on this boot. */
  device: string;
  seq: number;
  tools: Tools;
  keys: VolumeKeys;
  /** The passphrase once escrowed or read back; never written anywhere but the key volume. */
  key?: Buffer;
  save(patch: Partial<VolumeProgress>): void;
  progress(): void;
  log: Logger;
  signal: AbortSignal;
  pollMs: number;
}

export interface Step { name: string; run(v: VolumeRun): Promise<void> }

export class Stopped extends Error {
  constructor(message = 'stopped at a safe point') { super(message); this.name = 'Stopped'; }
}

/**
 * The OS disk is ready to be opened encrypted and the operator restarts the VM (OSRestart Deferred): the
 * worker ends here without ending the operation; the enable after the restart resumes it.
 */
export class RestartPending extends Stopped {
  constructor() {
    super('The OS volume is ready to be opened encrypted. OSRestart is Deferred: restart the VM to continue; the encryption goes on by itself after the boot.');
    this.name = 'RestartPending';
  }
}

/**
 * Runs `steps` (a stretch of `all`, the volume's whole list) in order. `step` in the journal only moves
 * forward: re-running earlier steps after a restart (each checks before it acts) does not make the volume
 * look less far along. The volume is done when the stretch ends the list.
 */
export async function runSteps(all: readonly Step[], steps: readonly Step[], v: VolumeRun): Promise<void> {
  const at = (name: string) => all.findIndex((s) => s.name === name);
  for (const s of steps) {
    if (v.signal.aborted) throw new Stopped();
    const t0 = performance.now();
    await s.run(v);
    // Where the time went, per volume and step: what an operator (or a benchmark) reads to see what is slow.
    v.log.info(`${v.device}: step ${s.name} done`, { ms: Math.round(performance.now() - t0) });
    if (at(s.name) > at(v.p.step)) v.save({ step: s.name });
    v.progress();
  }
  if (steps[steps.length - 1] === all[all.length - 1]) {
    v.save({ done: true });
    v.progress();
  }
}

export const mapperPath = (p: VolumeProgress) => `/dev/mapper/${p.mapperName}`;

/**
 * The key: escrowed first (sealed in Key Vault and proven to read back; no disk is touched before), then
 * sealed on the key volume for boot unlock.
 */
export const escrowStep: Step = {
  name: 'escrow',
  async run(v) {
    if (v.p.secretUrl) { await needKey(v); return; }
    const volume = { id: v.p.luksUuid, fileName: v.p.fileName };
    const passphrase = v.keys.newPassphrase();
    const { secretUrl, kekUrl, algorithm } = await v.keys.keyVault.seal({ volume, passphrase });
    await v.keys.bek.seal({ volume, passphrase, secretUrl });
    v.key = passphrase;
    // The KEK is kept with the secret so a later KEK change knows which volumes to re-wrap.
    v.save({ secretUrl, ...(kekUrl ? { kekUrl } : {}), ...(algorithm ? { algorithm } : {}) });
    writeRecord(v, 'encrypting');
    v.log.info(`Key for ${v.device} escrowed as ${secretUrl}, stored as ${v.p.fileName} on the key volume`);
  },
};

/** Reads the key back after a restart, in the unlock order (key volume, then the escrowed secret). */
export async function needKey(v: VolumeRun): Promise<Buffer> {
  v.key ??= (await firstKey(unlockSlots(v.keys, v.p), v.log, `give the key of ${v.device}`)).key;
  return v.key;
}

export function writeRecord(v: VolumeRun, state: RecordState): void {
  v.tools.records.write({ ...v.p, step: '', done: false, state, seq: v.seq });
}

export async function ensureUnmounted(v: VolumeRun, mp: string): Promise<void> {
  if (!(await v.tools.mnt.sourceAt(mp))) return;
  const r = await v.tools.mnt.umount(mp);
  if (!r.ok) {
    const users = await v.tools.mnt.users(mp);
    throw new AdeError('VolumeBusy', { mountpoint: mp, processes: users.map((u) => `${u.command} (pid ${u.pid})`).join(', ') || r.stderr.trim() });
  }
}

export async function ensureOpen(v: VolumeRun, header?: string): Promise<void> {
  if (await v.tools.cs.isActive(v.p.mapperName)) return;
  await v.tools.cs.open(v.device, v.p.mapperName, await needKey(v), header ? { header } : {});
}

export async function ensureMounted(v: VolumeRun, device: string): Promise<void> {
  const src = await v.tools.mnt.sourceAt(v.p.mountpoint);
  if (src === device) return;
  if (src) await ensureUnmounted(v, v.p.mountpoint);
  await v.tools.mnt.mount(device, v.p.mountpoint, v.p.fstype, v.p.fstab.mntops);
}

/** crypttab first: an fstab line naming a mapping nobody opens is harmless (nofail), the reverse is not. */
export function writeBoot(v: VolumeRun, change: (t: BootTexts) => BootTexts): void {
  const f = v.tools.files;
  const now = { fstab: f.readFstab(), crypttab: f.readCrypttab() };
  const next = change(now);
  if (next.crypttab !== now.crypttab) f.writeCrypttab(next.crypttab);
  if (next.fstab !== now.fstab) f.writeFstab(next.fstab);
}

/**
 * Runs the reencryption the metadata describes to its end, online when the mapping is active. Progress is
 * polled from the LUKS2 metadata (the segments say how much is done). A crash can leave a hotzone that
 * must be recovered first: cryptsetup says so, we run `repair`, then resume once more. The stop signal
 * reaches cryptsetup itself: a run of hours stops at its next hotzone, not at the end, and the step ends
 * in Stopped, so the journal stays as it was and the next enable resumes from the metadata.
 */
export async function resumeReencrypt(v: VolumeRun, metaDevice: string, o: Omit<ReencryptOptions, 'signal'> = {}): Promise<void> {
  const cs = v.tools.cs;
  const meta = await cs.dump(metaDevice);
  if (!meta?.reencryptInProgress) return;
  const key = await needKey(v);
  const deviceBytes = await v.tools.fs.deviceBytes(v.device);
  const total = reencryptTotalBytes(meta, deviceBytes) ?? deviceBytes;
  v.save({ totalBytes: total });
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    cs.dump(metaDevice).then((m) => {
      const done = m ? reencryptDoneBytes(m, deviceBytes) : undefined;
      // Only forward: the status must never show less done than it showed before.
      if (done !== undefined && done > (v.p.doneBytes ?? -1)) { v.save({ doneBytes: Math.min(done, total) }); v.progress(); }
    }).catch(() => undefined).finally(() => { polling = false; });
  }, v.pollMs);
  const resume = async () => {
    if (v.signal.aborted) throw new Stopped();
    try {
      await cs.resume(v.device, key, { ...o, signal: v.signal });
    } catch (e) {
      // Interrupted on request, not failed: its non-zero exit must not become the volume's error.
      if (!v.signal.aborted) throw e;
      v.log.info(`${v.device}: reencryption interrupted on request; the next enable resumes it`);
      throw new Stopped();
    }
  };
  try {
    try {
      await resume();
    } catch (e) {
      if (!cs.needsRepair(e)) throw e;
      v.log.warn(`${v.device}: reencryption needs recovery after an interruption; running cryptsetup repair`);
      await cs.repair(v.device, key, o.header ? { header: o.header } : {});
      await resume();
    }
  } finally {
    clearInterval(timer);
  }
  v.save({ doneBytes: total });
}
