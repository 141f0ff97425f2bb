// The Azure Policy definitions in policy/ created through the fake Resource Manager as they are (real HTTPS via
// the fake's proxy, DefaultAzureCredential on its IMDS, the raw @azure/core-rest-pipeline), assigned to a
// resource group, and evaluated by FakeArm.remediate as Azure Policy evaluates them: exactly the Linux VMs in
// scope without the ade-linux extension in Succeeded are non-compliant, and DeployIfNotExists deploys it to them,
// through the deployments endpoint, with the settings `ade-linux template` would give. Azure's refusals of a DINE
// assignment without an identity and of malformed definitions come back in Azure's shape.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { useFakeAzure } from '../../../lab/fakes/env.ts';
import { type Any, type ArmCall, rawArm } from '../../helpers/raw-arm.ts';
import { armTemplate } from '../../../src/operator/template.ts';

const SUB = '00000000-0000-0000-0000-00000000dddd';
const RG = 'rg-pol';
const load = (f: string) => JSON.parse(readFileSync(join(import.meta.dirname, '../../../policy', f), 'utf8')) as Any;
const DINE = load('deploy-if-not-exists.json');
const AUDIT = load('audit.json');
const DEFS = `/subscriptions/${SUB}/providers/Microsoft.Authorization/policyDefinitions`;
const ASSIGN = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Authorization/policyAssignments`;

let fake: FakeAzure;
let arm: ArmCall;
let kvId: string;
beforeAll(async () => {
  fake = await startFakeAzure();
  useFakeAzure(fake);
  arm = rawArm();
  kvId = fake.arm.addVault(SUB, RG, 'kv-pol', { location: 'westeurope', enabledForDiskEncryption: true });
}, 120_000);
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.arm.onExtensionPut = undefined; fake.log.clear(); });

const put = (path: string, body: unknown) => arm('PUT', `${path}?api-version=2023-04-01`, body);

/** An extension written directly (as `az vm extension set` would), polled to its end. */
async function extension(vmId: string, name: string, publisher: string, type: string): Promise<void> {
  const r = await arm('PUT', `${vmId}/extensions/${name}?api-version=2024-07-01`, { location: 'westeurope', properties: { publisher, type, typeHandlerVersion: '1.1', settings: {} } });
  expect(r.status).toBe(201);
  for (;;) {
    const s = await arm('GET', r.header('azure-asyncoperation')!);
    if (s.body['status'] !== 'InProgress') return;
  }
}

const states = (rs: { resourceId: string; complianceState: string }[]) => Object.fromEntries(rs.map((r) => [r.resourceId.split('/').pop(), r.complianceState]));

describe('policy/ definitions on the fake Resource Manager', () => {
  it('deploy the same extension resource as ade-linux template (settings keys, version, vault reference)', () => {
    const cli = (armTemplate({}) as Any)['resources'][0];
    const pol = DINE['properties']['policyRule']['then']['details']['deployment']['properties']['template']['resources'][0];
    expect(pol['type']).toBe(cli['type']);
    expect(pol['apiVersion']).toBe(cli['apiVersion']);
    expect(Object.keys(pol['properties']).sort()).toEqual(Object.keys(cli['properties']).sort());
    expect(Object.keys(pol['properties']['settings']).sort()).toEqual(Object.keys(cli['properties']['settings']).sort());
    for (const k of ['typeHandlerVersion', 'autoUpgradeMinorVersion']) expect(pol['properties'][k]).toBe(cli['properties'][k]);
    const vaultApi = (s: string) => /reference\([^,]+, '([\d-]+)'\)\.vaultUri/.exec(s)?.[1];
    expect(vaultApi(pol['properties']['settings']['KeyVaultURL'])).toBe(vaultApi(cli['properties']['settings']['KeyVaultURL']));
    expect(DINE['properties']['parameters']['publisher']['defaultValue']).toBe(cli['properties']['publisher']);
    expect(DINE['properties']['parameters']['extensionType']['defaultValue']).toBe(cli['properties']['type']);
  });

});

describe('policy/ definitions assigned on the fake Resource Manager', () => {
  it('assigned to a resource group: the audit finds exactly the right VMs, DINE deploys to exactly those, with the settings', async () => {
    expect((await put(`${DEFS}/ade-linux-deploy`, DINE)).status).toBe(201);
    expect((await put(`${DEFS}/ade-linux-audit`, AUDIT)).status).toBe(201);
    const vm = (name: string, seed: Any = {}, rg = RG) => fake.arm.addVm(SUB, rg, name, { location: 'westeurope', ...seed });
    const ids = {
      bare: vm('linux-bare'), done: vm('linux-done'), failed: vm('linux-failed'), msade: vm('linux-msade'),
      eastus: vm('linux-eastus', { location: 'eastus' }), windows: vm('win', { osType: 'Windows' }),
      excluded: vm('linux-excluded', { tags: { 'ADE-Linux-Exclude': 'TRUE' } }), elsewhere: vm('linux-elsewhere', {}, 'rg-elsewhere'),
    };
    await extension(ids.done, 'DiskEncryption', 'AdeLinux', 'DiskEncryption');
    fake.arm.onExtensionPut = () => ({ failed: { message: 'no access to the vault' } });
    await extension(ids.failed, 'DiskEncryption', 'AdeLinux', 'DiskEncryption');
    fake.arm.onExtensionPut = undefined;
    await extension(ids.msade, 'AzureDiskEncryptionForLinux', 'Microsoft.Azure.Security', 'AzureDiskEncryptionForLinux');

    const audit = await put(`${ASSIGN}/ade-audit`, { properties: { policyDefinitionId: `${DEFS}/ade-linux-audit` } });
    expect(audit.status).toBe(201);
    const dine = await put(`${ASSIGN}/ade-dine`, {
      location: 'westeurope', identity: { type: 'SystemAssigned' },
      properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy`, parameters: { keyVaultResourceId: { value: kvId }, vmLocations: { value: ['westeurope'] }, volumeType: { value: 'All' } } },
    });
    expect(dine.status).toBe(201);
    expect(dine.body).toMatchObject({ identity: { type: 'SystemAssigned', principalId: expect.stringMatching(/^[0-9a-f-]{36}$/), tenantId: fake.tenantId }, properties: { scope: `/subscriptions/${SUB}/resourceGroups/${RG}` } });

    const before = { 'linux-bare': 'NonCompliant', 'linux-done': 'Compliant', 'linux-failed': 'NonCompliant', 'linux-msade': 'NonCompliant', 'linux-eastus': 'NonCompliant' };
    expect(states(await fake.arm.remediate(audit.body['id']))).toEqual(before);

    const puts: string[] = [];
    fake.arm.onExtensionPut = (vmId) => { puts.push(vmId); };
    const remediated = await fake.arm.remediate(dine.body['id']);
    expect(states(remediated)).toEqual({ 'linux-bare': 'NonCompliant', 'linux-done': 'Compliant', 'linux-failed': 'NonCompliant', 'linux-msade': 'NonCompliant' });
    expect(puts.sort()).toEqual([ids.bare, ids.failed, ids.msade].sort());
    for (const r of remediated.filter((x) => x.complianceState === 'NonCompliant')) {
      expect(r.deployment).toMatchObject({ name: expect.stringMatching(/^PolicyDeployment_\d+$/), properties: { provisioningState: 'Succeeded' } });
      expect(fake.arm.deployment(String(r.deployment!['id']))).toEqual(r.deployment);
      expect(fake.arm.extension(r.resourceId, 'DiskEncryption')?.body).toMatchObject({
        location: 'westeurope',
        properties: {
          publisher: 'AdeLinux', type: 'DiskEncryption', typeHandlerVersion: '1.1', autoUpgradeMinorVersion: true, provisioningState: 'Succeeded',
          settings: { EncryptionOperation: 'EnableEncryption', KeyVaultURL: 'https://kv-pol.vault.azure.net/', KeyVaultResourceId: kvId, KeyEncryptionKeyURL: '', KekVaultResourceId: '', KeyEncryptionAlgorithm: 'RSA-OAEP', VolumeType: 'All' },
        },
      });
    }
    for (const id of [ids.eastus, ids.windows, ids.excluded, ids.elsewhere]) expect(fake.arm.extension(id, 'DiskEncryption')).toBeUndefined();
    expect(states(await fake.arm.remediate(audit.body['id']))).toEqual({ ...before, 'linux-bare': 'Compliant', 'linux-failed': 'Compliant', 'linux-msade': 'Compliant' });
  });

});

describe('policy assignments and definitions Azure refuses', () => {
  it("refuses a DINE assignment without an identity, and definitions Azure refuses, in Azure's words", async () => {
    await put(`${DEFS}/ade-linux-deploy`, DINE);
    const params = { keyVaultResourceId: { value: kvId } };
    const noIdentity = await put(`${ASSIGN}/no-identity`, { properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy`, parameters: params } });
    expect([noIdentity.status, noIdentity.body['error']]).toEqual([400, { code: 'ResourceIdentityRequired', message: "The policy assignment 'no-identity' request is invalid. Policy assignments must include a resource identity when assigning 'DeployIfNotExists' policy definitions." }]);
    const auditOnly = await put(`${ASSIGN}/audit-only`, { properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy`, parameters: { ...params, effect: { value: 'AuditIfNotExists' } } } });
    expect(auditOnly.status).toBe(201);
    const noLocation = await put(`${ASSIGN}/no-location`, { identity: { type: 'SystemAssigned' }, properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy`, parameters: params } });
    expect(noLocation.body['error']['code']).toBe('LocationRequired');
    const noVault = await put(`${ASSIGN}/no-vault`, { location: 'westeurope', identity: { type: 'SystemAssigned' }, properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy` } });
    expect([noVault.status, noVault.body['error']['code']]).toEqual([400, 'MissingPolicyParameter']);
    const casing = await put(`${ASSIGN}/casing`, { location: 'westeurope', identity: { type: 'SystemAssigned' }, properties: { policyDefinitionId: `${DEFS}/ade-linux-deploy`, parameters: { ...params, volumeType: { value: 'data' } } } });
    expect(casing.body['error']).toEqual({ code: 'InvalidPolicyParameters', message: "The value 'data' is not allowed for policy parameter 'volumeType' in policy definition 'ade-linux-deploy'. The allowed values are 'OS, Data, All, DATA, ALL'." });

    const rule = (edit: (r: Any) => void) => { const d = structuredClone(DINE); edit(d['properties']['policyRule']); return d; };
    const noThen = await put(`${DEFS}/no-then`, rule((r) => { delete r['then']; }));
    expect([noThen.status, noThen.body['error']]).toEqual([400, { code: 'InvalidPolicyRule', message: "Failed to parse policy rule: 'Required property 'then' not found in JSON. Path ''.'." }]);
    const badEffect = await put(`${DEFS}/bad-effect`, rule((r) => { r['then']['effect'] = 'deployIfNotExist'; }));
    expect(badEffect.body['error']).toEqual({ code: 'InvalidPolicyRuleEffect', message: "The policy definition 'bad-effect' rule is invalid. The policy 'effect' property value cannot be 'deployIfNotExist'." });
    const noRoles = await put(`${DEFS}/no-roles`, rule((r) => { delete r['then']['details']['roleDefinitionIds']; }));
    expect(noRoles.body['error']).toEqual({ code: 'InvalidPolicyRuleEffectDetails', message: "The policy definition 'no-roles' rule is invalid. The policy effect 'details' property could not be parsed." });
    const alias = await put(`${DEFS}/alias`, rule((r) => { r['if']['allOf'][1]['field'] = 'Microsoft.Compute/virtualMachines/securityProfile.encryptionAtHost'; }));
    expect([alias.status, alias.body['error']['code']]).toEqual([400, 'FakeArmNotModelled']);
    expect((await arm('GET', `${DEFS}/no-then?api-version=2023-04-01`)).status).toBe(404);
  });
});
