// The checks enable makes about the VM itself before anything is deployed: a Linux VM, with a managed identity
// (the extension reaches Key Vault as the VM, through IMDS), which the vault's access policies let escrow the key
// and, with a KEK, wrap it; and enough memory. Each failure is its own coded error that names the fix. Pure.
import { AdeError } from '../shared/errors.ts';
import type { VaultInfo, VmInfo } from './arm.ts';

/**
 * The memory ade-linux needs, measured: the lab encrypts a 1 GiB guest's OS disk in place (README, "The OS disk").
 * ADE asks for 8 GB (or twice the used root) because it copies the root into RAM; nothing here copies anything.
 */
export const MIN_MEMORY_MB = 1024;

/** What the extension does in Key Vault (src/keys/escrow.ts): escrow and read back; with a KEK, read, wrap, unwrap. */
export const NEEDED = { secrets: ['set', 'get'], keys: ['get', 'wrapKey', 'unwrapKey'] } as const;

export function linuxCheck(vm: VmInfo): AdeError | undefined {
  return (vm.osType ?? 'Linux').toLowerCase() === 'linux' ? undefined : new AdeError('CliVmNotLinux', { vm: vm.name, os: vm.osType ?? 'unknown' });
}

export function identityCheck(vm: VmInfo, group: string, vault: string): AdeError | undefined {
  return (vm.principals?.length ?? 0) > 0 ? undefined : new AdeError('CliNoIdentity', { vm: vm.name, group, vault });
}

export function memoryCheck(vm: VmInfo, memoryMb: number | undefined): AdeError | undefined {
  if (memoryMb === undefined || memoryMb >= MIN_MEMORY_MB) return undefined;
  return new AdeError('CliVmTooSmall', { vm: vm.name, size: vm.vmSize ?? 'its size', memory: String(memoryMb), need: String(MIN_MEMORY_MB) });
}

const has = (granted: readonly string[] | undefined, want: string) => (granted ?? []).some((g) => g.toLowerCase() === want.toLowerCase() || g.toLowerCase() === 'all');

/**
 * The permissions `kind` (secrets or keys) the VM's identities lack in a vault's access policies, as
 * "secrets/set"; undefined when the vault uses Azure RBAC, whose role assignments this check does not read.
 */
export function missingPermissions(vault: VaultInfo, principals: readonly string[], kind: 'secrets' | 'keys'): string[] | undefined {
  if (vault.rbac) return undefined;
  const mine = (vault.accessPolicies ?? []).filter((p) => principals.some((id) => id.toLowerCase() === p.objectId.toLowerCase()));
  return NEEDED[kind].filter((want) => !mine.some((p) => has(p.permissions[kind], want))).map((want) => `${kind}/${want}`);
}

export function accessCheck(vm: VmInfo, vault: VaultInfo, kind: 'secrets' | 'keys'): AdeError | undefined {
  const missing = missingPermissions(vault, vm.principals ?? [], kind);
  if (!missing?.length) return undefined;
  // set-policy replaces the principal's list of that kind: give all that is needed, not only what is missing
  const perms = NEEDED[kind].join(' ');
  return new AdeError('CliVaultAccessMissing', {
    vm: vm.name, vault: vault.name, missing: missing.join(', '),
    fix: `az keyvault set-policy -n ${vault.name} --object-id ${vm.principals![0]} --${kind === 'secrets' ? 'secret' : 'key'}-permissions ${perms}`,
  });
}
