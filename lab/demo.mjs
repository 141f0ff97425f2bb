// npm run lab — the lab demo: the README's quick start, run as written against the lab. A full Debian guest
// (systemd) with an OS disk, three ext4 data disks holding files and an empty "BEK VOLUME" key disk; Key Vault,
// IMDS and Resource Manager are the host's fakes (lab/fakes), the guest reaches them only through one guestfwd
// rule. `bin/ade-linux enable` runs on the host against the fake Resource Manager; the lab's platform
// (lab/platform.ts) hands its extension PUT to the fake guest agent in the guest, as Azure does, and the real
// worker's status back. The data disks are encrypted in place (KEK-wrapped keys escrowed in the fake vault) with
// the CLI's live progress bar; the VM is restarted as Azure restarts an encrypted VM (a fresh key volume filled
// from the key references the CLI wrote on the disks); the volumes unlock at boot and every file is intact.
// Exit 0 only if all of that holds.
// Plain ESM JavaScript; needs Node >= 23 for the lab's TypeScript (re-runs itself on node_modules' Node 24).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STEPS = 11;
const t0 = Date.now();
const el = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
let stepNo = 0;
const step = (msg) => console.log(`\n[${++stepNo}/${STEPS} ${el()}] ${msg}`);
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const indent = (s, pad = '  ') => s.trimEnd().replace(/^/gm, pad);

// --- host prerequisites (fresh Debian 12): apt packages, npm deps, a Node that runs TypeScript ---
step('host packages (scripts/host-deps.sh)');
sh('sh', [path.join(REPO, 'scripts/host-deps.sh')]);
if (!fs.existsSync(path.join(REPO, 'node_modules/.bin/vitest'))) {
  console.log('  node_modules missing: npm ci');
  sh('npm', ['ci', '--no-audit', '--no-fund']);
}
if (Number(process.versions.node.split('.')[0]) < 23) {
  const node24 = path.join(REPO, 'node_modules/.bin/node');
  console.log(`  Node ${process.version} cannot load the lab's TypeScript: re-running on ${node24}`);
  const r = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

step('extension package');
const { EXTENSION_NAME, VERSION } = await import('./package.ts');
const zipPath = path.join(REPO, 'dist', `${EXTENSION_NAME}-${VERSION}.zip`);
if (!fs.existsSync(zipPath)) {
  console.log(`  dist/ has no ${path.basename(zipPath)}: npm run package`);
  sh('npm', ['run', 'package']);
  if (!fs.existsSync(zipPath)) throw new Error(`npm run package made no ${zipPath}`);
}
console.log(`  ${path.relative(REPO, zipPath)} (${(fs.statSync(zipPath).size / 1e6).toFixed(1)} MB)`);

step('operator CLI (npm run build: build/cli/cli.mjs, what bin/ade-linux runs)');
const { bundleCli, cliPath } = await import('../build/build.mjs');
await bundleCli();
console.log(`  ${path.relative(REPO, cliPath)}`);

const lab = await import('./vm.ts');
const { startGuestAzure, GuestExtension, mountDataDisks, parseStatus, VAULT_HOST, VAULT_NAME, VAULT_URL } = await import('./e2e.ts');
const { attachPlatform, installLunLinks, restartFromArm } = await import('./platform.ts');

step('guest image (full flavour: Debian 12 + systemd, built from Debian packages, cached)');
const img = await lab.ensureFullImage();
console.log(`  ${img.dir}\n  kernel ${img.kver}; cache root ${lab.cacheDir()}`);

// three data disks with files whose hashes the host knows, and the empty key volume the platform attaches
const tree = (n) => ({
  [`hello-${n}.txt`]: `data disk ${n}\n`,
  [`blob-${n}.bin`]: randomBytes((4 + n) << 20),
  [`dir/nested-${n}.bin`]: randomBytes(200_000 + n),
});
// disk names are Azure's LUNs: the lab's stand-in for WALinuxAgent's udev rule links lun<N> as /dev/disk/azure/scsi1/lun<N>
const DATA = [
  { name: 'lun0', kind: 'ext4', sizeMiB: 256, label: 'data1', files: tree(1), mountpoint: '/data1' },
  { name: 'lun1', kind: 'ext4', sizeMiB: 192, label: 'data2', files: tree(2), mountpoint: '/data2' },
  { name: 'lun2', kind: 'ext4', sizeMiB: 128, label: 'data3', files: tree(3), mountpoint: '/data3' },
];
const MOUNTS = DATA.map((d) => ({ disk: d.name, mountpoint: d.mountpoint }));
const sha = (c) => createHash('sha256').update(c).digest('hex');
const expected = Object.fromEntries(DATA.map((d) => [d.mountpoint, Object.fromEntries(Object.entries(d.files).map(([f, c]) => [f, sha(c)]))]));

/** Every file's sha256 in the guest against the host's copy; prints one line per file, returns true if all match. */
async function checkHashes(vm, label) {
  let ok = true;
  console.log(`  sha256 ${label}:`);
  for (const { mountpoint } of MOUNTS) {
    const got = await vm.hashTree(mountpoint);
    const want = expected[mountpoint];
    for (const f of new Set([...Object.keys(want), ...Object.keys(got)])) {
      const same = got[f] !== undefined && got[f] === want[f];
      ok &&= same;
      console.log(`    ${(got[f] ?? '(missing)').slice(0, 16).padEnd(16)}…  ${mountpoint}/${f}${same ? '' : '   <-- DIFFERS from the host copy'}`);
    }
  }
  return ok;
}

const result = { cli: false, encrypted: false, unlockedAtBoot: false, bootEnableOk: false, hashesOk: false };
let az;
let vm;
let ext;
let platform;
let rows = [];
// The resource group and VM name the fake Resource Manager knows the guest by; the vault's group (lab/e2e.ts).
const SUB = '00000000-0000-0000-0000-00000000aaaa';
const RG = 'rg';
const VM_NAME = 'demo';

/** bin/ade-linux on the host, its output on this terminal as the quick start shows it; resolves with its exit code. */
function adeLinux(args) {
  console.log(`\n  $ bin/ade-linux ${args.join(' ')}`);
  const env = { ...process.env, ...az.fake.env, AZURE_SUBSCRIPTION_ID: SUB, ADE_LINUX_POLL_MS: '2000' };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
try {
  step('fake Azure (Key Vault, IMDS, Resource Manager) on the host; boot: OS disk + 3 ext4 data disks + empty BEK VOLUME');
  az = await startGuestAzure();
  console.log(`  vault ${VAULT_HOST}, KEK ${az.kek.url}; guest reaches it only via ${az.fwd.guestIp}:${az.fwd.guestPort} -> 127.0.0.1:${az.fwd.hostPort}`);
  vm = await lab.bootVm({
    flavour: 'full', name: 'demo', guestfwd: [az.fwd],
    disks: [...DATA, { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }],
  });
  console.log(`  booted in ${(vm.lastBootMs / 1000).toFixed(1)} s (${vm.accel?.accel}); serial log: ${vm.serialLogPath}`);
  console.log(indent(await installLunLinks(vm))); // /dev/disk/azure/scsi1/lunN, as WALinuxAgent's udev rule makes them
  await mountDataDisks(vm, MOUNTS); // fstab UUID=… /dataN ext4 defaults,nofail, like Azure data disks
  console.log(indent(await vm.run('lsblk -o NAME,SIZE,FSTYPE,LABEL,MOUNTPOINTS')));
  if (!(await checkHashes(vm, 'before'))) throw new Error('the files differ before anything ran');

  step('the platform: the fake Resource Manager knows the guest as VM demo, its extension PUTs go to its guest agent');
  ext = await GuestExtension.install(vm, az);
  const vmId = az.fake.arm.addVm(SUB, RG, VM_NAME, { location: 'eastus', identity: { type: 'SystemAssigned' }, dataDisks: DATA.map((_, lun) => ({ lun })) });
  // the VM's identity may escrow keys in the vault (an access policy), as the CLI's pre-flight checks ask
  az.fake.arm.allowVault(az.fake.arm.addVault(SUB, RG, VAULT_NAME, { location: 'eastus', enabledForDiskEncryption: true, vaultUri: VAULT_URL }), vmId);
  platform = attachPlatform({ arm: az.fake.arm, vmId, ext, az });
  console.log(`  ${vmId}\n  vault ${VAULT_NAME} (enabledForDiskEncryption, eastus); the package is unpacked in the guest, the agent runs install before the first enable`);

  step("the quick start's enable: pre-flight checks, one extension PUT with az's settings, the worker's live progress");
  const code = await adeLinux(['enable', '-g', RG, '-n', VM_NAME, '--disk-encryption-keyvault', VAULT_NAME, '--key-encryption-key', 'lab-kek', '--volume-type', 'DATA']);
  result.cli = code === 0;
  if (!result.cli) throw new Error(`bin/ade-linux enable exited ${code}`);
  await platform.idle();
  const seq = platform.seqs.at(-1);
  const final = parseStatus(await ext.status(seq));
  rows = final.volumes ?? [];
  const luks = await vm.run(`for d in ${DATA.map((d) => d.name).join(' ')}; do cryptsetup isLuks "$(lab-dev $d)" && echo "$d"; done; true`);
  result.encrypted = final.status === 'success' && final.state?.data === 'Encrypted' && rows.length === DATA.length &&
    rows.every((r) => r.state === 'Encrypted') && DATA.every((d) => new RegExp(`^${d.name}$`, 'm').test(luks));
  console.log(`  ${final.status} (code ${final.code}), state ${JSON.stringify(final.state)}; LUKS on: ${luks.trim().split('\n').filter(Boolean).join(', ') || 'none'}`);
  if (!result.encrypted) throw new Error(`the data disks were not encrypted: ${final.message}`);

  step('restart as Azure starts an encrypted VM: a fresh BEK VOLUME from the disks\' key references; unlocked at boot');
  const started = await restartFromArm({ vm, arm: az.fake.arm, vmId, az, bekDisk: 'bek' });
  for (const k of started.keys) console.log(`  key volume: ${k.fileName} <- ${k.secretUrl} (on ${k.diskId.split('/').pop()})`);
  console.log(`  back in ${(vm.lastBootMs / 1000).toFixed(1)} s`);
  const mounts = await vm.run(DATA.map((d) => `echo "${d.mountpoint} $(findmnt -no SOURCE ${d.mountpoint}) /dev/mapper/ade-$(cryptsetup luksUUID "$(lab-dev ${d.name})")"`).join('; '));
  result.unlockedAtBoot = true;
  for (const line of mounts.trim().split('\n')) {
    const [mp, src, want] = line.split(' ');
    const ok = src === want && src.startsWith('/dev/mapper/ade-');
    result.unlockedAtBoot &&= ok;
    console.log(`    ${mp.padEnd(8)}  on ${src || '(not mounted)'}${ok ? '' : `   <-- expected ${want}`}`);
  }
  const unlocker = (await vm.run('journalctl -b -q --no-pager -o cat -u ade-linux-unlock.service | grep -i "unlock finished" | tail -n 1 || true')).trim();
  console.log(`  ade-linux-unlock.service (opens from Key Vault what the key volume did not): ${unlocker || 'no run logged'}`);

  step("the agent's enable after boot (same sequence number) must change nothing; then the quick start's show");
  const boot = await ext.boot();
  await sleep(3000);
  const after = await ext.status(seq);
  const workers = (await vm.run(`systemctl list-units --all --no-legend 'ade-linux-worker*' | wc -l`)).trim();
  result.bootEnableOk = boot.code === 0 && boot.seq === seq && after !== undefined && parseStatus(after).status === 'success' && workers === '0';
  console.log(`  enable (boot): exit ${boot.code}, seq ${boot.seq}, in ${boot.ms} ms; status still ${after ? parseStatus(after).status : '(none)'}; worker units: ${workers}`);
  const shown = await adeLinux(['show', '-g', RG, '-n', VM_NAME]);
  console.log(`  (show exits ${shown}: 0 only when every disk is encrypted, and this VM's OS disk is not: VolumeType DATA)`);

  step('data after the reboot');
  result.hashesOk = await checkHashes(vm, 'after encryption and reboot');
} catch (e) {
  console.error(`\nlab demo failed: ${e instanceof Error ? e.message : e}`);
  if (vm) console.error(`  serial log: ${vm.serialLogPath}`);
  if (ext && vm?.running) console.error(`  extension log tail:\n${indent(await ext.logTail().catch((x) => `(unavailable: ${x})`), '    ')}`);
} finally {
  stepNo = STEPS - 1; // the summary is the last step, also after a failure
  step('summary');
  if (rows.length) {
    const w = (k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length));
    const cols = ['mountpoint', 'device', 'state'];
    const fmt = (r) => `    ${cols.map((k) => String(r[k] ?? '').padEnd(w(k))).join('  ')}  ${r.secretUrl ?? ''}`;
    console.log(fmt({ mountpoint: 'mount', device: 'device', state: 'state', secretUrl: 'Key Vault secret' }));
    for (const r of rows) {
      const kv = az?.fake.vault.secret(r.secretUrl ?? '');
      console.log(`${fmt(r)}${r.secretUrl ? (kv ? `  (${kv.contentType} in the fake vault)` : '  <-- NOT in the vault') : ''}`);
    }
  }
  const checks = [
    ['bin/ade-linux enable exited 0 (pre-flight, deployment, progress, key references)', result.cli],
    ['data disks encrypted (LUKS2, keys escrowed, status success)', result.encrypted],
    ['unlocked and mounted on /dev/mapper/ade-* at boot', result.unlockedAtBoot],
    ["agent's enable after boot changed nothing", result.bootEnableOk],
    ['every file matches the host copy after the reboot', result.hashesOk],
  ];
  for (const [what, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${what}`);
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
  console.log(process.exitCode === 0
    ? '  EVERYTHING WORKED: the data disks are encrypted, unlock at boot, and every file is intact.'
    : '  NOT DONE: see the failed checks above.');
  platform?.detach();
  await vm?.destroy().catch((e) => console.error(`  vm.destroy: ${e}`));
  await az?.close().catch((e) => console.error(`  az.close: ${e}`));
  console.log(`\nlab demo done in ${el()}${vm ? `; serial log: ${vm.serialLogPath}` : ''}`);
}
process.exit(process.exitCode);
