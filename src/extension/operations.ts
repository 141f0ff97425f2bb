// What each EncryptionOperation does. Query only reads; the others change disks and run in the worker.
import { AdeError } from './errors.ts';
import type { Context } from './context.ts';
import type { Journal } from './journal.ts';
import type { Report, VolumeDetail } from './status.ts';
import type { EncryptionSettings } from './types.ts';
import { readSystemVolumes } from '../system/blockdev.ts';
import { summarize, type StatusMarkers, type Volume } from '../encryption/discovery.ts';

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
  const busy = journal && journal.phase !== 'done' ? journal : undefined;
  const { os, data } = summarize(volumes, markersOf(busy));
  const detail = volumeDetail(volumes);
  const encrypted = detail.filter((d) => d.state === 'Encrypted').length;
  return {
    operation: 'QueryEncryptionStatus', status: 'success', code: 0,
    message: `OS volume: ${os}; data volumes: ${data} (${encrypted} of ${detail.length} volumes encrypted).${busy ? ` ${busy.operation} (sequence ${busy.seq}) is in progress.` : ''}`,
    os, data, volumes: detail,
  };
}

function markersOf(j: Journal | undefined): StatusMarkers {
  if (!j) return {};
  if (j.operation === 'DisableEncryption') return { decrypting: true };
  if (j.operation === 'EnableEncryption' || j.operation === 'EnableEncryptionFormatAll') return { encrypting: j.volumeType };
  return {};
}

/** One row per file system the user knows: an encrypted volume shows as its container, with the mount of its mapping. */
export function volumeDetail(volumes: readonly Volume[]): VolumeDetail[] {
  const byDevice = new Map(volumes.map((v) => [v.device, v]));
  return volumes
    .filter((v) => (v.role === 'os' || v.role === 'data') && v.fstype && !(v.luksDevice && v.luksDevice !== v.device))
    .map((v) => {
      const mountpoint = v.mountpoint ?? (v.mappedAs ? byDevice.get(v.mappedAs)?.mountpoint : undefined);
      const state = v.reencrypt ? (v.reencrypt.mode === 'decrypt' ? 'DecryptionInProgress' : 'EncryptionInProgress')
        : v.encrypted ? 'Encrypted' : mountpoint ? 'NotEncrypted' : 'NotMounted';
      return { device: v.device, ...(mountpoint ? { mountpoint } : {}), state };
    });
}
