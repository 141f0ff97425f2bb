// Which cloud a vault lives in, decided by its DNS suffix: that fixes the Entra ID authority and the token
// scope. Pure.
import { AdeError } from '../shared/errors.ts';

export interface Cloud {
  name: 'AzureCloud' | 'AzureChinaCloud' | 'AzureUSGovernment';
  /** Entra ID authority host, e.g. https://login.microsoftonline.com */
  authorityHost: string;
  /** Every Entra ID host a token request may go to (MSAL's built-in metadata may prefer an alias). */
  tokenHosts: string[];
  /** Token audience, e.g. https://vault.azure.net */
  resource: string;
  /** resource + "/.default" */
  scope: string;
  managedHsm: boolean;
}

const TABLE: { suffix: string; name: Cloud['name']; authorityHost: string; managedHsm: boolean }[] = [
  { suffix: 'vault.azure.net', name: 'AzureCloud', authorityHost: 'https://login.microsoftonline.com', managedHsm: false },
  { suffix: 'managedhsm.azure.net', name: 'AzureCloud', authorityHost: 'https://login.microsoftonline.com', managedHsm: true },
  { suffix: 'vault.azure.cn', name: 'AzureChinaCloud', authorityHost: 'https://login.chinacloudapi.cn', managedHsm: false },
  { suffix: 'managedhsm.azure.cn', name: 'AzureChinaCloud', authorityHost: 'https://login.chinacloudapi.cn', managedHsm: true },
  { suffix: 'vault.usgovcloudapi.net', name: 'AzureUSGovernment', authorityHost: 'https://login.microsoftonline.us', managedHsm: false },
  { suffix: 'managedhsm.usgovcloudapi.net', name: 'AzureUSGovernment', authorityHost: 'https://login.microsoftonline.us', managedHsm: true },
];

/** The cloud of a vault, key or secret URL. `field` names the setting in the error when the host is unknown. */
export function cloudForVault(url: string, field = 'KeyVaultURL'): Cloud {
  let host = '';
  try { host = new URL(url).hostname.toLowerCase(); } catch { /* reported below */ }
  const row = TABLE.find((r) => host.endsWith(`.${r.suffix}`) && host.length > r.suffix.length + 1);
  if (!row || !url.toLowerCase().startsWith('https://')) {
    throw new AdeError('SettingInvalid', {
      field,
      problem: `is "${url}", which is not an https URL of a Key Vault or Managed HSM in a known cloud`,
      fix: `Use https://<name>.${TABLE.map((r) => r.suffix).join(', https://<name>.')}.`,
    });
  }
  const resource = `https://${row.suffix}`;
  const tokenHosts = row.name === 'AzureChinaCloud' ? [row.authorityHost, 'https://login.partner.microsoftonline.cn'] : [row.authorityHost];
  return { name: row.name, authorityHost: row.authorityHost, tokenHosts, resource, scope: `${resource}/.default`, managedHsm: row.managedHsm };
}

/** https://<host>/ of any vault URL (vault, key or secret). */
export function vaultOrigin(url: string): string {
  return `${new URL(url).origin}/`;
}

/** The vault's short name: the first DNS label. */
export function vaultName(url: string): string {
  return new URL(url).hostname.split('.')[0] ?? url;
}

/** Splits https://v.vault.azure.net/{keys|secrets}/name[/version]. */
export function parseItemUrl(url: string, kind: 'keys' | 'secrets', field: string): { origin: string; name: string; version?: string } {
  let u: URL | undefined;
  try { u = new URL(url); } catch { /* below */ }
  const parts = u ? u.pathname.split('/').filter(Boolean) : [];
  if (!u || parts[0] !== kind || !parts[1] || parts.length > 3) {
    throw new AdeError('SettingInvalid', { field, problem: `is "${url}", not a Key Vault ${kind === 'keys' ? 'key' : 'secret'} URL`, fix: `Give https://<vault>/${kind}/<name>/<version>.` });
  }
  return { origin: `${u.origin}/`, name: parts[1], ...(parts[2] ? { version: parts[2] } : {}) };
}
