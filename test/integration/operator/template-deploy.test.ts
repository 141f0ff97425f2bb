// `ade-linux template` (the bundled CLI, as bin/ade-linux runs it) prints an ARM template; deployed to the fake
// Resource Manager through real HTTPS (https://management.azure.com via the fake's proxy, a managed identity from
// its IMDS through DefaultAzureCredential, the raw pipeline of @azure/core-rest-pipeline), polled to its end at
// the Azure-AsyncOperation URL, it leaves the VM with the extension and exactly the settings the template
// computes (KeyVaultURL from the vault's own vaultUri). ARM's errors come back in ARM's shape: InvalidTemplate
// before anything is deployed, DeploymentFailed holding the extension's own error after.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import { useFakeAzure } from '../../../lab/fakes/env.ts';
import { type Any, type ArmCall, rawArm, untilDone as pollDone } from '../../helpers/raw-arm.ts';
import { extensionFailureMessage } from '../../../lab/fakes/arm-errors.ts';
// @ts-expect-error: plain ESM build script
import { cliPath } from '../../../build/build.mjs';

const SUB = '00000000-0000-0000-0000-00000000cccc';
const RG = 'rg-tpl';
const NODE = join(import.meta.dirname, '../../../node_modules/.bin/node');
const FAILED = 'At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/DeployOperations for usage details.';

let fake: FakeAzure;
let arm: ArmCall;
let n = 0;
beforeAll(async () => {
  fake = await startFakeAzure();
  useFakeAzure(fake);
  arm = rawArm();
}, 120_000);
afterAll(async () => { await fake?.close(); });
beforeEach(() => { fake.arm.resetFaults(); fake.arm.onExtensionPut = undefined; fake.arm.pollsBeforeDone = 1; fake.log.clear(); });

const untilDone = (url: string) => pollDone(arm, url);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [cliPath as string, ...args], { env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
async function printed(args: string[]): Promise<Any> {
  const r = await cli(['template', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Any;
}

/** A running VM and a vault in its region, in RG. */
function seed() {
  const name = `vm${++n}`;
  const id = fake.arm.addVm(SUB, RG, name, { location: 'westeurope', dataDisks: [{ lun: 0 }] });
  const kv = `kv-tpl${n}`;
  const kvId = fake.arm.addVault(SUB, RG, kv, { location: 'westeurope', enabledForDiskEncryption: true });
  return { name, id, kv, kvId, deployment: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Resources/deployments/dep${n}` };
}
const deploy = (path: string, template: Any, parameters: Any) => arm('PUT', `${path}?api-version=2022-09-01`, { properties: { mode: 'Incremental', template, parameters } });

describe('ade-linux template, deployed to Resource Manager', () => {
  it('deploys: the VM gets the extension with the settings the template computes, and onExtensionPut sees them', async () => {
    const vm = seed();
    const kek = `https://${vm.kv}.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef`;
    const t = await printed(['--disk-encryption-keyvault', vm.kv, '--key-encryption-key', kek, '--key-encryption-algorithm', 'RSA-OAEP-256', '--volume-type', 'DATA']);
    t['outputs']['literal'] = { type: 'string', value: '[[not an expression]' };
    const seen: unknown[] = [];
    fake.arm.onExtensionPut = (vmId, x) => { seen.push({ vmId, name: x.name, settings: x.properties.settings }); };
    const put = await deploy(vm.deployment, t, { vmName: { value: vm.name } });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ id: vm.deployment, name: `dep${n}`, type: 'Microsoft.Resources/deployments', properties: { provisioningState: 'Accepted', mode: 'Incremental' } });
    const url = put.header('azure-asyncoperation')!;
    expect(url).toMatch(new RegExp(`^https://management\\.azure\\.com${vm.deployment}/operationStatuses/[0-9a-f-]{36}\\?api-version=2022-09-01$`));
    expect(await untilDone(url)).toEqual({ status: 'Succeeded' });
    const settings = {
      EncryptionOperation: 'EnableEncryption', KeyVaultURL: `https://${vm.kv}.vault.azure.net/`, KeyVaultResourceId: vm.kvId,
      KeyEncryptionKeyURL: kek, KekVaultResourceId: vm.kvId, KeyEncryptionAlgorithm: 'RSA-OAEP-256', VolumeType: 'DATA',
    };
    expect(fake.arm.extension(vm.id, 'DiskEncryption')?.body['properties']).toEqual({
      publisher: 'AdeLinux', type: 'DiskEncryption', typeHandlerVersion: '1.1', autoUpgradeMinorVersion: true,
      forceUpdateTag: expect.stringMatching(/^[0-9a-f-]{36}$/), settings, provisioningState: 'Succeeded',
    });
    expect(seen).toEqual([{ vmId: vm.id, name: 'DiskEncryption', settings }]);
    const got = await arm('GET', `${vm.deployment}?api-version=2022-09-01`);
    expect(got.body['properties']).toMatchObject({
      provisioningState: 'Succeeded', outputResources: [{ id: `${vm.id}/extensions/DiskEncryption` }],
      outputs: { extensionId: { value: `${vm.id}/extensions/DiskEncryption` }, literal: { value: '[not an expression]' } },
      parameters: { vmName: { value: vm.name }, keyVaultName: { value: vm.kv }, keyVaultResourceGroup: { value: RG }, volumeType: { value: 'DATA' } },
    });
    expect(fake.arm.deployment(vm.deployment)).toEqual(got.body);
    // The extension is written by ARM itself, not by the client: the client's requests are the deployment's only.
    const trail = fake.arm.requests().map((r) => `${r.method} ${r.status} ${r.permission ?? ''}`);
    expect(trail[0]).toBe('PUT 201 Microsoft.Resources/deployments/write');
    expect(trail.at(-1)).toBe('GET 200 Microsoft.Resources/deployments/read');
    expect(new Set(trail.slice(1, -1))).toEqual(new Set(['GET 200 Microsoft.Resources/deployments/operationStatuses/read']));
  });

});

describe('ade-linux template: what ARM refuses before deploying', () => {
  it("refuses what ARM refuses, in ARM's words, and deploys nothing", async () => {
    const vm = seed();
    const t = await printed(['--disk-encryption-keyvault', vm.kv]);
    const missing = await deploy(vm.deployment, t, {});
    expect(missing.status).toBe(400);
    expect(missing.body['error']['code']).toBe('InvalidTemplate');
    expect(missing.body['error']['message']).toMatch(/^Deployment template validation failed: 'The value for the template parameter 'vmName' at line '1' and column '\d+' is not provided\. Please see https:\/\/aka\.ms\/arm-create-parameter-file for usage details\.'\.$/);
    expect(missing.body['error']['additionalInfo']).toEqual([{ type: 'TemplateViolation', info: { lineNumber: 1, linePosition: expect.any(Number), path: 'properties.template.parameters.vmName' } }]);
    const disallowed = await deploy(vm.deployment, t, { vmName: { value: vm.name }, volumeType: { value: 'Everything' } });
    expect([disallowed.status, disallowed.body['error']['code']]).toEqual([400, 'InvalidTemplate']);
    expect(disallowed.body['error']['message']).toMatch(/The provided value 'Everything' for the template parameter 'volumeType' at line '1' and column '\d+' is not valid\. The parameter value is not part of the allowed value\(s\): 'OS,Data,All,DATA,ALL'\./);
    const extra = await deploy(vm.deployment, t, { vmName: { value: vm.name }, vmname2: { value: 'x' } });
    expect(extra.body['error']['message']).toContain("The template parameters 'vmname2' in the parameters file are not valid; they are not present in the original template");
    const unknown = structuredClone(t);
    unknown['resources'][0]['properties']['settings']['VolumeType'] = "[toUpper(parameters('volumeType'))]";
    const fn = await deploy(vm.deployment, unknown, { vmName: { value: vm.name } });
    expect([fn.status, fn.body['error']['code']]).toEqual([400, 'InvalidTemplate']);
    expect(fn.body['error']['message']).toMatch(/^Deployment template validation failed: 'The template resource '.*' at line '1' and column '\d+' is not valid: The template function 'toUpper' is not valid\. /);
    const guid = structuredClone(t);
    guid['resources'][0]['properties']['forceUpdateTag'] = '[newGuid()]';
    expect((await deploy(vm.deployment, guid, { vmName: { value: vm.name } })).body['error']['message']).toContain("is not valid: The template function 'newGuid' is not expected at this location.");
    const other = structuredClone(t);
    other['resources'].push({ type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-01-01', name: 'sa1', location: 'westeurope', properties: {} });
    const notModelled = await deploy(vm.deployment, other, { vmName: { value: vm.name } });
    expect([notModelled.status, notModelled.body['error']['code']]).toEqual([400, 'FakeArmNotModelled']);
    expect(notModelled.body['error']['message']).toContain("'Microsoft.Storage/storageAccounts'");
    expect(fake.arm.extension(vm.id, 'DiskEncryption')).toBeUndefined();
    expect(fake.arm.deployment(vm.deployment)).toBeUndefined();
  });

});

describe('ade-linux template: deployments that fail', () => {
  it("a failing extension fails the deployment: DeploymentFailed, its details the extension's error", async () => {
    const vm = seed();
    fake.arm.onExtensionPut = () => ({ failed: { code: '206', message: 'KeyVaultURL names another vault than KeyVaultResourceId.' } });
    const put = await deploy(vm.deployment, await printed(['--disk-encryption-keyvault', vm.kv]), { vmName: { value: vm.name } });
    expect(put.status).toBe(201);
    const error = {
      code: 'DeploymentFailed', message: FAILED,
      details: [{ code: 'VMExtensionProvisioningError', message: extensionFailureMessage('DiskEncryption', 'AdeLinux', 'DiskEncryption', 'KeyVaultURL names another vault than KeyVaultResourceId.') }],
    };
    expect(await untilDone(put.header('azure-asyncoperation')!)).toEqual({ status: 'Failed', error });
    expect((await arm('GET', `${vm.deployment}?api-version=2022-09-01`)).body['properties']).toMatchObject({ provisioningState: 'Failed', error });
    expect(fake.arm.extension(vm.id, 'DiskEncryption')?.body['properties']).toMatchObject({ provisioningState: 'Failed' });
  });

  it('a vault that is not there: accepted, then failed as ARM fails a reference() at deployment time', async () => {
    const vm = seed();
    const put = await deploy(vm.deployment, await printed(['--disk-encryption-keyvault', 'kv-nowhere']), { vmName: { value: vm.name } });
    expect(put.status).toBe(201);
    const end = await untilDone(put.header('azure-asyncoperation')!);
    expect(end).toMatchObject({ status: 'Failed', error: { code: 'DeploymentFailed', details: [{ code: 'InvalidTemplate' }] } });
    expect(end['error']['details'][0]['message']).toMatch(/^Unable to process template language expressions for resource '.*' at line '1' and column '\d+'\. 'The Resource 'Microsoft\.KeyVault\/vaults\/kv-nowhere' under resource group 'rg-tpl' was not found\./);
    expect(fake.arm.extension(vm.id, 'DiskEncryption')).toBeUndefined();
  });

});

describe('ade-linux template --format bicep', () => {
  it('the Bicep it prints names the same resource and settings (Bicep cannot be compiled here, so not deployed)', async () => {
    const tpl = await printed(['--disk-encryption-keyvault', 'kv']);
    const r = await cli(['template', '--format', 'bicep', '--disk-encryption-keyvault', 'kv']);
    expect(r.code).toBe(0);
    const p = tpl['resources'][0]['properties'];
    for (const k of Object.keys(p['settings'])) expect(r.stdout).toMatch(new RegExp(`\\n {6}${k}: `));
    expect(r.stdout).toContain(`resource diskEncryption '${String(tpl['resources'][0]['type'])}@${String(tpl['resources'][0]['apiVersion'])}'`);
    for (const k of ['publisher', 'type', 'typeHandlerVersion']) expect(r.stdout).toContain(`    ${k}: '${String(p[k])}'\n`);
  });
});
