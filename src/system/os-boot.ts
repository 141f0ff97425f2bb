// What the OS disk needs from the machine beyond the data volumes' adapters: the distro's os-release, which
// initramfs builders are installed, free space and memory, the boot plumbing (our initramfs hook and the
// conf it reads, copied from the package's initramfs/ folder into /etc), the initramfs rebuild, the restart.
// The hook scripts are plain shell files shipped in the package: they run in the initramfs, long after
// and without the extension, and an uninstalled extension must not leave a VM that cannot boot.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { must, type Runner } from './exec.ts';
import { parseSfdiskJson, type PartitionTable } from '../parsers/sfdisk.ts';
import { fsyncDir, readTextIfExists, writeFileAtomic } from './files.ts';
import { BEK_LABEL } from './bek-volume.ts';
import { environmentFileText } from './detach.ts';

export type InitramfsBuilder = 'initramfs-tools' | 'dracut';

/** Where each builder keeps our files, relative to the package's initramfs/ folder and to the root. */
export const PLUMBING: Record<InitramfsBuilder, ReadonlyArray<{ from: string; to: string }>> = {
  'initramfs-tools': [
    { from: 'initramfs-tools/hooks/ade-linux', to: 'etc/initramfs-tools/hooks/ade-linux' },
    { from: 'initramfs-tools/scripts/local-top/ade-linux', to: 'etc/initramfs-tools/scripts/local-top/ade-linux' },
    // mkinitramfs copies /etc/initramfs-tools/scripts/ whole: the helpers reach /scripts/ beside local-top.
    { from: 'initramfs-tools/scripts/ade-linux-functions', to: 'etc/initramfs-tools/scripts/ade-linux-functions' },
    { from: 'initramfs-tools/conf.d/ade-linux', to: 'etc/initramfs-tools/conf.d/ade-linux' },
  ],
  dracut: [...['module-setup.sh', 'parse-ade-linux.sh', 'ade-linux-open.sh', 'ade-linux-generator.sh']
    .map((f) => ({ from: `dracut/90ade-linux/${f}`, to: `usr/lib/dracut/modules.d/90ade-linux/${f}` })),
  // one copy of the shell helpers for both builders
  { from: 'initramfs-tools/scripts/ade-linux-functions', to: 'usr/lib/dracut/modules.d/90ade-linux/ade-linux-functions' }],
};
export const OS_CONF = 'etc/ade-linux/osencrypt.conf';
/** How the worker reached Azure (proxy, CA, IMDS endpoint): the initramfs's network unlock goes the same way. */
export const OS_ENV = 'etc/ade-linux/osencrypt.env';

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
  /** No /boot yet: the initramfs splits one off the root first (src/encryption/os-split.ts). */
  split?: OsSplit;
  /** The escrowed key, for the network unlock in the initramfs: secret URL, and the KEK that wraps it. */
  kv?: { secret: string; kek?: string; algorithm?: string; recovery?: string };
  /** A user-assigned identity, as IMDS's query parameter (client_id, object_id, msi_res_id) and its value. */
  identity?: { param: 'client_id' | 'object_id' | 'msi_res_id'; value: string };
}

/** A /boot split off the root at the restart; every size in bytes, the UUIDs chosen beforehand. */
export interface OsSplit {
  rootBytes: number;
  bootStartBytes: number;
  bootBytes: number;
  sectorSize: number;
  bootPartUuid: string;
  bootUuid: string;
  rootFsUuid: string;
}

/** Written by local-top/ade-linux (split_refuse) in its /run, which goes on to the real root. */
export const SPLIT_REFUSED = 'run/ade-linux/split-refused';
/** An initramfs image in /boot: RHEL's and Azure Linux's names, Debian's. */
export const INITRAMFS_IMAGE = /^(initramfs-.+\.img|initrd\.img-.+)$/;
/** GPT "BIOS boot partition": where grub-install puts core.img for BIOS (Gen1) boots. */
const BIOS_BOOT_TYPE = '21686148-6449-6E6F-744E-656564454649';

/** Ubuntu's cloud images first boot without an initramfs (root=PARTUUID=): that would mount the raw root. */
export const FORCE_PARTUUID_CFG = 'etc/default/grub.d/40-force-partuuid.cfg';

const SAFE_VALUE = /^[A-Za-z0-9=_./ :-]*$/;

export function formatOsConf(c: OsBootConf): string {
  const pairs: Array<[string, string]> = [['ADE_NAME', c.name], ['ADE_DATA', c.data], ['ADE_HEADER_FS', c.headerFs],
    ['ADE_HEADER_FSTYPE', c.headerFsType], ['ADE_HEADER', c.header], ['ADE_KEY_LABEL', c.keyLabel], ['ADE_KEY_FILE', c.keyFile]];
  const sp = c.split;
  if (sp) {
    pairs.push(['ADE_SPLIT_ROOT_BYTES', String(sp.rootBytes)], ['ADE_SPLIT_SECTOR_SIZE', String(sp.sectorSize)],
      ['ADE_SPLIT_BOOT_START', String(sp.bootStartBytes / sp.sectorSize)], ['ADE_SPLIT_BOOT_SECTORS', String(sp.bootBytes / sp.sectorSize)],
      ['ADE_SPLIT_BOOT_PARTUUID', sp.bootPartUuid], ['ADE_SPLIT_BOOT_UUID', sp.bootUuid], ['ADE_SPLIT_ROOT_FS_UUID', sp.rootFsUuid]);
  }
  if (c.kv) pairs.push(...kvPairs(c.kv));
  if (c.identity) pairs.push(['ADE_MI_PARAM', c.identity.param], ['ADE_MI_VALUE', c.identity.value]);
  for (const [k, v] of pairs) if (!SAFE_VALUE.test(v)) throw new Error(`${k}="${v}" would not be safe in a shell file`);
  return `# written by ade-linux: how the initramfs opens the encrypted OS disk\n${pairs.map(([k, v]) => `${k}="${v}"`).join('\n')}\n`;
}

const kvPairs = (kv: NonNullable<OsBootConf['kv']>): Array<[string, string]> =>
  [['ADE_KV_SECRET', kv.secret], ['ADE_KV_KEK', kv.kek ?? ''], ['ADE_KV_ALG', kv.algorithm ?? ''], ...(kv.recovery ? [['ADE_RECOVERY_SECRET', kv.recovery] as [string, string]] : [])];

/** The conf with its Key Vault lines (ADE_KV_*, ADE_RECOVERY_SECRET) set to `kv`, every other line as it was. */
export function withConfKeys(text: string, kv: NonNullable<OsBootConf['kv']>): string {
  const want = kvPairs(kv);
  for (const [k, v] of want) if (!SAFE_VALUE.test(v)) throw new Error(`${k}="${v}" would not be safe in a shell file`);
  const kept = text.split('\n').filter((l) => l !== '' && !/^ADE_(KV_SECRET|KV_KEK|KV_ALG|RECOVERY_SECRET)=/.test(l));
  return `${[...kept, ...want.map(([k, v]) => `${k}="${v}"`)].join('\n')}\n`;
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
    /** The partition table of the disk holding `partition` (/dev/vda1 → /dev/vda): where a /boot is split from. */
    async partitionTable(partition: string): Promise<{ disk: string; table: PartitionTable }> {
      return tableOf(run, partition);
    },
    /** The tools the initramfs needs to split a /boot off the root, and grub-install after it; the missing ones. */
    splitToolsMissing(): string[] {
      const dirs = ['usr/sbin', 'sbin', 'usr/bin', 'bin'];
      return ['e2fsck', 'resize2fs', 'mke2fs', 'sfdisk', 'grub-install']
        .filter((t) => !dirs.some((d) => existsSync(join(root, d, t))));
    },
    /** Why the initramfs of this boot did not split a /boot off the root (it then booted the root as it was). */
    splitRefusal: (): string | undefined => readTextIfExists(join(root, SPLIT_REFUSED))?.trim(),
    /** Whether /boot is mounted from the file system with this UUID (the split one). */
    async bootMountedFrom(uuid: string): Promise<boolean> {
      const r = await run('findmnt', ['-no', 'UUID', '--mountpoint', '/boot']);
      return r.exitCode === 0 && r.stdout.trim().toLowerCase() === uuid.toLowerCase();
    },
    /** Whether the platform's key volume is attached (blkid finds its label). */
    async keyVolumePresent(): Promise<boolean> {
      const r = await run('blkid', ['-L', BEK_LABEL]);
      return r.exitCode === 0 && r.stdout.trim() !== '';
    },
  };
}

/** Everything that changes the boot: the header's directory and backup, our hook and conf, the initramfs, the restart. */
function plumbing(run: Runner, root: string, scriptsDir: string, netEnv: Readonly<Record<string, string>>) {
  return {
    /** Whether the conf in /etc is exactly this one (the plumbing is in place). */
    hasConf: (conf: OsBootConf): boolean => readTextIfExists(join(root, OS_CONF)) === formatOsConf(conf),
    /** The header's directory on /boot, readable by root only. */
    prepareHeaderDir(header: string): void {
      mkdirSync(dirname(join(root, header)), { recursive: true, mode: 0o700 });
    },
    /**
     * After a KEK rotation the escrowed key has a new secret (the old one is disabled): the conf's Key Vault
     * lines follow the record. True when they changed, and the initramfs must be rebuilt to carry them.
     */
    setConfKeys(kv: NonNullable<OsBootConf['kv']>): boolean {
      const text = readTextIfExists(join(root, OS_CONF));
      if (text === undefined) return false;
      const next = withConfKeys(text, kv);
      if (next === text) return false;
      writeFileAtomic(join(root, OS_CONF), next, 0o644);
      return true;
    },
    /** Our hook and its conf into /etc (each file atomically), the conf last: the hook does nothing without it. */
    install(builder: InitramfsBuilder, conf: OsBootConf): void {
      for (const f of PLUMBING[builder]) writeFileAtomic(join(root, f.to), readFileSync(join(scriptsDir, f.from)), 0o755);
      writeFileAtomic(join(root, OS_ENV), environmentFileText(netEnv), 0o600);
      writeFileAtomic(join(root, OS_CONF), formatOsConf(conf), 0o644);
    },
    /**
     * Every installed kernel's initramfs, so whichever grub picks opens the disk. dracut makes a new image 0600,
     * but over an existing one it keeps that file's mode (initramfs-tools' 0644, on a VM that changed builders):
     * the images go to 0600 first, as osencrypt.env's copy inside them must not be readable by users.
     */
    rebuild(builder: InitramfsBuilder): Promise<string> {
      if (builder === 'initramfs-tools') return must(run, 'update-initramfs', ['-u', '-k', 'all'], { name: 'update-initramfs' });
      const boot = join(root, 'boot');
      for (const f of existsSync(boot) ? readdirSync(boot) : []) if (INITRAMFS_IMAGE.test(f)) chmodSync(join(boot, f), 0o600);
      return must(run, 'dracut', ['--force', '--regenerate-all'], { name: 'dracut' });
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

/** grub: what an image without /boot needs once one is split off the root. */
function grub(run: Runner, root: string) {
  return {
    /** Drops Ubuntu's initramfs-less first boot; true when there was one. */
    dropForcePartuuid(): boolean {
      const f = join(root, FORCE_PARTUUID_CFG);
      if (!existsSync(f)) return false;
      rmSync(f);
      fsyncDir(dirname(f));
      return true;
    },
    /** grub.cfg from /etc/default/grub and /etc/grub.d, as the distro's kernel hooks write it. */
    updateGrub(): Promise<string> {
      return existsSync(join(root, 'usr/sbin/update-grub'))
        ? must(run, 'update-grub', [], { name: 'update-grub' })
        : must(run, 'grub-mkconfig', ['-o', '/boot/grub/grub.cfg'], { name: 'grub-mkconfig' });
    },
    /**
     * grub again, as the image installed it (Debian's grub-cloud-amd64 postinst; Ubuntu's cloud-style grub-pc
     * and shim): core.img in the BIOS boot partition and the EFI binaries and stub on the ESP now find
     * /boot on its own partition. Each platform only where its grub modules are installed and its place exists.
     */
    async installGrub(o: { partition: string; efiDir?: string }): Promise<string[]> {
      const done: string[] = [];
      const { disk, table } = await tableOf(run, o.partition);
      const biosBoot = table.partitions.some((p) => p.type.toUpperCase() === BIOS_BOOT_TYPE);
      if (biosBoot && existsSync(join(root, 'usr/lib/grub/i386-pc'))) {
        await must(run, 'grub-install', ['--target=i386-pc', disk], { name: 'grub-install --target=i386-pc' });
        done.push(`i386-pc on ${disk}`);
      }
      if (o.efiDir && existsSync(join(root, 'usr/lib/grub/x86_64-efi'))) {
        const signed = existsSync(join(root, 'usr/lib/shim/shimx64.efi.signed'));
        await must(run, 'grub-install', ['--target=x86_64-efi', `--efi-directory=${o.efiDir}`, '--no-nvram', '--force-extra-removable',
          signed ? '--uefi-secure-boot' : '--no-uefi-secure-boot'], { name: 'grub-install --target=x86_64-efi' });
        done.push(`x86_64-efi in ${o.efiDir}`);
      }
      return done;
    },
    /** Where the ESP is mounted (/boot/efi, /efi), if it is. */
    async espMountpoint(): Promise<string | undefined> {
      for (const m of ['/boot/efi', '/efi']) {
        const r = await run('findmnt', ['-no', 'FSTYPE', '--mountpoint', m]);
        if (r.exitCode === 0 && r.stdout.trim() === 'vfat') return m;
      }
      return undefined;
    },
  };
}

/** The whole disk a partition is on: /dev/vda1 → /dev/vda, /dev/nvme0n1p1 → /dev/nvme0n1. */
async function diskOf(run: Runner, partition: string): Promise<string> {
  const pk = (await must(run, 'lsblk', ['-ndo', 'PKNAME', partition], { name: 'lsblk' })).trim();
  if (!/^[A-Za-z0-9_-]+$/.test(pk)) throw new Error(`lsblk names no disk for ${partition}`);
  return `/dev/${pk}`;
}

/** The partition table of the disk holding `partition`, as `sfdisk --json` prints it. */
async function tableOf(run: Runner, partition: string): Promise<{ disk: string; table: PartitionTable }> {
  const disk = await diskOf(run, partition);
  return { disk, table: parseSfdiskJson(await must(run, 'sfdisk', ['--json', disk], { name: 'sfdisk --json' })) };
}

export function osBoot(run: Runner, o: { root?: string; scriptsDir: string; netEnv?: Readonly<Record<string, string>> }) {
  const root = o.root ?? '/';
  return { ...osFacts(run, root), ...plumbing(run, root, o.scriptsDir, o.netEnv ?? {}), ...grub(run, root) };
}

export type OsBoot = ReturnType<typeof osBoot>;
