// `ade-linux template`: the extension resource as an ARM template (deployable as it is: parameters for what
// differs per VM) or a Bicep resource, shaped as Microsoft's quickstart encrypt-running-linux-vm-without-aad
// shapes ADE's: KeyVaultURL from the vault's own vaultUri, no SequenceVersion (forceUpdateTag makes a
// redeployment run the extension again), typeHandlerVersion 1.1 with autoUpgradeMinorVersion. Pure.
import { DEFAULT_PUBLISHER, DEFAULT_TYPE, TYPE_HANDLER_VERSION } from './settings.ts';

export interface TemplateInput {
  publisher?: string;
  type?: string;
  vaultName?: string;
  kekUrl?: string;
  algorithm?: string;
  volumeType?: string;
  formatAll?: boolean;
}

const API = '2024-07-01';

export function armTemplate(t: TemplateInput): Record<string, unknown> {
  const type = t.type ?? DEFAULT_TYPE;
  return {
    $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    contentVersion: '1.0.0.0',
    parameters: {
      vmName: { type: 'string', metadata: { description: 'The Linux VM whose disks are encrypted.' } },
      keyVaultName: { type: 'string', ...(t.vaultName ? { defaultValue: t.vaultName } : {}), metadata: { description: 'Vault that keeps the disk keys (enabledForDiskEncryption, the VM\'s region).' } },
      keyVaultResourceGroup: { type: 'string', defaultValue: '[resourceGroup().name]' },
      keyEncryptionKeyURL: { type: 'string', defaultValue: t.kekUrl ?? '', metadata: { description: 'Versioned URL of the key encryption key; empty for none.' } },
      keyEncryptionAlgorithm: { type: 'string', defaultValue: t.algorithm ?? 'RSA-OAEP', allowedValues: ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] },
      volumeType: { type: 'string', defaultValue: t.volumeType ?? 'Data', allowedValues: ['OS', 'Data', 'All', 'DATA', 'ALL'] },
      forceUpdateTag: { type: 'string', defaultValue: '[newGuid()]', metadata: { description: 'A new value makes a redeployment run the extension again.' } },
    },
    variables: {
      vaultId: "[resourceId(parameters('keyVaultResourceGroup'), 'Microsoft.KeyVault/vaults', parameters('keyVaultName'))]",
    },
    resources: [{
      type: 'Microsoft.Compute/virtualMachines/extensions',
      apiVersion: API,
      name: `[format('{0}/${type}', parameters('vmName'))]`,
      location: '[resourceGroup().location]',
      properties: {
        publisher: t.publisher ?? DEFAULT_PUBLISHER,
        type,
        typeHandlerVersion: TYPE_HANDLER_VERSION,
        autoUpgradeMinorVersion: true,
        forceUpdateTag: "[parameters('forceUpdateTag')]",
        settings: {
          EncryptionOperation: t.formatAll ? 'EnableEncryptionFormatAll' : 'EnableEncryption',
          KeyVaultURL: "[reference(variables('vaultId'), '2023-07-01').vaultUri]",
          KeyVaultResourceId: "[variables('vaultId')]",
          KeyEncryptionKeyURL: "[parameters('keyEncryptionKeyURL')]",
          KekVaultResourceId: "[if(empty(parameters('keyEncryptionKeyURL')), '', variables('vaultId'))]",
          KeyEncryptionAlgorithm: "[parameters('keyEncryptionAlgorithm')]",
          VolumeType: "[parameters('volumeType')]",
        },
      },
    }],
    outputs: {
      extensionId: { type: 'string', value: `[resourceId('Microsoft.Compute/virtualMachines/extensions', parameters('vmName'), '${type}')]` },
    },
  };
}

export function bicep(t: TemplateInput): string {
  const type = t.type ?? DEFAULT_TYPE;
  return `param vmName string
param keyVaultName string${t.vaultName ? ` = '${t.vaultName}'` : ''}
param keyEncryptionKeyURL string = '${t.kekUrl ?? ''}'
@allowed(['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'])
param keyEncryptionAlgorithm string = '${t.algorithm ?? 'RSA-OAEP'}'
param volumeType string = '${t.volumeType ?? 'Data'}'
param forceUpdateTag string = newGuid()

resource vm 'Microsoft.Compute/virtualMachines@${API}' existing = {
  name: vmName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource diskEncryption 'Microsoft.Compute/virtualMachines/extensions@${API}' = {
  parent: vm
  name: '${type}'
  location: resourceGroup().location
  properties: {
    publisher: '${t.publisher ?? DEFAULT_PUBLISHER}'
    type: '${type}'
    typeHandlerVersion: '${TYPE_HANDLER_VERSION}'
    autoUpgradeMinorVersion: true
    forceUpdateTag: forceUpdateTag
    settings: {
      EncryptionOperation: '${t.formatAll ? 'EnableEncryptionFormatAll' : 'EnableEncryption'}'
      KeyVaultURL: vault.properties.vaultUri
      KeyVaultResourceId: vault.id
      KeyEncryptionKeyURL: keyEncryptionKeyURL
      KekVaultResourceId: empty(keyEncryptionKeyURL) ? '' : vault.id
      KeyEncryptionAlgorithm: keyEncryptionAlgorithm
      VolumeType: volumeType
    }
  }
}
`;
}
