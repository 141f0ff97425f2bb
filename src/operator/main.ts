// The operator CLI's command table (cli.ts runs it on this process; tests run it on a recorded one). Exit status: 0, or the error's code minus 700 (src/shared/errors.ts, 7xx).
import { AdeError } from '../shared/errors.ts';
import { helpText, parseArgs, type CommandName } from './args.ts';
import { armError } from './arm.ts';
import { RealArm } from './arm-real.ts';
import { disable, enable, show, str, type CliIo, type Target } from './commands.ts';
import { fleet } from './fleet.ts';
import { disableScaleSet, enableScaleSet, showScaleSet } from './scaleset.ts';
import { isKeyUrl } from './settings.ts';
import { armTemplate, bicep } from './template.ts';

export interface Process { argv: string[]; env: Record<string, string | undefined>; stdout: (s: string) => void; stderr: (s: string) => void; isTty: boolean }

function template(flags: Record<string, string | boolean>): string {
  const s = (k: string) => str(flags, k);
  const t = {
    ...(s('publisher') ? { publisher: s('publisher')! } : {}), ...(s('extension-type') ? { type: s('extension-type')! } : {}),
    ...(s('disk-encryption-keyvault') ? { vaultName: s('disk-encryption-keyvault')!.split('/').pop()! } : {}),
    ...(s('key-encryption-key') ? { kekUrl: s('key-encryption-key')! } : {}), ...(s('key-encryption-algorithm') ? { algorithm: s('key-encryption-algorithm')! } : {}),
    ...(s('volume-type') ? { volumeType: s('volume-type')! } : {}), formatAll: flags['encrypt-format-all'] === true,
  };
  return s('format') === 'bicep' ? bicep(t) : `${JSON.stringify(armTemplate(t), null, 2)}\n`;
}

/** A KEK given by name: its current version's URL, from its vault's data plane (as az resolves it). */
async function kekOf(vaultUri: string, value: string): Promise<string> {
  if (isKeyUrl(value)) return value;
  const [{ DefaultAzureCredential }, { KeyClient }] = await Promise.all([import('@azure/identity'), import('@azure/keyvault-keys')]);
  try {
    const key = await new KeyClient(vaultUri, new DefaultAzureCredential()).getKey(value);
    if (key.properties.enabled === false) throw new AdeError('CliKekUnusable', { kek: key.id ?? value, cause: 'the key is disabled' });
    return key.id!;
  } catch (e) {
    if (e instanceof AdeError) throw e;
    throw new AdeError('CliKekUnusable', { kek: `${vaultUri}keys/${value}`, cause: (e as Error).message.split('\n')[0]! });
  }
}

async function run(p: Process, command: CommandName, flags: Record<string, string | boolean>): Promise<number> {
  if (command === 'template') { p.stdout(template(flags)); return 0; }
  const subscription = (typeof flags['subscription'] === 'string' ? flags['subscription'] : undefined) ?? p.env['AZURE_SUBSCRIPTION_ID'];
  if (!subscription) throw new AdeError('CliNoSubscription');
  const t: Target = { arm: await RealArm.connect(subscription), subscription, group: flags['resource-group'] as string, name: typeof flags['name'] === 'string' ? flags['name'] : '', flags };
  let drawn = false;
  let last = '';
  const io: CliIo = {
    out: (s) => { if (drawn) { p.stderr('\n'); drawn = false; } p.stdout(s); },
    warn: (s) => { if (drawn) { p.stderr('\n'); drawn = false; } p.stderr(`${s}\n`); },
    // Not a terminal (a log, CI): a line only when it changes.
    progress: (l) => { if (p.isTty) { p.stderr(`\r${l}`); drawn = true; } else if (l !== last) p.stderr(`${l}\n`); last = l; },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    pollMs: Number(p.env['ADE_LINUX_POLL_MS'] ?? 10_000),
  };
  if (!t.name) return fleet(command === 'enable' ? 'enable' : 'show', t, io, kekOf);
  // A name that is no VM may be a scale set's (as az vm / az vmss, behind one command).
  const vm = await t.arm.getVm(t.group, t.name);
  const ss = vm ? undefined : await t.arm.getScaleSet(t.group, t.name);
  if (ss && flags['via'] === 'run-command') throw new AdeError('CliUsage', { problem: `${t.name} is a scale set: --via run-command works on VMs only`, command });
  if (ss) return command === 'enable' ? enableScaleSet(t, io, ss, kekOf) : command === 'disable' ? disableScaleSet(t, io, ss) : showScaleSet(t, io, ss);
  if (command === 'enable') return enable(t, io, kekOf, vm);
  if (command === 'disable') return disable(t, io, vm);
  return show(t, io, vm);
}

export async function main(p: Process): Promise<number> {
  try {
    const a = parseArgs(p.argv);
    if (a.help) { p.stdout(helpText(a.flags['top-level'] ? undefined : a.command)); return 0; }
    return await run(p, a.command, a.flags);
  } catch (e) {
    const err = e instanceof AdeError ? e : armError(e, 'the request', 'this subscription');
    p.stderr(`ade-linux: [${err.code}] ${err.message}\n`);
    return err.code - 700;
  }
}

