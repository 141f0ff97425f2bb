// The one real Arm: @azure/arm-compute with DefaultAzureCredential against https://management.azure.com. Tests
// reach a fake only through the environment (HTTPS_PROXY, CA trust), as for the extension itself. Each failure
// becomes a coded error (arm.ts) whose message names the fix.
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { Arm, DiskRef, ExtensionBody, KeyRef, RunCommandView, ScaleSetInfo, VaultInfo, VmInfo } from './arm.ts';
import { armError, extensionFailure } from './arm.ts';
import type { ExtensionView } from './instance-view.ts';

const notFound = (e: unknown) => (e as { statusCode?: number })?.statusCode === 404;
const ENDPOINT = 'https://management.azure.com';

type SdkVm = Awaited<ReturnType<ComputeManagementClient['virtualMachines']['get']>>;

/** The principal ids of a VM's or scale set's managed identities, system-assigned first. */
function principalsOf(identity: { principalId?: string; userAssignedIdentities?: Record<string, { principalId?: string }> } | undefined): string[] {
  return [identity?.principalId, ...Object.values(identity?.userAssignedIdentities ?? {}).map((u) => u.principalId)].filter((p): p is string => !!p);
}

function vmInfo(vm: SdkVm, name: string): VmInfo {
  const sp = vm.storageProfile;
  const disks: DiskRef[] = [];
  if (sp?.osDisk?.managedDisk?.id) disks.push({ id: sp.osDisk.managedDisk.id, name: sp.osDisk.name ?? '' });
  for (const d of sp?.dataDisks ?? []) if (d.managedDisk?.id) disks.push({ id: d.managedDisk.id, name: d.name ?? '', lun: d.lun });
  return {
    id: vm.id ?? '', name: vm.name ?? name, location: vm.location ?? '', dataDisks: sp?.dataDisks?.length ?? 0,
    extensions: (vm.instanceView?.extensions ?? []) as ExtensionView[], ...(sp?.osDisk?.osType ? { osType: sp.osDisk.osType } : {}),
    tags: vm.tags ?? {}, ...(vm.hardwareProfile?.vmSize ? { vmSize: vm.hardwareProfile.vmSize } : {}), principals: principalsOf(vm.identity), disks, diskViews: (vm.instanceView?.disks ?? []).map((d) => ({ name: d.name ?? '', ...(d.encryptionSettings ? { encryptionSettings: d.encryptionSettings } : {}) })),
  };
}

/** A key reference as the Disks API spells it (encryptionSettings[] of encryptionSettingsCollection). */
const element = (k: KeyRef) => ({
  diskEncryptionKey: { secretUrl: k.secretUrl, sourceVault: { id: k.vaultId } },
  ...(k.kekUrl ? { keyEncryptionKey: { keyUrl: k.kekUrl, sourceVault: { id: k.kekVaultId ?? k.vaultId } } } : {}),
});

export class RealArm implements Arm {
  private readonly client: ComputeManagementClient;
  private readonly send: (url: string) => Promise<{ status: number; text: string }>;
  private constructor(client: ComputeManagementClient, send: RealArm['send']) { this.client = client; this.send = send; }

  static async connect(subscription: string): Promise<RealArm> {
    const [{ DefaultAzureCredential }, { ComputeManagementClient: Client }, { createDefaultHttpClient, createPipelineRequest }] = await Promise.all([
      import('@azure/identity'), import('@azure/arm-compute'), import('@azure/core-rest-pipeline')]);
    const client = new Client(new DefaultAzureCredential(), subscription);
    const http = createDefaultHttpClient();
    // The Key Vault management plane through the compute client's pipeline (its credential and retries).
    const send = async (url: string) => {
      const res = await client.pipeline.sendRequest(http, createPipelineRequest({ url, method: 'GET' }));
      return { status: res.status, text: res.bodyAsText ?? '' };
    };
    return new RealArm(client, send);
  }

  async getVm(group: string, name: string): Promise<VmInfo | undefined> {
    try {
      return vmInfo(await this.client.virtualMachines.get(group, name, { expand: 'instanceView' }), name);
    } catch (e) {
      if (notFound(e)) return undefined;
      throw armError(e, `reading VM ${name}`, `resource group ${group}`);
    }
  }

  async vmSizeMemoryMb(location: string, size: string): Promise<number | undefined> {
    try {
      for await (const s of this.client.virtualMachineSizes.list(location)) if (s.name?.toLowerCase() === size.toLowerCase()) return s.memoryInMB;
    } catch (e) { throw armError(e, `listing the VM sizes of ${location}`, `subscription's location ${location}`); }
    return undefined;
  }

  async listVms(group: string): Promise<VmInfo[]> {
    const out: VmInfo[] = [];
    try {
      for await (const vm of this.client.virtualMachines.list(group)) out.push(vmInfo(vm, vm.name ?? ''));
    } catch (e) { throw armError(e, `listing the VMs of ${group}`, `resource group ${group}`); }
    return out;
  }

  async getVault(id: string): Promise<VaultInfo | undefined> {
    const res = await this.send(`${ENDPOINT}${id}?api-version=2023-07-01`).catch((e: unknown) => { throw armError(e, `reading key vault ${id}`, id); });
    if (res.status === 404) return undefined;
    const body = JSON.parse(res.text || '{}') as { id?: string; name?: string; location?: string; error?: { code?: string; message?: string };
      properties?: { vaultUri?: string; enabledForDiskEncryption?: boolean; enableRbacAuthorization?: boolean; accessPolicies?: Array<{ objectId?: string; permissions?: { keys?: string[]; secrets?: string[] } }> } };
    if (res.status >= 300) throw armError({ statusCode: res.status, code: body.error?.code, message: body.error?.message }, `reading key vault ${id}`, id);
    const p = body.properties;
    return {
      id: body.id ?? id, name: body.name ?? '', location: body.location ?? '', vaultUri: p?.vaultUri ?? '', enabledForDiskEncryption: p?.enabledForDiskEncryption === true,
      rbac: p?.enableRbacAuthorization === true, accessPolicies: (p?.accessPolicies ?? []).map((a) => ({ objectId: a.objectId ?? '', permissions: a.permissions ?? {} })),
    };
  }

  async putExtension(group: string, vm: string, name: string, body: ExtensionBody, o: { noWait: boolean; location: string }): Promise<void> {
    const poller = this.client.virtualMachineExtensions.createOrUpdate(group, vm, name, {
      location: o.location, publisher: body.publisher, typePropertiesType: body.type, typeHandlerVersion: body.typeHandlerVersion,
      autoUpgradeMinorVersion: true, settings: body.settings,
    });
    try {
      if (o.noWait) await poller.submitted(); else await poller;
    } catch (e) {
      throw extensionFailure(e, vm) ?? armError(e, `deploying the extension to ${vm}`, `VM ${vm} in ${group}`);
    }
  }

  async setDiskKeys(group: string, disk: DiskRef, keys: KeyRef[] | undefined): Promise<void> {
    const collection = keys ? { enabled: true, encryptionSettingsVersion: '1.1', encryptionSettings: keys.map(element) } : { enabled: false };
    try {
      await this.client.disks.update(group, disk.name, { encryptionSettingsCollection: collection });
    } catch (e) { throw armError(e, `writing the key references of disk ${disk.name}`, disk.id); }
  }

  async getScaleSet(group: string, name: string): Promise<ScaleSetInfo | undefined> {
    try {
      const s = await this.client.virtualMachineScaleSets.get(group, name);
      const p = s.virtualMachineProfile;
      return {
        id: s.id ?? '', name: s.name ?? name, location: s.location ?? '', upgradeMode: s.upgradePolicy?.mode ?? 'Manual',
        dataDisks: p?.storageProfile?.dataDisks?.length ?? 0, ...(p?.storageProfile?.osDisk?.osType ? { osType: p.storageProfile.osDisk.osType } : {}),
        ...(s.sku?.name ? { vmSize: s.sku.name } : {}), principals: principalsOf(s.identity),
        extensions: (p?.extensionProfile?.extensions ?? []) as Array<Record<string, unknown>>,
      };
    } catch (e) {
      if (notFound(e)) return undefined;
      throw armError(e, `reading scale set ${name}`, `resource group ${group}`);
    }
  }

  async setScaleSetExtensions(group: string, name: string, extensions: Array<Record<string, unknown>>, o: { noWait: boolean }): Promise<void> {
    const poller = this.client.virtualMachineScaleSets.update(group, name, { virtualMachineProfile: { extensionProfile: { extensions } } });
    try {
      if (o.noWait) await poller.submitted(); else await poller;
    } catch (e) { throw armError(e, `updating the extension profile of scale set ${name}`, `scale set ${name} in ${group}`); }
  }

  async scaleSetInstances(group: string, name: string): Promise<VmInfo[]> {
    const out: VmInfo[] = [];
    try {
      for await (const vm of this.client.virtualMachineScaleSetVMs.list(group, name)) {
        const view = await this.client.virtualMachineScaleSetVMs.getInstanceView(group, name, vm.instanceId ?? '');
        out.push({ id: vm.id ?? '', name: vm.name ?? '', location: vm.location ?? '', dataDisks: vm.storageProfile?.dataDisks?.length ?? 0, extensions: (view.extensions ?? []) as ExtensionView[] });
      }
    } catch (e) { throw armError(e, `reading the instances of scale set ${name}`, `scale set ${name} in ${group}`); }
    return out;
  }

  async runCommand(group: string, vm: string, name: string, body: Record<string, unknown>): Promise<RunCommandView> {
    try {
      await this.client.virtualMachineRunCommands.createOrUpdate(group, vm, name, body as unknown as Parameters<ComputeManagementClient['virtualMachineRunCommands']['createOrUpdate']>[3]);
      const rc = await this.client.virtualMachineRunCommands.getByVirtualMachine(group, vm, name, { expand: 'instanceView' });
      const v = rc.instanceView;
      return { executionState: v?.executionState ?? 'Unknown', exitCode: v?.exitCode, output: v?.output ?? '', error: v?.error ?? '' };
    } catch (e) { throw armError(e, `running the bootstrap on ${vm}`, `VM ${vm} in ${group}`); }
  }

  async deleteRunCommand(group: string, vm: string, name: string): Promise<void> {
    try { await this.client.virtualMachineRunCommands.delete(group, vm, name); } catch (e) { throw armError(e, `removing the run command ${name} from ${vm}`, `VM ${vm} in ${group}`); }
  }
}
