// What each EncryptionOperation does. Query only reads; the others change disks and run in the worker.
import { AdeError } from './errors.ts';
import type { Context } from './context.ts';
import type { Journal } from './journal.ts';
import type { Report, VolumeDetail } from './status.ts';
import type { EncryptionSettings } from './types.ts';
import { readSystemVolumes } from '../system/blockdev.ts';
import { summarize } from '../encryption/discovery.ts';

export async function runOperation(ctx: Context, settings: EncryptionSettings, _journal: Journal, _signal: AbortSignal): Promise<Report> {
  switch (settings.operation) {
    case 'QueryEncryptionStatus':
      return queryReport(ctx, undefined);
    case 'EnableEncryption':
    case 'EnableEncryptionFormatAll':
    case 'DisableEncryption':
      throw new AdeError('NotYetSupported', { operation: settings.operation, volumeType: settings.volumeType, version: ctx.version });
  }
}

/** The machine's real state: block devices as lsblk/findmnt/fstab see them, and any operation under way. */
export async function queryReport(ctx: Context, journal: Journal | undefined): Promise<Report> {
  const volumes = await readSystemVolumes(ctx.run);
  const { os, data } = summarize(volumes);
  const detail: VolumeDetail[] = volumes
    .filter((v) => v.role === 'os' || v.role === 'data')
    .map((v) => ({ device: v.device, ...(v.mountpoint ? { mountpoint: v.mountpoint } : {}), state: v.encrypted ? 'Encrypted' : v.mountpoint ? 'NotEncrypted' : 'NotMounted' }));
  const busy = journal && journal.phase !== 'done' ? ` ${journal.operation} (sequence ${journal.seq}) is in progress.` : '';
  return {
    operation: 'QueryEncryptionStatus', status: 'success', code: 0,
    message: `OS volume: ${os}; data volumes: ${data} (${detail.filter((d) => d.state === 'Encrypted').length} of ${detail.length} encrypted).${busy}`,
    os, data, volumes: detail,
  };
}
