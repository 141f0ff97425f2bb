// Mounting, unmounting and who keeps a mount busy. In-place encryption needs one brief unmount; the
// processes that would block it are named up front (fuser) so the user can stop them before anything changes.
import { must, type Runner } from './exec.ts';
import { parseFuser, type MountUser } from '../parsers/fuser.ts';

export function mounts(run: Runner) {
  return {
    /** What is mounted at mp (its source device), or undefined. */
    async sourceAt(mp: string): Promise<string | undefined> {
      const r = await run('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', mp]);
      return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim().split('\n')[0] : undefined;
    },
    async users(mp: string): Promise<MountUser[]> {
      const r = await run('fuser', ['-vm', mp]);
      // exit 1: nobody uses it.
      return r.exitCode === 0 ? parseFuser(r.stderr + '\n' + r.stdout) : [];
    },
    async umount(mp: string): Promise<{ ok: boolean; stderr: string }> {
      const r = await run('umount', [mp]);
      return { ok: r.exitCode === 0, stderr: r.stderr };
    },
    /** Mounts what /etc/fstab says belongs at mp (device, type, options). */
    async mountFromFstab(mp: string): Promise<void> {
      await must(run, 'mount', [mp]);
    },
    async mount(device: string, mp: string, fstype: string, options: readonly string[]): Promise<void> {
      const opts = options.filter((o) => o !== 'noauto').join(',') || 'defaults';
      await must(run, 'mount', ['-t', fstype, '-o', opts, device, mp]);
    },
    /** Whether a systemd unit is active; false where there is no systemd (or no such unit). */
    async unitActive(unit: string): Promise<boolean> {
      return (await run('systemctl', ['is-active', '--quiet', unit])).exitCode === 0;
    },
    /** Masks a unit until the next boot (`systemctl mask --runtime`); false where that is not possible (no systemd). */
    async maskUnitUntilReboot(unit: string): Promise<boolean> {
      return (await run('systemctl', ['mask', '--runtime', unit])).exitCode === 0;
    },
    async stopUnit(unit: string): Promise<void> {
      await must(run, 'systemctl', ['stop', unit]);
    },
    /** Loads dm-crypt if it is a module; true when the kernel has it (built in or loaded). */
    async dmCryptAvailable(): Promise<boolean> {
      return (await run('modprobe', ['-q', 'dm_crypt'])).exitCode === 0;
    },
  };
}

export type Mounts = ReturnType<typeof mounts>;
