// The extension's public settings, built as `az vm encryption enable|disable` builds them (its
// disk_encryption.py; test/helpers/client-settings.ts keeps the exact bodies), so the extension sees the same
// keys from our CLI as from az, PowerShell or a template.
import { randomUUID } from 'node:crypto';

export const DEFAULT_PUBLISHER = 'AdeLinux';
export const DEFAULT_TYPE = 'DiskEncryption';
/** What ADE's clients ask for; with autoUpgradeMinorVersion, any 1.x package satisfies it. */
export const TYPE_HANDLER_VERSION = '1.1';

export interface VaultRef { name: string; id: string }

/** A vault named by resource id, or by name in `defaultGroup` of `subscription`. */
export function vaultRef(value: string, subscription: string, defaultGroup: string): VaultRef {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i.exec(value);
  if (m) return { name: m[3]!, id: value };
  return { name: value, id: `/subscriptions/${subscription}/resourceGroups/${defaultGroup}/providers/Microsoft.KeyVault/vaults/${value}` };
}

export interface EnableInput {
  /** The vault's own URI (properties.vaultUri). */
  vaultUri: string;
  vaultId: string;
  kekUrl?: string;
  kekVaultId?: string;
  algorithm?: string;
  volumeType: string;
  formatAll: boolean;
}

export function enableSettings(i: EnableInput, sequence: () => string = randomUUID): Record<string, string | null> {
  return {
    // az writes https://<name>.vault.azure.net, without the slash vaultUri ends in
    KeyVaultURL: i.vaultUri.replace(/\/+$/, ''),
    VolumeType: i.volumeType,
    EncryptionOperation: i.formatAll ? 'EnableEncryptionFormatAll' : 'EnableEncryption',
    KeyEncryptionKeyURL: i.kekUrl ?? null,
    KeyEncryptionAlgorithm: i.algorithm ?? 'RSA-OAEP',
    SequenceVersion: sequence(),
    KeyVaultResourceId: i.vaultId,
    KekVaultResourceId: i.kekUrl ? (i.kekVaultId ?? i.vaultId) : '',
  };
}

export function disableSettings(volumeType: string, sequence: () => string = randomUUID): Record<string, string> {
  return { VolumeType: volumeType, EncryptionOperation: 'DisableEncryption', SequenceVersion: sequence() };
}

/** The KEK as a versioned URL: a URL is kept, a bare name is resolved in its vault by the caller. */
export function isKeyUrl(value: string): boolean {
  return /^https:\/\/[^/]+\/keys\/[^/]+\/[^/]+$/i.test(value);
}

/**
 * `az vmss encryption enable`'s settings: no SequenceVersion (the scale set's extension gets a fresh
 * forceUpdateTag instead), and '' where the VM form sends null or a default.
 */
export function scaleSetEnableSettings(i: EnableInput): Record<string, string> {
  return {
    KeyVaultURL: i.vaultUri.replace(/\/+$/, ''),
    KeyEncryptionKeyURL: i.kekUrl ?? '',
    KeyVaultResourceId: i.vaultId,
    KekVaultResourceId: i.kekUrl ? (i.kekVaultId ?? i.vaultId) : '',
    KeyEncryptionAlgorithm: i.kekUrl ? (i.algorithm ?? 'RSA-OAEP') : '',
    VolumeType: i.volumeType,
    EncryptionOperation: i.formatAll ? 'EnableEncryptionFormatAll' : 'EnableEncryption',
  };
}

export function scaleSetDisableSettings(volumeType: string): Record<string, string> {
  return { VolumeType: volumeType, EncryptionOperation: 'DisableEncryption' };
}
