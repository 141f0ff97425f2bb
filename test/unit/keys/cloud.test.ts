import { describe, expect, it } from 'vitest';
import { AdeError } from '../../../src/shared/errors.ts';
import { cloudForVault, parseItemUrl, vaultName, vaultOrigin } from '../../../src/keys/cloud.ts';

describe('cloudForVault', () => {
  it.each([
    ['https://v1.vault.azure.net/', 'AzureCloud', 'https://login.microsoftonline.com', 'https://vault.azure.net', false],
    ['https://h1.managedhsm.azure.net/', 'AzureCloud', 'https://login.microsoftonline.com', 'https://managedhsm.azure.net', true],
    ['https://v1.vault.azure.cn/', 'AzureChinaCloud', 'https://login.chinacloudapi.cn', 'https://vault.azure.cn', false],
    ['https://h1.managedhsm.azure.cn/', 'AzureChinaCloud', 'https://login.chinacloudapi.cn', 'https://managedhsm.azure.cn', true],
    ['https://v1.vault.usgovcloudapi.net/', 'AzureUSGovernment', 'https://login.microsoftonline.us', 'https://vault.usgovcloudapi.net', false],
    ['https://h1.managedhsm.usgovcloudapi.net/keys/k/1', 'AzureUSGovernment', 'https://login.microsoftonline.us', 'https://managedhsm.usgovcloudapi.net', true],
  ])('%s → %s', (url, name, authority, resource, hsm) => {
    const c = cloudForVault(url);
    expect(c).toMatchObject({ name, authorityHost: authority, resource, scope: `${resource}/.default`, managedHsm: hsm });
  });

  it('China cloud token requests may also go to MSAL\'s preferred alias', () => {
    expect(cloudForVault('https://v.vault.azure.cn/').tokenHosts).toEqual(['https://login.chinacloudapi.cn', 'https://login.partner.microsoftonline.cn']);
    expect(cloudForVault('https://v.vault.azure.net/').tokenHosts).toEqual(['https://login.microsoftonline.com']);
  });

  it.each(['https://evil.example.com/', 'http://v.vault.azure.net/', 'https://vault.azure.net/', 'https://v.vault.azure.net.evil.com/', 'not a url'])('refuses %s with SettingInvalid naming the field', (url) => {
    const e = (() => { try { cloudForVault(url, 'KeyEncryptionKeyURL'); } catch (x) { return x; } return undefined; })();
    expect(e).toBeInstanceOf(AdeError);
    expect((e as AdeError).code).toBe(204);
    expect((e as AdeError).message).toContain(`KeyEncryptionKeyURL is "${url}"`);
  });
});

describe('item URLs', () => {
  it('splits key and secret URLs', () => {
    expect(parseItemUrl('https://v.vault.azure.net/keys/kek/abc', 'keys', 'f')).toEqual({ origin: 'https://v.vault.azure.net/', name: 'kek', version: 'abc' });
    expect(parseItemUrl('https://v.vault.azure.net/secrets/s1', 'secrets', 'f')).toEqual({ origin: 'https://v.vault.azure.net/', name: 's1' });
    expect(() => parseItemUrl('https://v.vault.azure.net/secrets/s1/v', 'keys', 'KeyEncryptionKeyURL')).toThrow(/KeyEncryptionKeyURL is "https:\/\/v.vault.azure.net\/secrets\/s1\/v", not a Key Vault key URL/);
    expect(vaultName('https://myvault.vault.azure.net/keys/a/b')).toBe('myvault');
    expect(vaultOrigin('https://myvault.vault.azure.net/keys/a/b')).toBe('https://myvault.vault.azure.net/');
  });
});
