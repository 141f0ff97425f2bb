// The platform's key disk: a small vfat file system labelled "BEK VOLUME". Mounted read-only at ADE's
// /mnt/azure_bek_disk with files readable by root only (fmask=0277 → mode 0400; vfat has no per-file modes);
// remounted read-write only for the moment a key file is written, atomically.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdeError } from '../shared/errors.ts';
import { CommandFailed, must as mustRun, type Runner, run } from './exec.ts';
import { writeFileAtomic } from './files.ts';

export const BEK_LABEL = 'BEK VOLUME';
export const BEK_MOUNT_POINT = '/mnt/azure_bek_disk';
export const BEK_MOUNT_OPTIONS = 'fmask=0277,dmask=0077,uid=0,gid=0,nodev,nosuid,noexec';

/** The key files on the key volume, by name (LinuxPassPhraseFileName_<controller>_<lun>). */
export interface KeyVolume {
  writeKey(fileName: string, data: Buffer): Promise<void>;
  /** undefined when the file does not exist. */
  readKey(fileName: string): Promise<Buffer | undefined>;
}

export interface BekVolumeOptions {
  runner?: Runner;
  mountPoint?: string;
}

export function bekVolume(opts: BekVolumeOptions = {}): KeyVolume {
  const runner = opts.runner ?? run;
  const mountPoint = opts.mountPoint ?? BEK_MOUNT_POINT;

  const must = async (file: string, args: string[], what: string) => {
    try {
      return await mustRun(runner, file, args);
    } catch (e) {
      if (!(e instanceof CommandFailed)) throw e;
      throw new AdeError('KeyVolumeMissing', { fix: `${what} failed: ${e.stderr.trim() || `exit ${e.exitCode}`}.` });
    }
  };

  const locate = async (): Promise<string> => {
    const r = await runner('blkid', ['-L', BEK_LABEL]);
    const dev = r.stdout.trim().split('\n')[0];
    if (r.exitCode !== 0 || !dev) throw new AdeError('KeyVolumeMissing', { fix: 'The platform attaches it to VMs with disk encryption settings; check that the VM model has them, then restart the VM.' });
    return dev;
  };

  /** Mounts (or reuses the mount), runs fn on the directory, and leaves the volume mounted read-only. */
  const withVolume = async <T>(mode: 'ro' | 'rw', fn: (dir: string) => T): Promise<T> => {
    const dev = await locate();
    const f = await runner('findmnt', ['-n', '-o', 'TARGET,OPTIONS', '--source', dev]);
    const [target, options = ''] = f.exitCode === 0 ? (f.stdout.trim().split('\n')[0] ?? '').split(/\s+/) : [];
    let dir = target;
    if (!dir) {
      mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
      await must('mount', ['-t', 'vfat', '-o', `${mode},${BEK_MOUNT_OPTIONS}`, dev, mountPoint], `mount ${dev} on ${mountPoint}`);
      dir = mountPoint;
    } else if (mode === 'rw' && options.split(',').includes('ro')) {
      await must('mount', ['-o', 'remount,rw', dir], `remount ${dir} read-write`);
    }
    try {
      return fn(dir);
    } finally {
      if (mode === 'rw') await must('mount', ['-o', 'remount,ro', dir], `remount ${dir} read-only`);
    }
  };

  return {
    writeKey: (fileName, data) => withVolume('rw', (dir) => writeFileAtomic(join(dir, fileName), data, 0o400)),
    readKey: (fileName) => withVolume('ro', (dir) => {
      try {
        return readFileSync(join(dir, fileName));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    }),
  };
}
