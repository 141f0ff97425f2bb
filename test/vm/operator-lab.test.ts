// Issue 12, "Done when" 2: the operator CLI drives the whole flow in the lab. `ade-linux enable` runs on the host
// against the fake Resource Manager; its extension PUT reaches the full guest through the lab's platform
// (lab/platform.ts: the agent's N.settings, install, enable), the progress bar follows the real worker's status
// as the platform copies it into the instance view, and after success the CLI writes the key reference onto the
// managed data disk. Then the VM is started as Azure starts an encrypted VM: the key volume the extension
// wrote is gone, a fresh `BEK VOLUME` is filled from ARM's disk resources, and /data opens at boot from it.
// Then the other way in, for a publisher Azure has not registered: `--via run-command`, where a Managed Run Command
// (run in the guest by the platform, as Azure's run command handler runs it) downloads the package from a blob,
// installs it in its own folder and encrypts the data disk mounted since.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BEK_DIR, CA_IN_GUEST, EXT_DIR, GuestExtension, mountDataDisks, parseStatus, startGuestAzure, VAULT_NAME, VAULT_RESOURCE_ID, VAULT_URL,
  writeMarkerTree, type GuestAzure,
} from '../../lab/e2e.ts';
import { packageZip } from '../../lab/package.ts';
import { attachPlatform, attachRunCommands, installLunLinks, instanceViewOf, restartFromArm, type Platform } from '../../lab/platform.ts';
import { bootVm, labLog, type Vm } from '../../lab/vm.ts';
// @ts-expect-error: plain ESM build script
import { cliPath } from '../../build/build.mjs';

/** The subscription and group of lab/e2e.ts VAULT_RESOURCE_ID: the CLI names the vault in the VM's own. */
const SUB = '00000000-0000-0000-0000-00000000aaaa';
const RG = 'rg';
const VM_NAME = 'labvm';
const NODE = join(import.meta.dirname, '../../node_modules/.bin/node');
const FILES: Record<string, Buffer> = { 'readme.txt': Buffer.from('ade-linux operator lab\n'), 'big.bin': randomBytes(6 << 20) };
for (let i = 0; i < 10; i++) FILES[`sub${i % 3}/f${i}.bin`] = randomBytes(150_000 + i * 7919);

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let platform: Platform;
let vmId: string;
let markers: Record<string, string>;

interface Run { code: number; stdout: string; stderr: string; ms: number }
function cli(args: string[]): Promise<Run> {
  const env = { PATH: process.env['PATH'] ?? '', ...az.fake.env, AZURE_SUBSCRIPTION_ID: SUB, ADE_LINUX_POLL_MS: '1000' };
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(NODE, [cliPath as string, ...args], { env, timeout: 1_200_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - t0 }));
  });
}

beforeAll(async () => {
  az = await startGuestAzure();
  vm = await bootVm({
    flavour: 'full', name: 'operator-lab', guestfwd: [az.fwd],
    // the platform attaches the key volume empty; lun0 is data-disk LUN 0 (lab/platform.ts lunUdevRule)
    // lun1 stays unmounted (so untouched) until the run-command part mounts it
    disks: [{ name: 'lun0', kind: 'ext4', sizeMiB: 128 }, { name: 'lun1', kind: 'ext4', sizeMiB: 64 }, { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }],
    // about 100 MiB to reencrypt at 2 MB/s: the worker reports several percents before it ends
    throttleMBps: { lun0: 2 },
  });
  const links = await installLunLinks(vm);
  expect(links, links).toMatch(/ lun0 -> \.\.\/\.\.\/\.\.\/vd[a-z]$/m);
  ext = await GuestExtension.install(vm, az);
  await mountDataDisks(vm, [{ disk: 'lun0', mountpoint: '/data' }]);
  markers = await writeMarkerTree(vm, '/data/tree', FILES);
  // a system-assigned identity with an access policy on the vault, as the CLI's pre-flight checks ask
  vmId = az.fake.arm.addVm(SUB, RG, VM_NAME, { location: 'eastus', identity: { type: 'SystemAssigned' }, dataDisks: [{ lun: 0 }, { lun: 1 }] });
  az.fake.arm.allowVault(az.fake.arm.addVault(SUB, RG, VAULT_NAME, { location: 'eastus', enabledForDiskEncryption: true, vaultUri: VAULT_URL }), vmId);
  platform = attachPlatform({ arm: az.fake.arm, vmId, ext, az });
});

afterAll(async () => {
  platform?.detach();
  await vm?.destroy();
  await az?.close();
});

const dataDiskId = (lun = 0): string => {
  const body = az.fake.arm.vm(vmId) as { properties: { storageProfile: { dataDisks: Array<{ lun: number; managedDisk: { id: string } }> } } };
  return body.properties.storageProfile.dataDisks.find((d) => d.lun === lun)!.managedDisk.id;
};

describe('ade-linux enable in the lab: fake ARM → platform → guest agent → real worker, and back', () => {
  it('deploys, shows the worker\'s progress, records the key on the disk resource, and the VM starts unlocked from ARM\'s key volume', async () => {
    // the KEK by name, resolved to its current version in the vault as az does
    const r = await cli(['enable', '-g', RG, '-n', VM_NAME, '--disk-encryption-keyvault', VAULT_NAME, '--key-encryption-key', 'lab-kek', '--volume-type', 'DATA']);
    labLog(`ade-linux enable: exit ${r.code} after ${Math.round(r.ms / 1000)} s\n${r.stderr}${r.stdout}`);
    expect(r.code, `${r.stderr}\n${r.stdout}\n${await ext.logTail()}`).toBe(0);

    // the progress bar moved with the real worker's reports: two percents at least, never backwards
    const percents = [...r.stderr.matchAll(/^\[[#.]+\]\s+(\d+)%/gm)].map((m) => Number(m[1]));
    expect(new Set(percents).size, r.stderr).toBeGreaterThanOrEqual(2);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(r.stdout).toMatch(new RegExp(`^${VM_NAME}: OS NotEncrypted, data Encrypted \\(extension succeeded\\)$`, 'm'));
    // this operation's rows: the volume it encrypted (/data was already, by the first)
    expect(r.stdout).toMatch(/^labvm: OS NotEncrypted, data Encrypted \(extension succeeded\)$/m);

    // one PUT with az's settings, and the guest got exactly those as its N.settings
    const x = az.fake.arm.extension(vmId, 'DiskEncryption')!;
    const settings = (x.body['properties'] as { settings: unknown }).settings;
    expect(settings).toEqual({
      KeyVaultURL: VAULT_URL.replace(/\/$/, ''), VolumeType: 'DATA', EncryptionOperation: 'EnableEncryption',
      KeyEncryptionKeyURL: az.kek.url, KeyEncryptionAlgorithm: 'RSA-OAEP', SequenceVersion: expect.stringMatching(/^[0-9a-f-]{36}$/),
      KeyVaultResourceId: VAULT_RESOURCE_ID, KekVaultResourceId: VAULT_RESOURCE_ID,
    });
    expect(platform.seqs).toHaveLength(1);
    const seq = platform.seqs[0]!;
    const nSettings = JSON.parse(await vm.run(`cat ${EXT_DIR}/config/${seq}.settings`)) as { runtimeSettings: Array<{ handlerSettings: { publicSettings: unknown } }> };
    expect(nSettings.runtimeSettings[0]!.handlerSettings.publicSettings).toEqual(settings);

    // the guest's last status is what ARM shows, converted as the platform converts it
    await platform.idle();
    const final = (await ext.status(seq))!;
    const st = parseStatus(final);
    expect([st.status, st.state]).toEqual(['success', { os: 'NotEncrypted', data: 'Encrypted' }]);
    expect(st.volumes).toHaveLength(1);
    const row = st.volumes![0]!;
    expect(row).toMatchObject({ device: '/dev/disk/azure/scsi1/lun0', mountpoint: '/data', state: 'Encrypted' });
    expect(az.fake.arm.extension(vmId, 'DiskEncryption')!.instanceView).toMatchObject(instanceViewOf(final));

    // the CLI wrote the key reference the guest reports onto the data disk's resource (ADE single-pass, 1.1)
    const disk = az.fake.arm.disk(dataDiskId()) as { properties: { encryptionSettingsCollection?: unknown } } | undefined;
    expect(disk?.properties.encryptionSettingsCollection).toMatchObject({
      enabled: true, encryptionSettings: [{ diskEncryptionKey: { secretUrl: row.secretUrl } }],
    });

    // Azure starts the VM: a fresh key volume from ARM, nothing of the one the extension wrote
    az.fake.log.clear();
    const started = await restartFromArm({ vm, arm: az.fake.arm, vmId, az, bekDisk: 'bek' });
    expect(started.keys).toEqual([{ diskId: dataDiskId(), secretUrl: row.secretUrl, fileName: 'LinuxPassPhraseFileName_1_0' }]);
    expect((await vm.run(`ls ${BEK_DIR}`)).trim().split('\n')).toEqual(['LinuxPassPhraseFileName_1_0']);
    const crypttab = await vm.run('cat /etc/crypttab');
    // the volume by its LUN link (the lab's udev rule, as on Azure), its key file on the key volume
    expect(crypttab).toMatch(new RegExp(`^ade-\\S+\\s+/dev/disk/azure/scsi1/lun0\\s+${BEK_DIR}/LinuxPassPhraseFileName_1_0\\s`, 'm'));
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toMatch(/^\/dev\/mapper\/ade-/);
    expect(await vm.hashTree('/data/tree')).toEqual(markers);
    // opened from the key volume: no key was read from Key Vault on this boot
    expect(az.fake.log.of('vault').filter((q) => q.method === 'GET' && q.path.startsWith('/secrets/'))).toEqual([]);
    labLog(`boot unlock: ${(await vm.run('systemctl is-active "systemd-cryptsetup@ade*" || true; journalctl -b -q --no-pager -o cat -u ade-linux-unlock.service | grep -i "opened\\|unlock finished" || true')).trim()}`);

    // show reads the same state back; its exit status is 0 only when every disk is encrypted (README, "The
    // operator CLI"), and this VM's OS disk is not (VolumeType DATA): CliNotEncrypted, 714 - 700
    const show = await cli(['show', '-g', RG, '-n', VM_NAME]);
    expect(show.stdout, show.stderr).toMatch(/^\/dev\/disk\/azure\/scsi1\/lun0\s+\/data\s+Encrypted\s+100%$/m);
    expect([show.code, show.stderr]).toEqual([14, expect.stringContaining('OS NotEncrypted, data Encrypted')]);
  }, 1_800_000);

  it('--via run-command: the bootstrap downloads the package, installs it in its own folder and encrypts the disk mounted since', async () => {
    const zip = readFileSync(packageZip());
    const url = az.fake.blobs.put(`https://adelinuxlab.blob.core.windows.net/releases/${basename(packageZip())}`, zip);
    const sha = createHash('sha256').update(zip).digest('hex');
    // the run command handler's environment in the lab: the way to the fake Azure, as the agent's (curl: its CA)
    const detach = attachRunCommands({ arm: az.fake.arm, vmId, vm, env: { ...az.guestEnv, CURL_CA_BUNDLE: CA_IN_GUEST } });
    await mountDataDisks(vm, [{ disk: 'lun1', mountpoint: '/data2' }]);
    const second = await writeMarkerTree(vm, '/data2/tree', { 'two.bin': randomBytes(3 << 20), 'note.txt': Buffer.from('second disk\n') });
    const via = ['--via', 'run-command', '--package-url', url, '--package-sha256', sha];
    const r = await cli(['enable', '-g', RG, '-n', VM_NAME, '--disk-encryption-keyvault', VAULT_NAME, '--key-encryption-key', 'lab-kek', '--volume-type', 'DATA', ...via]);
    labLog(`ade-linux enable --via run-command: exit ${r.code} after ${Math.round(r.ms / 1000)} s\n${r.stderr}${r.stdout}`);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.stderr).toMatch(/Deploying the bootstrap \(Managed Run Command\) of package \d+\.\d+\.\d+ to labvm/);
    expect(r.stdout).toMatch(/^\/dev\/disk\/azure\/scsi1\/lun1\s+\/data2\s+Encrypted\s+100%$/m);
    // this operation's rows: the volume it encrypted (/data was already, by the first)
    expect(r.stdout).toMatch(/^labvm: OS NotEncrypted, data Encrypted \(extension succeeded\)$/m);
    // the package in the bootstrap's own folder (the agent deletes extension folders it did not install)
    expect((await vm.run('ls /var/lib/ade-linux-bootstrap')).trim()).toBe(basename(packageZip(), '.zip'));
    expect((await vm.run('cryptsetup isLuks "$(lab-dev lun1)" && echo luks')).trim()).toBe('luks');
    expect(await vm.hashTree('/data2/tree')).toEqual(second);
    const disk1 = az.fake.arm.disk(dataDiskId(1)) as { properties: { encryptionSettingsCollection?: { enabled: boolean; encryptionSettings: Array<{ diskEncryptionKey: { secretUrl: string } }> } } };
    const secret1 = disk1.properties.encryptionSettingsCollection?.encryptionSettings[0]?.diskEncryptionKey.secretUrl;
    expect(secret1 && az.fake.vault.secret(secret1)?.tags['DiskEncryptionKeyFileName']).toBe('LinuxPassPhraseFileName_1_1');
    // every run command removed (a VM holds at most 25)
    expect([...az.fake.arm.store.runCommands.keys()]).toEqual([]);
    const show = await cli(['show', '-g', RG, '-n', VM_NAME, '-o', 'json', '--via', 'run-command']);
    expect(show.code, show.stderr).toBe(14);
    expect(JSON.parse(show.stdout)).toMatchObject({ os: 'NotEncrypted', data: 'Encrypted', volumes: [{ device: '/dev/disk/azure/scsi1/lun1', mountpoint: '/data2', state: 'Encrypted' }] });
    detach();
  }, 1_800_000);
});
