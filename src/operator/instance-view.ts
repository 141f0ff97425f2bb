// What the extension says in the VM's instance view: the guest agent turns our status file into the
// extension's `statuses` (ProvisioningState/<status>, our message) and `substatuses` (ComponentStatus/<name>/
// <status>, our substatus messages: EncryptionState {"os","data"} as ADE writes it, and Volumes, one row per
// volume with percent and ETA). Pure: the CLI's show, its progress bar and its exit status read this.
import type { VolumeDetail } from '../shared/report.ts';

export interface ViewStatus { code?: string; message?: string }
export interface ExtensionView { name?: string; type?: string; statuses?: ViewStatus[]; substatuses?: ViewStatus[] }

export type Provisioning = 'succeeded' | 'failed' | 'transitioning' | 'unknown';

export interface ExtensionState {
  provisioning: Provisioning;
  /** The extension's own message (our status message, verbatim). */
  message: string;
  os?: string;
  data?: string;
  volumes: VolumeDetail[];
}

function json(text: string | undefined): unknown {
  try { return text ? JSON.parse(text) : undefined; } catch { return undefined; }
}

export function readExtensionView(view: ExtensionView | undefined): ExtensionState {
  const first = view?.statuses?.find((s) => s.code?.startsWith('ProvisioningState/'));
  const p = first?.code?.split('/')[1]?.toLowerCase() ?? '';
  const provisioning: Provisioning = p === 'succeeded' || p === 'failed' || p === 'transitioning' ? p : p ? 'transitioning' : 'unknown';
  const out: ExtensionState = { provisioning, message: first?.message ?? '', volumes: [] };
  const sub = (name: string) => view?.substatuses?.find((s) => s.code?.startsWith(`ComponentStatus/${name}/`));
  const state = json(sub('EncryptionState')?.message) as { os?: unknown; data?: unknown } | undefined;
  if (typeof state?.os === 'string') out.os = state.os;
  if (typeof state?.data === 'string') out.data = state.data;
  const rows = json(sub('Volumes')?.message);
  if (Array.isArray(rows)) out.volumes = rows.filter((r): r is VolumeDetail => typeof r === 'object' && r !== null && typeof (r as VolumeDetail).device === 'string' && typeof (r as VolumeDetail).state === 'string');
  return out;
}

/** The extension among the VM's, by resource name or by its publisher.type. */
export function findExtension<T extends ExtensionView>(all: readonly T[] | undefined, name: string, publisherType: string): T | undefined {
  return all?.find((e) => e.name === name) ?? all?.find((e) => e.type?.toLowerCase() === publisherType.toLowerCase());
}

/** Whether everything the extension reports on is encrypted (NotMounted: no data volume to speak of). */
export function allEncrypted(s: ExtensionState): boolean {
  const done = (x?: string) => x === 'Encrypted' || x === 'NotMounted';
  return s.os !== undefined && done(s.os) && done(s.data) && s.volumes.every((v) => v.state === 'Encrypted');
}

/**
 * Overall percent of the operation's volumes: done ones count 100 (Encrypted; NotEncrypted while decrypting),
 * running ones their percent, waiting ones 0; undefined when the extension lists no volume yet.
 */
export function overallPercent(s: ExtensionState): number | undefined {
  if (s.volumes.length === 0) return undefined;
  const decrypting = s.data === 'DecryptionInProgress' || s.data === 'NotEncrypted';
  const of = (v: VolumeDetail) => v.percent ?? (v.state === 'Encrypted' || (decrypting && v.state === 'NotEncrypted') ? 100 : 0);
  return Math.floor(s.volumes.reduce((a, v) => a + of(v), 0) / s.volumes.length);
}
