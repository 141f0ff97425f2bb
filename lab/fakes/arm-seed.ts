// The resources a test seeds, shaped as ARM returns them: the VM model with its managed disks, a Uniform
// scale set with its instances, and a key vault.
import { randomBytes, randomUUID } from 'node:crypto';
import { type ExtensionState, type Json, type Machine, type ScaleSet, deepMerge, newMachine, props, providerId } from './arm-store.ts';

export interface DataDiskSeed { lun: number; name?: string; diskSizeGB?: number }

export interface VmSeed {
  location?: string;
  osType?: 'Linux' | 'Windows';
  dataDisks?: DataDiskSeed[];
  tags?: Record<string, string>;
  /** As ARM returns it, e.g. { type: 'SystemAssigned', principalId, tenantId }. */
  identity?: Json;
  vmSize?: string;
  /** PowerState/<this> in the instance view: running, deallocated, stopped. */
  powerState?: string;
  /** Deep-merged into properties last, for anything else. */
  properties?: Json;
}

export interface ScaleSetSeed extends Omit<VmSeed, 'powerState'> {
  capacity?: number;
  upgradeMode?: 'Manual' | 'Automatic' | 'Rolling';
  /** extensionProfile.extensions[] entries: { name, properties: { publisher, type, typeHandlerVersion, settings } }. */
  extensions?: Json[];
}

export interface VaultSeed {
  location?: string;
  /** properties.accessPolicies, as ARM returns them: { tenantId, objectId, permissions: { keys, secrets } }. */
  accessPolicies?: Json[];
  enabledForDiskEncryption?: boolean;
  vaultUri?: string;
  enableRbacAuthorization?: boolean;
  tenantId?: string;
  sku?: 'standard' | 'premium';
  tags?: Record<string, string>;
}

const managedDisk = (sub: string, rg: string, name: string) =>
  ({ storageAccountType: 'Premium_LRS', id: providerId(sub, rg.toUpperCase(), 'Microsoft.Compute/disks', name) });

function storageProfile(sub: string, rg: string, name: string, seed: VmSeed, forScaleSet: boolean): Json {
  const osName = `${name}_OsDisk_1_${randomBytes(16).toString('hex')}`;
  const linux = (seed.osType ?? 'Linux') === 'Linux';
  const osDisk: Json = { osType: seed.osType ?? 'Linux', createOption: 'FromImage', caching: 'ReadWrite', diskSizeGB: 30 };
  Object.assign(osDisk, forScaleSet ? { managedDisk: { storageAccountType: 'Premium_LRS' } } : { name: osName, managedDisk: managedDisk(sub, rg, osName), deleteOption: 'Detach' });
  const dataDisks = (seed.dataDisks ?? []).map((d) => {
    const diskName = d.name ?? `${name}_DataDisk_${d.lun}`;
    return forScaleSet
      ? { lun: d.lun, createOption: 'Empty', caching: 'None', diskSizeGB: d.diskSizeGB ?? 64, managedDisk: { storageAccountType: 'Premium_LRS' } }
      : { lun: d.lun, name: diskName, createOption: 'Attach', caching: 'None', diskSizeGB: d.diskSizeGB ?? 64, managedDisk: managedDisk(sub, rg, diskName), deleteOption: 'Detach', toBeDetached: false };
  });
  const imageReference = linux
    ? { publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', version: 'latest', exactVersion: '0.20250610.2137' }
    : { publisher: 'MicrosoftWindowsServer', offer: 'WindowsServer', sku: '2022-datacenter-g2', version: 'latest', exactVersion: '20348.3807.250605' };
  return { imageReference, osDisk, dataDisks, diskControllerType: 'SCSI' };
}

function osProfile(computerName: Json, seed: VmSeed): Json {
  const linux = (seed.osType ?? 'Linux') === 'Linux';
  return {
    ...computerName, adminUsername: 'azureuser', secrets: [], allowExtensionOperations: true, requireGuestProvisionSignal: true,
    ...(linux
      ? { linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true, patchSettings: { patchMode: 'ImageDefault', assessmentMode: 'ImageDefault' } } }
      : { windowsConfiguration: { provisionVMAgent: true, enableAutomaticUpdates: true } }),
  };
}

/** An identity as ARM returns it: a system-assigned one gets its principal and tenant, as on `az vm identity assign`. */
function identityOf(seed: Json | undefined): Json | undefined {
  if (!seed) return undefined;
  const id = structuredClone(seed);
  if (String(id['type'] ?? '').includes('SystemAssigned') && !id['principalId']) Object.assign(id, { principalId: randomUUID(), tenantId: randomUUID() });
  return id;
}

const common = (id: string, name: string, type: string, location: string, seed: { tags?: Record<string, string>; identity?: Json }): Json => ({
  name, id, type, location, ...(seed.tags ? { tags: { ...seed.tags } } : {}),
  ...(seed.identity ? { identity: identityOf(seed.identity) } : {}),
});

export function seedVm(sub: string, rg: string, name: string, seed: VmSeed): Machine {
  const id = providerId(sub, rg, 'Microsoft.Compute/virtualMachines', name);
  const body = common(id, name, 'Microsoft.Compute/virtualMachines', seed.location ?? 'eastus', seed);
  body['properties'] = {
    hardwareProfile: { vmSize: seed.vmSize ?? 'Standard_D2s_v3' },
    provisioningState: 'Succeeded', vmId: randomUUID(),
    storageProfile: storageProfile(sub, rg, name, seed, false),
    osProfile: osProfile({ computerName: name }, seed),
    networkProfile: { networkInterfaces: [{ id: providerId(sub, rg, 'Microsoft.Network/networkInterfaces', `${name}-nic`), properties: { deleteOption: 'Detach' } }] },
    diagnosticsProfile: { bootDiagnostics: { enabled: true } },
    timeCreated: new Date().toISOString(),
  };
  deepMerge(props(body), seed.properties ?? {});
  return newMachine(id, body, seed.powerState);
}

export function seedScaleSet(sub: string, rg: string, name: string, seed: ScaleSetSeed): ScaleSet {
  const id = providerId(sub, rg, 'Microsoft.Compute/virtualMachineScaleSets', name);
  const body = common(id, name, 'Microsoft.Compute/virtualMachineScaleSets', seed.location ?? 'eastus', seed);
  body['sku'] = { name: seed.vmSize ?? 'Standard_D2s_v3', tier: 'Standard', capacity: seed.capacity ?? 2 };
  body['properties'] = {
    singlePlacementGroup: true, orchestrationMode: 'Uniform', upgradePolicy: { mode: seed.upgradeMode ?? 'Manual' },
    virtualMachineProfile: {
      osProfile: osProfile({ computerNamePrefix: name.slice(0, 9) }, seed),
      storageProfile: storageProfile(sub, rg, name, seed, true),
      networkProfile: { networkInterfaceConfigurations: [{ name: `${name}-nic`, properties: { primary: true } }] },
      extensionProfile: { extensions: structuredClone(seed.extensions ?? []) },
    },
    provisioningState: 'Succeeded', overprovision: false, doNotRunExtensionsOnOverprovisionedVMs: false,
    uniqueId: randomUUID(), timeCreated: new Date().toISOString(),
  };
  deepMerge(props(body), seed.properties ?? {});
  const set: ScaleSet = { id, body, protectedSettings: new Map(), instances: [] };
  for (let i = 0; i < (seed.capacity ?? 2); i++) set.instances.push(seedInstance(set, String(i)));
  applyModel(set);
  return set;
}

function seedInstance(set: ScaleSet, instanceId: string): Machine {
  const id = `${set.id}/virtualMachines/${instanceId}`;
  const name = `${String(set.body['name'])}_${instanceId}`;
  const profile = props(set.body)['virtualMachineProfile'] as Json;
  const body = common(id, name, 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines', String(set.body['location']), {});
  Object.assign(body, { instanceId, sku: { name: (set.body['sku'] as Json)['name'], tier: 'Standard' } });
  body['properties'] = {
    latestModelApplied: true, vmId: randomUUID(), provisioningState: 'Succeeded',
    hardwareProfile: {}, storageProfile: structuredClone(profile['storageProfile']),
    osProfile: { ...(profile['osProfile'] as Json), computerName: `${String((profile['osProfile'] as Json)['computerNamePrefix'])}${instanceId.padStart(6, '0')}` },
    timeCreated: new Date().toISOString(),
  };
  return newMachine(id, body);
}

/** The scale set's model reaches its instances: their extensions become the profile's. */
export function applyModel(set: ScaleSet): void {
  const profile = props(set.body)['virtualMachineProfile'] as Json;
  const entries = ((profile['extensionProfile'] as Json | undefined)?.['extensions'] ?? []) as Json[];
  for (const m of set.instances) {
    m.extensions = new Map(entries.map((e): [string, ExtensionState] => {
      const name = String(e['name']);
      const body: Json = { name, id: `${m.id}/extensions/${name}`, type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/extensions', properties: { ...structuredClone(e['properties'] as Json), provisioningState: 'Succeeded' } };
      return [name.toLowerCase(), { body }];
    }));
    props(m.body)['latestModelApplied'] = true;
  }
}

export function seedVault(sub: string, rg: string, name: string, seed: VaultSeed, tenantId: string): Json {
  const id = providerId(sub, rg, 'Microsoft.KeyVault/vaults', name);
  return {
    ...common(id, name, 'Microsoft.KeyVault/vaults', seed.location ?? 'eastus', seed), tags: { ...seed.tags },
    properties: {
      sku: { family: 'A', name: seed.sku ?? 'standard' }, tenantId: seed.tenantId ?? tenantId, accessPolicies: structuredClone(seed.accessPolicies ?? []),
      enabledForDeployment: false, enabledForDiskEncryption: seed.enabledForDiskEncryption ?? false, enabledForTemplateDeployment: false,
      enableSoftDelete: true, softDeleteRetentionInDays: 90, enableRbacAuthorization: seed.enableRbacAuthorization ?? false,
      vaultUri: seed.vaultUri ?? `https://${name.toLowerCase()}.vault.azure.net/`, provisioningState: 'Succeeded', publicNetworkAccess: 'Enabled',
    },
  };
}
