// Builds and caches the lab's guest images from Debian packages (see lab/README.md).
//
//   rootfs-<key>/   one mmdebstrap tree (bookworm + updates + security): kernel, systemd, cryptsetup, ...
//   minimal-<key>/  vmlinuz + a small busybox initramfs cut from that tree (fast guest, no systemd)
//   full-<key>/     vmlinuz + initrd.img + os.img (raw MBR disk: ext4 /boot + ext4 /, systemd) for reboot scenarios
//
// Keys: the rootfs key covers the package list, the mirrors and the candidate versions the host's apt
// sees for them; the image keys add the hash of this file and of lab/guest/. Nothing is rebuilt unless
// one of those changes. Cache root: ${ADE_LAB_CACHE:-/var/tmp/ade-linux-lab}.
//
// CLI: node lab/images.ts [minimal|full|all]   (prints the image paths)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bash, fmtSec, hashTree, labLog, run, sha256, withLock } from './util.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GUEST_DIR = path.join(HERE, 'guest');

/** Bump when the mmdebstrap recipe changes in a way the package list does not show. */
const ROOTFS_RECIPE = 3;

/** Packages of the guest root (both flavours are cut from it). */
export const GUEST_PACKAGES = [
  'linux-image-amd64', 'systemd-sysv', 'udev', 'kmod', 'initramfs-tools', 'zstd',
  'cryptsetup', 'cryptsetup-bin', 'cryptsetup-initramfs', 'dmsetup',
  'e2fsprogs', 'xfsprogs', 'dosfstools', 'util-linux', 'fdisk', 'mount', 'busybox-static', 'openssl', 'procps',
  'libstdc++6', // node (shipped inside the extension package) needs it
  'curl', 'ca-certificates', // on every Azure image; the OS disk's network unlock in the initramfs uses curl
  // Debian 12's Azure image boots with it: grub for BIOS (i386-pc) and UEFI (x86_64-efi, shim), one /etc/default/grub
  'grub-cloud-amd64',
];

/** Binaries copied (with their libraries) from the rootfs into the minimal guest. */
const MINIMAL_BINS = [
  '/usr/sbin/cryptsetup', '/usr/sbin/dmsetup', '/usr/sbin/mke2fs', '/usr/sbin/e2fsck', '/usr/sbin/resize2fs', '/usr/sbin/dumpe2fs',
  '/usr/sbin/tune2fs', '/usr/sbin/debugfs', '/usr/sbin/e2label', '/usr/sbin/mkfs.xfs', '/usr/sbin/xfs_repair', '/usr/sbin/xfs_growfs',
  '/usr/sbin/xfs_admin', '/usr/sbin/xfs_db', '/usr/sbin/mkfs.fat', '/usr/sbin/fsck.fat', '/usr/sbin/fatlabel', '/usr/sbin/blkid',
  '/usr/bin/lsblk', '/usr/bin/findmnt', '/usr/sbin/losetup', '/usr/sbin/wipefs', '/usr/sbin/blockdev', '/usr/sbin/sfdisk',
  '/usr/bin/mount', '/usr/bin/umount', '/usr/sbin/fsck', '/usr/bin/openssl', '/usr/bin/kmod',
];
const MINIMAL_LINKS: Record<string, string> = {
  '/usr/sbin/mkfs.ext4': 'mke2fs', '/usr/sbin/mkfs.ext2': 'mke2fs', '/usr/sbin/fsck.ext4': 'e2fsck', '/usr/sbin/mkfs.vfat': 'mkfs.fat',
  '/usr/sbin/fsck.vfat': 'fsck.fat', '/usr/sbin/mkfs.xfs': 'mkfs.xfs', '/usr/sbin/modprobe': '../bin/kmod', '/usr/sbin/insmod': '../bin/kmod',
  '/usr/sbin/lsmod': '../bin/kmod', '/usr/sbin/depmod': '../bin/kmod', '/usr/sbin/rmmod': '../bin/kmod',
};
/**
 * Kernel modules of the minimal guest (dependencies are added). MINIMAL_BOOT_MODULES are loaded by /init;
 * the others on demand (the kernel calls kmod's modprobe: mount -t xfs, dm-crypt targets, AF_ALG, ...).
 * insmod is slow under TCG (~9 s for all of them), so boot loads only what the command channel and
 * dm-crypt's cipher choice need (aesni before the first xts(aes) lookup, else the slow generic AES wins).
 */
const MINIMAL_BOOT_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_console', 'virtio_net', '9p', '9pnet_virtio', 'dm-mod', 'xts', 'aesni_intel'];
const MINIMAL_MODULES = [...MINIMAL_BOOT_MODULES,
  'virtio_pci', 'virtio_blk', 'virtio_console', 'virtio_net', '9p', '9pnet_virtio', 'ext4', 'xfs', 'vfat', 'nls_cp437',
  'nls_iso8859-1', 'nls_utf8', 'nls_ascii', 'loop', 'dm-mod', 'dm-crypt', 'xts', 'aesni_intel', 'sha256_ssse3', 'crc32c_intel',
  'algif_skcipher', 'algif_hash', 'af_packet',
];

export interface Mirrors { debian: string; security: string }
export interface MinimalImage { flavour: 'minimal'; dir: string; kernel: string; initrd: string; kver: string; key: string; cmdline: string }
export interface FullImage {
  flavour: 'full'; dir: string; kernel: string; initrd: string; kver: string; key: string; cmdline: string;
  /** Raw OS disk (MBR: p1 ext4 /boot, p2 ext4 /). Never boot it directly: copy it (Vm does). */
  osImage: string; rootUuid: string; bootUuid: string;
}

export function cacheDir(): string {
  const d = process.env.ADE_LAB_CACHE || '/var/tmp/ade-linux-lab';
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** The Debian mirrors the host's apt is configured with (deb822 or one-line), else deb.debian.org. */
export function hostMirrors(): Mirrors {
  const m: Mirrors = { debian: 'http://deb.debian.org/debian', security: 'http://deb.debian.org/debian-security' };
  const files: string[] = [];
  for (const f of ['/etc/apt/sources.list']) if (fs.existsSync(f)) files.push(f);
  const d = '/etc/apt/sources.list.d';
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) if (/\.(list|sources)$/.test(f)) files.push(path.join(d, f));
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const url of text.match(/https?:\/\/\S+/g) ?? []) {
      const u = url.replace(/\/$/, '');
      const lineOk = text.split('\n').some((l) => l.includes(url) && !/^\s*#/.test(l));
      if (!lineOk) continue;
      if (/debian-security$/.test(u)) m.security = u;
      else if (/\/debian$/.test(u)) m.debian = u;
    }
  }
  return m;
}

/** Candidate versions the host's apt metadata gives for the guest packages (part of the rootfs key). */
async function candidateVersions(): Promise<Record<string, string>> {
  const r = await run('apt-cache', ['policy', ...GUEST_PACKAGES], { allowFail: true }).catch(() => undefined);
  const out: Record<string, string> = {};
  let cur = '';
  for (const line of (r?.stdout ?? '').split('\n')) {
    const p = /^(\S+):$/.exec(line);
    if (p) cur = p[1]!;
    const c = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (c && cur) out[cur] = c[1]!;
  }
  return out;
}

export function fileHash(): string {
  return sha256(fs.readFileSync(fileURLToPath(import.meta.url)) + hashTree(GUEST_DIR));
}

function touch(p: string): void {
  const now = new Date();
  try { fs.utimesSync(p, now, now); } catch { /* ignore */ }
}

/** Drops cache entries of the same kind not used for 3 days (the current key is always kept). */
function prune(kind: string, keep: string): void {
  const root = cacheDir();
  for (const e of fs.readdirSync(root)) {
    if (!e.startsWith(`${kind}-`) || e === keep || e.endsWith('.lock')) continue;
    const p = path.join(root, e);
    const used = path.join(p, 'last-used');
    const age = Date.now() - (fs.existsSync(used) ? fs.statSync(used).mtimeMs : fs.statSync(p).mtimeMs);
    if (age > 3 * 86400_000 || e.endsWith('.tmp')) { labLog(`pruning old cache entry ${e}`); fs.rmSync(p, { recursive: true, force: true }); }
  }
}

/** Reuses `<kind>-<key>` from the cache or builds it (into a .tmp dir, renamed when complete). */
export async function cached(kind: string, key: string, build: (tmp: string) => Promise<void>): Promise<string> {
  const root = cacheDir();
  const name = `${kind}-${key.slice(0, 16)}`;
  const dir = path.join(root, name);
  const done = path.join(dir, 'manifest.json');
  if (!fs.existsSync(done)) {
    await withLock(path.join(root, `${name}.lock`), name, async () => {
      if (fs.existsSync(done)) return;
      const tmp = `${dir}.tmp`;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(tmp, { recursive: true });
      const t0 = Date.now();
      labLog(`building ${name} (cache ${root})`);
      await build(tmp);
      if (!fs.existsSync(path.join(tmp, 'manifest.json'))) throw new Error(`build of ${name} wrote no manifest`);
      fs.renameSync(tmp, dir);
      labLog(`built ${name} in ${fmtSec(Date.now() - t0)}`);
      prune(kind, name);
    });
  }
  fs.writeFileSync(path.join(dir, 'last-used'), '');
  touch(path.join(dir, 'last-used'));
  return dir;
}

interface RootfsInfo { dir: string; root: string; key: string; kver: string }

/** The mmdebstrap tree both flavours are made from (~2 min to build, ~700 MB). */
export async function ensureRootfs(): Promise<RootfsInfo> {
  const mirrors = hostMirrors();
  const versions = await candidateVersions();
  const key = sha256(JSON.stringify({ ROOTFS_RECIPE, GUEST_PACKAGES, mirrors, versions }));
  const dir = await cached('rootfs', key, async (tmp) => {
    const root = path.join(tmp, 'root');
    const log = path.join(tmp, 'mmdebstrap.log');
    const sources = [
      `deb ${mirrors.debian} bookworm main`,
      `deb ${mirrors.debian} bookworm-updates main`,
      `deb ${mirrors.security} bookworm-security main`,
    ];
    await run('mmdebstrap', [
      '--mode=root', '--variant=minbase', '--format=directory',
      `--include=${GUEST_PACKAGES.join(',')}`,
      '--aptopt=Acquire::Retries "3"',
      '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/doc/*',
      '--dpkgopt=path-exclude=/usr/share/locale/*', '--dpkgopt=path-exclude=/usr/share/info/*',
      // Debian's defaults would make an initrd for "this host": MODULES=most keeps virtio/ext4 for the guest.
      '--essential-hook=mkdir -p "$1/etc/initramfs-tools/conf.d" && echo "MODULES=most" > "$1/etc/initramfs-tools/conf.d/lab.conf"',
      'bookworm', root, ...sources,
    ], { logFile: log });
    const pk = await run('chroot', [root, 'dpkg-query', '-W', '-f', '${Package} ${Version}\n']);
    const kver = fs.readdirSync(path.join(root, 'lib/modules')).sort().pop()!;
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({
      key, mirrors, candidates: versions, kver, builtAt: new Date().toISOString(),
      packages: Object.fromEntries(pk.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string])),
    }, null, 2));
  });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { kver: string };
  return { dir, root: path.join(dir, 'root'), key, kver: manifest.kver };
}

/** Copies `paths` (binaries/libraries, may be symlinks) from the rootfs into `dst`, preserving paths. */
async function copyFromRoot(root: string, dst: string, paths: string[]): Promise<void> {
  // resolve inside the rootfs (its /lib, /bin, /sbin are usrmerge symlinks; the minimal guest has the same ones)
  const script = 'for p in "$@"; do printf "%s|%s|%s\\n" "$p" "$(readlink -f "$(dirname "$p")")" "$(readlink -f "$p")"; done';
  const r = await run('chroot', [root, '/bin/sh', '-c', script, 'sh', ...paths]);
  for (const line of r.stdout.trim().split('\n')) {
    const [p, dirReal, real] = line.split('|') as [string, string, string];
    if (!real || !fs.existsSync(path.join(root, real))) throw new Error(`not in the guest rootfs: ${p}`);
    const target = path.join(dst, real);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (!fs.existsSync(target)) fs.copyFileSync(path.join(root, real), target);
    fs.chmodSync(target, fs.statSync(path.join(root, real)).mode & 0o7777);
    const linkPath = path.join(dst, dirReal, path.basename(p));
    if (path.join(dirReal, path.basename(p)) !== real && !fs.existsSync(linkPath)) {
      fs.mkdirSync(path.dirname(linkPath), { recursive: true });
      fs.symlinkSync(path.relative(path.dirname(path.join(dirReal, path.basename(p))), real) || path.basename(real), linkPath);
    }
  }
}

export function installGuestScripts(dst: string): void {
  const bin = path.join(dst, 'usr/local/sbin');
  fs.mkdirSync(bin, { recursive: true });
  for (const f of ['lab-ctl', 'lab-dev', 'lab-mark']) {
    fs.copyFileSync(path.join(GUEST_DIR, `${f}.sh`), path.join(bin, f));
    fs.chmodSync(path.join(bin, f), 0o755);
  }
}

/** The fast guest: Debian kernel + busybox initramfs with the tools above, no systemd (boot ≈ 15 s under TCG). */
export async function ensureMinimalImage(): Promise<MinimalImage> {
  const rootfs = await ensureRootfs();
  const key = sha256(`${rootfs.key}|${fileHash()}`);
  const dir = await cached('minimal', key, async (tmp) => {
    const R = rootfs.root;
    const I = path.join(tmp, 'initramfs');
    for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/libexec/bb', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'var/tmp', 'lab']) {
      fs.mkdirSync(path.join(I, d), { recursive: true });
    }
    for (const l of ['bin', 'sbin', 'lib', 'lib64']) fs.symlinkSync(`usr/${l}`, path.join(I, l));
    // busybox-static: applets go to a directory that comes last in PATH, so Debian's real tools win
    fs.copyFileSync(path.join(R, 'usr/bin/busybox'), path.join(I, 'usr/bin/busybox'));
    fs.chmodSync(path.join(I, 'usr/bin/busybox'), 0o755);
    fs.symlinkSync('busybox', path.join(I, 'usr/bin/sh'));
    // tools + libraries (ldd inside the rootfs) + node's libraries
    const ldd = await run('chroot', [R, '/bin/sh', '-c',
      'for b in "$@"; do echo "$b"; ldd "$b" | grep -o "/[^ ]*"; done; ldd /usr/lib/x86_64-linux-gnu/libstdc++.so.6 | grep -o "/[^ ]*"; echo /usr/lib/x86_64-linux-gnu/libstdc++.so.6',
      'sh', ...MINIMAL_BINS]);
    const files = [...new Set(ldd.stdout.split('\n').filter((l) => l.startsWith('/')))];
    await copyFromRoot(R, I, files);
    for (const [l, t] of Object.entries(MINIMAL_LINKS)) if (!fs.existsSync(path.join(I, l))) fs.symlinkSync(t, path.join(I, l));
    for (const f of ['etc/mke2fs.conf', 'etc/ssl/openssl.cnf']) {
      if (fs.existsSync(path.join(R, f))) { fs.mkdirSync(path.dirname(path.join(I, f)), { recursive: true }); fs.copyFileSync(path.join(R, f), path.join(I, f)); }
    }
    fs.writeFileSync(path.join(I, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    fs.writeFileSync(path.join(I, 'etc/group'), 'root:x:0:\n');
    fs.writeFileSync(path.join(I, 'etc/hosts'), '127.0.0.1 localhost\n');
    fs.writeFileSync(path.join(I, 'etc/hostname'), 'lab-minimal\n');
    fs.writeFileSync(path.join(I, 'etc/os-release'), fs.readFileSync(path.join(R, 'usr/lib/os-release')));
    // kernel modules (with dependencies, in load order)
    const kv = rootfs.kver;
    const order: string[] = [];
    const bootCount: number[] = [];
    for (const m of MINIMAL_MODULES) {
      const r = await run('modprobe', ['-d', R, '-S', kv, '--show-depends', m], { allowFail: true });
      if (r.code !== 0) { if (!/builtin/.test(r.stdout + r.stderr)) labLog(`module ${m}: ${r.stderr.trim()}`); continue; }
      for (const line of r.stdout.split('\n')) {
        const mm = /^insmod (\S+)/.exec(line);
        if (!mm) continue;
        const rel = path.relative(R, mm[1]!).replace(/^lib\//, 'usr/lib/');
        if (!order.includes(rel)) order.push(rel);
      }
      if (MINIMAL_BOOT_MODULES.includes(m)) bootCount.push(order.length);
    }
    for (const rel of order) {
      fs.mkdirSync(path.dirname(path.join(I, rel)), { recursive: true });
      fs.copyFileSync(path.join(R, rel), path.join(I, rel));
    }
    for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
      const src = path.join(R, 'usr/lib/modules', kv, f);
      if (fs.existsSync(src)) fs.copyFileSync(src, path.join(I, 'usr/lib/modules', kv, f));
    }
    await run('depmod', ['-b', I, kv]);
    fs.writeFileSync(path.join(I, 'etc/modules.boot'), order.slice(0, Math.max(...bootCount)).map((r) => `/${r}`).join('\n') + '\n');
    fs.copyFileSync(path.join(GUEST_DIR, 'init-minimal.sh'), path.join(I, 'init'));
    fs.chmodSync(path.join(I, 'init'), 0o755);
    installGuestScripts(I);
    // zstd decompresses far faster than gzip under TCG
    const kconfig = fs.readFileSync(path.join(R, 'boot', `config-${kv}`), 'utf8');
    const zstd = /^CONFIG_RD_ZSTD=y/m.test(kconfig);
    await bash(`cd ${JSON.stringify(I)} && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible | ${zstd ? 'zstd -q -3 -T0' : 'gzip -1'} > ../initramfs.img`);
    fs.copyFileSync(path.join(R, 'boot', `vmlinuz-${kv}`), path.join(tmp, 'vmlinuz'));
    fs.rmSync(I, { recursive: true, force: true });
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({
      key, rootfs: path.basename(rootfs.dir), kver: kv, modules: order.length, bins: MINIMAL_BINS.length,
      initramfsBytes: fs.statSync(path.join(tmp, 'initramfs.img')).size, builtAt: new Date().toISOString(),
    }, null, 2));
  });
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { kver: string };
  return {
    flavour: 'minimal', dir, key, kver: m.kver, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initramfs.img'),
    cmdline: 'console=ttyS0 quiet loglevel=3 panic=-1',
  };
}

export function uuidFrom(seed: string): string {
  const h = sha256(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const MiB = 1024 * 1024;
export const OS_DISK = { sizeMiB: 4096, bootStartMiB: 1, bootMiB: 512 };

/** Writes a two-partition MBR (both type 0x83) into a raw image file. */
function writeMbr(file: string, parts: Array<{ startMiB: number; sizeMiB: number }>, signature: number): void {
  const mbr = Buffer.alloc(512);
  mbr.writeUInt32LE(signature >>> 0, 440);
  parts.forEach((p, i) => {
    const o = 446 + i * 16;
    mbr[o] = 0x00;
    mbr.writeUIntBE(0xfeffff, o + 1, 3); // CHS: use LBA
    mbr[o + 4] = 0x83;
    mbr.writeUIntBE(0xfeffff, o + 5, 3);
    mbr.writeUInt32LE((p.startMiB * MiB) / 512, o + 8);
    mbr.writeUInt32LE((p.sizeMiB * MiB) / 512, o + 12);
  });
  mbr[510] = 0x55; mbr[511] = 0xaa;
  const fd = fs.openSync(file, 'r+');
  try { fs.writeSync(fd, mbr, 0, 512, 0); } finally { fs.closeSync(fd); }
}

/** Writes a file into a guest tree (parents made, mode set). */
export function writeGuestFile(T: string, rel: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(path.join(T, rel)), { recursive: true });
  fs.writeFileSync(path.join(T, rel), text);
  fs.chmodSync(path.join(T, rel), mode);
}

/**
 * Turns a copy of the rootfs into a systemd guest the lab can drive: the command channel and boot hooks,
 * nothing that costs boot time or talks to the network, a small initrd made by the guest's own
 * update-initramfs (whose config stays, so the guest's later rebuilds are small too).
 */
export async function makeSystemdGuest(T: string, kv: string, hostname: string): Promise<void> {
  const w = (rel: string, text: string): void => writeGuestFile(T, rel, text);
  w('etc/crypttab', '');
  w('etc/hostname', `${hostname}\n`);
  w('etc/hosts', `127.0.0.1 localhost\n127.0.1.1 ${hostname}\n`);
  // MODULES=most puts ~all drivers in the initrd, and udev loads them: slow under TCG. cryptsetup-initramfs
  // adds what an encrypted root needs when there is one.
  w('etc/initramfs-tools/conf.d/lab.conf', 'MODULES=list\nCOMPRESS=zstd\n');
  w('etc/initramfs-tools/modules', '# lab guest: virtio disks, ext4 root and /boot\nvirtio_pci\nvirtio_blk\next4\ncrc32c_intel\n');
  // The lab's guests run under TCG on a shared host, whose load can stall a guest's vCPUs for a minute (CI's
  // os-dracut once had soft lockups of 49 and 75 s), and that minute counts against systemd's 90 s wait for a
  // device such as /boot/efi's. Azure's VMs never see such stalls; the lab waits five minutes, half its own boot
  // limit, so a device that never comes still ends in a failed boot the lab can explain.
  w('etc/systemd/system.conf.d/50-lab.conf', '[Manager]\nDefaultDeviceTimeoutSec=300s\n');
  installGuestScripts(T);
  for (const f of fs.readdirSync(path.join(GUEST_DIR, 'systemd'))) {
    fs.copyFileSync(path.join(GUEST_DIR, 'systemd', f), path.join(T, 'etc/systemd/system', f));
  }
  await bash(`
    R=${JSON.stringify(T)}
    chroot "$R" passwd -d root >/dev/null
    chroot "$R" systemctl enable lab-ctl.service lab-boot.service >/dev/null 2>&1
    # nothing that costs boot time or talks to the network; no login on the serial console (it carries the log)
    for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \\
             serial-getty@ttyS0.service getty@tty1.service getty-static.service systemd-timesyncd.service \\
             systemd-binfmt.service proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount sys-kernel-tracing.mount \\
             sys-fs-fuse-connections.mount dev-hugepages.mount modprobe@drm.service modprobe@efi_pstore.service \\
             modprobe@fuse.service; do
      ln -sf /dev/null "$R/etc/systemd/system/$u"
    done
    : > "$R/etc/machine-id"
    # the fake guest agent unpacks zips with unzip: busybox's does it
    [ -e "$R/usr/bin/unzip" ] || ln -s /usr/bin/busybox "$R/usr/local/bin/unzip"
    mkdir -p "$R/etc/lab/boot.d"
    # the rootfs has its own /dev nodes (mmdebstrap); only /proc is needed
    mount -t proc proc "$R/proc"
    trap 'umount "$R/proc"' EXIT
    chroot "$R" update-initramfs -u -k ${kv} >/dev/null
    rm -f "$R/var/lib/dbus/machine-id"
  `);
  if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${T}/`)) throw new Error(`still mounted under ${T}: not deleting anything`);
}

/** The full guest: Debian with systemd on a raw OS disk, booted with its kernel + initramfs-tools initrd. */
export async function ensureFullImage(): Promise<FullImage> {
  const rootfs = await ensureRootfs();
  const key = sha256(`${rootfs.key}|${fileHash()}|full`);
  const rootUuid = uuidFrom(`${key}root`);
  const bootUuid = uuidFrom(`${key}boot`);
  const dir = await cached('full', key, async (tmp) => {
    const T = path.join(tmp, 'root');
    await run('cp', ['-a', rootfs.root, T]);
    const kv = rootfs.kver;
    writeGuestFile(T, 'etc/fstab', `UUID=${rootUuid} / ext4 defaults,errors=remount-ro 0 1\nUUID=${bootUuid} /boot ext4 defaults 0 2\n`);
    await makeSystemdGuest(T, kv, 'lab-full');
    // disk: MBR, p1 = /boot (ext4), p2 = / (ext4); filled with mkfs.ext4 -d at an offset: no loop device, no mount
    const B = path.join(tmp, 'bootdir');
    fs.renameSync(path.join(T, 'boot'), B);
    fs.mkdirSync(path.join(T, 'boot'));
    const img = path.join(tmp, 'os.img');
    const rootStart = OS_DISK.bootStartMiB + OS_DISK.bootMiB;
    const rootMiB = OS_DISK.sizeMiB - rootStart;
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, OS_DISK.sizeMiB * MiB);
    writeMbr(img, [{ startMiB: OS_DISK.bootStartMiB, sizeMiB: OS_DISK.bootMiB }, { startMiB: rootStart, sizeMiB: rootMiB }],
      parseInt(sha256(key).slice(0, 8), 16));
    const env = { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' };
    await run('mkfs.ext4', ['-q', '-F', '-L', 'boot', '-U', bootUuid, '-d', B, '-E', `offset=${OS_DISK.bootStartMiB * MiB}`, img, `${OS_DISK.bootMiB}M`], { env });
    await run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-U', rootUuid, '-d', T, '-E', `offset=${rootStart * MiB}`, img, `${rootMiB}M`], { env });
    fs.copyFileSync(path.join(B, `vmlinuz-${kv}`), path.join(tmp, 'vmlinuz'));
    fs.copyFileSync(path.join(B, `initrd.img-${kv}`), path.join(tmp, 'initrd.img'));
    fs.rmSync(T, { recursive: true, force: true });
    fs.rmSync(B, { recursive: true, force: true });
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({
      key, rootfs: path.basename(rootfs.dir), kver: kv, rootUuid, bootUuid, layout: OS_DISK, builtAt: new Date().toISOString(),
    }, null, 2));
  });
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { kver: string };
  return {
    flavour: 'full', dir, key, kver: m.kver, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'),
    osImage: path.join(dir, 'os.img'), rootUuid, bootUuid,
    cmdline: `root=UUID=${rootUuid} rw console=ttyS0 quiet loglevel=3 panic=-1 systemd.show_status=auto`,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2] ?? 'all';
  const t0 = Date.now();
  const out: unknown[] = [];
  if (what === 'minimal' || what === 'all') out.push(await ensureMinimalImage());
  if (what === 'full' || what === 'all') out.push(await ensureFullImage());
  console.log(JSON.stringify(out, null, 2));
  labLog(`images ready in ${fmtSec(Date.now() - t0)}`);
}
