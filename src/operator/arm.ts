// The CLI's view of Azure Resource Manager, behind one small interface: units fake it, arm-real.ts is the one
// real implementation. Every ARM failure becomes a coded error whose message names the fix; the extension's own
// message, when its deployment fails, is passed on verbatim.
import { AdeError } from '../shared/errors.ts';
import type { ExtensionView } from './instance-view.ts';

/** A managed disk of a VM: the OS disk has no LUN. */
export interface DiskRef { id: string; name: string; lun?: number }
/** One key reference on a managed disk, as single-pass ADE's encryptionSettingsCollection holds it (version 1.1). */
export interface KeyRef { secretUrl: string; vaultId: string; kekUrl?: string; kekVaultId?: string }

export interface VmInfo {
  id: string; name: string; location: string; dataDisks: number; extensions: ExtensionView[];
  osType?: string; tags?: Record<string, string>; vmSize?: string;
  /** The principal ids of its managed identities (system-assigned, user-assigned). */
  principals?: string[];
  /** Its managed disks (none for a scale set's instance, whose disks the scale set manages). */
  disks?: DiskRef[];
  /** The instance view's disks: name and the key references Azure holds for each. */
  diskViews?: Array<{ name: string; encryptionSettings?: unknown[] }>;
}
export interface ScaleSetInfo {
  id: string; name: string; location: string; upgradeMode: string; dataDisks: number; osType?: string; vmSize?: string; principals?: string[];
  /** The model's extensions (extensionProfile), as the SDK shapes them: name, publisher, typePropertiesType, ... */
  extensions: Array<Record<string, unknown>>;
}
export interface AccessPolicy { objectId: string; permissions: { keys?: string[]; secrets?: string[] } }
export interface VaultInfo {
  id: string; name: string; location: string; vaultUri: string; enabledForDiskEncryption: boolean;
  /** Azure RBAC instead of access policies (enableRbacAuthorization). */
  rbac?: boolean; accessPolicies?: AccessPolicy[];
}
/** A run command's instance view: its state, exit code and the last 4 KB of its output and error streams. */
export interface RunCommandView { executionState: string; exitCode?: number | undefined; output: string; error: string }
export interface ExtensionBody { publisher: string; type: string; typeHandlerVersion: string; settings: Record<string, unknown> }

export interface Arm {
  getVm(group: string, name: string): Promise<VmInfo | undefined>;
  getVault(id: string): Promise<VaultInfo | undefined>;
  /** Creates or updates the extension; resolves once ARM's operation ends (or at once with noWait). */
  putExtension(group: string, vm: string, name: string, body: ExtensionBody, o: { noWait: boolean; location: string }): Promise<void>;
  /** The memory of a VM size in a region (undefined when Azure does not list it). */
  vmSizeMemoryMb(location: string, size: string): Promise<number | undefined>;
  /** The VMs of a resource group, models only (no instance view). */
  listVms(group: string): Promise<VmInfo[]>;
  /** Writes a managed disk's key references (encryptionSettingsCollection); undefined clears them. */
  setDiskKeys(group: string, disk: DiskRef, keys: KeyRef[] | undefined): Promise<void>;
  getScaleSet(group: string, name: string): Promise<ScaleSetInfo | undefined>;
  /** Replaces the scale set model's extension list (a PATCH of its extensionProfile); resolves once ARM's operation ends. */
  setScaleSetExtensions(group: string, name: string, extensions: Array<Record<string, unknown>>, o: { noWait: boolean }): Promise<void>;
  /** The scale set's instances with their instance views. */
  scaleSetInstances(group: string, name: string): Promise<VmInfo[]>;
  /** Creates a Managed Run Command and waits for it to end; its instance view. */
  runCommand(group: string, vm: string, name: string, body: Record<string, unknown>): Promise<RunCommandView>;
  /** Removes a run command (a VM holds at most 25), waiting for Azure to finish. */
  deleteRunCommand(group: string, vm: string, name: string): Promise<void>;
}

interface RestLike { statusCode?: number; code?: string; message?: string }

/** ARM's failure as one of our coded errors. */
export function armError(e: unknown, action: string, scope: string): AdeError {
  if (e instanceof AdeError) return e;
  const r = (e ?? {}) as RestLike;
  const cause = (r.message ?? String(e)).split('\n')[0]!;
  if (r.statusCode === 403) return new AdeError('CliDenied', { action, cause, scope });
  if (r.statusCode === 409) return new AdeError('CliConflict', { scope, cause });
  if (r.statusCode === 401) return new AdeError('CliNoCredential', { cause });
  if (/CredentialUnavailableError|AuthenticationRequiredError|ChainedTokenCredential/.test(`${(e as Error)?.name} ${cause}`)) return new AdeError('CliNoCredential', { cause });
  return new AdeError('CliArmError', { status: r.statusCode ?? 'no answer', armCode: r.code ?? 'unknown', action, cause });
}

/**
 * The long-running operation failed: core-lro says "The long-running operation has failed. <code>. <message>",
 * and for an extension ARM's message wraps the handler's: "VM has reported a failure when processing extension
 * '…' (…). Error message: '<the handler's message>'. More information …". The handler's message, verbatim.
 */
export function extensionFailure(e: unknown, vm: string): AdeError | undefined {
  const m = /long-running operation has failed\.\s*(?:VMExtensionProvisioningError\.\s*)?([\s\S]*)$/.exec((e as Error)?.message ?? '');
  if (!m) return undefined;
  const inner = /Error message: '([\s\S]*)'\.\s*More information/.exec(m[1]!);
  return new AdeError('CliExtensionFailed', { vm, message: (inner?.[1] ?? m[1]!).trim() });
}

