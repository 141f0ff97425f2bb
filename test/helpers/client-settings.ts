// Public settings exactly as real clients send them to AzureDiskEncryptionForLinux 1.1 (no AAD), read from the
// clients' public source. Every key the client writes is kept, with null / "" / absent as the client produces them.
// Only placeholder values differ (vault, subscription, resource group, KEK, GUIDs):
//   vault contoso-kv, subscription 00000000-1111-2222-3333-444444444444, resource group rg-ade,
//   KEK https://contoso-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef,
//   SequenceVersion 6d8f2f5e-0b1c-4a52-9a8e-3c8e3f0b7a11 wherever the client generates a GUID.
// `expect` is what the extension should take from each one: the operation, the canonical volume type
// (OS | Data | All) and whether a KEK is in use.
//
// Two things to keep in mind:
// - az sends KeyVaultURL WITHOUT a trailing slash ('https://' + name + cloud.suffixes.keyvault_dns, and that suffix is
//   '.vault.azure.net'). The current VMSS quickstart builds it the same way from environment().suffixes.keyvaultDns.
//   PowerShell passes whatever the user gives it (usually $vault.VaultUri, which ends in '/'), and ARM's
//   reference(...).vaultUri also ends in '/'.
// - What is recorded is the JSON body the client sends. msrest/azure-core serialize_object writes None dict values as
//   JSON null and str(uuid.UUID) for the uuid (lower-case, hyphenated). Whether CRP passes nulls through to the
//   guest unchanged is not something this source shows.

const SUB = '00000000-1111-2222-3333-444444444444';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-ade/providers/Microsoft.KeyVault/vaults/contoso-kv`;
/** Form az builds: get_key_vault_base_url() -> 'https://{}{}'.format(vault_name, '.vault.azure.net') (no slash). */
const VAULT_URL_NO_SLASH = 'https://contoso-kv.vault.azure.net';
/** Form of Key Vault's own properties.vaultUri (PowerShell $vault.VaultUri, ARM reference(...).vaultUri). */
const VAULT_URI = 'https://contoso-kv.vault.azure.net/';
const KEK_URL = 'https://contoso-kv.vault.azure.net/keys/kek1/0123456789abcdef0123456789abcdef';
const SEQ = '6d8f2f5e-0b1c-4a52-9a8e-3c8e3f0b7a11';

export interface ClientSettingsCase {
  client: string;
  /** Repository + path (+ function) read, with the commit of the stored copy where known. */
  source: string;
  publicSettings: Record<string, unknown>;
  expect: { operation: string; volumeType: string; kek: boolean };
}

const AZ_DE = 'Azure/azure-cli src/azure-cli/azure/cli/command_modules/vm/disk_encryption.py @058c5c8bedeb6507a19fcb535531b577c1d26a98';
const PS_VM = 'Azure/azure-powershell src/Compute/Compute/Extension/AzureDiskEncryption/SetAzureDiskEncryptionExtension.cs GetExtensionPublicSettings @0048dd9355ce2e2276d786acd35d6a3a7e8697e4 (same at @6706dfa687fa0291772ff2b4a338579219bf0472); keys from AzureDiskEncryptionExtensionConstants.cs @56907b255b00c97b0c7800d39d91eaa70d492680';
const PS_VMSS = 'Azure/azure-powershell src/Compute/Compute/Extension/VmssDiskEncryption/SetAzureVmssDiskEncryptionExtension.cs GetExtensionPublicSettings @081d6346913682e4efb4503703114cec8d0c6925; GetVolumeType in src/Compute/Compute/Extension/VirtualMachineScaleSetExtensionBaseCmdlet.cs @481f488c6f873a83275b1cbf50927e2cbaf932a5';
const QS_VM = 'Azure/azure-quickstart-templates quickstarts/microsoft.compute/encrypt-running-linux-vm-without-aad/azuredeploy.json @3154f5329c6550fe5fb17727b542276adba12058';
const QS_VMSS = 'Azure/azure-quickstart-templates quickstarts/microsoft.compute/encrypt-running-vmss-linux/azuredeploy.json';

export const CLIENT_SETTINGS: ClientSettingsCase[] = [
  // ---------------------------------------------------------------- az vm encryption enable (encrypt_vm)
  // disk_encryption.py encrypt_vm (use_new_ade = not aad_client_id and not has_old_ade):
  //   key_encryption_key=None, key_encryption_algorithm='RSA-OAEP', volume_type=None, encrypt_format_all=False,
  //   sequence_version = uuid.uuid4()
  //   disk_encryption_keyvault_url = get_key_vault_base_url(cmd.cli_ctx, (parse_resource_id(disk_encryption_keyvault))['name'])
  //   public_config = {
  //       'KeyVaultURL': disk_encryption_keyvault_url,
  //       'VolumeType': volume_type,
  //       'EncryptionOperation': 'EnableEncryption' if not encrypt_format_all else 'EnableEncryptionFormatAll',
  //       'KeyEncryptionKeyURL': key_encryption_key,
  //       'KeyEncryptionAlgorithm': key_encryption_algorithm,
  //       'SequenceVersion': sequence_version,
  //   }
  //   if use_new_ade:
  //       public_config.update({
  //           "KeyVaultResourceId": disk_encryption_keyvault,
  //           "KekVaultResourceId": key_encryption_keyvault if key_encryption_key else '',
  //       })
  // _vm_utils.py @0088c878b2ee9514b99eda3da2912257494cb3ee: def get_key_vault_base_url(cli_ctx, vault_name):
  //   suffix = cli_ctx.cloud.suffixes.keyvault_dns; return 'https://{}{}'.format(vault_name, suffix)
  //   (azure-cli-core cloud.py, AzureCloud: keyvault_dns='.vault.azure.net')
  // _params.py: c.argument('volume_type', ..., arg_type=get_enum_type(['DATA', 'OS', 'ALL'])) -- get_enum_type maps
  //   any case the user types onto the listed choice, so az always sends 'DATA' / 'OS' / 'ALL' (upper case).
  // _validators.py process_disk_encryption_namespace: --disk-encryption-keyvault given by name becomes the resource
  //   id via _get_resource_id(..., 'vaults', 'Microsoft.KeyVault').
  // Here: az vm encryption enable -g rg-ade -n vm1 --disk-encryption-keyvault contoso-kv --volume-type all
  //   KeyEncryptionKeyURL is None -> JSON null; KeyEncryptionAlgorithm is still 'RSA-OAEP' with no KEK.
  {
    client: 'az vm encryption enable (no KEK, --volume-type ALL)',
    source: `${AZ_DE} encrypt_vm`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      VolumeType: 'ALL',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionKeyURL: null,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      SequenceVersion: SEQ,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: '',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'All', kek: false },
  },
  // encrypt_vm, no --volume-type on a Linux VM without data disks:
  //   if volume_type is None:
  //       if not is_linux: volume_type = _ALL_VOLUME_TYPE
  //       elif vm.storage_profile.data_disks: raise CLIError('VM has data disks, please supply --volume-type')
  //       else: volume_type = 'OS'
  {
    client: 'az vm encryption enable (no KEK, no --volume-type, VM without data disks)',
    source: `${AZ_DE} encrypt_vm`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      VolumeType: 'OS',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionKeyURL: null,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      SequenceVersion: SEQ,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: '',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'OS', kek: false },
  },
  // encrypt_vm with --key-encryption-key <full key URL> and no --key-encryption-keyvault:
  //   if key_encryption_key:
  //       key_encryption_keyvault = key_encryption_keyvault or disk_encryption_keyvault
  //   if key_encryption_key and '://' not in key_encryption_key:  # if key name and not key url
  //       key_encryption_key = _get_keyvault_key_url(...)   # -> client.get_key(key_name).id (versioned kid)
  //   "KekVaultResourceId": key_encryption_keyvault if key_encryption_key else '',
  {
    client: 'az vm encryption enable --key-encryption-key (KEK, --volume-type DATA)',
    source: `${AZ_DE} encrypt_vm`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      VolumeType: 'DATA',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionKeyURL: KEK_URL,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      SequenceVersion: SEQ,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: VAULT_ID,
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: true },
  },
  // encrypt_vm with --encrypt-format-all:
  //   'EncryptionOperation': 'EnableEncryption' if not encrypt_format_all else 'EnableEncryptionFormatAll',
  {
    client: 'az vm encryption enable --encrypt-format-all (no KEK, --volume-type DATA)',
    source: `${AZ_DE} encrypt_vm`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      VolumeType: 'DATA',
      EncryptionOperation: 'EnableEncryptionFormatAll',
      KeyEncryptionKeyURL: null,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      SequenceVersion: SEQ,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: '',
    },
    expect: { operation: 'EnableEncryptionFormatAll', volumeType: 'Data', kek: false },
  },

  // ---------------------------------------------------------------- az vm encryption disable (decrypt_vm)
  // disk_encryption.py decrypt_vm:
  //   if is_linux:
  //       if volume_type:
  //           if not force and volume_type != _DATA_VOLUME_TYPE: raise CLIError("Only Data disks can have encryption disabled in a Linux VM. ...")
  //       else:
  //           volume_type = _DATA_VOLUME_TYPE          # 'DATA'
  //   sequence_version = uuid.uuid4()
  //   public_config = {
  //       'VolumeType': volume_type,
  //       'EncryptionOperation': 'DisableEncryption',
  //       'SequenceVersion': sequence_version,
  //   }
  // No KeyVaultURL / KeyVaultResourceId / KEK keys at all.
  {
    client: 'az vm encryption disable (default volume type)',
    source: `${AZ_DE} decrypt_vm`,
    publicSettings: { VolumeType: 'DATA', EncryptionOperation: 'DisableEncryption', SequenceVersion: SEQ },
    expect: { operation: 'DisableEncryption', volumeType: 'Data', kek: false },
  },
  // Same, with --volume-type ALL --force (the only way az sends anything but DATA for a Linux disable).
  {
    client: 'az vm encryption disable --volume-type ALL --force',
    source: `${AZ_DE} decrypt_vm`,
    publicSettings: { VolumeType: 'ALL', EncryptionOperation: 'DisableEncryption', SequenceVersion: SEQ },
    expect: { operation: 'DisableEncryption', volumeType: 'All', kek: false },
  },

  // ---------------------------------------------------------------- az vmss encryption enable (encrypt_vmss)
  // disk_encryption.py encrypt_vmss (key_encryption_algorithm='RSA-OAEP', volume_type=None):
  //   volume_type = _handles_default_volume_type_for_vmss_encryption(is_linux, volume_type, force)
  //       -> Linux: volume_type = volume_type or _DATA_VOLUME_TYPE; anything else needs --force
  //   public_config = {
  //       'KeyVaultURL': disk_encryption_keyvault_url,
  //       'KeyEncryptionKeyURL': key_encryption_key or '',
  //       "KeyVaultResourceId": disk_encryption_keyvault,
  //       "KekVaultResourceId": key_encryption_keyvault if key_encryption_key else '',
  //       'KeyEncryptionAlgorithm': key_encryption_algorithm if key_encryption_key else '',
  //       'VolumeType': volume_type,
  //       'EncryptionOperation': 'EnableEncryption'
  //   }
  // No SequenceVersion (the VMSS extension gets force_update_tag=uuid.uuid4() instead, outside settings).
  {
    client: 'az vmss encryption enable (no KEK)',
    source: `${AZ_DE} encrypt_vmss`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      KeyEncryptionKeyURL: '',
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: '',
      KeyEncryptionAlgorithm: '',
      VolumeType: 'DATA',
      EncryptionOperation: 'EnableEncryption',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: false },
  },
  {
    client: 'az vmss encryption enable --key-encryption-key (KEK)',
    source: `${AZ_DE} encrypt_vmss`,
    publicSettings: {
      KeyVaultURL: VAULT_URL_NO_SLASH,
      KeyEncryptionKeyURL: KEK_URL,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: VAULT_ID,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      VolumeType: 'DATA',
      EncryptionOperation: 'EnableEncryption',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: true },
  },

  // ---------------------------------------------------------------- az vmss encryption disable (decrypt_vmss)
  // disk_encryption.py decrypt_vmss:
  //   volume_type = _handles_default_volume_type_for_vmss_encryption(is_linux, volume_type, force)
  //   public_config = {
  //       'VolumeType': volume_type,
  //       'EncryptionOperation': 'DisableEncryption',
  //   }
  // No SequenceVersion.
  {
    client: 'az vmss encryption disable',
    source: `${AZ_DE} decrypt_vmss`,
    publicSettings: { VolumeType: 'DATA', EncryptionOperation: 'DisableEncryption' },
    expect: { operation: 'DisableEncryption', volumeType: 'Data', kek: false },
  },

  // ---------------------------------------------------------------- Set-AzVMDiskEncryptionExtension (single pass)
  // SetAzureDiskEncryptionExtension.cs GetExtensionPublicSettings():
  //   publicSettings.Add(aadClientIDKey, AadClientID ?? String.Empty);
  //   publicSettings.Add(aadClientCertThumbprintKey, AadClientCertThumbprint ?? String.Empty);
  //   publicSettings.Add(keyVaultResourceIdKey, DiskEncryptionKeyVaultId ?? string.Empty);
  //   publicSettings.Add(keyVaultUrlKey, DiskEncryptionKeyVaultUrl ?? String.Empty);
  //   publicSettings.Add(kekVaultResourceIdKey, KeyEncryptionKeyVaultId ?? string.Empty);
  //   publicSettings.Add(keyEncryptionKeyUrlKey, KeyEncryptionKeyUrl ?? String.Empty);
  //   publicSettings.Add(volumeTypeKey, VolumeType ?? String.Empty);
  //   publicSettings.Add(sequenceVersionKey, SequenceVersion ?? String.Empty);
  //   ... encryptionOperationKey: EncryptFormatAll.IsPresent ? "EnableEncryptionFormatAll" : "EnableEncryption"
  //   string keyEncryptAlgorithm = string.Empty;
  //   if (!string.IsNullOrEmpty(this.KeyEncryptionKeyUrl)) { keyEncryptAlgorithm = KeyEncryptionAlgorithm or "RSA-OAEP" }
  //   publicSettings.Add(keyEncryptionAlgorithmKey, keyEncryptAlgorithm);
  // AzureDiskEncryptionExtensionConstants.cs: "AADClientID", "AADClientCertThumbprint", "KeyVaultResourceId",
  //   "KeyVaultURL", "KekVaultResourceId", "KeyEncryptionKeyURL", "VolumeType", "SequenceVersion",
  //   "EncryptionOperation", "KeyEncryptionAlgorithm"
  // [ValidateSet("OS", "Data", "All")] on -VolumeType (AzureDiskEncryptionExtensionContext.cs
  //   @91b50f830011dfa03f6c0b6a315f17a69af1f68e); ValidateSet ignores case but passes the text through as typed.
  // -DiskEncryptionKeyVaultUrl is used verbatim; the documented value is $KeyVault.VaultUri (trailing '/').
  // -SequenceVersion is optional with no default, so it is "" unless the user passes one.
  // Protected settings (not recorded here) are {"AADClientSecret": "", "Passphrase": null} on Linux.
  // Here: Set-AzVMDiskEncryptionExtension -ResourceGroupName rg-ade -VMName vm1 -DiskEncryptionKeyVaultUrl $kv.VaultUri
  //         -DiskEncryptionKeyVaultId $kv.ResourceId -VolumeType All -SkipVmBackup
  {
    client: 'Set-AzVMDiskEncryptionExtension (no KEK, -VolumeType All)',
    source: PS_VM,
    publicSettings: {
      AADClientID: '',
      AADClientCertThumbprint: '',
      KeyVaultResourceId: VAULT_ID,
      KeyVaultURL: VAULT_URI,
      KekVaultResourceId: '',
      KeyEncryptionKeyURL: '',
      VolumeType: 'All',
      SequenceVersion: '',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: '',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'All', kek: false },
  },
  // ... -KeyEncryptionKeyUrl $kek.Key.Kid -KeyEncryptionKeyVaultId $kv.ResourceId -VolumeType Data
  //   (no -KeyEncryptionAlgorithm -> defaultKeyEncryptionAlgorithm = "RSA-OAEP")
  {
    client: 'Set-AzVMDiskEncryptionExtension -KeyEncryptionKeyUrl (KEK, -VolumeType Data)',
    source: PS_VM,
    publicSettings: {
      AADClientID: '',
      AADClientCertThumbprint: '',
      KeyVaultResourceId: VAULT_ID,
      KeyVaultURL: VAULT_URI,
      KekVaultResourceId: VAULT_ID,
      KeyEncryptionKeyURL: KEK_URL,
      VolumeType: 'Data',
      SequenceVersion: '',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: 'RSA-OAEP',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: true },
  },
  // ... -EncryptFormatAll -VolumeType Data (no KEK)
  {
    client: 'Set-AzVMDiskEncryptionExtension -EncryptFormatAll (no KEK, -VolumeType Data)',
    source: PS_VM,
    publicSettings: {
      AADClientID: '',
      AADClientCertThumbprint: '',
      KeyVaultResourceId: VAULT_ID,
      KeyVaultURL: VAULT_URI,
      KekVaultResourceId: '',
      KeyEncryptionKeyURL: '',
      VolumeType: 'Data',
      SequenceVersion: '',
      EncryptionOperation: 'EnableEncryptionFormatAll',
      KeyEncryptionAlgorithm: '',
    },
    expect: { operation: 'EnableEncryptionFormatAll', volumeType: 'Data', kek: false },
  },
  // ... -VolumeType data  (ValidateSet accepts it; the cmdlet never canonicalises, so 'data' is sent as typed)
  {
    client: 'Set-AzVMDiskEncryptionExtension (no KEK, -VolumeType typed as "data")',
    source: PS_VM,
    publicSettings: {
      AADClientID: '',
      AADClientCertThumbprint: '',
      KeyVaultResourceId: VAULT_ID,
      KeyVaultURL: VAULT_URI,
      KekVaultResourceId: '',
      KeyEncryptionKeyURL: '',
      VolumeType: 'data',
      SequenceVersion: '',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: '',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: false },
  },

  // ---------------------------------------------------------------- Disable-AzVMDiskEncryption
  // Azure/azure-powershell src/Compute/Compute/Extension/AzureDiskEncryption/DisableAzureDiskEncryption.cs
  //   GetExtensionPublicSettings():
  //     string sequenceVersion = Guid.NewGuid().ToString();
  //     publicSettings.Add(volumeTypeKey, VolumeType ?? String.Empty);
  //     publicSettings.Add(encryptionOperationKey, disableEncryptionOperation);   // "DisableEncryption"
  //     publicSettings.Add(sequenceVersionKey, sequenceVersion);
  //   GetExtensionProtectedSettings() { return null; }
  //   ExecuteCmdlet: if (Linux && !"Data".Equals(VolumeType, StringComparison.InvariantCultureIgnoreCase))
  //       ThrowTerminatingError(... "Disabling encryption is only allowed on Data volumes for Linux VMs.")
  // So on Linux -VolumeType must be given and is Data in some case; sent as typed.
  {
    client: 'Disable-AzVMDiskEncryption -VolumeType Data',
    source: 'Azure/azure-powershell src/Compute/Compute/Extension/AzureDiskEncryption/DisableAzureDiskEncryption.cs GetExtensionPublicSettings @2604f7e67da19f305b26fe5c7fdcf99d1f52235c (same at @27535de7662e4a0ee1dfad9d20156ea1bf47752d)',
    publicSettings: { VolumeType: 'Data', EncryptionOperation: 'DisableEncryption', SequenceVersion: SEQ },
    expect: { operation: 'DisableEncryption', volumeType: 'Data', kek: false },
  },

  // ---------------------------------------------------------------- Set-AzVmssDiskEncryptionExtension
  // SetAzureVmssDiskEncryptionExtension.cs GetExtensionPublicSettings():
  //   publicSettings.Add(keyVaultUrlKey, DiskEncryptionKeyVaultUrl ?? string.Empty);
  //   publicSettings.Add(keyEncryptionKeyUrlKey, KeyEncryptionKeyUrl ?? string.Empty);
  //   publicSettings.Add(keyVaultResourceIdKey, DiskEncryptionKeyVaultId ?? string.Empty);
  //   publicSettings.Add(kekVaultResourceIdKey, KeyEncryptionKeyVaultId ?? string.Empty);
  //   publicSettings.Add(volumeTypeKey, VolumeType ?? string.Empty);
  //   ... EncryptionOperation as for the VM cmdlet; KeyEncryptionAlgorithm "" unless a KEK URL is given
  // ExecuteCmdlet: this.VolumeType = GetVolumeType(this.VolumeType, ...);
  // VirtualMachineScaleSetExtensionBaseCmdlet.GetVolumeType: if (string.IsNullOrWhiteSpace(VolumeType))
  //   return Windows ? "All" : "Data";
  // VerifyVolumeType: if (Linux && this.VolumeType.Equals("OS")) -> error (case-sensitive, so "All" passes).
  // No AADClientID / AADClientCertThumbprint / SequenceVersion keys. Protected settings on Linux: {"Passphrase": null}.
  {
    client: 'Set-AzVmssDiskEncryptionExtension (no KEK, no -VolumeType)',
    source: PS_VMSS,
    publicSettings: {
      KeyVaultURL: VAULT_URI,
      KeyEncryptionKeyURL: '',
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: '',
      VolumeType: 'Data',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: '',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: false },
  },
  {
    client: 'Set-AzVmssDiskEncryptionExtension -KeyEncryptionKeyUrl (KEK, no -VolumeType)',
    source: PS_VMSS,
    publicSettings: {
      KeyVaultURL: VAULT_URI,
      KeyEncryptionKeyURL: KEK_URL,
      KeyVaultResourceId: VAULT_ID,
      KekVaultResourceId: VAULT_ID,
      VolumeType: 'Data',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: 'RSA-OAEP',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: true },
  },

  // ---------------------------------------------------------------- Disable-AzVmssDiskEncryption
  // Azure/azure-powershell src/Compute/Compute/Extension/VmssDiskEncryption/DisableAzureVmssDiskEncryption.cs:
  //   this.VolumeType = GetVolumeType(this.VolumeType, vmss.VirtualMachineProfile.StorageProfile);   // Linux -> "Data"
  //   ext.Settings = GetDisalbeEncryptionSetting(); ext.ProtectedSettings = null;
  //   GetDisalbeEncryptionSetting(): Add(volumeTypeKey, this.VolumeType ?? string.Empty);
  //                                  Add(encryptionOperationKey, disableEncryptionOperation);
  // No SequenceVersion.
  {
    client: 'Disable-AzVmssDiskEncryption (no -VolumeType)',
    source: 'Azure/azure-powershell src/Compute/Compute/Extension/VmssDiskEncryption/DisableAzureVmssDiskEncryption.cs GetDisalbeEncryptionSetting @0075f7a54ef7b9bffeca907d499579fe6f2885f3',
    publicSettings: { VolumeType: 'Data', EncryptionOperation: 'DisableEncryption' },
    expect: { operation: 'DisableEncryption', volumeType: 'Data', kek: false },
  },

  // ---------------------------------------------------------------- quickstart: encrypt-running-linux-vm-without-aad
  // parameters: keyEncryptionKeyURL defaultValue "", volumeType defaultValue "All", forceUpdateTag "1.0"
  // variables: "encryptionOperation": "EnableEncryption", "keyEncryptionAlgorithm": "RSA-OAEP",
  //   "keyVaultResourceID": "[resourceId(parameters('keyVaultResourceGroup'), 'Microsoft.KeyVault/vaults/', parameters('keyVaultName'))]"
  // "settings": {
  //     "EncryptionOperation": "[variables('encryptionOperation')]",
  //     "KeyVaultURL": "[reference(variables('keyVaultResourceId'),'2016-10-01').vaultUri]",
  //     "KeyVaultResourceId": "[variables('keyVaultResourceID')]",
  //     "KeyEncryptionKeyURL": "[parameters('keyEncryptionKeyURL')]",
  //     "KekVaultResourceId": "[if(empty(parameters('keyEncryptionKeyURL')),'',variables('keyVaultResourceID'))]",
  //     "KeyEncryptionAlgorithm": "[variables('keyEncryptionAlgorithm')]",
  //     "VolumeType": "[parameters('volumeType')]"
  // }
  // Unresolvable here: reference(...).vaultUri is the vault's properties.vaultUri, i.e. https://<vault>.vault.azure.net/
  // (with the slash). resourceId(...) is taken as the usual /subscriptions/<deployment sub>/resourceGroups/<rg>/providers/
  // Microsoft.KeyVault/vaults/<name>; the trailing '/' in the type argument is assumed to be dropped by ARM (not shown
  // by the template source). No SequenceVersion: reruns are driven by forceUpdateTag outside settings.
  // KeyEncryptionAlgorithm is 'RSA-OAEP' even though there is no KEK.
  {
    client: 'quickstart encrypt-running-linux-vm-without-aad (default parameters, no KEK)',
    source: QS_VM,
    publicSettings: {
      EncryptionOperation: 'EnableEncryption',
      KeyVaultURL: VAULT_URI,
      KeyVaultResourceId: VAULT_ID,
      KeyEncryptionKeyURL: '',
      KekVaultResourceId: '',
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      VolumeType: 'All',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'All', kek: false },
  },
  // No separate "with KEK" Linux quickstart was found; the same template takes the KEK through its optional
  // keyEncryptionKeyURL parameter (the only non-default here), and then KekVaultResourceId = keyVaultResourceID.
  {
    client: 'quickstart encrypt-running-linux-vm-without-aad (keyEncryptionKeyURL set, other parameters default)',
    source: QS_VM,
    publicSettings: {
      EncryptionOperation: 'EnableEncryption',
      KeyVaultURL: VAULT_URI,
      KeyVaultResourceId: VAULT_ID,
      KeyEncryptionKeyURL: KEK_URL,
      KekVaultResourceId: VAULT_ID,
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      VolumeType: 'All',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'All', kek: true },
  },

  // ---------------------------------------------------------------- quickstart: encrypt-running-vmss-linux
  // @f95f330f30e41fc9f2d85a7e32c048aa60811b2b (the later revision: location parameter, apiVersion 2021-04-01):
  //   parameters: keyEncryptionKeyURL "", keyEncryptionAlgorithm "RSA-OAEP", volumeType "Data", forceUpdateTag "1.0"
  //   "keyVaultURL": "[concat('https://', parameters('keyVaultName'), environment().suffixes.keyvaultDns)]",
  //   "keyVaultResourceID": "[resourceId(parameters('keyVaultResourceGroup'),'Microsoft.KeyVault/vaults/', parameters('keyVaultName'))]"
  //   "settings": {
  //       "EncryptionOperation": "[variables('encryptionOperation')]",
  //       "KeyVaultURL": "[variables('keyVaultURL')]",
  //       "KeyVaultResourceId": "[variables('keyVaultResourceID')]",
  //       "KeyEncryptionKeyURL": "[parameters('keyEncryptionKeyURL')]",
  //       "KekVaultResourceId": "[if(empty(parameters('keyEncryptionKeyURL')),'',variables('keyVaultResourceID'))]",
  //       "KeyEncryptionAlgorithm": "[parameters('keyEncryptionAlgorithm')]",
  //       "VolumeType": "[parameters('volumeType')]"
  //   }
  // environment().suffixes.keyvaultDns is ".vault.azure.net" in AzureCloud (ARM docs), so there is no trailing slash.
  {
    client: 'quickstart encrypt-running-vmss-linux (default parameters, no KEK)',
    source: `${QS_VMSS} @f95f330f30e41fc9f2d85a7e32c048aa60811b2b`,
    publicSettings: {
      EncryptionOperation: 'EnableEncryption',
      KeyVaultURL: VAULT_URL_NO_SLASH,
      KeyVaultResourceId: VAULT_ID,
      KeyEncryptionKeyURL: '',
      KekVaultResourceId: '',
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      VolumeType: 'Data',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: false },
  },
  // Earlier revision @4df89783b64fcd8c0f6118712f491aa904beab1b (computeApiVersion 2017-03-30), same settings block but:
  //   "keyVaultURL": "[concat('https://', parameters('keyVaultName'), '.vault.azure.net/')]",
  //   "keyVaultResourceID": "[concat(subscription().id,'/resourceGroups/',parameters('keyVaultResourceGroup'),'/providers/Microsoft.KeyVault/vaults/', parameters('keyVaultName'))]"
  {
    client: 'quickstart encrypt-running-vmss-linux, earlier revision (default parameters, no KEK)',
    source: `${QS_VMSS} @4df89783b64fcd8c0f6118712f491aa904beab1b`,
    publicSettings: {
      EncryptionOperation: 'EnableEncryption',
      KeyVaultURL: VAULT_URI,
      KeyVaultResourceId: VAULT_ID,
      KeyEncryptionKeyURL: '',
      KekVaultResourceId: '',
      KeyEncryptionAlgorithm: 'RSA-OAEP',
      VolumeType: 'Data',
    },
    expect: { operation: 'EnableEncryption', volumeType: 'Data', kek: false },
  },
];

/**
 * Client calls whose settings the clients will send but that have no sound expected outcome. They are kept out of
 * CLIENT_SETTINGS so that loops over it stay simple.
 */
export const CLIENT_SETTINGS_WITHOUT_EXPECTATION: Array<Omit<ClientSettingsCase, 'expect'> & { note: string }> = [
  // SetAzureDiskEncryptionExtension.cs: publicSettings.Add(volumeTypeKey, VolumeType ?? String.Empty);
  // -VolumeType is optional and the VM cmdlet has no default (unlike the VMSS cmdlet's GetVolumeType), so
  // leaving it out sends VolumeType "". Microsoft's extension rejects that: Azure/azure-linux-extensions
  // VMEncryption/main/check_util.py validate_volume_type -> "Unknown Volume Type: , has to be one of ...".
  {
    client: 'Set-AzVMDiskEncryptionExtension (no KEK, no -VolumeType)',
    source: PS_VM,
    publicSettings: {
      AADClientID: '',
      AADClientCertThumbprint: '',
      KeyVaultResourceId: VAULT_ID,
      KeyVaultURL: VAULT_URI,
      KekVaultResourceId: '',
      KeyEncryptionKeyURL: '',
      VolumeType: '',
      SequenceVersion: '',
      EncryptionOperation: 'EnableEncryption',
      KeyEncryptionAlgorithm: '',
    },
    note: 'VolumeType "" reaches the extension; Microsoft ADE for Linux fails it as an unknown volume type.',
  },
];
