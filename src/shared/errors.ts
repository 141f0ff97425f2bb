// The one table of failures. Each has a stable numeric code (ADE's number where ADE had one for the same
// meaning), the status it reports (`error` stops the operation, `warning` lets it go on) and a message that
// names what is wrong and how to fix it. README's error table is generated from this list.

export type ErrorStatus = 'error' | 'warning';
type Params = Record<string, string | number>;

interface Spec {
  code: number;
  status: ErrorStatus;
  /** The message; `{name}` is replaced by params.name. */
  text: string;
}

export const ERRORS = {
  // --- ADE's own codes (Common.py) kept with the same meaning ---
  PassphraseFileNotFound: { code: 15, status: 'error', text: 'The key volume (a vfat disk labelled "BEK VOLUME") holds no key file {file}. Re-run enable so the extension re-attaches the key, or restore the key from Key Vault secret {secret}.' },
  EncryptionFailed: { code: 19, status: 'error', text: 'Encrypting {device} failed: {cause}. The data is intact and the next enable resumes; see {log}.' },
  OsNotSupported: { code: 51, status: 'error', text: '{distro} {version} is not supported: {reason}. Supported: glibc >= 2.28, systemd, cryptsetup >= 2.2 with LUKS2 reencryption (Ubuntu 20.04+, Debian 11+, RHEL/Oracle 8+, SLES 15, Azure Linux 2/3).' },
  MissingDependency: { code: 52, status: 'error', text: 'Required {what} is missing: {detail}. Install it ({fix}) and run enable again.' },
  UnsupportedOperation: { code: 53, status: 'error', text: 'EncryptionOperation "{value}" is not supported. Use one of: EnableEncryption, EnableEncryptionFormatAll, DisableEncryption, QueryEncryptionStatus.' },
  NotYetSupported: { code: 54, status: 'error', text: '{operation} for VolumeType {volumeType} is not supported by this version ({version}) yet. Nothing was changed; use QueryEncryptionStatus to see the disks.' },
  Unknown: { code: 100, status: 'error', text: 'Unexpected failure: {cause}. Nothing further was changed; see {log} and report it.' },

  // --- handler environment and settings (2xx) ---
  HandlerEnvironmentInvalid: { code: 201, status: 'error', text: 'HandlerEnvironment.json at {path} is unusable: {cause}. It is written by the Azure guest agent; reinstall the extension.' },
  SettingsUnreadable: { code: 202, status: 'error', text: 'Settings file {path} is not valid JSON ({cause}). Re-deploy the extension with valid settings.' },
  SettingMissing: { code: 203, status: 'error', text: '{field} is required for {operation}. {fix}' },
  SettingInvalid: { code: 204, status: 'error', text: '{field} {problem}. {fix}' },
  SettingCaseTypo: { code: 205, status: 'error', text: '{field} differs from the setting {known} only in the case of its letters, and names are case-sensitive: as written it would be ignored. Rename it to {known}.' },
  VaultNameMismatch: { code: 206, status: 'error', text: '{urlField} names vault "{urlVault}" but {idField} names vault "{idVault}". Give the URL and the resource id of the same vault.' },
  KekVaultIdMissing: { code: 207, status: 'error', text: 'KeyEncryptionKeyURL is set but KekVaultResourceId is missing. Add the resource id of the vault that holds the key encryption key.' },
  KekUrlMissing: { code: 208, status: 'error', text: 'KekVaultResourceId is set but KeyEncryptionKeyURL is missing. Add the versioned key URL (https://<vault>.vault.azure.net/keys/<name>/<version>) or remove KekVaultResourceId.' },
  ProtectedSettingsUndecryptable: { code: 209, status: 'error', text: 'Protected settings could not be decrypted with certificate {thumbprint} ({cause}). The agent keeps it as {path}; redeploy the extension so the agent delivers the certificate again.' },
  AadCredentialConflict: { code: 210, status: 'error', text: 'Both AADClientSecret and AADClientCertThumbprint were supplied. Give exactly one credential for AADClientID.' },
  AadCredentialMissing: { code: 211, status: 'error', text: 'AADClientID is set but neither AADClientSecret (protected settings) nor AADClientCertThumbprint is. Give one, or remove AADClientID to use the VM\'s managed identity.' },
  VolumeTypeChangeNotAllowed: { code: 212, status: 'error', text: 'VolumeType cannot change from {from} to {to} while volumes are encrypted; only a change to All is allowed.' },
  OperationInProgress: { code: 213, status: 'error', text: 'Operation {running} (sequence {seq}) is still running on this VM. Wait for it to finish (QueryEncryptionStatus shows progress), then send the new settings again.' },

  // --- keys and Key Vault (3xx) ---
  IdentityUnavailable: { code: 301, status: 'error', text: 'No token for {resource} from {source}: {cause}. Assign a managed identity to the VM (or give AADClientID and a credential) and make sure {endpoint} is reachable.' },
  KeyVaultUnreachable: { code: 302, status: 'error', text: 'Key Vault {endpoint} cannot be reached: {cause}. The VM needs outbound HTTPS (443) to the vault and to Entra ID; check NSG, firewall, proxy and DNS.' },
  KeyVaultForbidden: { code: 303, status: 'error', text: 'The identity {identity} lacks permission {permission} on vault {vault}. Grant it (access policy or RBAC role "{role}") and run enable again.' },
  KekNotFound: { code: 304, status: 'error', text: 'Key encryption key {kek} was not found. Check KeyEncryptionKeyURL (name and version) and that the key exists in vault {vault}.' },
  KekDisabled: { code: 305, status: 'error', text: 'Key encryption key {kek} is disabled or expired. Enable it in vault {vault} or give another KeyEncryptionKeyURL.' },
  KeyVaultThrottled: { code: 306, status: 'error', text: 'Key Vault {endpoint} kept answering {status} after {attempts} attempts. Run enable again later.' },
  EscrowVerifyFailed: { code: 307, status: 'error', text: 'The key stored as {secret} did not read back intact ({cause}). No disk was touched; run enable again.' },
  KeyVaultError: { code: 308, status: 'error', text: 'Key Vault {endpoint} refused {operation}: {status} {cause}.' },

  // --- prerequisites and volumes (4xx) ---
  VolumeNotInFstab: { code: 401, status: 'error', text: 'Data volume {device} (mounted at {mountpoint}) is not listed in /etc/fstab. Add it by UUID= with the nofail option so it can be remounted encrypted.' },
  FstabNotPersistent: { code: 402, status: 'error', text: '/etc/fstab names {mountpoint} by {spec}, which can change across reboots. Use UUID=... or /dev/disk/azure/scsi1/lunN.' },
  FstabMissingNofail: { code: 403, status: 'error', text: '/etc/fstab entry for {mountpoint} lacks nofail; without it a locked volume stops the boot. Add nofail to its options.' },
  VolumeBusy: { code: 404, status: 'error', text: '{mountpoint} cannot be unmounted briefly: in use by {processes}. Stop them and run enable again.' },
  FileSystemFull: { code: 405, status: 'error', text: 'The file system on {device} cannot shrink by {needed} to make room for the LUKS2 header ({cause}). Free space on {mountpoint} and run enable again.' },
  FileSystemUnsupported: { code: 406, status: 'error', text: '{device} holds {fstype}, which cannot be encrypted in place. Use EncryptionOperation EnableEncryptionFormatAll (it erases the volume) or move the data.' },
  KeyVolumeMissing: { code: 407, status: 'error', text: 'The key volume (vfat disk labelled "BEK VOLUME") is not attached. {fix}' },
  KernelModuleMissing: { code: 408, status: 'error', text: 'Kernel module {module} is not available ({cause}). Install the kernel modules package for the running kernel.' },
  MemoryInsufficient: { code: 409, status: 'error', text: '{available} of memory is available; {operation} needs {needed}. Resize the VM or free memory.' },
  NoDataVolumes: { code: 410, status: 'warning', text: 'No data volume to encrypt was found (mounted, listed in /etc/fstab, not the OS or resource disk).' },
  FstabMountMismatch: { code: 411, status: 'error', text: '{device} is mounted at {mountpoint}, but its /etc/fstab entry mounts it at {fstabMountpoint}. Make the running mount and /etc/fstab agree, then run enable again.' },
  SystemVolumeRefused: { code: 412, status: 'error', text: '{device} holds {mountpoint}, which this operation never formats or encrypts as a data volume. Detach it from the data volumes (or use VolumeType OS when supported).' },
  FormatFileSystemUnsupported: { code: 413, status: 'error', text: '{device} holds {fstype}; EnableEncryptionFormatAll recreates only ext2, ext3, ext4, xfs or btrfs. Reformat it with one of those first, or leave it out of /etc/fstab.' },
  VolumeVanished: { code: 414, status: 'error', text: 'Volume {device} (LUKS UUID {uuid}), half-way through {action}, is not attached or not visible. Re-attach the disk and run enable again; the operation resumes where it stopped.' },

  // --- OS disk (6xx) ---
  OsLayoutUnsupported: { code: 601, status: 'error', text: 'The OS disk layout cannot be encrypted in place: {reason}. Supported: a separate /boot partition (any root file system, plain or LVM), or no /boot with an ext4 root on a partition.' },
  InitramfsToolMissing: { code: 602, status: 'error', text: 'No initramfs builder was found ({detail}); the encrypted root could not be opened at boot. Install {fix} and run enable again.' },
  OsSpaceInsufficient: { code: 603, status: 'error', text: '{mountpoint} ({device}) can give {available}; encrypting the OS disk needs {needed} there for {purpose}. Free space on {mountpoint} and run enable again.' },
  OsFormatRefused: { code: 604, status: 'error', text: 'EnableEncryptionFormatAll never formats the OS disk. Use EncryptionOperation EnableEncryption for VolumeType {volumeType} (the OS disk is encrypted in place).' },
  BootLoaderUnsupported: { code: 605, status: 'error', text: 'The boot loader configuration could not be handled: {reason}. Nothing was changed.' },
  SplitToolMissing: { code: 606, status: 'error', text: 'The OS disk has no /boot partition, and splitting one off the root needs {tools}, not found on this VM. Install {packages} and run enable again.' },
  OsSplitRefused: { code: 607, status: 'error', text: 'The VM restarted, but its initramfs did not split a /boot off the root: {reason}. It booted the root unencrypted, as before the enable; nothing on the disk was changed, and every restart tries the split again, after which the encryption goes on by itself.' },

  // --- operator CLI (7xx; the CLI exits with the code minus 700) ---
  CliUsage: { code: 701, status: 'error', text: '{problem}. Run: ade-linux {command} --help' },
  CliNoCredential: { code: 702, status: 'error', text: 'No Azure credential: {cause}. Run az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a managed identity) for DefaultAzureCredential.' },
  CliNoSubscription: { code: 703, status: 'error', text: 'No subscription to work in. Give --subscription <id>, or set AZURE_SUBSCRIPTION_ID.' },
  CliVmNotFound: { code: 704, status: 'error', text: 'No VM or scale set named {name} in resource group {group} of subscription {subscription}. Check --resource-group, --name and --subscription.' },
  CliVaultNotFound: { code: 705, status: 'error', text: 'Key vault {vault} was not found ({cause}). Give --disk-encryption-keyvault as the vault\'s name in {group} or as its resource id.' },
  CliVaultNotForDiskEncryption: { code: 706, status: 'error', text: 'Key vault {vault} is not enabled for disk encryption: the platform could not read its secrets to unlock disks at boot. Run: az keyvault update -n {vault} --enabled-for-disk-encryption true' },
  CliVaultElsewhere: { code: 707, status: 'error', text: 'Key vault {vault} is in {vaultWhere}, the VM in {vmWhere}: the vault must be in the VM\'s region and subscription. Use a vault there, or --force to deploy anyway.' },
  CliKekUnusable: { code: 708, status: 'error', text: 'The key encryption key {kek} cannot be used: {cause}. Give a versioned URL of an enabled RSA key (https://<vault>.vault.azure.net/keys/<name>/<version>), or its name in --key-encryption-keyvault.' },
  CliVolumeTypeNeeded: { code: 709, status: 'error', text: 'VM {vm} has data disks: give --volume-type DATA, OS or ALL (as az vm encryption does).' },
  CliDenied: { code: 710, status: 'error', text: 'Azure refused {action}: {cause}. Ask for a role that allows it on {scope} (Virtual Machine Contributor for the extension, Key Vault Reader for the checks).' },
  CliConflict: { code: 711, status: 'error', text: 'Azure reported a conflict on {scope}: {cause}. Another operation is under way there; wait for it to finish and run the command again.' },
  CliExtensionFailed: { code: 712, status: 'error', text: 'The extension on {vm} reported a failure: {message}' },
  CliArmError: { code: 713, status: 'error', text: 'Azure answered {status} ({armCode}) to {action}: {cause}' },
  CliNotEncrypted: { code: 714, status: 'warning', text: 'Not every disk of {vm} is encrypted: {states}.' },
  CliFleetEmpty: { code: 715, status: 'error', text: 'No Linux VM in resource group {group} matches --tag {tag}. Check --resource-group and --tag, or give --name for one VM or scale set.' },
  CliFleetIncomplete: { code: 716, status: 'warning', text: '{left} of {total} VMs did not end encrypted: {vms}. The table says why; run the same command again: VMs already encrypted are skipped and those under way are followed, not deployed again.' },
  CliBootstrapFailed: { code: 717, status: 'error', text: 'The bootstrap run command on {vm} ended {state} without a status from the handler: {why}. Check that the VM can download --package-url and that --package-sha256 is the zip\'s.' },
  CliVmNotLinux: { code: 718, status: 'error', text: 'VM {vm} runs {os}: ade-linux encrypts Linux VMs only. For Windows, use Azure Disk Encryption for Windows or encryption at host.' },
  CliNoIdentity: { code: 719, status: 'error', text: 'VM {vm} has no managed identity, and the extension reaches Key Vault as the VM. Run: az vm identity assign -g {group} -n {vm}, then give that identity access to {vault}.' },
  CliVaultAccessMissing: { code: 720, status: 'error', text: 'The identity of VM {vm} lacks {missing} in the access policies of key vault {vault}: the extension could not escrow the key. Run: {fix}' },
  CliVmTooSmall: { code: 721, status: 'error', text: 'VM {vm} ({size}) has {memory} MiB of memory; ade-linux needs {need} MiB. Resize it (az vm resize), or use --force.' },

  // --- worker (5xx) ---
  WorkerStartFailed: { code: 501, status: 'error', text: 'The background worker could not be started: {cause}.' },
  WorkerDied: { code: 502, status: 'error', text: 'The background worker for sequence {seq} stopped without finishing ({cause}); the next enable resumes it from the journal.' },
} as const satisfies Record<string, Spec>;

export type ErrorId = keyof typeof ERRORS;

export class AdeError extends Error {
  readonly id: ErrorId;
  readonly code: number;
  readonly status: ErrorStatus;
  constructor(id: ErrorId, params: Params = {}, options?: { cause?: unknown }) {
    super(formatMessage(ERRORS[id].text, params), options);
    this.name = 'AdeError';
    this.id = id;
    this.code = ERRORS[id].code;
    this.status = ERRORS[id].status;
  }
}

export function formatMessage(text: string, params: Params): string {
  return text.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

/** Wraps anything thrown into an AdeError so every failure reaches the status with a code. */
export function asAdeError(e: unknown, log = 'the extension log'): AdeError {
  if (e instanceof AdeError) return e;
  const cause = e instanceof Error ? e.message : String(e);
  return new AdeError('Unknown', { cause, log }, { cause: e });
}
