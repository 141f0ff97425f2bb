// OS disk, dracut flavour (RHEL/Oracle 8/9, Azure Linux 3 build their initramfs with dracut): a grub-booted
// Ubuntu-24.04-shaped guest (/boot on p16) whose initramfs-tools is replaced by Debian 12's dracut 059, encrypted
// by the packaged extension as the guest agent drives it. One guest, in order:
//   1. enable VolumeType OS: the extension picks dracut (the only builder installed), installs its module
//      (initramfs/dracut/90ade-linux) and the conf, runs `dracut --force --regenerate-all` (not hostonly: Debian's
//      default), points fstab's / at /dev/mapper/osencrypt and restarts the VM itself. grub's root=UUID=<fs uuid>
//      stays, and names the raw partition as much as the mapper: the module must make the mapper the root anyway.
//   2. after the boot: the root is the mapper, the console says "ade-linux: opened"; the agent's enable resumes
//      the worker, which encrypts online to Encrypted; the marker is unchanged.
//   3. hostonly="yes" (RHEL's default), and a new kernel package (Debian's cloud kernel): its postinst runs dracut,
//      which builds the new initramfs with our module; the old kernel is removed; the restart boots the new one
//      on the mapper, the marker unchanged.
//   4. the key volume detached, boot, through OVMF from here on (the hybrid disk's other grub): the module sets
//      the address recorded at the build on the NIC and opens the root with the key from Key Vault (a hostonly
//      dracut initramfs has no network of its own).
//   5. the vault refusing too: the console names each protector that failed and prompts for the recovery
//      passphrase; a wrong one is refused (the root stays unmounted), the one escrowed in Key Vault opens it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labLog, sleep, type Vm } from '../../lab/vm.ts';
import { installDracut } from '../../lab/dracut.ts';
import { BOOT_MODULES, expectRunning, installCloudKernel } from '../helpers/new-kernel.ts';
import { bootFirmware, enableSettings, parseStatus, recoveryPassphrase, startOsGuest, type GuestExtension, type GuestAzure } from '../../lab/e2e.ts';

/** How long after a prompt appears the test types: cryptsetup and systemd's agent print it, then turn the echo off. */
const TYPING_DELAY_MS = 2000;
const NAME = 'osencrypt';
const MAPPER = `/dev/mapper/${NAME}`;
const HEADER = '/boot/luks/osluksheader';

let vm: Vm;
let ext: GuestExtension;
let az: GuestAzure;
let stop: (() => Promise<void>) | undefined;
/** The raw root partition (/dev/vda1) and the conf the extension wrote into the guest. */
let rawDev = '';
let conf = '';
let markerSha = '';
let seqEnable = 0;
let newVer = '';
let genericModules = 0;

afterAll(async () => { await stop?.(); });

beforeAll(async () => {
  const g = await startOsGuest({ name: 'os-dracut', layout: 'boot', firmware: 'bios', bootTimeoutMs: 420_000 });
  ({ vm, ext, az, stop } = g);
  await installDracut(vm);
}, 1_200_000);

// --- guest-side steps ---

/** Writes 8 MiB of random data to /root/marker; returns its sha256. */
async function writeMarker(): Promise<string> {
  const out = await vm.run('head -c 8388608 /dev/urandom > /root/marker && sync && sha256sum /root/marker');
  return out.split(' ')[0]!;
}

/** sha256 of /root/marker read from the disk (page cache dropped). */
async function markerHash(): Promise<string> {
  const out = await vm.run('sync; echo 3 > /proc/sys/vm/drop_caches; sha256sum /root/marker');
  return out.split(' ')[0]!;
}

interface Initrd { modules: string[]; files: string; conf: string }

/** What the running kernel's initrd holds: dracut's modules (the listing's header names them), its files, our conf. */
async function readInitrd(): Promise<Initrd> {
  const img = '/boot/initrd.img-$(uname -r)';
  const files = await vm.run(`lsinitrd ${img}`);
  const head = /^dracut modules:\n([\s\S]*?)^=+$/m.exec(files);
  const modules = (head?.[1] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const conf = await vm.run(`lsinitrd -f etc/ade-linux/osencrypt.conf ${img}`);
  return { modules, files, conf };
}

const kernelModules = (i: Initrd): number => i.files.split('\n').filter((l) => /\.ko(\.(xz|zst|gz))?$/.test(l.trim())).length;

function expectInitrd(i: Initrd): void {
  expect(i.modules).toContain('ade-linux');
  expect(i.conf).toBe(conf);
  for (const f of [/sbin\/ade-linux-open$/m, /lib\/ade-linux-functions$/m, /system-generators\/ade-linux-generator$/m, /hooks\/cmdline\/20-parse-ade-linux\.sh$/m,
    /sbin\/cryptsetup$/m, /sbin\/blkid$/m, /\/dm-crypt\.ko/m, /\/vfat\.ko/m, /\/nls_cp437\.ko/m, /\/xts\.ko/m,
    // the network unlock: curl, ip (busybox's here: the lab's rootfs has no iproute2), the CA, the address recorded at the build, the NIC's driver
    /usr\/lib\/ade-linux\/curl$/m, /(bin\/ip|usr\/lib\/ade-linux\/busybox)$/m, /etc\/ade-linux\/ca\.pem$/m, /etc\/ade-linux\/net\.conf$/m, /etc\/ade-linux\/osencrypt\.env$/m, /\/virtio_net\.ko/m]) {
    expect(i.files).toMatch(f);
  }
  // never the header: a stale copy opened mid-reencryption corrupts the disk
  expect(i.files).not.toMatch(/osluksheader/);
}

interface BootState { root: string; cmdline: string; rawType: string; generator: string; reencrypting: boolean; journal: string }

async function bootState(): Promise<BootState> {
  const out = await vm.run([
    'echo "root=$(findmnt -no SOURCE /)"',
    'echo "cmdline=$(cat /proc/cmdline)"',
    `echo "rawType=$(blkid -p -o value -s TYPE ${rawDev} || true)"`,
    'echo "generator=$(dmesg | grep -o "ade-linux: /sysroot is .*" | tail -1)"',
    `echo "reencrypting=$(cryptsetup luksDump --header ${HEADER} ${rawDev} | grep -c online-reencrypt || true)"`,
  ].join('; '));
  const kv = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  // the initramfs's units, as this boot's journal recorded them: what /sysroot was and what fsck checked
  // (the initramfs's journald ran under another, transient, machine id: its journal is a separate directory in
  // /run/log/journal that only -m reads; -m does not take -b, so the boot is matched by _BOOT_ID)
  const journal = await vm.run('journalctl -m _BOOT_ID=$(tr -d - < /proc/sys/kernel/random/boot_id) -o cat --no-pager | grep -E "sysroot|File System Check" || true');
  labLog(`journal, sysroot and fsck lines:\n${journal.trim()}`);
  return {
    root: kv['root']!, cmdline: kv['cmdline']!, rawType: kv['rawType']!, generator: kv['generator']!, reencrypting: kv['reencrypting'] !== '0', journal,
  };
}

// --- the scenario ---

describe('OS disk encrypted in place, opened by the ade-linux dracut module', () => {
  it('enable OS: the extension installs its dracut module, rebuilds with dracut and restarts the VM itself', async () => {
    markerSha = await writeMarker();
    rawDev = (await vm.run('findmnt -no SOURCE /')).trim();
    expect(rawDev).toBe('/dev/vda1');
    expect((await ext.run('install')).code).toBe(0);
    const seq = await ext.settings({ ...enableSettings(az), VolumeType: 'OS' });
    const rebooted = vm.waitGuestReboot(900_000);
    const en = await ext.run('enable');
    expect(en.code, en.stderr).toBe(0);
    await rebooted;
    const before = parseStatus((await ext.status(seq))!);
    expect(before.state?.os, before.message).toBe('VMRestartPending');
    // what the extension put in place: the module from the package, the conf, the initrd dracut built with both
    expect(await vm.run('ls /usr/lib/dracut/modules.d/90ade-linux')).toBe('ade-linux-functions\nade-linux-generator.sh\nade-linux-open.sh\nmodule-setup.sh\nparse-ade-linux.sh\n');
    expect(await vm.run('ls /etc/initramfs-tools/scripts/local-top 2>/dev/null || true')).toBe('');
    conf = await vm.run('cat /etc/ade-linux/osencrypt.conf');
    expect(conf).toMatch(/^ADE_DATA="PARTUUID=[0-9a-f-]{36}"$/m);
    expect(conf).toMatch(/^ADE_HEADER_FS="UUID=[0-9a-f-]{36}"$/m);
    const generic = await readInitrd();
    expectInitrd(generic);
    // root-only, though the image dracut overwrote was initramfs-tools' 0644: it holds osencrypt.env
    expect(await vm.run('stat -c "%n %a" /boot/initrd.img-*')).toMatch(/^(\S+ 600\n)+$/);
    genericModules = kernelModules(generic);
    expect(await vm.run("awk '$2 == \"/\" { print $1 }' /etc/fstab")).toBe(`${MAPPER}\n`);
    labLog(`os-dracut: extension log after the restart:\n${await ext.logTail(30)}`);
    seqEnable = seq;
  });

  it('boots on the mapper although grub says root=UUID= of the raw file system; the agent\'s enable finishes; the marker is intact', async () => {
    const text = vm.serialText();
    expect(text).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/);
    let s = await bootState();
    expect(s.root).toBe(MAPPER);
    expect(s.cmdline).toMatch(/ root=UUID=[0-9a-f-]{36} /);
    // the ambiguous case: the raw partition still shows the same ext4 (nothing is encrypted yet)
    expect(s.rawType).toBe('ext4');
    expect(s.reencrypting).toBe(true);
    expect(s.generator).toMatch(/^ade-linux: \/sysroot is \/dev\/mapper\/osencrypt \(not root=UUID=/);
    // sysroot.mount was the generator's (its description), and fsck checked the mapper, never by-uuid
    expect(s.journal).toMatch(/\/sysroot on the encrypted OS disk \(\/dev\/mapper\/osencrypt\)/);
    expect(s.journal).toMatch(/File System Check on \/dev\/mapper\/osencrypt/);
    expect(s.journal).not.toMatch(/File System Check on \/dev\/disk\/by-uuid/);

    expect((await ext.boot()).code).toBe(0);
    const done = parseStatus(await ext.waitDone(seqEnable, { timeoutMs: 1_500_000, everyMs: 3000 }));
    expect(done.status, `${done.message}\n${await ext.logTail()}`).toBe('success');
    expect(done.state?.os).toBe('Encrypted');
    s = await bootState();
    expect(s.reencrypting).toBe(false);
    expect(s.rawType).toBe(''); // ciphertext all the way
    expect(await markerHash()).toBe(markerSha);
    expect((await vm.run(`cmp ${HEADER} ${HEADER}.backup && echo same`)).trim()).toBe('same');
  });

  it('a new kernel package under hostonly dracut (RHEL\'s default): its postinst builds the initramfs with our module; the restart boots it on the mapper', async () => {
    await vm.run('echo \'hostonly="yes"\' > /etc/dracut.conf.d/50-hostonly.conf');
    newVer = await installCloudKernel(vm, 'dracut', [...BOOT_MODULES, 'virtio_net']);
    const since = vm.serialText().length;
    await vm.reboot();
    await expectRunning(vm, newVer);
    expect(vm.serialText().slice(since)).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key volume/);
    const initrd = await readInitrd();
    expectInitrd(initrd);
    expect((await vm.run(`stat -c %a /boot/initrd.img-${newVer}`)).trim()).toBe('600');
    // hostonly: only this VM's drivers, a fraction of the generic image's (step 1's, with Debian's default)
    labLog(`os-dracut: kernel modules in the generic initrd ${genericModules}, in the hostonly one ${kernelModules(initrd)}`);
    expect(kernelModules(initrd)).toBeLessThan(genericModules / 2);
    const s = await bootState();
    expect(s.root).toBe(MAPPER);
    expect(s.reencrypting).toBe(false);
    expect(await markerHash()).toBe(markerSha);
  });

  it('without the key volume: the module brings the recorded address up and opens the root with the key from Key Vault', async () => {
    const net = await vm.run('lsinitrd -f etc/ade-linux/net.conf /boot/initrd.img-$(uname -r)');
    labLog(`os-dracut: the initrd's mode and net.conf: ${await vm.run('stat -c %a /boot/initrd.img-$(uname -r)')}${net}`);
    expect(net).toMatch(/^ADE_NET_MAC=([0-9a-f]{2}:){5}[0-9a-f]{2}\nADE_NET_ADDR=\d+\.\d+\.\d+\.\d+\/\d+\nADE_NET_GW=\d+\.\d+\.\d+\.\d+\n/);
    const since = vm.serialText().length;
    await vm.shutdown();
    vm.detach('bek');
    // from now on through OVMF (the hybrid disk's grub on the ESP): the dracut initramfs proven on both firmwares
    vm.setFirmware('uefi');
    await vm.start();
    expect(await bootFirmware(vm)).toBe('uefi');
    await expectRunning(vm, newVer);
    const text = vm.serialText().slice(since);
    expect(text).toMatch(/ade-linux: key volume failed: no disk labelled BEK VOLUME attached/);
    expect(text).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the key from Key Vault/);
    expect((await vm.exec("blkid -L 'BEK VOLUME'")).stdout.trim()).toBe('');
    expect((await bootState()).root).toBe(MAPPER);
    expect(await markerHash()).toBe(markerSha);
  });

  it('the vault refusing too: says which protectors failed, refuses a wrong recovery passphrase, opens with the right one', async () => {
    const rec = await recoveryPassphrase(az, vm);
    expect(rec.passphrase).toMatch(/^\d{6}(-\d{6}){7}$/);
    const since = vm.serialText().length;
    await vm.shutdown();
    az.fake.vault.faults.forbidden.add('secrets/get');
    const up = vm.start();
    // start() spawns qemu after an await, and waitSerial rejects at once on a stopped VM
    for (let i = 0; !vm.running && i < 600; i++) await sleep(50);
    // systemd's password agent on the console (as dracut's crypt module asks), one try per prompt
    await vm.waitSerial(/Recovery passphrase for \/dev\/vda1:/, { since, timeoutMs: 600_000 });
    const first = vm.serialText().length;
    // a person reads the prompt before typing: the prompt is printed before the echo is turned off
    await sleep(TYPING_DELAY_MS);
    vm.typeSerial('000000-111111-222222-333333-444444-555555-666666-777777\n');
    await vm.waitSerial(/ade-linux: that is not the recovery passphrase of \/dev\/vda1[\s\S]*Recovery passphrase for \/dev\/vda1:/, { since: first, timeoutMs: 120_000 });
    expect(vm.serialText().slice(since)).not.toMatch(/LAB_READY|ade-linux: opened/);
    await sleep(TYPING_DELAY_MS);
    vm.typeSerial(`${rec.passphrase}\n`);
    await up;
    az.fake.vault.faults.forbidden.delete('secrets/get');
    const text = vm.serialText().slice(since);
    expect(text).toMatch(/ade-linux: key volume failed: no disk labelled BEK VOLUME attached\r?\n[\s\S]*ade-linux: Key Vault failed: cannot read the secret https:\/\/\S+: HTTP 403: [^\n]+\r?\n[\s\S]*ade-linux: every protector failed \(key volume, Key Vault\)/);
    expect(text).toContain(`ade-linux: type the recovery passphrase at the prompt (Key Vault secret ${rec.secretUrl};`);
    expect(text).toMatch(/ade-linux: opened \/dev\/vda1 as \/dev\/mapper\/osencrypt with the recovery passphrase/);
    // typed with the echo off: neither passphrase reaches the console
    expect(text).not.toContain(rec.passphrase);
    expect(text).not.toContain('000000-111111-222222');
    expect((await bootState()).root).toBe(MAPPER);
    expect(await bootFirmware(vm)).toBe('uefi');
    expect(await markerHash()).toBe(markerSha);
  });
});
