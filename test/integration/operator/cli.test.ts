// The bundled operator CLI (build/cli/cli.mjs, as bin/ade-linux runs it) against the fake Azure's Resource
// Manager and Key Vault, reached the way production code reaches Azure: https://management.azure.com through
// HTTPS_PROXY and CA trust, a managed identity from the fake IMDS through DefaultAzureCredential. The fake plays
// the guest agent: on the extension PUT it reports the extension's status as our handler writes it, step by step.
import { describe, expect, it } from 'vitest';
import { fakeAzureForFile, runCli, status } from './cli-run.ts';

const SUB = '00000000-0000-0000-0000-00000000bbbb';
const RG = 'rg-cli';
const fake = fakeAzureForFile();
let n = 0;

const cli = (args: string[], pollMs = '20') => runCli(fake(), SUB, args, pollMs);

/** A VM with one data disk and a vault in its region; returns the VM's name and id and the vault's id. */
function seed(vault: { enabledForDiskEncryption?: boolean; location?: string } = {}) {
  const name = `vm${++n}`;
  const id = fake().arm.addVm(SUB, RG, name, { location: 'westeurope', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }] });
  const kv = `kv${n}`;
  const kvId = fake().arm.addVault(SUB, RG, kv, { location: vault.location ?? 'westeurope', enabledForDiskEncryption: vault.enabledForDiskEncryption ?? true, vaultUri: `https://${kv}.vault.azure.net/` });
  fake().arm.allowVault(kvId, id);
  return { name, id, kv, kvId };
}

describe('ade-linux enable / show / disable against Resource Manager', () => {
  it('enable: pre-flight, one PUT with az\'s settings, progress from the Volumes substatus, then the end state; show exits 0', async () => {
    const vm = seed();
    const puts: Array<Record<string, unknown>> = [];
    const steps = [
      status('succeeded', 'NotEncrypted', 'EncryptionInProgress', [{ device: '/dev/sdc', mountpoint: '/data', state: 'EncryptionInProgress', percent: 35, etaSeconds: 65 }]),
      status('succeeded', 'NotEncrypted', 'EncryptionInProgress', [{ device: '/dev/sdc', mountpoint: '/data', state: 'EncryptionInProgress', percent: 80, etaSeconds: 12 }]),
      status('succeeded', 'NotEncrypted', 'Encrypted', [{ device: '/dev/sdc', mountpoint: '/data', state: 'Encrypted' }], 'Encrypted 1 data volume(s).'),
    ];
    // The agent's next report lands after each read of the VM's instance view that follows the PUT: every step is
    // seen exactly once, whatever the timing (the CLI polls every 200 ms, the watcher every 5 ms).
    let step = 0;
    let watcher: NodeJS.Timeout | undefined;
    fake().arm.onExtensionPut = (vmId, x) => {
      puts.push(x.properties.settings as Record<string, unknown>);
      fake().arm.setExtensionInstanceView(vmId, x.name, steps[0]!);
      const from = fake().arm.requests().length;
      watcher = setInterval(() => {
        const reads = fake().arm.requests().slice(from).filter((q) => q.method === 'GET' && q.path.endsWith(`/virtualMachines/${vm.name}`)).length;
        if (reads > step && step < steps.length - 1) fake().arm.setExtensionInstanceView(vmId, x.name, steps[++step]!);
      }, 5);
    };
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA'], '200');
    clearInterval(watcher);
    expect(r.code, r.stderr).toBe(0);
    expect(puts).toHaveLength(1);
    expect(puts[0]).toEqual({ KeyVaultURL: `https://${vm.kv}.vault.azure.net`, VolumeType: 'DATA', EncryptionOperation: 'EnableEncryption', KeyEncryptionKeyURL: null,
      KeyEncryptionAlgorithm: 'RSA-OAEP', SequenceVersion: expect.stringMatching(/^[0-9a-f-]{36}$/), KeyVaultResourceId: vm.kvId, KekVaultResourceId: '' });
    expect(fake().arm.extension(vm.id, 'DiskEncryption')?.body).toMatchObject({ properties: { publisher: 'AdeLinux', type: 'DiskEncryption', typeHandlerVersion: '1.1', autoUpgradeMinorVersion: true } });
    expect(r.stderr).toMatch(/\[#######\.+\]  35%  \/dev\/sdc EncryptionInProgress, ETA 1m05s/);
    expect(r.stderr).toMatch(/\[################\.+\]  80%  \/dev\/sdc EncryptionInProgress, ETA 12s/);
    expect(r.stdout).toMatch(/^vm\d+: OS NotEncrypted, data Encrypted \(extension succeeded\)\nDisk\s+Mount\s+State\s+Done\s+ETA\n\/dev\/sdc\s+\/data\s+Encrypted\s+100%\nEncrypted 1 data volume\(s\)\.\n$/);

    const show = await cli(['show', '-g', RG, '-n', vm.name, '-o', 'json']);
    expect(show.code).toBe(14); // the OS disk is not encrypted: not everything is
    expect(JSON.parse(show.stdout)).toMatchObject({ os: 'NotEncrypted', data: 'Encrypted', volumes: [{ device: '/dev/sdc', state: 'Encrypted' }] });
  }, 90_000);

  it.each([
    ['no such VM', () => ({ ...seed(), name: 'nope' }), [], 4, /\[704\] No VM or scale set named nope in resource group rg-cli/],
    ['vault not enabled for disk encryption', () => seed({ enabledForDiskEncryption: false }), [], 6, /\[706\] Key vault kv\d+ is not enabled for disk encryption.*az keyvault update -n kv\d+ --enabled-for-disk-encryption true/],
    ['vault in another region', () => seed({ location: 'eastus' }), [], 7, /\[707\] Key vault kv\d+ is in eastus \/ subscription .* the VM in westeurope/],
    ['no vault of that name', () => ({ ...seed(), kv: 'missing' }), [], 5, /\[705\] Key vault missing was not found/],
    ['a VM without a managed identity', () => { const v = seed(); const id = fake().arm.addVm(SUB, RG, `${v.name}x`, { location: 'westeurope', dataDisks: [{ lun: 0 }] }); return { ...v, name: `${v.name}x`, id }; }, [], 19, /\[719\] VM vm\d+x has no managed identity.*az vm identity assign -g rg-cli -n vm\d+x/],
    ['a VM whose identity the vault does not let in', () => { const v = seed(); const id = fake().arm.addVm(SUB, RG, `${v.name}y`, { location: 'westeurope', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }] }); return { ...v, name: `${v.name}y`, id }; }, [], 20, /\[720\] The identity of VM vm\d+y lacks secrets\/set, secrets\/get in the access policies of key vault kv\d+.*az keyvault set-policy -n kv\d+ --object-id [0-9a-f-]{36} --secret-permissions set get/],
    ['a Windows VM', () => { const v = seed(); const id = fake().arm.addVm(SUB, RG, `${v.name}w`, { location: 'westeurope', osType: 'Windows', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }] }); return { ...v, name: `${v.name}w`, id }; }, [], 18, /\[718\] VM vm\d+w runs Windows: ade-linux encrypts Linux VMs only/],
    ['a 512 MiB VM (Standard_B1ls)', () => { const v = seed(); const id = fake().arm.addVm(SUB, RG, `${v.name}s`, { location: 'westeurope', vmSize: 'Standard_B1ls', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }] }); return { ...v, name: `${v.name}s`, id }; }, [], 21, /\[721\] VM vm\d+s \(Standard_B1ls\) has 512 MiB of memory; ade-linux needs 1024 MiB/],
    ['a KEK name the vault does not hold', () => seed(), ['--key-encryption-key', 'nokek'], 8, /\[708\] The key encryption key https:\/\/kv\d+\.vault\.azure\.net\/keys\/nokek cannot be used: .*Give a versioned URL/],
    ['a disabled KEK', () => { const v = seed(); const k = fake().vault.createKey(`${v.kv}.vault.azure.net`, 'off', 2048); fake().vault.setKeyAttributes(k.url, { enabled: false }); return v; }, ['--key-encryption-key', 'off'], 8, /\[708\] .*keys\/off\/\w+ cannot be used: the key is disabled/],
    ['Resource Manager refuses the write (403)', () => { const v = seed(); fake().arm.faults.forbidden.push({ action: 'Microsoft.Compute/virtualMachines/extensions/write' }); return v; }, [], 10, /\[710\] Azure refused deploying the extension to vm\d+: The client .* does not have authorization to perform action 'Microsoft\.Compute\/virtualMachines\/extensions\/write'/],
    ['a conflicting operation (409)', () => { const v = seed(); fake().arm.faults.conflict.push({ action: 'Microsoft.Compute/virtualMachines/extensions/write' }); return v; }, [], 11, /\[711\] Azure reported a conflict on VM vm\d+ in rg-cli/],
  ])('%s: its own exit status and a message naming the fix; nothing deployed', async (_, make, extra: string[], code, msg) => {
    const vm = make();
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA', ...extra]);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(msg);
    expect(fake().arm.extension(vm.id, 'DiskEncryption')).toBeUndefined();
  }, 60_000);

  it('a VM with data disks and no --volume-type (709), no subscription (703): each its code, nothing deployed', async () => {
    const vm = seed();
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv]);
    expect([r.code, r.stderr]).toEqual([9, expect.stringMatching(/\[709\] VM vm\d+ has data disks: give --volume-type DATA, OS or ALL/)]);
    const none = await runCli(fake(), SUB, ['show', '-g', RG, '-n', vm.name], '20', { AZURE_SUBSCRIPTION_ID: undefined });
    expect([none.code, none.stderr]).toEqual([3, expect.stringMatching(/\[703\] No subscription to work in\. Give --subscription <id>, or set AZURE_SUBSCRIPTION_ID/)]);
    expect(fake().arm.extension(vm.id, 'DiskEncryption')).toBeUndefined();
  }, 60_000);

  it('no credential (702), and throttling that does not stop (713): each its code and a message naming the fix', async () => {
    const vm = seed();
    // DefaultAzureCredential finds nothing: the managed identity endpoint refuses, and no az, azd or pwsh here
    const none = await runCli(fake(), SUB, ['show', '-g', RG, '-n', vm.name], '20', { PATH: '/nonexistent', AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9' }, 90_000);
    expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(/\[702\] No Azure credential: .*Run az login, or set AZURE_TENANT_ID/)]);
    fake().arm.faults.throttle.push({ action: 'Microsoft.Compute/virtualMachines/read' });
    const r = await cli(['show', '-g', RG, '-n', vm.name]);
    expect([r.code, r.stderr]).toEqual([13, expect.stringMatching(/\[713\] Azure answered 429 \(SubscriptionRequestsThrottled\) to reading VM vm\d+/)]);
  }, 120_000);

  it('throttling (429) is retried by the SDK and the command succeeds', async () => {
    const vm = seed();
    fake().arm.faults.throttle.push({ action: '*', count: 2 });
    fake().arm.onExtensionPut = (vmId, x) => fake().arm.setExtensionInstanceView(vmId, x.name, status('succeeded', 'NotEncrypted', 'Encrypted', [{ device: '/dev/sdc', state: 'Encrypted' }]));
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA']);
    expect(r.code, r.stderr).toBe(0);
    expect(fake().arm.requests().filter((q) => q.status === 429)).toHaveLength(2);
  }, 60_000);

  it('the extension fails: its own message reaches the user verbatim (712)', async () => {
    const vm = seed();
    const handler = 'KeyVaultURL names vault "a" but KeyVaultResourceId names vault "b". Give the URL and the resource id of the same vault.';
    fake().arm.onExtensionPut = () => ({ failed: { code: '206', message: handler } });
    const r = await cli(['enable', '-g', RG, '-n', vm.name, '--disk-encryption-keyvault', vm.kv, '--volume-type', 'DATA']);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(`ade-linux: [712] The extension on ${vm.name} reported a failure: ${handler}\n`);
  }, 60_000);

  it('disable: DATA, az\'s settings, followed to the end; --help for every command', async () => {
    const vm = seed();
    const puts: unknown[] = [];
    fake().arm.onExtensionPut = (vmId, x) => { puts.push(x.properties.settings); fake().arm.setExtensionInstanceView(vmId, x.name, status('succeeded', 'NotEncrypted', 'NotEncrypted', [{ device: '/dev/sdc', state: 'NotEncrypted' }], 'Decrypted 1 data volume(s).')); };
    const r = await cli(['disable', '-g', RG, '-n', vm.name]);
    expect(r.code, r.stderr).toBe(0);
    expect(puts).toEqual([{ VolumeType: 'DATA', EncryptionOperation: 'DisableEncryption', SequenceVersion: expect.stringMatching(/^[0-9a-f-]{36}$/) }]);
    for (const c of ['enable', 'show', 'disable', 'template']) {
      const h = await cli([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^Usage: ade-linux ${c} \\[options\\]\\n`));
    }
  }, 60_000);
});
