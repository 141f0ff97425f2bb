// The fake Resource Manager driven by the real @azure/arm-compute client with a managed identity, through the
// fake Azure's proxy and IMDS (production URLs, https://management.azure.com): long-running writes, the
// instance view a test plays the agent for, scale sets, the vault GET, and ARM's faults as the SDK meets them.
import { ComputeManagementClient } from '@azure/arm-compute';
import { createDefaultHttpClient, createPipelineFromOptions, createPipelineRequest } from '@azure/core-rest-pipeline';
import { ManagedIdentityCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { useFakeAzure } from '../../../lab/fakes/env.ts';

const SUB = '00000000-0000-0000-0000-00000000aaaa';
const RG = 'rg-ade';
const EXT = 'AzureDiskEncryptionForLinux';
const fast = { updateIntervalInMs: 5 };
const ade = (settings: Record<string, unknown> = { EncryptionOperation: 'EnableEncryption', VolumeType: 'Data' }) => ({
  location: 'eastus', publisher: 'Microsoft.Azure.Security', typePropertiesType: EXT, typeHandlerVersion: '1.1',
  autoUpgradeMinorVersion: true, settings, protectedSettings: { Passphrase: 'p4ss-never-returned' },
});

let fake: FakeAzure;
let client: ComputeManagementClient;
let n = 0;
beforeAll(async () => {
  fake = await startFakeAzure();
  useFakeAzure(fake);
  client = new ComputeManagementClient(new ManagedIdentityCredential(), SUB);
});
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.arm.resetFaults(); fake.arm.onExtensionPut = undefined; fake.arm.pollsBeforeDone = 1; fake.log.clear(); });

/** A fresh VM per test, with one data disk. */
function newVm(): { name: string; id: string } {
  const name = `vm${++n}`;
  return { name, id: fake.arm.addVm(SUB, RG, name, { location: 'eastus', dataDisks: [{ lun: 0 }] }) };
}
/** The ARM requests so far, as "METHOD status last-segments". */
const trail = () => fake.arm.requests().map((r) => `${r.method} ${r.status} ${r.path.split('/').slice(-2).join('/')}`);
const failure = (p: PromiseLike<unknown>) => Promise.resolve(p).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as Error & { statusCode?: number; code?: string });

describe('VM extension writes', () => {
  it('PUT answers 201 + Azure-AsyncOperation, is polled to Succeeded, then read back; protectedSettings go in, never out', async () => {
    const vm = newVm();
    const seen: unknown[] = [];
    fake.arm.onExtensionPut = (vmId, x) => { seen.push({ vmId, protectedSettings: x.protectedSettings, publisher: x.properties.publisher }); };
    const ext = await client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast);
    expect(ext).toMatchObject({ name: EXT, provisioningState: 'Succeeded', typePropertiesType: EXT, settings: { VolumeType: 'Data' } });
    expect(ext.protectedSettings).toBeUndefined();
    expect(seen).toEqual([{ vmId: vm.id, protectedSettings: { Passphrase: 'p4ss-never-returned' }, publisher: 'Microsoft.Azure.Security' }]);
    expect(trail()).toEqual([`PUT 201 extensions/${EXT}`, ...Array(2).fill(expect.stringMatching(/^GET 200 operations\/[0-9a-f-]{36}$/)), `GET 200 extensions/${EXT}`]);
    const put = fake.arm.requests()[0]!;
    expect(put.permission).toBe('Microsoft.Compute/virtualMachines/extensions/write');
    expect(fake.tokens.lookup(put.headers['authorization']!.replace('Bearer ', ''))?.resource).toBe('https://management.azure.com');
    expect(fake.arm.extension(vm.id, EXT)?.protectedSettings).toEqual({ Passphrase: 'p4ss-never-returned' });
    const again = await client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade({ EncryptionOperation: 'DisableEncryption' }), fast);
    expect(again.settings).toEqual({ EncryptionOperation: 'DisableEncryption' });
    expect(trail()).toContain(`PUT 200 extensions/${EXT}`); // an update, not a create
  });

  it("a handler failure rejects the SDK's poller with VMExtensionProvisioningError quoting the handler, and fails the VM", async () => {
    const vm = newVm();
    fake.arm.onExtensionPut = async () => ({ failed: { code: '13', message: 'ade: the identity cannot read the key vault' } });
    const e = await failure(client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast));
    expect(e.message).toBe(`The long-running operation has failed. VMExtensionProvisioningError. VM has reported a failure when processing extension '${EXT}' (publisher 'Microsoft.Azure.Security' and type '${EXT}'). Error message: 'ade: the identity cannot read the key vault'. More information on troubleshooting is available at https://aka.ms/VMExtensionLinuxTroubleshoot. `);
    const got = await client.virtualMachines.get(RG, vm.name, { expand: 'instanceView' });
    expect(got.provisioningState).toBe('Failed');
    expect(got.instanceView?.statuses?.[0]).toMatchObject({ code: 'ProvisioningState/failed/VMExtensionProvisioningError', level: 'Error' });
    expect(got.instanceView?.extensions?.[0]?.statuses?.[0]).toMatchObject({ code: 'ProvisioningState/failed/13', level: 'Error', message: 'ade: the identity cannot read the key vault' });
    expect(got.resources?.[0]).toMatchObject({ name: EXT, provisioningState: 'Failed' });
  });

});

describe('instance view and VM writes', () => {
  it('the instance view shows the extension transitioning while its operation runs, then the substatus the agent reported', async () => {
    const vm = newVm();
    let decide!: () => void;
    fake.arm.onExtensionPut = () => new Promise<void>((r) => { decide = r; });
    const poller = client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast);
    await poller.submitted();
    const during = await client.virtualMachines.get(RG, vm.name, { expand: 'instanceView' });
    expect(during.provisioningState).toBe('Updating');
    expect(during.instanceView?.extensions?.[0]).toMatchObject({ name: EXT, type: `Microsoft.Azure.Security.${EXT}`, typeHandlerVersion: '1.1', statuses: [{ code: 'ProvisioningState/transitioning' }] });
    const state = JSON.stringify({ os: 'NotEncrypted', data: 'EncryptionInProgress' });
    fake.arm.setExtensionInstanceView(vm.id, EXT, {
      statuses: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', message: 'Encryption started' }],
      substatuses: [{ code: 'ComponentStatus/EncryptionState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', message: state }],
    });
    decide();
    expect((await poller).provisioningState).toBe('Succeeded');
    const after = await client.virtualMachines.get(RG, vm.name, { expand: 'instanceView' });
    expect(after.provisioningState).toBe('Succeeded');
    expect(after.instanceView?.extensions?.[0]?.substatuses?.[0]).toMatchObject({ code: 'ComponentStatus/EncryptionState/succeeded', message: state });
    expect(after.instanceView?.disks?.map((d) => d.name)).toEqual([expect.stringMatching(new RegExp(`^${vm.name}_OsDisk_1_`)), `${vm.name}_DataDisk_0`]);
    const ext = await client.virtualMachineExtensions.get(RG, vm.name, EXT, { expand: 'instanceView' });
    expect(ext.instanceView?.substatuses?.[0]?.message).toBe(state);
    expect((await client.virtualMachines.instanceView(RG, vm.name)).extensions?.[0]?.statuses?.[0]?.message).toBe('Encryption started');
  });

  it('VM PATCH is long-running: polled to Succeeded, the change merged into the model', async () => {
    const vm = newVm();
    const uami = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ade-id`;
    const got = await client.virtualMachines.update(RG, vm.name, { securityProfile: { encryptionIdentity: { userAssignedIdentityResourceId: uami } } }, fast);
    expect(got.provisioningState).toBe('Succeeded');
    expect(got.securityProfile?.encryptionIdentity?.userAssignedIdentityResourceId).toBe(uami);
    expect(got.storageProfile?.dataDisks?.map((d) => d.lun)).toEqual([0]); // merged, not replaced
    expect(trail()).toEqual([`PATCH 200 virtualMachines/${vm.name}`, expect.stringMatching(/^GET 200 operations\//), expect.stringMatching(/^GET 200 operations\//), `GET 200 virtualMachines/${vm.name}`]);
    const listed = [];
    for await (const v of client.virtualMachines.list(RG)) listed.push(v.id);
    for await (const v of client.virtualMachines.listAll()) listed.push(v.id);
    expect(listed.filter((x) => x === vm.id)).toHaveLength(2);
  });
});

describe('scale sets and vaults', () => {
  it('a scale-set PUT writes the extension profile; Manual instances have not applied the model yet', async () => {
    const id = fake.arm.addScaleSet(SUB, RG, 'ss1', { location: 'eastus', capacity: 2 });
    const model = await client.virtualMachineScaleSets.get(RG, 'ss1');
    model.virtualMachineProfile!.extensionProfile = { extensions: [{ name: EXT, ...ade({ VolumeType: 'Data', EncryptionOperation: 'EnableEncryption' }) }] };
    const put = await client.virtualMachineScaleSets.createOrUpdate(RG, 'ss1', model, fast);
    expect(put.provisioningState).toBe('Succeeded');
    const written = put.virtualMachineProfile?.extensionProfile?.extensions?.[0];
    expect(written).toMatchObject({ name: EXT, publisher: 'Microsoft.Azure.Security', typePropertiesType: EXT, settings: { VolumeType: 'Data' } });
    expect(written?.protectedSettings).toBeUndefined();
    expect(fake.arm.scaleSet(id)?.protectedSettings).toEqual({ [EXT.toLowerCase()]: { Passphrase: 'p4ss-never-returned' } });
    expect(trail()[1]).toBe('PUT 200 virtualMachineScaleSets/ss1');
    const instances = [];
    for await (const i of client.virtualMachineScaleSetVMs.list(RG, 'ss1')) instances.push([i.instanceId, i.latestModelApplied]);
    expect(instances).toEqual([['0', false], ['1', false]]);
    const view = await client.virtualMachineScaleSetVMs.getInstanceView(RG, 'ss1', '1');
    expect(view.statuses?.map((s) => s.code)).toEqual(['ProvisioningState/succeeded', 'PowerState/running']);
  });

  it("the Key Vault management plane answers a vault GET through the compute client's pipeline", async () => {
    const id = fake.arm.addVault(SUB, RG, 'kv1', { location: 'eastus', enabledForDiskEncryption: true });
    const http = createDefaultHttpClient();
    const get = async (path: string, pipeline = client.pipeline) => {
      const res = await pipeline.sendRequest(http, createPipelineRequest({ url: `https://management.azure.com${path}`, method: 'GET' }));
      return { status: res.status, body: JSON.parse(res.bodyAsText ?? '{}') as Record<string, any> };
    };
    const ok = await get(`${id}?api-version=2023-07-01`);
    expect(ok).toMatchObject({ status: 200, body: { id, name: 'kv1', location: 'eastus', properties: { vaultUri: 'https://kv1.vault.azure.net/', enabledForDiskEncryption: true, tenantId: fake.tenantId } } });
    expect(await get(`${id.replace('kv1', 'kv2')}?api-version=2023-07-01`)).toMatchObject({ status: 404, body: { error: { code: 'ResourceNotFound', message: expect.stringContaining("'Microsoft.KeyVault/vaults/kv2' under resource group 'rg-ade'") } } });
    expect(await get(id)).toMatchObject({ status: 400, body: { error: { code: 'MissingApiVersionParameter' } } });
    expect(await get(`${id}?api-version=2023-07-01`, createPipelineFromOptions({}))).toMatchObject({ status: 401, body: { error: { code: 'AuthenticationFailed' } } });
  });
});

describe("ARM's faults, as the SDK meets them", () => {
  it('429 with Retry-After: the SDK retries and gets the VM', async () => {
    const vm = newVm();
    fake.arm.faults.throttle.push({ action: 'Microsoft.Compute/virtualMachines/read', count: 2, retryAfter: '0' });
    expect((await client.virtualMachines.get(RG, vm.name)).name).toBe(vm.name);
    expect(trail()).toEqual([429, 429, 200].map((s) => `GET ${s} virtualMachines/${vm.name}`));
  });

  it("403 AuthorizationFailed names the client, its object id, the action and the scope, in ARM's words", async () => {
    const vm = newVm();
    fake.arm.faults.forbidden.push({ action: 'Microsoft.Compute/virtualMachines/extensions/write', scope: vm.id });
    const e = await failure(client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast));
    const { appId, objectId } = fake.imds.system;
    expect([e.statusCode, e.code]).toEqual([403, 'AuthorizationFailed']);
    expect(e.message).toBe(`The client '${appId}' with object id '${objectId}' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/extensions/write' over scope '${vm.id}/extensions/${EXT}' or the scope is invalid. If access was recently granted, please refresh your credentials.`);
    expect(fake.arm.extension(vm.id, EXT)).toBeUndefined();
    expect((await client.virtualMachines.get(RG, vm.name)).name).toBe(vm.name); // reads stay allowed
  });

  it('409 Conflict for the next write only; the retry goes through', async () => {
    const vm = newVm();
    fake.arm.faults.conflict.push({ action: 'Microsoft.Compute/virtualMachines/extensions/write', count: 1 });
    const e = await failure(client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast));
    expect([e.statusCode, e.code]).toEqual([409, 'Conflict']);
    expect((await client.virtualMachineExtensions.createOrUpdate(RG, vm.name, EXT, ade(), fast)).provisioningState).toBe('Succeeded');
  });

  it("unknown resources and tokens for another audience answer with ARM's codes", async () => {
    const vm = newVm();
    const code = async (p: PromiseLike<unknown>) => { const e = await failure(p); return `${e.statusCode} ${e.code}`; };
    expect(await code(client.virtualMachines.get(RG, 'nope'))).toBe('404 ResourceNotFound');
    expect(await code(client.virtualMachines.get('rg-nope', vm.name))).toBe('404 ResourceGroupNotFound');
    expect(await code(client.virtualMachineExtensions.get(RG, 'nope', EXT))).toBe('404 ParentResourceNotFound');
    expect(await code(client.virtualMachineExtensions.get(RG, vm.name, EXT))).toBe('404 ResourceNotFound');
    expect(await code(new ComputeManagementClient(new ManagedIdentityCredential(), 'ffffffff-0000-0000-0000-000000000000').virtualMachines.get(RG, vm.name))).toBe('404 SubscriptionNotFound');
    const vaultScoped = new ComputeManagementClient(new ManagedIdentityCredential(), SUB, { credentials: { scopes: ['https://vault.azure.net/.default'] } });
    expect(await code(vaultScoped.virtualMachines.get(RG, vm.name))).toBe('401 InvalidAuthenticationTokenAudience');
  });
});
