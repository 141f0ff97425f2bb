// Dracut in the lab's Debian guests: RHEL/Oracle 8/9 and Azure Linux 3 build their initramfs with dracut, and
// Debian 12 packages dracut 059, so a Debian guest can boot a dracut initramfs. Guests have no network: the
// .debs are downloaded on the host (its apt sources are the rootfs's mirrors, so the versions match the guest's),
// cached in ${ADE_LAB_CACHE}/debs/, copied in and installed with dpkg.
//
//   await installDracut(vm);           // initramfs-tools out, dracut in; /boot's initrd is left as it was
//   await installAdeDracutModule(vm);  // initramfs/dracut/90ade-linux → /usr/lib/dracut/modules.d/90ade-linux
//   await vm.run('dracut -f --regenerate-all');
//
// "Erasable" TypeScript, node built-ins only, like the rest of lab/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './images.ts';
import { labLog, run, withLock } from './util.ts';
import type { Vm } from './vm.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The ade-linux dracut module in this repository. */
export const ADE_DRACUT_MODULE = path.join(REPO, 'initramfs/dracut/90ade-linux');

/**
 * What Debian 12's dracut needs that the lab's rootfs (lab/images.ts GUEST_PACKAGES) lacks. `apt-cache depends
 * dracut dracut-core`: cpio, kmod, libkmod2, udev, e2fsprogs are in the rootfs; kpartx is not (its own
 * dependencies dmsetup, udev, libdevmapper are). pkg-config (a Recommends) is how dracut finds systemd's
 * directories: pkg-config → pkgconf → pkgconf-bin → libpkgconf3. dpkg -i fails if this list falls short.
 */
export const DRACUT_DEBS = ['dracut', 'dracut-core', 'kpartx', 'pkg-config', 'pkgconf', 'pkgconf-bin', 'libpkgconf3'];

/** Candidate versions on the host (one `apt-cache policy` call). */
async function candidates(pkgs: string[]): Promise<Record<string, string>> {
  const r = await run('apt-cache', ['policy', ...pkgs]);
  const out: Record<string, string> = {};
  let cur = '';
  for (const line of r.stdout.split('\n')) {
    const p = /^(\S+):$/.exec(line);
    if (p) cur = p[1]!;
    const c = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (c && cur && c[1] !== '(none)') out[cur] = c[1]!;
  }
  return out;
}

/** The dracut .debs, downloaded once into ${ADE_LAB_CACHE}/debs/ (apt-get download); returns their host paths. */
export async function ensureDracutDebs(): Promise<string[]> {
  const dir = path.join(cacheDir(), 'debs');
  fs.mkdirSync(dir, { recursive: true });
  return withLock(path.join(dir, '.lock-dracut'), 'the dracut .debs', async () => {
    const ver = await candidates(DRACUT_DEBS);
    const files: string[] = [];
    for (const p of DRACUT_DEBS) {
      const v = ver[p];
      if (!v) throw new Error(`apt on the host has no candidate for ${p} (apt-get update?)`);
      // apt-get download names files package_version_arch.deb, with an epoch's ':' as %3a
      const prefix = `${p}_${v.replace(/:/g, '%3a')}_`;
      const find = (): string | undefined => fs.readdirSync(dir).find((n) => n.startsWith(prefix) && n.endsWith('.deb'));
      if (!find()) {
        labLog(`downloading ${p} ${v} into ${dir}`);
        await run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', `${p}=${v}`], { cwd: dir });
      }
      const f = find();
      if (!f) throw new Error(`apt-get download ${p}=${v} left no ${prefix}*.deb in ${dir}`);
      files.push(path.join(dir, f));
    }
    return files;
  });
}

export interface InstallDracutOptions {
  /**
   * /etc/dracut.conf.d/90-lab.conf `compress=`. Debian's dracut picks gzip -9 when nothing is set, slow for a
   * non-hostonly image under TCG; the lab default is a fast zstd (the kernel unpacks it). null: write nothing.
   */
  compress?: string | null;
}

/**
 * Replaces initramfs-tools with Debian 12's dracut in a full or cloud guest, offline. dracut Conflicts with
 * initramfs-tools, which dpkg will not remove for it, and the kernel package depends on "initramfs-tools |
 * linux-initramfs-tool" (dracut Provides the latter), so initramfs-tools (+ cryptsetup-initramfs) go first with
 * --force-depends and dracut satisfies the dependency again. INITRD=No stops dracut's postinst trigger from
 * building an initramfs at once: /boot keeps the one it has until the caller runs dracut. Returns dracut's version.
 */
export async function installDracut(vm: Vm, opts: InstallDracutOptions = {}): Promise<string> {
  const debs = await ensureDracutDebs();
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-debs-'));
  try {
    for (const f of debs) fs.copyFileSync(f, path.join(stage, path.basename(f)));
    await vm.copyIn(stage, '/var/cache/lab-debs');
  } finally { fs.rmSync(stage, { recursive: true, force: true }); }
  const compress = opts.compress === undefined ? 'zstd -q -3 -T0' : opts.compress;
  const out = await vm.run(`set -e
    rm=""
    for p in cryptsetup-initramfs initramfs-tools initramfs-tools-core; do
      dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q ' installed$' && rm="$rm $p"
    done
    [ -z "$rm" ] || dpkg --force-depends --remove $rm
    INITRD=No dpkg -i /var/cache/lab-debs/*.deb
    rm -rf /var/cache/lab-debs
    # nothing left half-installed or with unmet dependencies
    if dpkg --audit | grep -q .; then dpkg --audit; exit 1; fi
    ${compress ? `echo 'compress="${compress}"' > /etc/dracut.conf.d/90-lab.conf` : ':'}
    echo "dracut=$(dpkg-query -W -f='\${Version}' dracut)"`, { timeoutMs: 600_000 });
  const m = /^dracut=(\S+)$/m.exec(out);
  if (!m) throw new Error(`dracut did not install:\n${out}`);
  labLog(`dracut ${m[1]} installed in the guest`);
  return m[1]!;
}

/** Copies the repository's ade-linux dracut module (or `src`) into the guest's dracut module directory. */
export async function installAdeDracutModule(vm: Vm, src = ADE_DRACUT_MODULE): Promise<void> {
  const dest = '/usr/lib/dracut/modules.d/90ade-linux';
  await vm.copyIn(src, dest);
  await vm.run(`chown -R root:root ${dest} && chmod 755 ${dest} ${dest}/*.sh`);
}
