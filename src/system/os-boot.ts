// What the OS disk needs from the machine beyond the data volumes' adapters: the distro's os-release, which
// initramfs builders are installed, free space and memory, the boot plumbing (our initramfs hook and the
// conf it reads, copied from the package's initramfs/ folder into /etc), the initramfs rebuild, the restart.
// The hook scripts are plain shell files shipped in the package: they run in the initramfs, long after
// and without the extension, and an uninstalled extension must not leave a VM that cannot boot.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { must, type Runner } from './exec.ts';
import { fsyncDir, readTextIfExists, writeFileAtomic } from './files.ts';
import { BEK_LABEL } from './bek-volume.ts';

export type InitramfsBuilder = 'initramfs-tools' | 'dracut';

/** Where each builder keeps our files, relative to the package's initramfs/ folder and to the root. */
export const PLUMBING: Record<InitramfsBuilder, ReadonlyArray<{ from: string; to: string }>> = {
  'initramfs-tools': [
    { from: 'initramfs-tools/hooks/ade-linux', to: 'etc/initramfs-tools/hooks/ade-linux' },
    { from: 'initramfs-tools/scripts/local-top/ade-linux', to: 'etc/initramfs-tools/scripts/local-top/ade-linux' },
  ],
  dracut: ['module-setup.sh', 'parse-ade-linux.sh', 'ade-linux-open.sh', 'ade-linux-generator.sh']
    .map((f) => ({ from: `dracut/90ade-linux/${f}`, to: `usr/lib/dracut/modules.d/90ade-linux/${f}` })),
};
export const OS_CONF = 'etc/ade-linux/osencrypt.conf';

/** The values the initramfs script reads (a shell file: it has no JSON parser). */
export interface OsBootConf {
  name: string;
  /** PARTUUID=… of the partition holding the encrypted data. */
  data: string;
  /** UUID=… of the unencrypted file system holding the header, its type, and the header's path inside it. */
  headerFs: string;
  headerFsType: string;
  header: string;
  keyLabel: string;
  keyFile: string;
}

const SAFE_VALUE = /^[A-Za-z0-9=_./ :-]*$/;

export function formatOsConf(c: OsBootConf): string {
  const pairs: Array<[string, string]> = [['ADE_NAME', c.name], ['ADE_DATA', c.data], ['ADE_HEADER_FS', c.headerFs],
    ['ADE_HEADER_FSTYPE', c.headerFsType], ['ADE_HEADER', c.header], ['ADE_KEY_LABEL', c.keyLabel], ['ADE_KEY_FILE', c.keyFile]];
  for (const [k, v] of pairs) if (!SAFE_VALUE.test(v)) throw new Error(`${k}="${v}" would not be safe in a shell file`);
  return `# written by ade-linux: how the initramfs opens the encrypted OS disk\n${pairs.map(([k, v]) => `${k}="${v}"`).join('\n')}\n`;
}

/** What the prerequisites read: nothing here writes. */
function osFacts(run: Runner, root: string) {
  return {
    osRelease: (): string => readTextIfExists(join(root, 'etc/os-release')) ?? readTextIfExists(join(root, 'usr/lib/os-release')) ?? '',
    builders(): Set<InitramfsBuilder> {
      const have = new Set<InitramfsBuilder>();
      if (['usr/sbin/update-initramfs', 'sbin/update-initramfs'].some((p) => existsSync(join(root, p)))) have.add('initramfs-tools');
      if (['usr/bin/dracut', 'usr/sbin/dracut', 'sbin/dracut'].some((p) => existsSync(join(root, p)))) have.add('dracut');
      return have;
    },
    freeBytes(path: string): number {
      const s = statfsSync(join(root, path));
      return s.bavail * s.bsize;
    },
    /** Size of the largest initramfs in /boot (a rebuild writes about as much again beside it). */
    largestInitramfs(): number {
      const dir = join(root, 'boot');
      const names = existsSync(dir) ? readdirSync(dir).filter((n) => /^(initrd\.img-|initramfs-).+/.test(n)) : [];
      return Math.max(0, ...names.map((n) => statSync(join(dir, n)).size));
    },
    memAvailableBytes(): number {
      const m = /^MemAvailable:\s+(\d+) kB/m.exec(readTextIfExists('/proc/meminfo') ?? '');
      return m ? Number(m[1]) * 1024 : 0;
    },
    /** Whether the platform's key volume is attached (blkid finds its label). */
    async keyVolumePresent(): Promise<boolean> {
      const r = await run('blkid', ['-L', BEK_LABEL]);
      return r.exitCode === 0 && r.stdout.trim() !== '';
    },
  };
}

/** Everything that changes the boot: the header's directory and backup, our hook and conf, the initramfs, the restart. */
function plumbing(run: Runner, root: string, scriptsDir: string) {
  return {
    /** Whether the conf in /etc is exactly this one (the plumbing is in place). */
    hasConf: (conf: OsBootConf): boolean => readTextIfExists(join(root, OS_CONF)) === formatOsConf(conf),
    /** The header's directory on /boot, readable by root only. */
    prepareHeaderDir(header: string): void {
      mkdirSync(dirname(join(root, header)), { recursive: true, mode: 0o700 });
    },
    /** Our hook and its conf into /etc (each file atomically), the conf last: the hook does nothing without it. */
    install(builder: InitramfsBuilder, conf: OsBootConf): void {
      for (const f of PLUMBING[builder]) writeFileAtomic(join(root, f.to), readFileSync(join(scriptsDir, f.from)), 0o755);
      writeFileAtomic(join(root, OS_CONF), formatOsConf(conf), 0o644);
    },
    /** Every installed kernel's initramfs, so whichever grub picks opens the disk. */
    rebuild(builder: InitramfsBuilder): Promise<string> {
      return builder === 'initramfs-tools'
        ? must(run, 'update-initramfs', ['-u', '-k', 'all'], { name: 'update-initramfs' })
        : must(run, 'dracut', ['--force', '--regenerate-all'], { name: 'dracut' });
    },
    /**
     * A copy of the detached header where a lost /boot does not take it along (the ESP when there is one),
     * made once it no longer changes: a copy taken mid-reencryption would be stale at the next hotzone.
     */
    async backupHeader(header: string, dest: string): Promise<void> {
      const tmp = join(root, `${dest}.tmp`);
      rmSync(tmp, { force: true });
      mkdirSync(dirname(tmp), { recursive: true, mode: 0o700 });
      await must(run, 'cryptsetup', ['luksHeaderBackup', join(root, header), '--header-backup-file', tmp], { name: 'cryptsetup luksHeaderBackup' });
      renameSync(tmp, join(root, dest));
      fsyncDir(dirname(join(root, dest)));
    },
    /** Asks systemd for a clean restart; the worker is stopped (SIGTERM) on the way down. */
    reboot: (): Promise<string> => must(run, 'systemctl', ['--no-block', 'reboot'], { name: 'systemctl reboot' }),
  };
}

export function osBoot(run: Runner, o: { root?: string; scriptsDir: string }) {
  const root = o.root ?? '/';
  return { ...osFacts(run, root), ...plumbing(run, root, o.scriptsDir) };
}

export type OsBoot = ReturnType<typeof osBoot>;
