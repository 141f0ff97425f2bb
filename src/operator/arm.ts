// The CLI's view of Azure Resource Manager, behind one small interface (units fake it), and its one real
// implementation on @azure/arm-compute with DefaultAzureCredential against https://management.azure.com:
// tests reach a fake only through the environment (HTTPS_PROXY, CA trust), as for the extension itself.
// Every ARM failure becomes a coded error whose message names the fix; the extension's own message, when
// its deployment fails, is passed on verbatim.
import { AdeError } from '../shared/errors.ts';
import type { ExtensionView } from './instance-view.ts';

export interface VmInfo { id: string; name: string; location: string; dataDisks: number; extensions: ExtensionView[] }
export interface VaultInfo { id: string; name: string; location: string; vaultUri: string; enabledForDiskEncryption: boolean }
export interface ExtensionBody { publisher: string; type: string; typeHandlerVersion: string; settings: Record<string, unknown> }

export interface Arm {
  getVm(group: string, name: string): Promise<VmInfo | undefined>;
  getVault(id: string): Promise<VaultInfo | undefined>;
  /** Creates or updates the extension; resolves once ARM's operation ends (or at once with noWait). */
  putExtension(group: string, vm: string, name: string, body: ExtensionBody, o: { noWait: boolean; location: string }): Promise<void>;
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

const notFound = (e: unknown) => (e as RestLike)?.statusCode === 404;

export async function realArm(subscription: string): Promise<Arm> {
  const [{ DefaultAzureCredential }, { ComputeManagementClient }, { createDefaultHttpClient, createPipelineRequest }] = await Promise.all([
    import('@azure/identity'), import('@azure/arm-compute'), import('@azure/core-rest-pipeline')]);
  const client = new ComputeManagementClient(new DefaultAzureCredential(), subscription);
  const endpoint = 'https://management.azure.com';
  const http = createDefaultHttpClient();
  return {
    async getVm(group, name) {
      try {
        const vm = await client.virtualMachines.get(group, name, { expand: 'instanceView' });
        return {
          id: vm.id ?? '', name: vm.name ?? name, location: vm.location ?? '', dataDisks: vm.storageProfile?.dataDisks?.length ?? 0,
          extensions: (vm.instanceView?.extensions ?? []) as ExtensionView[],
        };
      } catch (e) {
        if (notFound(e)) return undefined;
        throw armError(e, `reading VM ${name}`, `resource group ${group}`);
      }
    },
    async getVault(id) {
      // The Key Vault management plane through the compute client's pipeline (its credential and retries).
      const req = createPipelineRequest({ url: `${endpoint}${id}?api-version=2023-07-01`, method: 'GET' });
      const res = await client.pipeline.sendRequest(http, req).catch((e: unknown) => { throw armError(e, `reading key vault ${id}`, id); });
      if (res.status === 404) return undefined;
      const body = JSON.parse(res.bodyAsText ?? '{}') as { id?: string; name?: string; location?: string; properties?: { vaultUri?: string; enabledForDiskEncryption?: boolean }; error?: { code?: string; message?: string } };
      if (res.status >= 300) throw armError({ statusCode: res.status, code: body.error?.code, message: body.error?.message }, `reading key vault ${id}`, id);
      return { id: body.id ?? id, name: body.name ?? '', location: body.location ?? '', vaultUri: body.properties?.vaultUri ?? '', enabledForDiskEncryption: body.properties?.enabledForDiskEncryption === true };
    },
    async putExtension(group, vm, name, body, o) {
      const poller = client.virtualMachineExtensions.createOrUpdate(group, vm, name, {
        location: o.location, publisher: body.publisher, typePropertiesType: body.type, typeHandlerVersion: body.typeHandlerVersion,
        autoUpgradeMinorVersion: true, settings: body.settings,
      });
      try {
        if (o.noWait) await poller.submitted(); else await poller;
      } catch (e) {
        throw extensionFailure(e, vm) ?? armError(e, `deploying the extension to ${vm}`, `VM ${vm} in ${group}`);
      }
    },
  };
}
