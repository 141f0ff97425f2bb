// npm run lab — the lab demo: the packaged extension, driven by the fake guest agent, inside a full Debian
// guest (systemd) with an OS disk and three data disks holding files. It runs what exists today and says
// plainly what does not work yet. Plain ESM JavaScript; needs Node >= 23 for lab's TypeScript (the repo's
// node_modules/.bin/node is Node 24 and npm puts it first on PATH).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = Date.now();
const el = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
let stepNo = 0;
const step = (msg) => console.log(`\n[${++stepNo}/9 ${el()}] ${msg}`);
const sh = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: REPO, stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
};

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
const findZip = () => (fs.existsSync(path.join(REPO, 'dist')) ? fs.readdirSync(path.join(REPO, 'dist')) : [])
  .filter((f) => /^AdeLinux\..*\.zip$/.test(f) && !/arm64/.test(f)).sort().pop();
let zip = findZip();
if (!zip) {
  console.log('  dist/ has no x64 package: npm run package');
  sh('npm', ['run', 'package']);
  zip = findZip();
  if (!zip) throw new Error('npm run package made no dist/*.zip');
}
const zipPath = path.join(REPO, 'dist', zip);
console.log(`  ${path.relative(REPO, zipPath)} (${(fs.statSync(zipPath).size / 1e6).toFixed(1)} MB)`);

const lab = await import('../test/vm/lab.ts');

step('guest image (full flavour: Debian 12 + systemd, built from Debian packages, cached)');
const img = await lab.ensureFullImage();
console.log(`  ${img.dir}\n  kernel ${img.kver}; cache root ${lab.cacheDir()}`);

// three data disks with files whose hashes we know
const tree = (n) => Object.fromEntries([
  [`hello-${n}.txt`, `data disk ${n}\n`],
  [`blob-${n}.bin`, randomBytes((4 + n) << 20)],
  [`dir/nested-${n}.bin`, randomBytes(200_000 + n)],
]);
const disks = [
  { name: 'data1', kind: 'ext4', sizeMiB: 256, label: 'data1', files: tree(1) },
  { name: 'data2', kind: 'ext4', sizeMiB: 192, label: 'data2', files: tree(2) },
  { name: 'data3', kind: 'ext4', sizeMiB: 128, label: 'data3', files: tree(3) },
];
const expected = {};
for (const d of disks) for (const [f, c] of Object.entries(d.files)) expected[`/${d.name}/${f}`] = createHash('sha256').update(c).digest('hex');

step('boot: OS disk + 3 ext4 data disks mounted from /etc/fstab like Azure data disks');
const vm = await lab.bootVm({ flavour: 'full', name: 'demo', disks });
let exitCode = 0;
try {
  console.log(`  booted in ${(vm.lastBootMs / 1000).toFixed(1)} s (${vm.accel.accel}); serial log: ${vm.serialLogPath}`);
  await vm.run(`set -e
    for d in data1 data2 data3; do
      dev=$(lab-dev $d); uuid=$(blkid -o value -s UUID "$dev"); type=$(blkid -o value -s TYPE "$dev")
      mkdir -p /$d; echo "UUID=$uuid /$d $type defaults,nofail 0 2" >> /etc/fstab
    done
    systemctl daemon-reload; mount -a`);
  console.log((await vm.run('lsblk -o NAME,SIZE,FSTYPE,LABEL,MOUNTPOINTS')).replace(/^/gm, '  '));

  const hashes = async () => {
    const out = {};
    for (const d of disks) for (const [f, h] of Object.entries(await vm.hashTree(`/${d.name}`))) out[`/${d.name}/${f}`] = h;
    return out;
  };
  const showHashes = (label, got) => {
    console.log(`  ${label}:`);
    for (const [f, h] of Object.entries(got)) console.log(`    ${h.slice(0, 16)}…  ${f}${expected[f] === h ? '' : '   <-- DIFFERS from the host copy'}`);
  };
  const before = await hashes();
  showHashes('sha256 before', before);

  step('install the package through the fake guest agent (its Node runtime: build/node from the zip)');
  await vm.copyIn(zipPath, `/tmp/${zip}`);
  await vm.run(`mkdir -p /tmp/pkgnode && cd /tmp/pkgnode && unzip -q -o /tmp/${zip} build/node && chmod 755 build/node`);
  const unpackAgent = await lab.installAgent(vm, { node: '/tmp/pkgnode/build/node' });
  const ext = JSON.parse(await vm.run(`${unpackAgent} install-package /tmp/${zip}`));
  // from now on the agent runs on the installed package's runtime (/tmp is cleaned at boot)
  const agent = unpackAgent.replace('/tmp/pkgnode/build/node', `${ext.dir}/build/node`);
  await vm.run('rm -rf /tmp/pkgnode');
  console.log(`  unpacked to ${ext.dir}`);
  const settings = {
    EncryptionOperation: 'EnableEncryption', VolumeType: 'Data',
    KeyVaultURL: 'https://lab-vault.vault.azure.net/',
    KeyVaultResourceId: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/lab/providers/Microsoft.KeyVault/vaults/lab-vault',
  };
  const seq = JSON.parse(await vm.run(`${agent} settings --public '${JSON.stringify(settings)}'`)).seq;
  console.log(`  settings seq ${seq}: ${JSON.stringify(settings)}`);
  const op = async (name) => {
    const r = await vm.exec(`${agent} run ${name}`, { timeoutMs: 900_000 });
    const res = r.stdout.trim() ? JSON.parse(r.stdout) : { code: r.code, stderr: r.stderr };
    console.log(`  ${name}: exit ${res.code} in ${res.ms ?? '?'} ms${res.stderr ? `; stderr: ${String(res.stderr).trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    return res;
  };
  const status = async (title) => {
    const r = await vm.exec(`${agent} wait --timeout 600`, { timeoutMs: 900_000 });
    let s = null;
    try { s = JSON.parse(r.stdout); } catch { /* no terminal status */ }
    if (!s) s = JSON.parse((await vm.run(`${agent} status`)) || 'null');
    const st = s?.[0]?.status;
    console.log(`  ${title}: ${st ? `${st.status} (code ${st.code}) ${st.formattedMessage?.message ?? ''}` : 'no status file'}`);
    for (const sub of st?.substatus ?? []) console.log(`    substatus ${sub.name}: ${sub.status} ${sub.formattedMessage?.message ?? ''}`.slice(0, 400));
    return st;
  };

  step('install + enable (EnableEncryption, VolumeType Data)');
  await op('install');
  await op('enable');
  const st1 = await status('status after enable');

  step('reboot; the agent runs enable again with the same sequence number (lab-boot.service)');
  await vm.run(`mkdir -p /etc/lab/boot.d && printf '#!/bin/sh\\nexec ${agent} boot\\n' > /etc/lab/boot.d/50-agent && chmod +x /etc/lab/boot.d/50-agent`);
  await vm.reboot();
  console.log(`  back in ${(vm.lastBootMs / 1000).toFixed(1)} s; ${(await vm.run('grep -c "exit 0" /var/log/lab-boot.log || true')).trim()} agent boot run(s) exited 0`);
  const st2 = await status('status after reboot');

  step('data after the reboot');
  const after = await hashes();
  showHashes('sha256 after', after);
  const keys = Object.keys(expected);
  const same = Object.keys(after).length === keys.length && keys.every((k) => after[k] === expected[k] && before[k] === expected[k]);
  console.log(`  ${same ? 'every file is unchanged' : 'FILES CHANGED'} (${Object.keys(after).length} files)`);
  const crypt = (await vm.run('lsblk -rno NAME,TYPE | awk \'$2=="crypt"{print $1}\'')).trim();
  console.log(`  dm-crypt volumes: ${crypt || 'none'}`);

  step('summary');
  const final = st2 ?? st1;
  if (final?.status === 'success' && crypt) console.log('  The data disks are encrypted and the files are intact.');
  else {
    console.log(`  NOT DONE by this build: the data disks were not encrypted.` +
      `${final ? ` The extension's status is ${final.status}, code ${final.code}: ${final.formattedMessage?.message ?? ''}` : ' The extension wrote no status.'}`);
    console.log(`  What works: the package installs through the agent, install/enable run with the agent's environment,` +
      ` enable runs again after a reboot with the same sequence number, and the data is untouched.`);
  }
  if (!same) exitCode = 1;
  console.log(`  extension logs in the guest: /var/log/azure/${ext.name}/`);
  await vm.shutdown();
} catch (e) {
  exitCode = 1;
  console.error(`\nlab demo failed: ${e instanceof Error ? e.message : e}`);
} finally {
  await vm.destroy();
  console.log(`\nlab demo done in ${el()}; serial log: ${vm.serialLogPath}`);
}
process.exit(exitCode);
