// Mounting, unmounting and who keeps a mount busy. In-place encryption needs one brief unmount; the
// processes that would block it are named up front (fuser) so the user can stop them before anything changes.
import type { Runner } from './exec.ts';
import { CommandFailed } from './blockdev.ts';

export interface MountUser { pid: number; user: string; command: string }

/**
 * `fuser -vm <mp>` writes its table to stderr: a header, then per process `USER PID ACCESS COMMAND`,
 * the first row prefixed by the mount point; the kernel's own "mount" row has no PID.
 */
export function parseFuser(text: string): MountUser[] {
  const out: MountUser[] = [];
  for (const line of text.split('\n')) {
    const m = /(\S+)\s+(\d+)\s+[.a-zA-Z]{5}\s+(.+?)\s*$/.exec(line.replace(/^\S+:\s+/, ''));
    if (m) out.push({ user: m[1]!, pid: Number(m[2]), command: m[3]! });
  }
  return out;
}

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
    async mount(device: string, mp: string, fstype: string, options: readonly string[]): Promise<void> {
      const opts = options.filter((o) => o !== 'noauto').join(',') || 'defaults';
      const r = await run('mount', ['-t', fstype, '-o', opts, device, mp]);
      if (r.exitCode !== 0) throw new CommandFailed(`mount ${device} ${mp}`, r.exitCode, r.stderr);
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
      const r = await run('systemctl', ['stop', unit]);
      if (r.exitCode !== 0) throw new CommandFailed(`systemctl stop ${unit}`, r.exitCode, r.stderr);
    },
    /** Loads dm-crypt if it is a module; true when the kernel has it (built in or loaded). */
    async dmCryptAvailable(): Promise<boolean> {
      return (await run('modprobe', ['-q', 'dm_crypt'])).exitCode === 0;
    },
  };
}

export type Mounts = ReturnType<typeof mounts>;
