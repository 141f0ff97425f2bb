// How the CLI prints a VM's encryption state: a table for people, JSON for scripts, and the one-line
// progress bar enable and disable redraw while the extension works. Pure.
import type { ExtensionState } from './instance-view.ts';
import { overallPercent } from './instance-view.ts';

const eta = (s?: number): string => (s === undefined ? '' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`);

export function stateTable(vm: string, s: ExtensionState): string {
  const head = ['Disk', 'Mount', 'State', 'Done', 'ETA'];
  const rows = s.volumes.map((v) => [v.device, v.mountpoint ?? '', v.state, v.percent !== undefined ? `${v.percent}%` : v.state === 'Encrypted' ? '100%' : '', eta(v.etaSeconds)]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  const lines = [`${vm}: OS ${s.os ?? 'unknown'}, data ${s.data ?? 'unknown'} (extension ${s.provisioning})`];
  if (rows.length) lines.push(line(head), ...rows.map(line));
  if (s.message) lines.push(s.message);
  return `${lines.join('\n')}\n`;
}

export function stateJson(vm: string, s: ExtensionState): string {
  return `${JSON.stringify({ vm, os: s.os ?? null, data: s.data ?? null, extension: s.provisioning, message: s.message, volumes: s.volumes }, null, 2)}\n`;
}

/** `[#########...........]  45%  /dev/sdc EncryptionInProgress, ETA 3m05s` */
export function progressLine(s: ExtensionState, width = 20): string {
  const pct = overallPercent(s);
  const filled = Math.round(((pct ?? 0) / 100) * width);
  const busy = s.volumes.find((v) => v.percent !== undefined && v.state !== 'Encrypted' && v.state !== 'NotEncrypted');
  const what = busy ? `${busy.device} ${busy.state}${busy.etaSeconds !== undefined ? `, ETA ${eta(busy.etaSeconds)}` : ''}` : `OS ${s.os ?? '…'}, data ${s.data ?? '…'}`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct === undefined ? '  ?' : String(pct).padStart(3)}%  ${what}`;
}

/** A scale set's instances, one row each: its OS and data state and how far its volumes are. */
export function instancesTable(set: string, all: ReadonlyArray<{ name: string; state: ExtensionState }>): string {
  const head = ['Instance', 'OS', 'Data', 'Done', 'Extension'];
  const rows = all.map(({ name, state: s }) => [name, s.os ?? 'unknown', s.data ?? 'unknown', `${overallPercent(s) ?? (s.data === 'Encrypted' ? 100 : 0)}%`, s.provisioning]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return `${[`scale set ${set}: ${all.length} instance(s)`, line(head), ...rows.map(line)].join('\n')}\n`;
}

export function instancesJson(set: string, all: ReadonlyArray<{ name: string; state: ExtensionState }>): string {
  return `${JSON.stringify({ scaleSet: set, instances: all.map(({ name, state: s }) => ({ name, os: s.os ?? null, data: s.data ?? null, extension: s.provisioning, message: s.message, volumes: s.volumes })) }, null, 2)}\n`;
}
