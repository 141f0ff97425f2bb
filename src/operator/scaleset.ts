// Scale sets (Uniform), as `az vmss encryption` drives them: data volumes only on Linux, the extension written
// into the scale set's model (its extensionProfile, replacing an earlier one of the same name or type) with a
// fresh forceUpdateTag instead of a SequenceVersion. With an Automatic or Rolling upgrade policy the instances
// take the model at once and the CLI follows each one's progress; with Manual they take it only when brought
// up to date, which the CLI says how to do, as az does.
import { randomUUID } from 'node:crypto';
import { AdeError } from '../shared/errors.ts';
import type { ScaleSetInfo, VmInfo } from './arm.ts';
import { checkEnable, dataVolumeType, extName, publisherType, str, working, type CliIo, type KekOf, type Target } from './commands.ts';
import { findExtension, overallPercent, readExtensionView, type ExtensionState } from './instance-view.ts';
import { instancesJson, instancesTable } from './render.ts';
import { DEFAULT_PUBLISHER, scaleSetDisableSettings, scaleSetEnableSettings, TYPE_HANDLER_VERSION } from './settings.ts';

export interface InstanceState { name: string; state: ExtensionState }

/** Linux scale sets: data volumes only; anything else only with --force (az's rule). */
const volumeType = (t: Target, io: CliIo, command: string): string =>
  dataVolumeType(t, io, command, (v) => `on a scale set, ${command} works on data volumes only (--volume-type DATA), not ${v}`);

const asVm = (ss: ScaleSetInfo): VmInfo => ({
  id: ss.id, name: ss.name, location: ss.location, dataDisks: ss.dataDisks, extensions: [],
  ...(ss.osType ? { osType: ss.osType } : {}), ...(ss.vmSize ? { vmSize: ss.vmSize } : {}), ...(ss.principals ? { principals: ss.principals } : {}),
});

export async function enableScaleSet(t: Target, io: CliIo, ss: ScaleSetInfo, kekOf: KekOf): Promise<number> {
  const c = await checkEnable(t, io, asVm(ss), kekOf, volumeType(t, io, 'enable'));
  return deployScaleSet(t, io, ss, scaleSetEnableSettings(c.input));
}

export async function disableScaleSet(t: Target, io: CliIo, ss: ScaleSetInfo): Promise<number> {
  return deployScaleSet(t, io, ss, scaleSetDisableSettings(volumeType(t, io, 'disable')));
}

async function deployScaleSet(t: Target, io: CliIo, ss: ScaleSetInfo, settings: Record<string, string>): Promise<number> {
  const name = extName(t);
  const publisher = str(t.flags, 'publisher') ?? DEFAULT_PUBLISHER;
  const entry = { name, publisher, typePropertiesType: name, typeHandlerVersion: TYPE_HANDLER_VERSION, autoUpgradeMinorVersion: true, settings, forceUpdateTag: randomUUID() };
  const same = (e: Record<string, unknown>) => e['name'] === name || `${String(e['publisher'])}.${String(e['typePropertiesType'])}`.toLowerCase() === publisherType(t).toLowerCase();
  io.warn(`Setting ${publisherType(t)} ${TYPE_HANDLER_VERSION} in the model of scale set ${ss.name} (${settings['EncryptionOperation']}, VolumeType ${settings['VolumeType']})`);
  await t.arm.setScaleSetExtensions(t.group, ss.name, [...ss.extensions.filter((e) => !same(e)), entry], { noWait: t.flags['no-wait'] === true });
  if (t.flags['no-wait'] === true) { io.warn('Accepted. Follow it with: ade-linux show'); return 0; }
  if (ss.upgradeMode.toLowerCase() === 'manual') {
    io.warn(`The scale set's upgrade policy is Manual: its instances run the extension once they are brought up to date: az vmss update-instances -g ${t.group} -n ${ss.name} --instance-ids "*". Then: ade-linux show -g ${t.group} -n ${ss.name}`);
    return 0;
  }
  const all = await followInstances(t, io, ss);
  io.out(t.flags['output'] === 'json' ? instancesJson(ss.name, all) : instancesTable(ss.name, all));
  const failed = all.find((i) => i.state.provisioning === 'failed');
  if (failed) throw new AdeError('CliExtensionFailed', { vm: `${ss.name} instance ${failed.name}`, message: failed.state.message });
  return 0;
}

async function instanceStates(t: Target, ss: ScaleSetInfo): Promise<InstanceState[]> {
  return (await t.arm.scaleSetInstances(t.group, ss.name)).map((m) => ({ name: m.name, state: readExtensionView(findExtension(m.extensions, extName(t), publisherType(t))) }));
}

/** Every instance's progress, until none is being worked on (an instance that has not reported yet counts as busy). */
async function followInstances(t: Target, io: CliIo, ss: ScaleSetInfo): Promise<InstanceState[]> {
  for (;;) {
    const all = await instanceStates(t, ss);
    const busy = all.filter((i) => i.state.provisioning === 'unknown' || i.state.provisioning === 'transitioning' || (i.state.provisioning !== 'failed' && working(i.state)));
    if (busy.length === 0) return all;
    const pct = busy.map((i) => overallPercent(i.state)).filter((p): p is number => p !== undefined);
    io.progress(`${all.length - busy.length}/${all.length} instances done${pct.length ? `, the others at ${pct.map((p) => `${p}%`).join(' ')}` : ''}`);
    await io.sleep(io.pollMs);
  }
}

const dataDone = (s: ExtensionState) => (s.data === 'Encrypted' || s.data === 'NotMounted') && s.volumes.every((v) => v.state === 'Encrypted');

export async function showScaleSet(t: Target, io: CliIo, ss: ScaleSetInfo): Promise<number> {
  const all = await instanceStates(t, ss);
  io.out(t.flags['output'] === 'json' ? instancesJson(ss.name, all) : instancesTable(ss.name, all));
  const left = all.filter((i) => !dataDone(i.state));
  if (left.length === 0 && all.length > 0) return 0;
  const e = new AdeError('CliNotEncrypted', { vm: `scale set ${ss.name}`, states: left.length ? `data volumes not encrypted on ${left.map((i) => i.name).join(', ')}` : 'it has no instances' });
  io.warn(e.message);
  return e.code - 700;
}
