// enable, show and disable on one VM: pre-flight checks that fail before anything is deployed, one extension PUT
// with a fresh SequenceVersion, then the extension's own progress (its Volumes substatus) until no disk is being
// worked on, and at the end the key references written onto the managed disks (disk-keys.ts). The ARM calls go
// through the Arm interface (arm.ts); output goes to `out` (a line at a time) and `progress` (a line the
// terminal redraws).
import { AdeError } from '../shared/errors.ts';
import type { Arm, VmInfo } from './arm.ts';
import { packageRef } from './bootstrap.ts';
import { type Channel, extensionChannel, runCommandChannel } from './channel.ts';
import { accessCheck, identityCheck, linuxCheck, memoryCheck } from './preflight.ts';
import { diskKeyPlan, disksToClear, type Kek, type Vault } from './disk-keys.ts';
import { allEncrypted, type ExtensionState } from './instance-view.ts';
import { progressLine, stateJson, stateTable } from './render.ts';
import { DEFAULT_PUBLISHER, DEFAULT_TYPE, disableSettings, type EnableInput, enableSettings, vaultRef } from './settings.ts';

export interface CliIo {
  out(text: string): void;
  warn(text: string): void;
  progress(line: string): void;
  sleep(ms: number): Promise<void>;
  pollMs: number;
}

export interface Target { arm: Arm; subscription: string; group: string; name: string; flags: Record<string, string | boolean> }

export const str = (f: Target['flags'], k: string): string | undefined => (typeof f[k] === 'string' ? f[k] : undefined);
export const extName = (t: Target) => str(t.flags, 'extension-type') ?? DEFAULT_TYPE;
export const publisherType = (t: Target) => `${str(t.flags, 'publisher') ?? DEFAULT_PUBLISHER}.${extName(t)}`;

export async function mustVm(t: Target): Promise<VmInfo> {
  const vm = await t.arm.getVm(t.group, t.name);
  if (!vm) throw new AdeError('CliVmNotFound', { name: t.name, group: t.group, subscription: t.subscription });
  return vm;
}

const subscriptionOf = (id: string) => /^\/subscriptions\/([^/]+)/i.exec(id)?.[1]?.toLowerCase() ?? '';

/** --volume-type where only DATA is offered (its default): anything else is a usage error, or with --force a warning. */
export function dataVolumeType(t: Target, io: CliIo, command: string, problem: (given: string) => string): string {
  const v = str(t.flags, 'volume-type')?.toUpperCase() ?? 'DATA';
  check(t, io, v === 'DATA' ? undefined : new AdeError('CliUsage', { problem: problem(v), command }));
  return v;
}

/** A failed check stops the command, or with --force becomes a warning. */
export function check(t: Target, io: CliIo, failure: AdeError | undefined): void {
  if (!failure) return;
  if (t.flags['force'] !== true) throw failure;
  io.warn(`warning: --force: ${failure.message}`);
}

export interface EnableChecked { vm: VmInfo; vault: Vault; kek?: Kek; input: EnableInput }

/** Every pre-flight check of enable, then what the settings are made of. */
export async function checkEnable(t: Target, io: CliIo, vm: VmInfo, kekOf: KekOf, defaultVolumeType?: string): Promise<EnableChecked> {
  const volumeType = str(t.flags, 'volume-type')?.toUpperCase() ?? defaultVolumeType ?? (vm.dataDisks > 0 ? undefined : 'OS');
  if (!volumeType) throw new AdeError('CliVolumeTypeNeeded', { vm: vm.name });
  // The OS disk resumes after its restart through the agent's enable, which a run command never gets.
  if (str(t.flags, 'via') === 'run-command' && volumeType !== 'DATA') throw new AdeError('CliUsage', { problem: `--via run-command encrypts data volumes only (--volume-type DATA), not ${volumeType}: the OS disk needs the extension`, command: 'enable' });
  check(t, io, linuxCheck(vm));
  check(t, io, memoryCheck(vm, vm.vmSize ? await t.arm.vmSizeMemoryMb(vm.location, vm.vmSize) : undefined));
  const ref = vaultRef(str(t.flags, 'disk-encryption-keyvault')!, t.subscription, t.group);
  const vault = await t.arm.getVault(ref.id);
  if (!vault) throw new AdeError('CliVaultNotFound', { vault: ref.name, cause: `no vault ${ref.id}`, group: t.group });
  check(t, io, vault.enabledForDiskEncryption ? undefined : new AdeError('CliVaultNotForDiskEncryption', { vault: ref.name }));
  const identity = identityCheck(vm, t.group, ref.name);
  check(t, io, identity ?? accessCheck(vm, vault, 'secrets'));
  const sameSub = subscriptionOf(vault.id) === subscriptionOf(vm.id);
  const sameRegion = vault.location.toLowerCase().replace(/\s/g, '') === vm.location.toLowerCase().replace(/\s/g, '');
  check(t, io, sameSub && sameRegion ? undefined : new AdeError('CliVaultElsewhere', {
    vault: ref.name, vaultWhere: `${vault.location} / subscription ${subscriptionOf(vault.id)}`, vmWhere: `${vm.location} / subscription ${subscriptionOf(vm.id)}` }));
  const kekFlag = str(t.flags, 'key-encryption-key');
  let kek: Kek | undefined;
  if (kekFlag) {
    const kv = str(t.flags, 'key-encryption-keyvault');
    const kref = kv ? vaultRef(kv, t.subscription, t.group) : ref;
    const kvault = kv ? await t.arm.getVault(kref.id) : vault;
    if (!kvault) throw new AdeError('CliVaultNotFound', { vault: kref.name, cause: `no vault ${kref.id}`, group: t.group });
    if (!identity) check(t, io, accessCheck(vm, kvault, 'keys'));
    kek = { url: await kekOf(kvault.vaultUri, kekFlag), vaultId: kvault.id };
  }
  const input: EnableInput = {
    vaultUri: vault.vaultUri, vaultId: vault.id, volumeType, formatAll: t.flags['encrypt-format-all'] === true,
    ...(kek ? { kekUrl: kek.url, kekVaultId: kek.vaultId } : {}), ...(str(t.flags, 'key-encryption-algorithm') ? { algorithm: str(t.flags, 'key-encryption-algorithm')! } : {}),
  };
  return { vm, vault: { id: vault.id, vaultUri: vault.vaultUri }, ...(kek ? { kek } : {}), input };
}

export type KekOf = (vaultUri: string, value: string) => Promise<string>;

/** `vm`: the VM as the caller just read it (main.ts reads it to tell a VM from a scale set); else it is read here. */
export async function enable(t: Target, io: CliIo, kekOf: KekOf, vm?: VmInfo): Promise<number> {
  const c = await checkEnable(t, io, vm ?? await mustVm(t), kekOf);
  const s = await deploy(t, io, c.vm, enableSettings(c.input));
  if (s) await writeKeys(t, io, c, s);
  return 0;
}

/** The key references of the volumes now encrypted, onto their managed disks. */
export async function writeKeys(t: Target, io: CliIo, c: EnableChecked, s: ExtensionState): Promise<void> {
  const { writes, unplaced } = diskKeyPlan(c.vm.disks ?? [], s.volumes, c.vault, c.kek);
  for (const w of writes) {
    await t.arm.setDiskKeys(t.group, w.disk, w.keys);
    io.warn(`Disk ${w.disk.name}${w.disk.lun === undefined ? ' (OS)' : ` (LUN ${w.disk.lun})`}: key reference ${w.keys.map((k) => k.secretUrl).join(', ')} written to its encryption settings.`);
  }
  for (const v of unplaced) io.warn(`warning: ${v.device} is encrypted with ${v.secretUrl}, but no managed disk of ${c.vm.name} could be matched to it (no Azure LUN link, or another vault): its key stays in Key Vault only.`);
}

export async function disable(t: Target, io: CliIo, known?: VmInfo): Promise<number> {
  const vm = known ?? await mustVm(t);
  const volumeType = dataVolumeType(t, io, 'disable', (v) => `disable decrypts data disks only (--volume-type DATA), not ${v}`);
  const s = await deploy(t, io, vm, disableSettings(volumeType));
  if (s?.data !== 'NotEncrypted') return 0;
  // Decrypted: the data disks no longer need the platform to deliver keys (ADE clears them the same way).
  const after = await mustVm(t);
  for (const d of disksToClear(after.disks ?? [], after.diskViews ?? [])) {
    await t.arm.setDiskKeys(t.group, d, undefined);
    io.warn(`Disk ${d.name} (LUN ${String(d.lun)}): key references cleared.`);
  }
  return 0;
}

/** How this command reaches the handler on `vm` (--via). */
export function channelFor(t: Target, vm: VmInfo, command: string): Channel {
  const w = { arm: t.arm, group: t.group, vm, extension: extName(t), publisher: str(t.flags, 'publisher') };
  if (str(t.flags, 'via') !== 'run-command') return extensionChannel(w);
  const url = str(t.flags, 'package-url');
  return runCommandChannel(w, url || command !== 'show' ? packageRef(url, str(t.flags, 'package-sha256'), command) : undefined);
}

/** Deploys; the final state once the extension is done with every disk (undefined with --no-wait). */
export async function deploy(t: Target, io: CliIo, vm: VmInfo, settings: Record<string, unknown>): Promise<ExtensionState | undefined> {
  const noWait = t.flags['no-wait'] === true;
  const ch = channelFor(t, vm, settings['EncryptionOperation'] === 'DisableEncryption' ? 'disable' : 'enable');
  io.warn(`Deploying ${ch.how} to ${t.name} (${String(settings['EncryptionOperation'])}, VolumeType ${String(settings['VolumeType'])}, SequenceVersion ${String(settings['SequenceVersion'])})`);
  await ch.deploy(settings, noWait);
  if (noWait) { io.warn('Accepted. Follow it with: ade-linux show'); return undefined; }
  const s = await follow(io, ch);
  io.out(t.flags['output'] === 'json' ? stateJson(t.name, s) : stateTable(t.name, s));
  if (s.provisioning === 'failed') throw new AdeError('CliExtensionFailed', { vm: t.name, message: s.message });
  return s;
}

export const working = (s: ExtensionState) => s.os === 'EncryptionInProgress' || s.os === 'VMRestartPending' || s.data === 'EncryptionInProgress' || s.data === 'DecryptionInProgress'
  || s.volumes.some((v) => /InProgress$/.test(v.state));

/** The extension's progress, redrawn until no disk is being worked on. */
export async function follow(io: CliIo, ch: Channel): Promise<ExtensionState> {
  for (;;) {
    const s = await ch.state();
    if (s.provisioning === 'failed' || !working(s)) return s;
    io.progress(progressLine(s));
    await io.sleep(io.pollMs);
  }
}

export async function show(t: Target, io: CliIo, vm?: VmInfo): Promise<number> {
  const s = await channelFor(t, vm ?? await mustVm(t), 'show').state();
  io.out(t.flags['output'] === 'json' ? stateJson(t.name, s) : stateTable(t.name, s));
  if (allEncrypted(s)) return 0;
  const e = new AdeError('CliNotEncrypted', { vm: t.name, states: `OS ${s.os ?? 'unknown'}, data ${s.data ?? 'unknown'}` });
  io.warn(e.message);
  return e.code - 700;
}
