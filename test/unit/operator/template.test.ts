// `ade-linux template`: the extension resource shaped as Microsoft's quickstart shapes ADE's (the settings
// keys ADE's templates send, typeHandlerVersion 1.1 with autoUpgradeMinorVersion, forceUpdateTag instead of a
// SequenceVersion), with the CLI's choices as parameter defaults; and the same resource in Bicep.
import { describe, expect, it } from 'vitest';
import { armTemplate, bicep } from '../../../src/operator/template.ts';
import { main } from '../../../src/operator/main.ts';

interface Res { type: string; name: string; properties: { publisher: string; type: string; typeHandlerVersion: string; autoUpgradeMinorVersion: boolean; forceUpdateTag: string; settings: Record<string, string> } }

describe('template', () => {
  it('ARM: one extension resource with the quickstart\'s settings keys and the choices as defaults', () => {
    const t = armTemplate({ vaultName: 'kv', kekUrl: 'https://kv.vault.azure.net/keys/kek/1', algorithm: 'RSA-OAEP-256', volumeType: 'All' }) as { parameters: Record<string, { defaultValue?: string }>; resources: Res[] };
    expect(t.resources).toHaveLength(1);
    const r = t.resources[0]!;
    expect(r.type).toBe('Microsoft.Compute/virtualMachines/extensions');
    expect(r.properties).toMatchObject({ publisher: 'AdeLinux', type: 'DiskEncryption', typeHandlerVersion: '1.1', autoUpgradeMinorVersion: true, forceUpdateTag: "[parameters('forceUpdateTag')]" });
    expect(Object.keys(r.properties.settings).sort()).toEqual(['EncryptionOperation', 'KekVaultResourceId', 'KeyEncryptionAlgorithm', 'KeyEncryptionKeyURL', 'KeyVaultResourceId', 'KeyVaultURL', 'VolumeType']);
    expect(r.properties.settings['KeyVaultURL']).toMatch(/reference\(variables\('vaultId'\), '[\d-]+'\)\.vaultUri/);
    expect(t.parameters['keyVaultName']?.defaultValue).toBe('kv');
    expect(t.parameters['keyEncryptionKeyURL']?.defaultValue).toBe('https://kv.vault.azure.net/keys/kek/1');
    expect(t.parameters['keyEncryptionAlgorithm']?.defaultValue).toBe('RSA-OAEP-256');
    expect(t.parameters['volumeType']?.defaultValue).toBe('All');
  });
  it('format-all and another publisher', () => {
    const r = (armTemplate({ formatAll: true, publisher: 'Contoso', type: 'Enc' }) as { resources: Res[] }).resources[0]!;
    expect(r.properties.settings['EncryptionOperation']).toBe('EnableEncryptionFormatAll');
    expect(r.properties).toMatchObject({ publisher: 'Contoso', type: 'Enc' });
    expect(r.name).toBe("[format('{0}/Enc', parameters('vmName'))]");
  });
  it('Bicep: the same resource and settings', () => {
    const b = bicep({ vaultName: 'kv', volumeType: 'Data' });
    expect(b).toMatch(/resource diskEncryption 'Microsoft\.Compute\/virtualMachines\/extensions@[\d-]+' = \{\n  parent: vm\n/);
    for (const k of ['EncryptionOperation: \'EnableEncryption\'', 'KeyVaultURL: vault.properties.vaultUri', 'KeyVaultResourceId: vault.id', "typeHandlerVersion: '1.1'", "param keyVaultName string = 'kv'"]) expect(b).toContain(k);
  });
  it('the CLI prints them: JSON that parses, or Bicep', async () => {
    const out: string[] = [];
    const p = (argv: string[]) => ({ argv, env: {}, stdout: (s: string) => out.push(s), stderr: (s: string) => out.push(`ERR ${s}`), isTty: false });
    expect(await main(p(['template', '--disk-encryption-keyvault', 'kv', '--volume-type', 'ALL']))).toBe(0);
    expect((JSON.parse(out.join('')) as { resources: Res[] }).resources[0]!.properties.settings['VolumeType']).toBe("[parameters('volumeType')]");
    out.length = 0;
    expect(await main(p(['template', '--format', 'bicep']))).toBe(0);
    expect(out.join('')).toMatch(/^param vmName string\n/);
    out.length = 0;
    expect(await main(p(['show', '-g', 'rg', '-n', 'vm']))).toBe(3);
    expect(out.join('')).toBe('ERR ade-linux: [703] No subscription to work in. Give --subscription <id>, or set AZURE_SUBSCRIPTION_ID.\n');
  });
});
