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
    [['show', '-g', 'rg'], /show needs --name/],
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
    if (c !== 'template') expect(text).toMatch(/--name NAME\s+Name of the VM\. Required\./);
  });
  it('the top level lists the commands', () => {
    expect(helpText()).toMatch(/enable .*\n\s+show .*\n\s+disable .*\n\s+template /);
  });
});
