// The CLI's command line: az vm encryption's flag names, values in both spellings, every mistake a coded
// usage error naming the command's help, and --help generated from the same table.
import { describe, expect, it } from 'vitest';
import { FLAGS, helpText, parseArgs } from '../../../src/operator/args.ts';
import { AdeError } from '../../../src/shared/errors.ts';

const VM = ['-g', 'rg', '-n', 'vm1'];

describe('parseArgs', () => {
  it('takes az vm encryption enable\'s flags as az spells them', () => {
    const a = parseArgs(['enable', '--resource-group', 'rg', '--name=vm1', '--disk-encryption-keyvault', 'kv', '--key-encryption-key', 'kek',
      '--key-encryption-algorithm', 'RSA-OAEP-256', '--volume-type', 'data', '--encrypt-format-all', '--force', '--no-wait', '-o', 'json']);
    expect(a).toEqual({ command: 'enable', help: false, flags: {
      'resource-group': 'rg', name: 'vm1', 'disk-encryption-keyvault': 'kv', 'key-encryption-key': 'kek', 'key-encryption-algorithm': 'RSA-OAEP-256',
      'volume-type': 'data', 'encrypt-format-all': true, force: true, 'no-wait': true, output: 'json' } });
  });

  it.each([
    [['frobnicate'], /Unknown command "frobnicate"; the commands are enable, show, disable, template/],
    [['enable', ...VM], /enable needs --disk-encryption-keyvault\. Run: ade-linux enable --help/],
    [['disable', '-g', 'rg'], /disable needs --name/],
    [['enable', '-g', 'rg', '--disk-encryption-keyvault', 'kv', '--max-parallel', '0'], /--max-parallel is a whole number from 1 to 999, not "0"/],
    [['show', ...VM, '--max-parallel', '3'], /"--max-parallel" is not an option of show/],
    [['show', ...VM, '--disk-encryption-keyvault', 'kv'], /"--disk-encryption-keyvault" is not an option of show/],
    [['enable', ...VM, '--disk-encryption-keyvault'], /--disk-encryption-keyvault needs a value \(NAME\|ID\)/],
    [['enable', ...VM, '--disk-encryption-keyvault', '--force'], /--disk-encryption-keyvault needs a value/],
    [['enable', ...VM, '--disk-encryption-keyvault', 'kv', '--volume-type', 'BOTH'], /--volume-type is one of DATA, OS, ALL, not "BOTH"/],
    [['disable', ...VM, '--force=yes'], /--force takes no value/],
    [['show', ...VM, '--colour'], /"--colour" is not an option of show/],
  ])('%j: 701', (argv, msg) => {
    const e = (() => { try { parseArgs(argv); return undefined; } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(AdeError);
    expect((e as AdeError).code).toBe(701);
    expect((e as AdeError).message).toMatch(msg);
  });

  it('enable and show without --name work on the resource group\'s VMs (a fleet), with --tag and --max-parallel', () => {
    expect(parseArgs(['enable', '-g', 'rg', '--disk-encryption-keyvault', 'kv', '--tag', 'env=prod', '--max-parallel', '8']).flags).toEqual({
      'resource-group': 'rg', 'disk-encryption-keyvault': 'kv', tag: 'env=prod', 'max-parallel': '8' });
    expect(parseArgs(['show', '-g', 'rg']).flags).toEqual({ 'resource-group': 'rg' });
  });

  it('--help needs nothing else, for every command and at the top', () => {
    expect(parseArgs(['enable', '--help'])).toMatchObject({ command: 'enable', help: true });
    expect(parseArgs(['template', '-h']).help).toBe(true);
    expect(parseArgs([]).help).toBe(true);
  });
});

describe('helpText', () => {
  it.each(['enable', 'show', 'disable', 'template'] as const)('%s: every option of the command, marked when required', (c) => {
    const text = helpText(c);
    expect(text).toMatch(new RegExp(`^Usage: ade-linux ${c} \\[options\\]`));
    for (const f of FLAGS) {
      if (f.commands.includes(c)) expect(text).toContain(`--${f.name}`);
      else expect(text).not.toContain(`--${f.name} `);
    }
    if (c === 'disable') expect(text).toMatch(/--name NAME\s+Name of the VM or scale set\..* Required\./);
    if (c === 'enable' || c === 'show') expect(text).toMatch(/--name NAME\s+Name of the VM or scale set\. enable and show without it: every Linux VM of the resource group \(see --tag\)\.\n/);
  });
  it('the top level lists the commands', () => {
    expect(helpText()).toMatch(/enable .*\n\s+show .*\n\s+disable .*\n\s+template /);
  });
});
