// The bundled CLI beyond one VM's extension, against the fake Resource Manager: the key references it records
// on the managed disks once the volumes are encrypted (and clears after a decryption), scale sets through
// their model, and fleets: every Linux VM of a group or a tag, resumable by running the same command again.
import { describe, expect, it } from 'vitest';
import type { Json } from '../../../lab/fakes/arm-store.ts';
import { fakeAzureForFile, runCli, status } from './cli-run.ts';

const SUB = '00000000-0000-0000-0000-00000000cccc';
const fake = fakeAzureForFile();
let n = 0;

const cli = (args: string[]) => runCli(fake(), SUB, args);
const secret = (kv: string, name: string) => `https://${kv}.vault.azure.net/secrets/${name}/0123456789abcdef`;
const storage = (vm: Json | undefined) => ((vm?.['properties'] as Json)['storageProfile'] as Json);
const diskId = (vm: Json | undefined, lun?: number): string => {
  const sp = storage(vm);
  const d = lun === undefined ? sp['osDisk'] as Json : (sp['dataDisks'] as Json[]).find((x) => x['lun'] === lun)!;
  return String((d['managedDisk'] as Json)['id']);
};
const collection = (id: string) => ((fake().arm.disk(id)?.['properties'] as Json | undefined)?.['encryptionSettingsCollection']) as Json | undefined;

function group(rg: string) {
  const kv = `kv${++n}`;
  const kvId = fake().arm.addVault(SUB, rg, kv, { location: 'westeurope', enabledForDiskEncryption: true, vaultUri: `https://${kv}.vault.azure.net/` });
  return { rg, kv, kvId };
}

describe('key references on the managed disks', () => {
  it('after success: each encrypted volume\'s secret on its disk (OS by /, data by LUN), with the KEK; disable clears the data disks', async () => {
    const g = group('rg-keys');
    const vmId = fake().arm.addVm(SUB, g.rg, 'vmk', { location: 'westeurope', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }, { lun: 1 }] });
    fake().arm.allowVault(g.kvId, vmId);
    const kek = fake().vault.createKey(`${g.kv}.vault.azure.net`, 'kek', 2048);
    fake().arm.onExtensionPut = (id, x) => fake().arm.setExtensionInstanceView(id, x.name, status('succeeded', 'Encrypted', 'Encrypted', [
      { device: '/dev/disk/azure/root-part1', mountpoint: '/', state: 'Encrypted', secretUrl: secret(g.kv, 'os') },
      { device: '/dev/disk/azure/scsi1/lun1-part1', mountpoint: '/data', state: 'Encrypted', secretUrl: secret(g.kv, 'lun1') },
    ], 'Encrypted the OS volume and 1 data volume(s).'));
    const r = await cli(['enable', '-g', g.rg, '-n', 'vmk', '--disk-encryption-keyvault', g.kv, '--key-encryption-key', kek.url, '--volume-type', 'ALL']);
    expect(r.code, r.stderr).toBe(0);
    const vm = fake().arm.vm(vmId);
    const kekRef = { keyUrl: kek.url, sourceVault: { id: g.kvId } };
    expect(collection(diskId(vm))).toEqual({ enabled: true, encryptionSettingsVersion: '1.1', encryptionSettings: [{ diskEncryptionKey: { secretUrl: secret(g.kv, 'os'), sourceVault: { id: g.kvId } }, keyEncryptionKey: kekRef }] });
    expect(collection(diskId(vm, 1))).toEqual({ enabled: true, encryptionSettingsVersion: '1.1', encryptionSettings: [{ diskEncryptionKey: { secretUrl: secret(g.kv, 'lun1'), sourceVault: { id: g.kvId } }, keyEncryptionKey: kekRef }] });
    expect(collection(diskId(vm, 0))).toBeUndefined();
    expect(r.stderr).toMatch(/Disk vmk_DataDisk_1 \(LUN 1\): key reference https:\/\/kv\d+\.vault\.azure\.net\/secrets\/lun1\/\w+ written/);
    // The VM model itself is untouched: az would take an osDisk.encryptionSettings for the old dual-pass ADE.
    expect((storage(vm)['osDisk'] as Json)['encryptionSettings']).toBeUndefined();
    const show = await cli(['show', '-g', g.rg, '-n', 'vmk']);
    expect(show.code, show.stderr).toBe(0);

    fake().arm.onExtensionPut = (id, x) => fake().arm.setExtensionInstanceView(id, x.name, status('succeeded', 'Encrypted', 'NotEncrypted', [], 'Decrypted 1 data volume(s).'));
    const d = await cli(['disable', '-g', g.rg, '-n', 'vmk']);
    expect(d.code, d.stderr).toBe(0);
    expect(collection(diskId(vm, 1))?.['enabled']).toBe(false);
    expect(collection(diskId(vm))?.['enabled']).toBe(true);
  }, 90_000);
});

describe('scale sets', () => {
  it('Automatic upgrades: the extension in the model (az vmss\'s settings, a fresh forceUpdateTag), each instance followed to the end', async () => {
    const g = group('rg-ss');
    const ssId = fake().arm.addScaleSet(SUB, g.rg, 'ss1', { location: 'westeurope', identity: { type: 'SystemAssigned' }, capacity: 2, upgradeMode: 'Automatic', dataDisks: [{ lun: 0 }], extensions: [{ name: 'other', properties: { publisher: 'P', type: 'T', typeHandlerVersion: '1.0' } }] });
    fake().arm.allowVault(g.kvId, ssId);
    for (const i of ['0', '1']) fake().arm.setExtensionInstanceView(`${ssId}/virtualMachines/${i}`, 'DiskEncryption', status('succeeded', 'NotEncrypted', 'Encrypted', [{ device: '/dev/disk/azure/scsi1/lun0', mountpoint: '/data', state: 'Encrypted' }]));
    const r = await cli(['enable', '-g', g.rg, '-n', 'ss1', '--disk-encryption-keyvault', g.kv]);
    expect(r.code, r.stderr).toBe(0);
    const exts = ((((fake().arm.scaleSet(ssId)!['properties'] as Json)['virtualMachineProfile'] as Json)['extensionProfile'] as Json)['extensions'] as Json[]);
    expect(exts.map((e) => e['name'])).toEqual(['other', 'DiskEncryption']);
    expect((exts[1]!['properties'] as Json)).toMatchObject({ publisher: 'AdeLinux', type: 'DiskEncryption', typeHandlerVersion: '1.1', autoUpgradeMinorVersion: true, forceUpdateTag: expect.stringMatching(/^[0-9a-f-]{36}$/),
      settings: { KeyVaultURL: `https://${g.kv}.vault.azure.net`, KeyEncryptionKeyURL: '', KeyVaultResourceId: g.kvId, KekVaultResourceId: '', KeyEncryptionAlgorithm: '', VolumeType: 'DATA', EncryptionOperation: 'EnableEncryption' } });
    expect(r.stdout).toMatch(/^scale set ss1: 2 instance\(s\)\nInstance\s+OS\s+Data\s+Done\s+Extension\nss1_0\s+NotEncrypted\s+Encrypted\s+100%\s+succeeded\nss1_1\s/);
    const show = await cli(['show', '-g', g.rg, '-n', 'ss1', '-o', 'json']);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ scaleSet: 'ss1', instances: [{ name: 'ss1_0', data: 'Encrypted' }, { name: 'ss1_1', data: 'Encrypted' }] });
  }, 90_000);

  it('Manual upgrades: the model is set and the CLI says how to bring the instances up to date; OS needs --force', async () => {
    const g = group('rg-ssm');
    fake().arm.allowVault(g.kvId, fake().arm.addScaleSet(SUB, g.rg, 'ss2', { location: 'westeurope', identity: { type: 'SystemAssigned' }, capacity: 1, upgradeMode: 'Manual' }));
    const os = await cli(['enable', '-g', g.rg, '-n', 'ss2', '--disk-encryption-keyvault', g.kv, '--volume-type', 'OS']);
    expect(os.code).toBe(1);
    expect(os.stderr).toMatch(/\[701\] on a scale set, enable works on data volumes only \(--volume-type DATA\), not OS/);
    const r = await cli(['enable', '-g', g.rg, '-n', 'ss2', '--disk-encryption-keyvault', g.kv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`az vmss update-instances -g ${g.rg} -n ss2 --instance-ids "*"`);
    const show = await cli(['show', '-g', g.rg, '-n', 'ss2']);
    expect(show.code).toBe(14);
  }, 90_000);
});

describe('fleets', () => {
  it('every Linux VM with the tag, a summary; run again: the encrypted are skipped, nothing deployed twice; a failure is named', async () => {
    const g = group('rg-fleet');
    for (const [name, tags, osType] of [['f1', { env: 'prod' }, 'Linux'], ['f2', { env: 'prod' }, 'Linux'], ['f3', { env: 'dev' }, 'Linux'], ['f4', { env: 'prod' }, 'Windows'], ['f5', { env: 'prod' }, 'Linux']] as const) {
      fake().arm.allowVault(g.kvId, fake().arm.addVm(SUB, g.rg, name, { location: 'westeurope', identity: { type: 'SystemAssigned' }, tags, osType, dataDisks: [{ lun: 0 }] }));
    }
    const puts: string[] = [];
    fake().arm.onExtensionPut = (id, x) => {
      const vm = id.split('/').pop()!;
      puts.push(vm);
      if (vm === 'f5') return { failed: { code: '52', message: 'The key volume (BEK VOLUME) is not attached.' } };
      fake().arm.setExtensionInstanceView(id, x.name, status('succeeded', 'NotEncrypted', 'Encrypted', [{ device: '/dev/disk/azure/scsi1/lun0', mountpoint: '/data', state: 'Encrypted', secretUrl: secret(g.kv, vm) }], 'Encrypted 1 data volume(s).'));
      return undefined;
    };
    const args = ['enable', '-g', g.rg, '--tag', 'env=prod', '--disk-encryption-keyvault', g.kv, '--volume-type', 'DATA', '--max-parallel', '2'];
    const r = await cli(args);
    expect(r.code).toBe(16);
    expect(puts.sort()).toEqual(['f1', 'f2', 'f5']);
    expect(r.stdout).toMatch(/^VM\s+Result\s+Detail\nf1\s+encrypted\s+Encrypted 1 data volume\(s\)\.\nf2\s+encrypted\s.*\nf5\s+failed\s+\[712\] The extension on f5 reported a failure: The key volume \(BEK VOLUME\) is not attached\.\n$/);
    expect(r.stderr).toMatch(/\[?1 of 3 VMs did not end encrypted: f5\. .*run the same command again/);

    puts.length = 0;
    const again = await cli(args);
    expect(puts).toEqual(['f5']);
    expect(again.stdout).toMatch(/f1\s+skipped\s+already encrypted with this vault\nf2\s+skipped/);
    const show = await cli(['show', '-g', g.rg, '--tag', 'env=prod', '-o', 'json']);
    expect(show.code).toBe(16);
    expect(JSON.parse(show.stdout)).toEqual([
      { vm: 'f1', result: 'not encrypted', detail: 'OS NotEncrypted, data Encrypted' }, { vm: 'f2', result: 'not encrypted', detail: 'OS NotEncrypted, data Encrypted' }, { vm: 'f5', result: 'not encrypted', detail: 'OS unknown, data unknown' }]);
  }, 120_000);

  it('no VM matches: 715, naming the group and the tag', async () => {
    const g = group('rg-empty');
    fake().arm.addVm(SUB, g.rg, 'e1', { location: 'westeurope', tags: { env: 'dev' } });
    const r = await cli(['show', '-g', g.rg, '--tag', 'env=prod']);
    expect(r.code).toBe(15);
    expect(r.stderr).toMatch(/\[715\] No Linux VM in resource group rg-empty matches --tag env=prod/);
  }, 60_000);
});
