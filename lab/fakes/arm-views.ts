// Instance views as ARM builds them: the model's state (provisioning, power) merged with what the guest agent
// reported (the extension's statuses and substatuses, the disks' encryption state). A test plays the agent:
// what it sets wins over what ARM would derive from the model alone.
import { type ExtensionState, type InstanceViewStatus, type Json, type Machine, props } from './arm-store.ts';

const now = () => new Date().toISOString();
const succeeded = (): InstanceViewStatus => ({ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', time: now() });
const running = (state: unknown) => state === 'Creating' || state === 'Updating' || state === 'Deleting';

/** The extension's statuses when the agent has reported nothing for the current operation. */
export function derivedStatuses(e: ExtensionState): InstanceViewStatus[] {
  const state = props(e.body)['provisioningState'];
  if (running(state)) return [{ code: 'ProvisioningState/transitioning', level: 'Info', displayStatus: 'Transitioning', time: now() }];
  if (state === 'Failed') {
    return [{ code: `ProvisioningState/failed/${e.failure?.code ?? '1'}`, level: 'Error', displayStatus: 'Provisioning failed', message: e.failure?.message ?? '', time: now() }];
  }
  return [succeeded()];
}

export function extensionView(m: Machine, e: ExtensionState): Json {
  const p = props(e.body);
  const name = String(e.body['name']);
  const reported = m.reported.get(name.toLowerCase());
  return {
    name, type: `${String(p['publisher'])}.${String(p['type'])}`, typeHandlerVersion: p['typeHandlerVersion'],
    statuses: structuredClone(reported?.statuses ?? derivedStatuses(e)),
    ...(reported?.substatuses ? { substatuses: structuredClone(reported.substatuses) } : {}),
  };
}

function extensionViews(m: Machine): Json[] {
  const views = [...m.extensions.values()].map((e) => extensionView(m, e));
  // The agent may report an extension the model no longer has (removed, not yet cleaned up in the guest).
  for (const [k, r] of m.reported) {
    if (!m.extensions.has(k)) views.push({ name: r.name, ...(r.statuses ? { statuses: structuredClone(r.statuses) } : {}), ...(r.substatuses ? { substatuses: structuredClone(r.substatuses) } : {}) });
  }
  return views;
}

function diskViews(m: Machine): Json[] {
  const storage = (props(m.body)['storageProfile'] ?? {}) as Json;
  const os = (storage['osDisk'] ?? {}) as Json;
  const data = (storage['dataDisks'] ?? []) as Json[];
  const machineName = String(m.body['name']);
  const all = [{ disk: os, name: String(os['name'] ?? `${machineName}_OsDisk_1`) }, ...data.map((d) => ({ disk: d, name: String(d['name'] ?? `${machineName}_disk${String(d['lun'])}`) }))];
  return all.map(({ disk, name }) => {
    const reported = m.disks.get(name.toLowerCase());
    const settings = reported?.encryptionSettings ?? (disk['encryptionSettings'] ? [disk['encryptionSettings'] as Json] : undefined);
    return { name, ...(settings ? { encryptionSettings: structuredClone(settings) } : {}), statuses: structuredClone(reported?.statuses ?? [succeeded()]) };
  });
}

function machineStatuses(m: Machine): InstanceViewStatus[] {
  const state = props(m.body)['provisioningState'];
  const provisioning: InstanceViewStatus = running(state)
    ? { code: `ProvisioningState/${String(state).toLowerCase()}`, level: 'Info', displayStatus: String(state) }
    : state === 'Failed'
      ? { code: `ProvisioningState/failed/${m.failure?.code ?? 'InternalOperationError'}`, level: 'Error', displayStatus: 'Provisioning failed', message: m.failure?.message ?? '', time: now() }
      : succeeded();
  const power = m.powerState;
  return [provisioning, { code: `PowerState/${power}`, level: 'Info', displayStatus: `VM ${power}` }];
}

/** GET .../instanceView, and properties.instanceView of GET ...?$expand=instanceView. */
export function machineView(m: Machine): Json {
  const p = props(m.body);
  const handlers = new Map<string, Json>();
  for (const e of m.extensions.values()) {
    const ep = props(e.body);
    const type = `${String(ep['publisher'])}.${String(ep['type'])}`;
    handlers.set(type, { type, typeHandlerVersion: ep['typeHandlerVersion'], status: { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Ready' } });
  }
  const linux = ((p['storageProfile'] as Json | undefined)?.['osDisk'] as Json | undefined)?.['osType'] !== 'Windows';
  return {
    computerName: (p['osProfile'] as Json | undefined)?.['computerName'], osName: linux ? 'debian' : 'Windows Server 2022 Datacenter', osVersion: linux ? '12' : '10.0.20348',
    vmAgent: {
      vmAgentVersion: linux ? '2.13.1.1' : '2.7.41491.1176',
      statuses: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Ready', message: 'Guest Agent is running', time: now() }],
      extensionHandlers: [...handlers.values()],
    },
    disks: diskViews(m), extensions: extensionViews(m), hyperVGeneration: 'V2', statuses: machineStatuses(m),
  };
}

/** The VM (or scale-set instance) as GET returns it: the model, its extensions under `resources`. */
export function machineBody(m: Machine, expandInstanceView: boolean): Json {
  const body = structuredClone(m.body);
  const resources = [...m.extensions.values()].map((e) => structuredClone(e.body));
  if (resources.length) body['resources'] = resources;
  if (expandInstanceView) props(body)['instanceView'] = machineView(m);
  return body;
}

export function extensionBody(m: Machine, e: ExtensionState, expandInstanceView: boolean): Json {
  const body = structuredClone(e.body);
  if (expandInstanceView) props(body)['instanceView'] = extensionView(m, e);
  return body;
}
