// The operator CLI's command line: one table of flags, named and shaped as `az vm encryption` names them, so
// a command written for ADE needs only its program name changed. The same table prints --help.
import { AdeError } from '../shared/errors.ts';

export const COMMANDS = ['enable', 'show', 'disable', 'template'] as const;
export type CommandName = (typeof COMMANDS)[number];

interface FlagSpec {
  name: string;
  alias?: string;
  /** Placeholder of the value; absent for a switch. */
  value?: string;
  help: string;
  commands: readonly CommandName[];
  required?: readonly CommandName[];
  choices?: readonly string[];
}

const ALL = COMMANDS;
const DEPLOY = ['enable', 'disable'] as const;
export const FLAGS: readonly FlagSpec[] = [
  { name: 'resource-group', alias: 'g', value: 'NAME', help: 'Resource group of the VM.', commands: ['enable', 'show', 'disable'], required: ['enable', 'show', 'disable'] },
  { name: 'name', alias: 'n', value: 'NAME', help: 'Name of the VM or scale set. enable and show without it: every Linux VM of the resource group (see --tag).', commands: ['enable', 'show', 'disable'], required: ['disable'] },
  { name: 'tag', value: 'KEY[=VALUE]', help: 'Without --name: only the VMs with this tag (and value).', commands: ['enable', 'show'] },
  { name: 'max-parallel', value: 'N', help: 'Without --name: how many VMs are worked on at once (default 4).', commands: ['enable'] },
  { name: 'subscription', value: 'ID', help: 'Subscription id (default: $AZURE_SUBSCRIPTION_ID).', commands: ['enable', 'show', 'disable'] },
  { name: 'disk-encryption-keyvault', value: 'NAME|ID', help: 'Vault that keeps the disk keys: its name (in the VM\'s resource group) or resource id.', commands: ['enable', 'template'], required: ['enable'] },
  { name: 'key-encryption-key', value: 'NAME|URL', help: 'Key encryption key that wraps the disk keys: its versioned URL, or its name in --key-encryption-keyvault.', commands: ['enable', 'template'] },
  { name: 'key-encryption-keyvault', value: 'NAME|ID', help: 'Vault of the key encryption key (default: --disk-encryption-keyvault).', commands: ['enable', 'template'] },
  { name: 'key-encryption-algorithm', value: 'ALG', help: 'How the KEK wraps the disk keys (default RSA-OAEP).', commands: ['enable', 'template'], choices: ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] },
  { name: 'volume-type', value: 'TYPE', help: 'Which disks: DATA, OS or ALL (enable: required when the VM has data disks; disable: DATA).', commands: ['enable', 'disable', 'template'], choices: ['DATA', 'OS', 'ALL'] },
  { name: 'encrypt-format-all', help: 'Format the data disks instead of encrypting them in place (their content is lost).', commands: ['enable', 'template'] },
  { name: 'force', help: 'Deploy although a pre-flight check failed (each failure becomes a warning).', commands: [...DEPLOY] },
  { name: 'no-wait', help: 'Return once Azure accepted the request, without waiting for the extension.', commands: [...DEPLOY] },
  { name: 'via', value: 'HOW', help: 'How the handler reaches the VM: extension (default; needs the extension published, README "Distribution") or run-command (a Managed Run Command installs the package: --package-url, --package-sha256).', commands: ['enable', 'disable', 'show'], choices: ['extension', 'run-command'] },
  { name: 'package-url', value: 'URL', help: 'With --via run-command: an https URL of the package zip the VM can download (its name as npm run package makes it, e.g. AdeLinux.DiskEncryption-1.1.0.zip).', commands: ['enable', 'disable', 'show'] },
  { name: 'package-sha256', value: 'HEX', help: 'With --via run-command: the zip\'s sha256; the VM refuses any other file.', commands: ['enable', 'disable', 'show'] },
  { name: 'publisher', value: 'NAME', help: 'Publisher of the extension (default AdeLinux; README, "Distribution", says how an extension gets published).', commands: ['enable', 'disable', 'show', 'template'] },
  { name: 'extension-type', value: 'TYPE', help: 'Type of the extension (default DiskEncryption).', commands: ['enable', 'disable', 'show', 'template'] },
  { name: 'format', value: 'FORMAT', help: 'arm (a deployable template, default) or bicep.', commands: ['template'], choices: ['arm', 'bicep'] },
  { name: 'output', alias: 'o', value: 'FORMAT', help: 'table (default) or json.', commands: ['enable', 'show', 'disable'], choices: ['table', 'json'] },
  { name: 'help', alias: 'h', help: 'Show this help.', commands: ALL },
];

export interface CliArgs {
  command: CommandName;
  help: boolean;
  /** Flag name (long form) → value; switches are true. */
  flags: Record<string, string | boolean>;
}

const usage = (command: string, problem: string) => new AdeError('CliUsage', { problem, command });

export function parseArgs(argv: readonly string[]): CliArgs {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') return { command: 'show', help: true, flags: { 'top-level': true } };
  if (!(COMMANDS as readonly string[]).includes(command)) throw usage('', `Unknown command "${command}"; the commands are ${COMMANDS.join(', ')}`);
  const cmd = command as CommandName;
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const m = /^(?:--([a-z0-9-]+)|-([a-z]))(?:=(.*))?$/.exec(arg);
    const spec = m ? FLAGS.find((f) => (m[1] ? f.name === m[1] : f.alias === m[2])) : undefined;
    if (!m || !spec || !spec.commands.includes(cmd)) throw usage(cmd, `"${arg}" is not an option of ${cmd}`);
    let value: string | boolean = true;
    if (spec.value) {
      value = m[3] ?? rest[++i] ?? '';
      if (value === '' || (m[3] === undefined && value.startsWith('-'))) throw usage(cmd, `--${spec.name} needs a value (${spec.value})`);
      if (spec.choices && !spec.choices.includes(value.toUpperCase()) && !spec.choices.includes(value)) throw usage(cmd, `--${spec.name} is one of ${spec.choices.join(', ')}, not "${value}"`);
      if (spec.value === 'N' && !/^[1-9]\d{0,2}$/.test(value)) throw usage(cmd, `--${spec.name} is a whole number from 1 to 999, not "${value}"`);
    } else if (m[3] !== undefined) throw usage(cmd, `--${spec.name} takes no value`);
    flags[spec.name] = value;
  }
  const help = flags['help'] === true;
  if (!help) {
    for (const f of FLAGS) if (f.required?.includes(cmd) && flags[f.name] === undefined) throw usage(cmd, `${cmd} needs --${f.name}`);
  }
  return { command: cmd, help, flags };
}

const SUMMARY: Record<CommandName, string> = {
  enable: 'Check the vault and the VM, deploy the extension with the encryption settings, follow its progress to the end, and record the key references on the managed disks. A scale set: its data volumes. No --name: every Linux VM of the group.',
  show: 'Per-disk encryption state, percent and ETA of a VM, or per instance of a scale set, or per VM of a group (exit status 0 only when every disk is encrypted).',
  disable: 'Decrypt the data disks of a VM or scale set, following the progress as enable does.',
  template: 'Print an ARM template (or a Bicep resource) that deploys the extension with these settings.',
};

export function helpText(command?: CommandName): string {
  if (!command) {
    return ['Usage: ade-linux <command> [options]', '', 'Encrypt the disks of Azure Linux VMs with the ade-linux extension.', '',
      ...COMMANDS.map((c) => `  ${c.padEnd(10)}${SUMMARY[c]}`), '', 'ade-linux <command> --help shows the options of a command.', ''].join('\n');
  }
  const lines = FLAGS.filter((f) => f.commands.includes(command)).map((f) => {
    const left = `${f.alias ? `-${f.alias}, ` : '    '}--${f.name}${f.value ? ` ${f.value}` : ''}`;
    const req = f.required?.includes(command) ? ' Required.' : '';
    const choices = f.choices ? ` One of: ${f.choices.join(', ')}.` : '';
    return `  ${left.padEnd(38)} ${f.help}${choices}${req}`;
  });
  return [`Usage: ade-linux ${command} [options]`, '', SUMMARY[command], '', 'Options:', ...lines, ''].join('\n');
}
