// The CLI sends what az sends: for each az vm encryption case recorded from azure-cli's source
// (test/helpers/client-settings.ts), the CLI's settings for the same inputs are the same JSON body.
import { describe, expect, it } from 'vitest';
import { CLIENT_SETTINGS } from '../../helpers/client-settings.ts';
import { disableSettings, enableSettings, isKeyUrl, scaleSetDisableSettings, scaleSetEnableSettings, vaultRef } from '../../../src/operator/settings.ts';

const SUB = '00000000-1111-2222-3333-444444444444';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-ade/providers/Microsoft.KeyVault/vaults/contoso-kv`;
const SEQ = '6d8f2f5e-0b1c-4a52-9a8e-3c8e3f0b7a11';
const az = (name: string) => CLIENT_SETTINGS.find((c) => c.client === name)!.publicSettings;

describe('the CLI\'s extension settings are az\'s', () => {
  it.each([
    ['az vm encryption enable (no KEK, --volume-type ALL)', { volumeType: 'ALL', formatAll: false }],
    ['az vm encryption enable (no KEK, no --volume-type, VM without data disks)', { volumeType: 'OS', formatAll: false }],
    ['az vm encryption enable --key-encryption-key (KEK, --volume-type DATA)', { volumeType: 'DATA', formatAll: false, kekUrl: 'https://contoso-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef' }],
    ['az vm encryption enable --encrypt-format-all (no KEK, --volume-type DATA)', { volumeType: 'DATA', formatAll: true }],
  ])('%s', (name, input) => {
    // the vault's own vaultUri ends in a slash; az's KeyVaultURL does not
    expect(enableSettings({ vaultUri: 'https://contoso-kv.vault.azure.net/', vaultId: VAULT_ID, ...input }, () => SEQ)).toEqual(az(name));
  });
  it.each([
    ['az vm encryption disable (default volume type)', 'DATA'],
    ['az vm encryption disable --volume-type ALL --force', 'ALL'],
  ])('%s', (name, volumeType) => {
    expect(disableSettings(volumeType, () => SEQ)).toEqual(az(name));
  });
  it.each([
    ['az vmss encryption enable (no KEK)', {}],
    ['az vmss encryption enable --key-encryption-key (KEK)', { kekUrl: 'https://contoso-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef' }],
  ])('%s', (name, kek) => {
    expect(scaleSetEnableSettings({ vaultUri: 'https://contoso-kv.vault.azure.net/', vaultId: VAULT_ID, volumeType: 'DATA', formatAll: false, ...kek })).toEqual(az(name));
  });
  it('az vmss encryption disable', () => expect(scaleSetDisableSettings('DATA')).toEqual(az('az vmss encryption disable')));
  it('a fresh SequenceVersion each time, so the agent runs the extension again', () => {
    const a = enableSettings({ vaultUri: 'https://v.vault.azure.net/', vaultId: VAULT_ID, volumeType: 'DATA', formatAll: false });
    const b = enableSettings({ vaultUri: 'https://v.vault.azure.net/', vaultId: VAULT_ID, volumeType: 'DATA', formatAll: false });
    expect(a['SequenceVersion']).toMatch(/^[0-9a-f-]{36}$/);
    expect(a['SequenceVersion']).not.toBe(b['SequenceVersion']);
  });
});

describe('vault and key references', () => {
  it('a vault by name is in the VM\'s resource group; by id, as given', () => {
    expect(vaultRef('contoso-kv', SUB, 'rg-ade')).toEqual({ name: 'contoso-kv', id: VAULT_ID });
    expect(vaultRef('/subscriptions/s2/resourceGroups/other/providers/Microsoft.KeyVault/vaults/kv2', SUB, 'rg-ade')).toEqual({ name: 'kv2', id: '/subscriptions/s2/resourceGroups/other/providers/Microsoft.KeyVault/vaults/kv2' });
  });
  it.each([
    ['https://kv.vault.azure.net/keys/kek/0123', true],
    ['https://kv.vault.azure.net/keys/kek', false],
    ['kek', false],
  ])('isKeyUrl(%s) = %s', (v, want) => expect(isKeyUrl(v)).toBe(want));
});
