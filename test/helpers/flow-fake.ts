// A model machine for the data-volume step machines: disks, LUKS containers, mappings, mounts and the
// tools' command lines, interpreted by a fake Runner that records every call and can "crash" (the process
// dies) right after the side effect of call N. It also plays systemd at a simulated reboot (crypttab then
// fstab). Data safety is modelled by the invariants real tools would break silently, recorded in `damage`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunOptions, RunResult, Runner } from '../../src/system/exec.ts';
import { classifyVolumes, type Volume } from '../../src/encryption/discovery.ts';
import type { Tools, VolumeKeys } from '../../src/encryption/steps.ts';
import { machineTools } from '../../src/commands/machine.ts';
import { bekVolumeProtector } from '../../src/keys/protectors/bek-volume.ts';
import type { Logger } from '../../src/shared/log.ts';
import type { BlockSnapshot } from '../../src/system/blockdev.ts';
import type { BlockDevice, Mount } from '../../src/parsers/lsblk.ts';
import { parseFstab } from '../../src/parsers/fstab.ts';
import { parseCrypttab } from '../../src/parsers/crypttab.ts';
import { parseLuksDumpJson, type LuksMetadata } from '../../src/parsers/luksdump.ts';
import type { JournalAccess, VolumeProgress } from '../../src/encryption/volume-journal.ts';
import type { KeyVolume } from '../../src/system/bek-volume.ts';

export const MiB = 1024 * 1024;
const HDR = 16 * MiB;

export interface Fs { type: string; uuid: string; bytes: number; minBytes: number; data: string }
export interface Luks { uuid: string; key: string; mode?: 'encrypt' | 'decrypt'; done: number; needsRepair: boolean; header?: string; finished?: boolean }
/** `id`: its /dev/disk/by-id name (from the hardware, so it follows the disk when the kernel renames it). */
export interface Disk { path: string; kname: string; lun: number; size: number; id?: string; fs?: Fs; luks?: Luks }
/** `signalled`: a hotzone-wise resume was given a stop signal. */
export interface Call { file: string; args: string[]; input?: string; env?: Record<string, string>; signalled?: boolean }

export class Crash extends Error { constructor() { super('simulated crash'); } }

const READ_ONLY = (c: Call) => ['findmnt', 'fuser', 'dumpe2fs', 'blockdev', 'blkid', 'modprobe'].includes(c.file)
  || (c.file === 'resize2fs' && c.args[0] === '-P')
  || (c.file === 'cryptsetup' && ['isLuks', 'luksDump', 'luksUUID', 'status'].includes(c.args[0]!));
export const isMutating = (c: Call) => !READ_ONLY(c) && c.file !== 'escrow';

export class Machine {
  disks: Disk[] = [];
  mappings = new Map<string, string>();
  mounts = new Map<string, string>();
  users = new Map<string, Array<{ pid: number; user: string; command: string }>>();
  keyFiles = new Map<string, Buffer>();
  calls: Call[] = [];
  damage: string[] = [];
  crashAt = 0;
  /** After a crash the process is gone: nothing it would still do reaches the machine or the journal. */
  dead = false;
  dmCrypt = true;
  /** Whether udev made the /dev/disk/azure links (the Azure rules are installed). */
  azureLinks = true;
  /**
   * When set, `reencrypt --resume-only` works like cryptsetup's: this many bytes per hotzone, one per
   * turn of the event loop, and a SIGTERM (the runner's signal aborting) ends it at a hotzone boundary
   * with consistent metadata and exit 1. Otherwise it finishes at once.
   */
  hotzoneBytes = 0;
  /** Called after every hotzone of a hotzone-wise resume. */
  onHotzone: ((l: Luks) => void) | undefined;
  /** Milliseconds each hotzone of a hotzone-wise resume takes, and the last one lingers (0: one event-loop turn). */
  hotzoneMs = 0;
  mkfsCount = 0;
  root: string;
  stateDir: string;
  private uuidN = 0;

  constructor() {
    const dir = mkdtempSync(join(tmpdir(), 'ade-flow-'));
    this.root = join(dir, 'root');
    this.stateDir = join(dir, 'state');
    mkdirSync(join(this.root, 'etc'), { recursive: true });
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(join(this.root, 'etc/crypttab'), '');
  }

  addDisk(lun: number, sizeMiB: number, fs: Partial<Fs> & { mountpoint?: string; fstab?: string } = {}): Disk {
    const kname = `sd${String.fromCharCode(99 + lun)}`;
    const d: Disk = { path: `/dev/${kname}`, kname, lun, size: sizeMiB * MiB, fs: { type: 'ext4', uuid: `fs-${lun}-0000`, bytes: sizeMiB * MiB, minBytes: 8 * MiB, data: `data-of-${lun}`, ...fs } };
    this.disks.push(d);
    if (fs.mountpoint) this.mounts.set(fs.mountpoint, d.path);
    if (fs.fstab !== undefined) this.appendFstab(fs.fstab);
    return d;
  }

  appendFstab(line: string): void {
    const p = join(this.root, 'etc/fstab');
    writeFileSync(p, (existsSync(p) ? readText(p) : '') + line + '\n');
  }
  fstab(): string { return readText(join(this.root, 'etc/fstab')); }
  crypttab(): string { return readText(join(this.root, 'etc/crypttab')); }

  private disk(path: string): Disk | undefined {
    const m = /^\/dev\/mapper\/(.+)$/.exec(path);
    if (m) return undefined;
    return this.disks.find((d) => d.path === path);
  }
  private mapped(path: string): Disk | undefined {
    const m = /^\/dev\/mapper\/(.+)$/.exec(path);
    const dev = m ? this.mappings.get(m[1]!) : undefined;
    return dev ? this.disk(dev) : undefined;
  }
  /** The file system visible at a path: the raw disk's while it is plain, the mapping's once LUKS. */
  visibleFs(path: string): Fs | undefined {
    const d = this.disk(path);
    if (d) return d.luks && !d.luks.finished ? undefined : d.fs;
    return this.mapped(path)?.fs;
  }
  private sizeOf(path: string): number {
    const d = this.disk(path);
    if (d) return d.size;
    const m = this.mapped(path)!;
    return m.luks && !m.luks.finished ? m.size - HDR : m.size;
  }
  private mountedAnywhere(path: string): boolean {
    return [...this.mounts.values()].includes(path);
  }
  private diskMounted(d: Disk): boolean {
    return this.mountedAnywhere(d.path) || [...this.mappings].some(([n, p]) => p === d.path && this.mountedAnywhere(`/dev/mapper/${n}`));
  }
  private luksOf(path: string): Luks | undefined {
    const d = this.disk(path);
    if (d?.luks && !d.luks.header) return d.luks;
    return this.disks.find((x) => x.luks?.header === path)?.luks;
  }

  dumpJson(l: Luks, size: number): string {
    const seg: Record<string, unknown> = {};
    const ks: Record<string, unknown> = { '0': { type: 'luks2', key_size: 64 } };
    const req: string[] = [];
    if (l.finished) seg['0'] = { type: 'linear', offset: '0', size: 'dynamic' };
    else if (l.mode) {
      ks['0'] = l.mode === 'decrypt' && l.finished ? undefined : ks['0'];
      ks['1'] = { type: 'reencrypt', key_size: 1, mode: l.mode, direction: 'forward', area: { type: 'datashift' } };
      const [from, to] = l.mode === 'encrypt' ? ['linear', 'crypt'] : ['crypt', 'linear'];
      // As cryptsetup leaves it after the last hotzone, before it clears the flag: one dynamic final segment.
      if (l.done >= size - HDR) seg['0'] = { type: to, offset: String(HDR), size: 'dynamic' };
      else {
        seg['0'] = { type: to, offset: String(HDR), size: String(l.done) };
        seg['1'] = { type: from, offset: String(HDR + l.done), size: String(size - HDR - l.done) };
      }
      seg['2'] = { type: to, offset: String(HDR), size: 'dynamic', flags: ['backup-final'] };
      req.push('online-reencrypt-v2');
    } else seg['0'] = { type: 'crypt', offset: String(HDR), size: 'dynamic', encryption: 'aes-xts-plain64', sector_size: 512 };
    if (l.finished) delete ks['0'];
    return JSON.stringify({ keyslots: ks, segments: seg, digests: {}, tokens: {}, config: { requirements: { mandatory: req } } });
  }

  /** What cryptsetup/e2fsck/mount would do. Returns [exit, stdout, stderr]. */
  private exec(c: Call): [number, string, string] {
    const a = c.args;
    const last = a[a.length - 1]!;
    const ok = (out = ''): [number, string, string] => [0, out, ''];
    const fail = (err: string, code = 1): [number, string, string] => [code, '', err];
    switch (c.file) {
      case 'modprobe': return this.dmCrypt ? ok() : fail('not found');
      case 'findmnt': { const mp = a[a.indexOf('--mountpoint') + 1]!; const s = this.mounts.get(mp); return s ? ok(s + '\n') : fail(''); }
      case 'fuser': { const u = this.users.get(last) ?? []; return u.length ? [0, '', `                     USER        PID ACCESS COMMAND\n${last}:  root     kernel mount ${last}\n${u.map((x) => `                     ${x.user}  ${x.pid} ..c.. ${x.command}`).join('\n')}\n`] : fail(''); }
      case 'umount': { if ((this.users.get(last) ?? []).length) return fail('target is busy', 32); this.mounts.delete(last); return ok(); }
      case 'mount': {
        const [dev, mp] = [a[a.length - 2]!, last];
        if (!this.visibleFs(dev)) return fail(`wrong fs type on ${dev}`, 32);
        this.mounts.set(mp, dev); return ok();
      }
      case 'blockdev': return ok(`${this.sizeOf(last)}\n`);
      case 'blkid': { const fs = this.visibleFs(last); if (!fs) return fail('', 2); return ok((a.includes('UUID') ? fs.uuid : fs.type) + '\n'); }
      case 'e2fsck': { if (this.mountedAnywhere(last)) return fail('is mounted', 8); return this.visibleFs(last) ? ok() : fail('bad magic', 8); }
      // minBytes is what the data takes: the free blocks are the rest, and no shrink goes below it.
      case 'dumpe2fs': { const fs = this.visibleFs(last); if (!fs) return fail('bad magic'); return ok(`Block count:              ${fs.bytes / 4096}\nFree blocks:              ${Math.floor((fs.bytes - fs.minBytes) / 4096)}\nBlock size:               4096\n`); }
      case 'resize2fs': {
        if (a[0] === '-P') { const fs = this.visibleFs(last); return fs ? ok(`Estimated minimum size of the filesystem: ${fs.minBytes / 4096}\n`) : fail('bad magic'); }
        const b = a[0] === '-f' ? a.slice(1) : a;
        const dev = b[0]!; const fs = this.visibleFs(dev);
        if (!fs) return fail('bad magic');
        if (b[1]) {
          if (this.mountedAnywhere(dev)) { this.damage.push('shrink while mounted'); return fail('online shrink'); }
          const bytes = Number(b[1].replace(/s$/, '')) * 512;
          if (bytes < fs.minBytes) return fail('No space left on device while trying to resize');
          fs.bytes = bytes; return ok();
        }
        fs.bytes = this.sizeOf(dev); return ok();
      }
      case 'mkfs.ext4': case 'mkfs.xfs': {
        const m = this.mapped(last); if (!m) { this.damage.push(`mkfs on raw ${last}`); return fail('no'); }
        this.mkfsCount++; m.fs = { type: c.file.slice(5), uuid: `mkfs-${this.mkfsCount}`, bytes: this.sizeOf(last), minBytes: MiB, data: '' }; return ok();
      }
      case 'cryptsetup': return this.cryptsetup(c);
    }
    return fail(`unknown ${c.file}`, 127);
  }

  private cryptsetup(c: Call): [number, string, string] {
    const a = c.args;
    const last = a[a.length - 1]!;
    const ok = (out = ''): [number, string, string] => [0, out, ''];
    const fail = (err: string, code = 1): [number, string, string] => [code, '', err];
    const key = c.input ?? '';
    const opt = (n: string) => (a.includes(n) ? a[a.indexOf(n) + 1] : undefined);
    switch (a[0]) {
      case 'isLuks': return this.luksOf(last) ? ok() : fail('');
      case 'luksUUID': { const l = this.luksOf(last); return l ? ok(l.uuid + '\n') : fail('not LUKS'); }
      case 'luksDump': { const l = this.luksOf(last); const d = this.disks.find((x) => x.luks === l); return l && d ? ok(this.dumpJson(l, d.size)) : fail('not LUKS'); }
      case 'status': return this.mappings.has(last) ? ok() : fail('inactive', 4);
      case 'close': { if (this.mountedAnywhere(`/dev/mapper/${last}`)) return fail('busy', 5); this.mappings.delete(last); return ok(); }
      case 'luksFormat': {
        const d = this.disk(last)!; if (this.diskMounted(d)) return fail('in use', 5);
        d.fs = undefined; d.luks = { uuid: opt('--uuid')!, key, done: 0, needsRepair: false }; return ok();
      }
      case 'open': {
        const hdr = opt('--header');
        const dev = a[a.length - 2]!; const d = this.disk(dev)!;
        const l = hdr ? this.luksOf(hdr) : this.luksOf(dev);
        if (!l || l.finished) return fail('no LUKS / no keyslot');
        if (l.key !== key) return fail('No key available with this passphrase.', 2);
        l.needsRepair = false; this.mappings.set(last, d.path); return ok();
      }
      case 'repair': { const l = this.luksOf(opt('--header') ?? last); if (!l || l.key !== key) return fail('no'); l.needsRepair = false; return ok(); }
      case 'reencrypt': {
        if (a.includes('--init-only') && a.includes('--encrypt')) {
          const hasName = !a[a.length - 1]!.startsWith('/');
          const dev = hasName ? a[a.length - 2]! : last; const d = this.disk(dev)!;
          if (d.luks) return fail('already LUKS');
          if (this.diskMounted(d)) return fail('in use', 5);
          if (!d.fs || d.fs.bytes > d.size - 32 * MiB) this.damage.push(`init over an unshrunk file system on ${dev}`);
          d.luks = { uuid: opt('--uuid')!, key, mode: 'encrypt', done: 0, needsRepair: false };
          if (hasName) this.mappings.set(last, d.path);
          return ok();
        }
        if (a.includes('--init-only') && a.includes('--decrypt')) {
          const hdr = opt('--header')!; const d = this.disk(last)!; const l = d.luks;
          if (!l || l.key !== key) return fail('no key');
          if (existsSync(hdr)) return fail('header file exists');
          writeFileSync(hdr, 'LUKS header'); l.header = hdr; l.mode = 'decrypt'; l.done = 0; return ok();
        }
        if (a.includes('--resume-only')) {
          const t = this.resumeTarget(c);
          if (!('l' in t)) return t;
          const { l, total } = t;
          if (this.calls.length === this.crashAt) { l.done = Math.min(total, l.done + Math.floor(total / 3 / 512) * 512); l.needsRepair = true; throw new Crash(); }
          l.done = total;
          finishReencrypt(l);
          return ok();
        }
        return fail('unsupported reencrypt');
      }
    }
    return fail('unknown cryptsetup action');
  }

  /** The reencryption a resume would run, or cryptsetup's refusal. */
  private resumeTarget(c: Call): { l: Luks; total: number } | [number, string, string] {
    const a = c.args;
    const hdr = a.includes('--header') ? a[a.indexOf('--header') + 1] : undefined;
    const d = this.disk(a[a.length - 1]!)!; const l = hdr ? this.luksOf(hdr) : d.luks;
    if (!l?.mode) return [1, '', 'Device reencryption not in progress.'];
    if (l.key !== (c.input ?? '')) return [2, '', 'No key available with this passphrase.'];
    if (l.needsRepair) return [1, '', 'Device requires reencryption recovery. Run repair first.'];
    return { l, total: d.size - HDR };
  }

  private async resumeByHotzone(c: Call, signal: AbortSignal | undefined): Promise<RunResult> {
    const t = this.resumeTarget(c);
    if (!('l' in t)) return { exitCode: t[0], stdout: t[1], stderr: t[2] };
    const { l, total } = t;
    c.signalled = signal !== undefined;
    while (l.done < total) {
      if (signal?.aborted) return { exitCode: 1, stdout: '', stderr: '\nReencryption interrupted.\n' };
      l.done = Math.min(total, l.done + this.hotzoneBytes);
      this.onHotzone?.(l);
      await this.hotzoneTime();
    }
    await this.hotzoneTime();
    finishReencrypt(l);
    return { exitCode: 0, stdout: '', stderr: '' };
  }

  private hotzoneTime(): Promise<void> {
    return new Promise((r) => (this.hotzoneMs > 0 ? setTimeout(r, this.hotzoneMs) : setImmediate(r)));
  }

  runner(): Runner {
    return async (file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
      if (this.dead) throw new Crash();
      const c: Call = { file, args: [...args], ...(opts.input !== undefined ? { input: Buffer.from(opts.input).toString('utf8') } : {}), ...(opts.env ? { env: opts.env } : {}) };
      this.calls.push(c);
      if (this.hotzoneBytes > 0 && file === 'cryptsetup' && args[0] === 'reencrypt' && args.includes('--resume-only')) return this.resumeByHotzone(c, opts.signal);
      let res: [number, string, string];
      try { res = this.exec(c); } catch (e) { this.dead = true; throw e; }
      const [exitCode, stdout, stderr] = res;
      if (this.calls.length === this.crashAt) { this.dead = true; throw new Crash(); }
      return { exitCode, stdout, stderr };
    };
  }

  keyVolume(): KeyVolume {
    return { writeKey: async (n, d) => { if (this.dead) throw new Crash(); this.keyFiles.set(n, Buffer.from(d)); }, readKey: async (n) => (this.keyFiles.has(n) ? Buffer.from(this.keyFiles.get(n)!) : undefined) };
  }

  /**
   * Power cut and boot: mappings and mounts are gone; the kernel may name the disks anew (`rename`: old
   * kernel name → new); systemd opens crypttab, then mounts fstab.
   */
  reboot(rename: Record<string, string> = {}): void {
    this.mappings.clear();
    this.mounts.clear();
    for (const d of this.disks) {
      const k = rename[d.kname];
      if (k !== undefined) { d.kname = k; d.path = `/dev/${k}`; }
    }
    for (const d of this.disks) if (d.luks?.mode && d.luks.done > 0) d.luks.needsRepair = true;
    for (const e of parseCrypttab(this.crypttab())) {
      const d = e.device.startsWith('UUID=') ? this.disks.find((x) => x.luks?.uuid === e.device.slice(5) && !x.luks.header)
        : this.disks.find((x) => (this.azureLinks && `/dev/disk/azure/scsi1/lun${x.lun}` === e.device) || (x.id !== undefined && `/dev/disk/by-id/${x.id}` === e.device) || x.path === e.device);
      const key = this.keyFiles.get(e.keyfile?.split('/').pop() ?? '');
      const hdr = e.options.find((o) => o.startsWith('header='))?.slice(7);
      const l = hdr ? this.luksOf(hdr) : d?.luks;
      if (d && l && key && !l.finished && l.key === key.toString('utf8')) { l.needsRepair = false; this.mappings.set(e.name, d.path); }
    }
    for (const e of parseFstab(this.fstab())) {
      const dev = e.spec.startsWith('UUID=') ? this.disks.find((x) => !x.luks && x.fs?.uuid === e.spec.slice(5))?.path
        : e.spec.startsWith('/dev/mapper/') && this.mappings.has(e.spec.slice(12)) ? e.spec : undefined;
      if (dev && this.visibleFs(dev)) this.mounts.set(e.file, dev);
    }
  }

  volumes(): Volume[] {
    return classifyVolumes(this.snapshot());
  }

  /** The system adapters on this machine's runner, its block devices as the model shows them. */
  tools(): Tools {
    return { ...machineTools(this.runner(), this.stateDir, this.root), snapshot: async () => this.snapshot() };
  }

  /**
   * Keys as the worker wires them, Key Vault played by a map: each seal is one 'escrow' call, and `escrowed`
   * lists the passphrases in the order they were sealed.
   */
  keys(log: Logger, o: { escrowDelayMs?: number } = {}): VolumeKeys & { escrowed: string[] } {
    const escrowed: string[] = [];
    const vault = new Map<string, string>();
    return {
      escrowed,
      newPassphrase: () => Buffer.from(`secret-pass-${escrowed.length}-${this.uuidN}`),
      generatesKeys: true,
      newRecoveryPassphrase: () => Buffer.from(`111111-222222-${escrowed.length}`),
      keyVault: {
        kind: 'keyvault',
        seal: async ({ volume, passphrase }) => {
          if (o.escrowDelayMs) await new Promise((r) => setTimeout(r, o.escrowDelayMs));
          if (this.dead) throw new Crash();
          this.calls.push({ file: 'escrow', args: [volume.fileName] });
          escrowed.push(passphrase.toString());
          const secretUrl = `https://v.vault.azure.net/secrets/s${escrowed.length}/1`;
          vault.set(secretUrl, passphrase.toString());
          return { kind: 'keyvault', secretUrl };
        },
        unseal: async (r) => {
          const k = vault.get(r.secretUrl);
          if (k === undefined) throw new Error(`no secret ${r.secretUrl} in the fake vault`);
          return Buffer.from(k);
        },
      },
      bek: bekVolumeProtector(this.keyVolume(), log),
    };
  }

  snapshot(): BlockSnapshot {
    const devices: BlockDevice[] = [
      { name: 'sda', path: '/dev/sda', kname: 'sda', parents: [], children: ['sda1'], type: 'disk', size: 30 * 1024 * MiB, mountpoints: [], ro: false },
      { name: 'sda1', path: '/dev/sda1', kname: 'sda1', parents: ['sda'], children: [], type: 'part', fstype: 'ext4', uuid: 'root-uuid', size: 30 * 1024 * MiB, mountpoints: ['/'], ro: false },
    ];
    const luks: Record<string, LuksMetadata> = {};
    let dm = 0;
    for (const d of this.disks) {
      const maps = [...this.mappings].filter(([, p]) => p === d.path);
      const isLuks = !!d.luks && !d.luks.header;
      devices.push({ name: d.kname, path: d.path, kname: d.kname, parents: [], children: maps.map((_, i) => `dm-${dm + i}`), type: 'disk',
        ...(isLuks ? { fstype: 'crypto_LUKS', uuid: d.luks!.uuid } : !d.luks && d.fs ? { fstype: d.fs.type, uuid: d.fs.uuid } : {}), size: d.size, mountpoints: [], ro: false });
      if (isLuks) luks[d.path] = parseLuksDumpJson(this.dumpJson(d.luks!, d.size));
      for (const [name] of maps) {
        const fs = d.fs;
        devices.push({ name, path: `/dev/mapper/${name}`, kname: `dm-${dm++}`, parents: [d.kname], children: [], type: 'crypt', ...(fs ? { fstype: fs.type, uuid: fs.uuid } : {}), size: this.sizeOf(`/dev/mapper/${name}`), mountpoints: [], ro: false });
      }
    }
    const mounts: Mount[] = [{ target: '/', source: '/dev/sda1', device: '/dev/sda1', fstype: 'ext4', options: [] },
      ...[...this.mounts].map(([target, src]) => ({ target, source: src, device: src, fstype: this.visibleFs(src)?.type ?? 'ext4', options: [] }))];
    const azureLinks: Record<string, string> = this.azureLinks ? { root: '/dev/sda' } : {};
    if (this.azureLinks) for (const d of this.disks) azureLinks[`scsi1/lun${d.lun}`] = d.path;
    const byId: Record<string, string> = {};
    for (const d of this.disks) if (d.id !== undefined) byId[d.id] = d.path;
    return { devices, mounts, fstab: parseFstab(this.fstab()), crypttab: parseCrypttab(this.crypttab()), azureLinks, byId, luks };
  }

  newUuid = (): string => `0000000${++this.uuidN}-aaaa-bbbb-cccc-dddddddddddd`;
}

function finishReencrypt(l: Luks): void {
  if (l.mode === 'decrypt') l.finished = true;
  l.mode = undefined;
}

function readText(p: string): string {
  try { return readFileSync(p, 'utf8'); } catch { return ''; }
}

/** The operation's journal in memory; `dead` makes every save after a simulated crash fail as the process would. */
export function memoryJournal(seq = 1, dead: () => boolean = () => false): JournalAccess & { entries: Record<string, VolumeProgress> } {
  const acc = {
    seq,
    entries: {} as Record<string, VolumeProgress>,
    volumes: () => structuredClone(acc.entries),
    save: (id: string, p: VolumeProgress) => { if (dead()) throw new Crash(); acc.entries = { ...acc.entries, [id]: structuredClone(p) }; },
  };
  return acc;
}
