// The lab's grub-booted OS disks, shaped like Azure's marketplace images (../shared/reference/os-disk.md §1),
// for the OS-disk scenarios: the firmware (SeaBIOS or OVMF) runs grub from the disk, grub reads the kernel
// and initramfs that the guest itself wrote, so what the extension changes in the guest is what boots next.
//
//   layout 'noboot'  Debian 12 / Ubuntu 22.04: p14 BIOS boot, p15 ESP (vfat), p1 ext4 root; /boot is a directory
//   layout 'boot'    Ubuntu 24.04:             p14 BIOS boot, p15 ESP, p16 ext4 /boot (LABEL=BOOT), p1 ext4 root
//
// Built from the rootfs (lab/images.ts) on the host with sfdisk, mkfs.ext4 -d and mkfs.fat at offsets (no loop
// device), then booted once by direct kernel boot with init=lab-grub-setup, which runs grub-install for
// i386-pc and x86_64-efi (shim, removable path) and update-grub inside the guest, as grub-cloud-amd64 does.
// Cached as cloud-<layout>-<key>/os.img.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUEST_DIR, cached, ensureRootfs, fileHash, makeSystemdGuest, uuidFrom, writeGuestFile } from './images.ts';
import { fmtSec, labLog, run, sha256 } from './util.ts';

export type CloudLayout = 'noboot' | 'boot';
export type Firmware = 'bios' | 'uefi';

export interface CloudImage {
  flavour: 'cloud';
  layout: CloudLayout;
  dir: string;
  key: string;
  kver: string;
  /** Raw GPT disk. Never boot it directly: copy it (Vm does). */
  osImage: string;
  rootPartUuid: string;
  rootUuid: string;
  bootUuid?: string;
}

const MiB = 1024 * 1024;
const SECTOR = 512;
/** Where each partition starts and how big it is, in MiB; root runs to 1 MiB before the end (backup GPT). */
export const CLOUD_DISK = { sizeMiB: 2560, biosBoot: { start: 1, size: 3 }, esp: { start: 4, size: 124 }, boot: { start: 128, size: 512 } };
/**
 * The disk's size per layout: without /boot the root must be able to give up the 1 GiB /boot the extension
 * splits off it (the lab's root holds about 1 GiB of files, and resize2fs cannot shrink it below about
 * 1.4 GiB), so that disk is 1 GiB larger and its root, once split, is as large as the other layout's.
 */
const diskMiB = (layout: CloudLayout): number => CLOUD_DISK.sizeMiB + (layout === 'noboot' ? 1024 : 0);

const TYPE = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};

interface Plan { rootStart: number; rootSize: number; ids: Record<string, string>; espSerial: string }

function plan(layout: CloudLayout, key: string): Plan {
  const rootStart = layout === 'boot' ? CLOUD_DISK.boot.start + CLOUD_DISK.boot.size : CLOUD_DISK.esp.start + CLOUD_DISK.esp.size;
  const ids: Record<string, string> = {};
  for (const n of ['disk', 'p1', 'p14', 'p15', 'p16', 'root', 'boot']) ids[n] = uuidFrom(`${key}${n}`);
  return { rootStart, rootSize: diskMiB(layout) - 1 - rootStart, ids, espSerial: sha256(`${key}esp`).slice(0, 8).toUpperCase() };
}

/** The fstab each image ships: Debian's cloud image names partitions by PARTUUID, Ubuntu's by label. */
function fstabOf(layout: CloudLayout, p: Plan): string {
  if (layout === 'noboot') {
    return `PARTUUID=${p.ids['p1']} / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\nPARTUUID=${p.ids['p15']} /boot/efi vfat defaults 0 0\n`;
  }
  return 'LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\nLABEL=BOOT /boot ext4 defaults 0 2\nLABEL=UEFI /boot/efi vfat umask=0077 0 1\n';
}

async function writeGpt(img: string, layout: CloudLayout, p: Plan): Promise<void> {
  const s = (mib: number): number => (mib * MiB) / SECTOR;
  const part = (n: number, start: number, size: number, type: string): string =>
    `${img}${n} : start=${s(start)}, size=${s(size)}, type=${type}, uuid=${p.ids[`p${n}`]}`;
  const lines = ['label: gpt', `label-id: ${p.ids['disk']}`, 'first-lba: 2048',
    part(1, p.rootStart, p.rootSize, TYPE.linux),
    part(14, CLOUD_DISK.biosBoot.start, CLOUD_DISK.biosBoot.size, TYPE.biosBoot),
    part(15, CLOUD_DISK.esp.start, CLOUD_DISK.esp.size, TYPE.esp)];
  if (layout === 'boot') lines.push(part(16, CLOUD_DISK.boot.start, CLOUD_DISK.boot.size, TYPE.xbootldr));
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', img], { input: lines.join('\n') + '\n' });
}

/** Boots the new disk once with init=lab-grub-setup and waits for it to power off having installed grub. */
async function installGrub(tmp: string, img: string, kernel: string, initrd: string, p: Plan): Promise<void> {
  const log = path.join(tmp, 'grub-setup.log');
  const kvm = fs.existsSync('/dev/kvm') && process.env.ADE_LAB_ACCEL === 'kvm';
  const t0 = Date.now();
  const r = await run('timeout', ['900', 'qemu-system-x86_64', '-accel', kvm ? 'kvm' : 'tcg', '-cpu', kvm ? 'host' : 'max', '-m', '1024', '-smp', '2',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', `file:${log}`, '-monitor', 'none',
    '-kernel', kernel, '-initrd', initrd,
    '-append', `root=PARTUUID=${p.ids['p1']} rw console=ttyS0 loglevel=3 panic=-1 init=/usr/local/sbin/lab-grub-setup`,
    '-drive', `file=${img},if=none,id=d0,format=raw,cache=writeback`, '-device', 'virtio-blk-pci,drive=d0,serial=os',
    '-nic', 'none'], { allowFail: true });
  const out = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  if (!out.includes('LAB_GRUB_SETUP done')) {
    throw new Error(`grub setup in the build guest failed (qemu exit ${r.code}); console: ${log}\n${out.split('\n').slice(-40).join('\n')}`);
  }
  labLog(`grub installed in ${fmtSec(Date.now() - t0)}`);
}

export async function ensureCloudImage(layout: CloudLayout): Promise<CloudImage> {
  const rootfs = await ensureRootfs();
  const self = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const key = sha256(`${rootfs.key}|${fileHash()}|${sha256(self)}|cloud-${layout}`);
  const p = plan(layout, key);
  const dir = await cached(`cloud-${layout}`, key, async (tmp) => {
    const T = path.join(tmp, 'root');
    await run('cp', ['-a', rootfs.root, T]);
    const kv = rootfs.kver;
    writeGuestFile(T, 'etc/fstab', fstabOf(layout, p));
    // Azure's images keep grub quiet and short; the lab also needs grub and the kernel on the serial console
    writeGuestFile(T, 'etc/default/grub.d/50-lab.cfg', 'GRUB_TIMEOUT=0\nGRUB_TIMEOUT_STYLE=hidden\nGRUB_DISABLE_RECOVERY=true\nGRUB_DISABLE_OS_PROBER=true\n' +
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet loglevel=3 panic=-1 systemd.show_status=auto"\n');
    fs.mkdirSync(path.join(T, 'boot/efi'), { recursive: true });
    fs.copyFileSync(path.join(GUEST_DIR, 'lab-grub-setup.sh'), path.join(T, 'usr/local/sbin/lab-grub-setup'));
    fs.chmodSync(path.join(T, 'usr/local/sbin/lab-grub-setup'), 0o755);
    await makeSystemdGuest(T, kv, `lab-${layout}`);
    const kernel = path.join(tmp, 'vmlinuz');
    const initrd = path.join(tmp, 'initrd.img');
    fs.copyFileSync(path.join(T, 'boot', `vmlinuz-${kv}`), kernel);
    fs.copyFileSync(path.join(T, 'boot', `initrd.img-${kv}`), initrd);
    const img = path.join(tmp, 'os.img');
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, diskMiB(layout) * MiB);
    await writeGpt(img, layout, p);
    const env = { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' };
    if (layout === 'boot') {
      const B = path.join(tmp, 'bootdir');
      fs.renameSync(path.join(T, 'boot'), B);
      fs.mkdirSync(path.join(T, 'boot'));
      await run('mkfs.ext4', ['-q', '-F', '-L', 'BOOT', '-U', p.ids['boot']!, '-d', B, '-E', `offset=${CLOUD_DISK.boot.start * MiB}`, img, `${CLOUD_DISK.boot.size}M`], { env });
      fs.rmSync(B, { recursive: true, force: true });
    }
    await run('mkfs.ext4', ['-q', '-F', '-L', 'cloudimg-rootfs', '-U', p.ids['root']!, '-d', T, '-E', `offset=${p.rootStart * MiB}`, img, `${p.rootSize}M`], { env });
    await run('mkfs.fat', ['--offset', String((CLOUD_DISK.esp.start * MiB) / SECTOR), '-F', '32', '-s', '1', '-n', 'UEFI', '-i', p.espSerial, img, String(CLOUD_DISK.esp.size * 1024)]);
    fs.rmSync(T, { recursive: true, force: true });
    await installGrub(tmp, img, kernel, initrd, p);
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({
      key, layout, rootfs: path.basename(rootfs.dir), kver: kv, ids: p.ids, disk: { ...CLOUD_DISK, sizeMiB: diskMiB(layout) }, builtAt: new Date().toISOString(),
    }, null, 2));
  });
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { kver: string };
  return {
    flavour: 'cloud', layout, dir, key, kver: m.kver, osImage: path.join(dir, 'os.img'), rootPartUuid: p.ids['p1']!, rootUuid: p.ids['root']!,
    ...(layout === 'boot' ? { bootUuid: p.ids['boot']! } : {}),
  };
}

/** OVMF for x86_64 (Debian's ovmf package): the code image, and the variable store each VM gets a copy of. */
export const OVMF = { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' };

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const which = (process.argv[2] ?? 'all') === 'all' ? ['noboot', 'boot'] as const : [process.argv[2] as CloudLayout];
  for (const l of which) console.log(JSON.stringify(await ensureCloudImage(l), null, 2));
}
