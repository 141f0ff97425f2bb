// Fleets: enable or show on every Linux VM of a resource group (or those with a tag), a few at a time, ending
// in one summary table. Resuming needs no file of our own: Azure holds each VM's state, so running the same
// command again skips the VMs already encrypted with this vault, follows those under way without a new
// deployment, and deploys to the rest.
import { AdeError } from '../shared/errors.ts';
import type { VmInfo } from './arm.ts';
import { channelFor, checkEnable, deploy, follow, mustVm, str, working, writeKeys, type CliIo, type KekOf, type Target } from './commands.ts';
import { vaultOrigin } from './disk-keys.ts';
import { enableSettings } from './settings.ts';
import { allEncrypted, type ExtensionState } from './instance-view.ts';

export interface FleetRow { vm: string; result: 'encrypted' | 'skipped' | 'in progress' | 'failed' | 'not encrypted'; detail: string }

/** `--tag key=value` (or `key`: the tag exists), as az's --tag filters. */
export function tagFilter(spec: string | undefined): (tags: Record<string, string> | undefined) => boolean {
  if (!spec) return () => true;
  const [k, ...v] = spec.split('=');
  const key = k!.toLowerCase();
  return (tags) => Object.entries(tags ?? {}).some(([tk, tv]) => tk.toLowerCase() === key && (v.length === 0 || tv === v.join('=')));
}

/** Runs `work` on every item with at most `limit` at once; results in the items' order. */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await work(items[i]!); } };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** The extension already reports what this enable asks for, with keys in this vault. */
export function alreadyDone(s: ExtensionState, volumeType: string, vaultUri: string): boolean {
  if (s.provisioning !== 'succeeded') return false;
  const osOk = s.os === 'Encrypted';
  const dataOk = (s.data === 'Encrypted' || s.data === 'NotMounted') && s.volumes.filter((v) => v.mountpoint !== '/').every((v) => v.state === 'Encrypted');
  const want = volumeType === 'OS' ? osOk : volumeType === 'DATA' ? dataOk : osOk && dataOk;
  return want && s.volumes.every((v) => !v.secretUrl || vaultOrigin(v.secretUrl) === vaultOrigin(vaultUri));
}

/** A VM's own output is kept out of the fleet's: only warnings reach the user, prefixed with the VM's name. */
const quiet = (io: CliIo, vm: string): CliIo => ({ out: () => undefined, progress: () => undefined, warn: (s) => io.warn(`${vm}: ${s}`), sleep: io.sleep, pollMs: io.pollMs });

async function enableOne(t: Target, io: CliIo, name: string, kekOf: KekOf): Promise<FleetRow> {
  const vt: Target = { ...t, name };
  const vm = await mustVm(vt); // listed a moment ago; gone since is its own error in the summary
  const c = await checkEnable(vt, io, vm, kekOf);
  const ch = channelFor(vt, vm, 'enable');
  const now = await ch.state().catch(() => undefined); // a VM the bootstrap never ran on has no state yet
  if (now && alreadyDone(now, c.input.volumeType, c.vault.vaultUri)) return { vm: name, result: 'skipped', detail: 'already encrypted with this vault' };
  const s = now && working(now) && now.provisioning !== 'failed' ? await follow(io, ch) : await deploy(vt, io, vm, enableSettings(c.input));
  if (!s) return { vm: name, result: 'in progress', detail: 'accepted (--no-wait)' };
  await writeKeys(vt, io, c, s);
  return alreadyDone(s, c.input.volumeType, c.vault.vaultUri) ? { vm: name, result: 'encrypted', detail: s.message } : { vm: name, result: 'not encrypted', detail: s.message };
}

async function showOne(t: Target, vm: VmInfo): Promise<FleetRow> {
  const s = await channelFor({ ...t, name: vm.name }, vm, 'show').state();
  const detail = `OS ${s.os ?? 'unknown'}, data ${s.data ?? 'unknown'}`;
  return allEncrypted(s) ? { vm: vm.name, result: 'encrypted', detail } : { vm: vm.name, result: working(s) ? 'in progress' : 'not encrypted', detail };
}

function summary(rows: readonly FleetRow[]): string {
  const head = ['VM', 'Result', 'Detail'];
  const cells = rows.map((r) => [r.vm, r.result, r.detail]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(width[i]!)).join('  ').trimEnd();
  return `${[line(head), ...cells.map(line)].join('\n')}\n`;
}

/** enable or show across the VMs of t.group (and --tag); the exit status is 0 only when every one ends encrypted. */
export async function fleet(command: 'enable' | 'show', t: Target, io: CliIo, kekOf: KekOf): Promise<number> {
  const match = tagFilter(str(t.flags, 'tag'));
  const vms = (await t.arm.listVms(t.group)).filter((v) => (v.osType ?? 'Linux').toLowerCase() === 'linux' && match(v.tags));
  if (vms.length === 0) throw new AdeError('CliFleetEmpty', { group: t.group, tag: str(t.flags, 'tag') ?? '(any)' });
  const limit = Number(str(t.flags, 'max-parallel') ?? 4);
  let done = 0;
  const rows = await pool(vms, limit, async (vm) => {
    const row = await (command === 'enable' ? enableOne(t, quiet(io, vm.name), vm.name, kekOf) : showOne(t, vm)).catch((e: unknown): FleetRow =>
      ({ vm: vm.name, result: 'failed', detail: e instanceof AdeError ? `[${e.code}] ${e.message}` : String(e) }));
    io.progress(`${++done}/${vms.length} VMs done (${vm.name}: ${row.result})`);
    return row;
  });
  io.out(t.flags['output'] === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : summary(rows));
  const left = rows.filter((r) => r.result !== 'encrypted' && r.result !== 'skipped');
  if (left.length === 0) return 0;
  const e = new AdeError('CliFleetIncomplete', { left: left.length, total: rows.length, vms: left.map((r) => r.vm).join(', ') });
  io.warn(e.message);
  return e.code - 700;
}
