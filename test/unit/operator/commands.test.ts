// enable, show and disable on a recorded fake of the Arm interface: each pre-flight failure stops before
// anything is deployed, with its own code; --force turns them into warnings; the deployment carries az's
// settings; progress is drawn from the extension's successive instance views; the extension's own failure
// message reaches the user verbatim; show's exit status says whether everything is encrypted.
import { describe, expect, it } from 'vitest';
import type { Arm, ExtensionBody, VaultInfo, VmInfo } from '../../../src/operator/arm.ts';
import { disable, enable, show, type CliIo, type Target } from '../../../src/operator/commands.ts';
import type { ExtensionView } from '../../../src/operator/instance-view.ts';

const SUB = 's1';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`;
const KV_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`;
const ext = (os: string, data: string, vols: unknown[], status = 'succeeded', message = 'ok'): ExtensionView => ({
  name: 'DiskEncryption', type: 'AdeLinux.DiskEncryption', statuses: [{ code: `ProvisioningState/${status}`, message }],
  substatuses: [{ code: `ComponentStatus/EncryptionState/${status}`, message: JSON.stringify({ os, data }) }, { code: `ComponentStatus/Volumes/${status}`, message: JSON.stringify(vols) }],
});

function world(o: { vm?: Partial<VmInfo> | null; vault?: Partial<VaultInfo> | null; views?: ExtensionView[]; memoryMb?: number } = {}) {
  const calls: string[] = [];
  const views = [...(o.views ?? [ext('NotEncrypted', 'Encrypted', [{ device: '/dev/sdc', state: 'Encrypted' }])])];
  let deployed = false;
  // each read after the deployment shows the next view (the last one stays)
  const view = () => (deployed && views.length > 1 ? views.shift()! : views[0]!);
  const arm: Arm = {
    getVm: async () => (o.vm === null ? undefined : { id: VM_ID, name: 'vm1', location: 'westeurope', dataDisks: 1, extensions: [view()], osType: 'Linux', vmSize: 'Standard_D2s_v3', principals: ['p1'], ...o.vm }),
    getVault: async (id) => {
      calls.push(`getVault ${id}`);
      return o.vault === null ? undefined : { id: KV_ID, name: 'kv', location: 'westeurope', vaultUri: 'https://kv.vault.azure.net/', enabledForDiskEncryption: true,
        accessPolicies: [{ objectId: 'p1', permissions: { secrets: ['Get', 'Set'], keys: ['all'] } }], ...o.vault };
    },
    putExtension: async (_g: string, _vm: string, name: string, body: ExtensionBody) => { calls.push(`put ${name} ${JSON.stringify(body.settings)}`); deployed = true; },
    vmSizeMemoryMb: async () => o.memoryMb,
    listVms: async () => [],
    setDiskKeys: async (_g, disk, keys) => { calls.push(`disk ${disk.name} ${JSON.stringify(keys ?? null)}`); },
    getScaleSet: async () => undefined,
    setScaleSetExtensions: async () => undefined,
    scaleSetInstances: async () => [],
    runCommand: async () => { throw new Error('no run commands here'); },
    deleteRunCommand: async () => undefined,
  };
  const out: string[] = []; const warn: string[] = []; const progress: string[] = [];
  const io: CliIo = { out: (s) => out.push(s), warn: (s) => warn.push(s), progress: (l) => progress.push(l), sleep: async () => undefined, pollMs: 0 };
  const target = (flags: Record<string, string | boolean>): Target => ({ arm, subscription: SUB, group: 'rg', name: 'vm1', flags });
  return { calls, io, out, warn, progress, target };
}

const ENABLE = { 'disk-encryption-keyvault': 'kv', 'volume-type': 'data' };
const noKek = async () => { throw new Error('no KEK here'); };
const code = (p: Promise<unknown>) => p.then(() => 0, (e: { code?: number; message?: string }) => e.code);

describe('enable', () => {
  it.each([
    ['no such VM', { vm: null }, ENABLE, 704],
    ['no such vault', { vault: null }, ENABLE, 705],
    ['vault not enabled for disk encryption', { vault: { enabledForDiskEncryption: false } }, ENABLE, 706],
    ['vault in another region', { vault: { location: 'eastus' } }, ENABLE, 707],
    ['vault in another subscription', { vault: { id: KV_ID.replace('/s1/', '/s2/') } }, ENABLE, 707],
    ['data disks and no --volume-type', {}, { 'disk-encryption-keyvault': 'kv' }, 709],
    ['a Windows VM', { vm: { osType: 'Windows' } }, ENABLE, 718],
    ['no managed identity', { vm: { principals: [] } }, ENABLE, 719],
    ['the identity cannot set secrets', { vault: { accessPolicies: [{ objectId: 'p1', permissions: { secrets: ['get'] } }] } }, ENABLE, 720],
    ['an access policy for another principal only', { vault: { accessPolicies: [{ objectId: 'someone', permissions: { secrets: ['all'] } }] } }, ENABLE, 720],
    ['the identity cannot unwrap with the KEK', { vault: { accessPolicies: [{ objectId: 'p1', permissions: { secrets: ['get', 'set'], keys: ['get', 'wrapKey'] } }] } }, { ...ENABLE, 'key-encryption-key': 'https://kv.vault.azure.net/keys/k/1' }, 720],
    ['768 MiB of memory', { memoryMb: 768 }, ENABLE, 721],
  ])('%s: its own code, nothing deployed', async (_, w, flags, want) => {
    const t = world(w as Parameters<typeof world>[0]);
    expect(await code(enable(t.target(flags), t.io, noKek))).toBe(want);
    expect(t.calls.filter((c) => c.startsWith('put'))).toEqual([]);
  });

  it('an RBAC vault: its role assignments are not read, so no access check; a user-assigned identity counts', async () => {
    const t = world({ vm: { principals: ['uami'] }, vault: { rbac: true, accessPolicies: [] } });
    expect(await enable(t.target(ENABLE), t.io, noKek)).toBe(0);
    expect(t.calls.at(-1)).toMatch(/^put DiskEncryption /);
  });

  it('720 names the missing permissions and the command that grants them', async () => {
    const t = world({ vault: { accessPolicies: [{ objectId: 'p1', permissions: { secrets: ['get'] } }] } });
    const e = await enable(t.target(ENABLE), t.io, noKek).then(() => undefined, (x: unknown) => x as { message: string });
    expect(e?.message).toBe('The identity of VM vm1 lacks secrets/set in the access policies of key vault kv: the extension could not escrow the key. Run: az keyvault set-policy -n kv --object-id p1 --secret-permissions set get');
  });

  it('--force: the failed checks are warnings and the extension is deployed', async () => {
    const t = world({ vault: { enabledForDiskEncryption: false, location: 'eastus' } });
    expect(await enable(t.target({ ...ENABLE, force: true }), t.io, noKek)).toBe(0);
    expect(t.warn.filter((w) => w.startsWith('warning: --force:')).map((w) => /\[?(not enabled for disk encryption|is in eastus)/.exec(w)?.[1])).toEqual(['not enabled for disk encryption', 'is in eastus']);
    expect(t.calls.at(-1)).toMatch(/^put DiskEncryption /);
  });

  it('deploys az\'s settings (KEK by name resolved in its vault), follows the progress, prints the end state', async () => {
    const t = world({ views: [
      ext('NotEncrypted', 'EncryptionInProgress', [{ device: '/dev/sdc', state: 'EncryptionInProgress', percent: 10, etaSeconds: 90 }]),
      ext('NotEncrypted', 'EncryptionInProgress', [{ device: '/dev/sdc', state: 'EncryptionInProgress', percent: 60, etaSeconds: 30 }]),
      ext('NotEncrypted', 'Encrypted', [{ device: '/dev/sdc', state: 'Encrypted' }]),
    ] });
    const kekOf = async (vaultUri: string, name: string) => `${vaultUri}keys/${name}/v7`;
    expect(await enable(t.target({ ...ENABLE, 'key-encryption-key': 'kek' }), t.io, kekOf)).toBe(0);
    const put = JSON.parse(t.calls.find((c) => c.startsWith('put'))!.replace(/^put DiskEncryption /, '')) as Record<string, unknown>;
    expect(put).toMatchObject({ KeyVaultURL: 'https://kv.vault.azure.net', VolumeType: 'DATA', EncryptionOperation: 'EnableEncryption', KeyEncryptionKeyURL: 'https://kv.vault.azure.net/keys/kek/v7', KeyEncryptionAlgorithm: 'RSA-OAEP', KeyVaultResourceId: KV_ID, KekVaultResourceId: KV_ID });
    expect(t.progress).toEqual(['[##..................]  10%  /dev/sdc EncryptionInProgress, ETA 1m30s', '[############........]  60%  /dev/sdc EncryptionInProgress, ETA 30s']);
    expect(t.out.join('')).toMatch(/^vm1: OS NotEncrypted, data Encrypted \(extension succeeded\)\n/);
  });

  it('at the end, each encrypted volume\'s key reference goes onto its managed disk (OS: /, data: by LUN); others are named', async () => {
    const secret = (n: string) => `https://kv.vault.azure.net/secrets/${n}/v1`;
    const t = world({
      vm: { disks: [{ id: '/d/os', name: 'os' }, { id: '/d/d0', name: 'd0', lun: 0 }, { id: '/d/d1', name: 'd1', lun: 1 }] },
      views: [ext('Encrypted', 'Encrypted', [
        { device: '/dev/disk/azure/root-part1', mountpoint: '/', state: 'Encrypted', secretUrl: secret('os') },
        { device: '/dev/disk/azure/scsi1/lun1-part1', mountpoint: '/data', state: 'Encrypted', secretUrl: secret('d1') },
        { device: '/dev/mapper/vg-lv', mountpoint: '/lv', state: 'Encrypted', secretUrl: secret('lv') },
      ])],
    });
    const kekOf = async (vaultUri: string, name: string) => `${vaultUri}keys/${name}/v7`;
    expect(await enable(t.target({ ...ENABLE, 'volume-type': 'all', 'key-encryption-key': 'kek' }), t.io, kekOf)).toBe(0);
    const kek = { kekUrl: 'https://kv.vault.azure.net/keys/kek/v7', kekVaultId: KV_ID };
    expect(t.calls.filter((c) => c.startsWith('disk '))).toEqual([
      `disk os ${JSON.stringify([{ secretUrl: secret('os'), vaultId: KV_ID, ...kek }])}`,
      `disk d1 ${JSON.stringify([{ secretUrl: secret('d1'), vaultId: KV_ID, ...kek }])}`,
    ]);
    expect(t.warn.join('\n')).toMatch(/\/dev\/mapper\/vg-lv is encrypted with .*lv\/v1, but no managed disk of vm1 could be matched/);
  });

  it('the extension fails: its own message, verbatim, code 712', async () => {
    const t = world({ views: [ext('NotEncrypted', 'NotEncrypted', [], 'failed', 'KeyVaultURL names vault "a" but KeyVaultResourceId names vault "b". Give the URL and the resource id of the same vault.')] });
    const e = await enable(t.target(ENABLE), t.io, noKek).then(() => undefined, (x: unknown) => x as { code: number; message: string });
    expect(e?.code).toBe(712);
    expect(e?.message).toBe('The extension on vm1 reported a failure: KeyVaultURL names vault "a" but KeyVaultResourceId names vault "b". Give the URL and the resource id of the same vault.');
  });
});

describe('show and disable', () => {
  it('show: 0 when everything is encrypted, 14 (714 - 700) otherwise, with the table either way', async () => {
    const done = world({ views: [ext('Encrypted', 'Encrypted', [{ device: '/dev/sdc', state: 'Encrypted' }])] });
    expect(await show(done.target({}), done.io)).toBe(0);
    const half = world();
    expect(await show(half.target({ output: 'json' }), half.io)).toBe(14);
    expect(JSON.parse(half.out.join(''))).toMatchObject({ vm: 'vm1', os: 'NotEncrypted', data: 'Encrypted' });
    expect(half.warn.join('')).toMatch(/Not every disk of vm1 is encrypted: OS NotEncrypted, data Encrypted/);
  });
  it('disable: DATA by default; OS refused unless --force', async () => {
    const t = world({ views: [ext('NotEncrypted', 'NotEncrypted', [])] });
    expect(await disable(t.target({}), t.io)).toBe(0);
    expect(t.calls.at(-1)).toMatch(/^put DiskEncryption \{"VolumeType":"DATA","EncryptionOperation":"DisableEncryption","SequenceVersion":"[0-9a-f-]{36}"\}$/);
    expect(t.calls.filter((c) => c.startsWith('disk '))).toEqual([]);
    const os = world();
    expect(await code(disable(os.target({ 'volume-type': 'os' }), os.io))).toBe(701);
    expect(os.calls).toEqual([]);
  });
  it('disable: once decrypted, the data disks that carry key references have them cleared; the OS disk keeps its own', async () => {
    const t = world({
      vm: { disks: [{ id: '/d/os', name: 'os' }, { id: '/d/d0', name: 'd0', lun: 0 }, { id: '/d/d1', name: 'd1', lun: 1 }], diskViews: [{ name: 'os', encryptionSettings: [{}] }, { name: 'd0', encryptionSettings: [{}] }, { name: 'd1' }] },
      views: [ext('Encrypted', 'NotEncrypted', [])],
    });
    expect(await disable(t.target({}), t.io)).toBe(0);
    expect(t.calls.filter((c) => c.startsWith('disk '))).toEqual(['disk d0 null']);
  });
});
