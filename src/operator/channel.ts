// How the CLI reaches the handler on a VM: as a VM extension (ARM's extension resource; the guest agent runs it
// and reports its status in the instance view), or through a Managed Run Command that runs the bootstrap
// (bootstrap.ts), for a publisher Azure has not registered. Both hand the handler the same settings and read
// back the same status; enable, show and disable do not know which one they use.
import { randomUUID } from 'node:crypto';
import { AdeError } from '../shared/errors.ts';
import type { Arm, VmInfo } from './arm.ts';
import { runCommandBody, statusFromOutput, type BootstrapOp, type PackageRef } from './bootstrap.ts';
import { findExtension, readExtensionView, type ExtensionState, type ExtensionView } from './instance-view.ts';
import { DEFAULT_PUBLISHER, TYPE_HANDLER_VERSION } from './settings.ts';

export interface Channel {
  /** What the user is told is being done. */
  readonly how: string;
  /** Hands the handler its settings; resolves when Azure's operation ends (at once with noWait). */
  deploy(settings: Record<string, unknown>, noWait: boolean): Promise<void>;
  /** The handler's state now. */
  state(): Promise<ExtensionState>;
}

export interface Where { arm: Arm; group: string; vm: VmInfo; extension: string; publisher?: string | undefined }

export function extensionChannel(w: Where): Channel {
  const publisher = w.publisher ?? DEFAULT_PUBLISHER;
  return {
    how: `the extension ${publisher}.${w.extension} ${TYPE_HANDLER_VERSION}`,
    deploy: (settings, noWait) => w.arm.putExtension(w.group, w.vm.name, w.extension, { publisher, type: w.extension, typeHandlerVersion: TYPE_HANDLER_VERSION, settings }, { noWait, location: w.vm.location }),
    async state() {
      const vm = await w.arm.getVm(w.group, w.vm.name);
      if (!vm) throw new AdeError('CliVmNotFound', { name: w.vm.name, group: w.group, subscription: '(this one)' });
      return readExtensionView(findExtension(vm.extensions, w.extension, `${publisher}.${w.extension}`));
    },
  };
}

interface StatusFile { status?: { status?: string; code?: number; formattedMessage?: { message?: string }; substatus?: Array<{ name?: string; status?: string; formattedMessage?: { message?: string } }> } }

/** The handler's status file as the agent would show it in the instance view, read as the extension path reads that. */
export function stateFromStatusFile(file: unknown): ExtensionState {
  const s = (Array.isArray(file) ? (file[0] as StatusFile | undefined) : undefined)?.status;
  const view: ExtensionView = {
    statuses: s?.status ? [{ code: `ProvisioningState/${s.status === 'error' ? 'failed' : s.status === 'success' ? 'succeeded' : s.status}`, message: s.formattedMessage?.message ?? '' }] : [],
    substatuses: (s?.substatus ?? []).map((x) => ({ code: `ComponentStatus/${x.name ?? ''}/${x.status ?? ''}`, message: x.formattedMessage?.message ?? '' })),
  };
  return readExtensionView(view);
}

export function runCommandChannel(w: Where, pkg: PackageRef | undefined): Channel {
  const run = async (op: BootstrapOp, settings?: Record<string, unknown>): Promise<ExtensionState> => {
    // A fresh name each time: the handler runs a run command once per name, and a VM holds at most 25.
    const name = `ade-linux-${op}-${randomUUID().slice(0, 8)}`;
    const view = await w.arm.runCommand(w.group, w.vm.name, name, runCommandBody(op, op === 'status' ? undefined : pkg, settings, w.vm.location));
    await w.arm.deleteRunCommand(w.group, w.vm.name, name);
    const file = statusFromOutput(view.output);
    if (file === undefined) {
      const why = (view.error || view.output).trim().split('\n').slice(-3).join(' / ') || `exit ${String(view.exitCode)}`;
      throw new AdeError('CliBootstrapFailed', { vm: w.vm.name, state: view.executionState, why });
    }
    return stateFromStatusFile(file);
  };
  return {
    how: `the bootstrap (Managed Run Command)${pkg ? ` of package ${pkg.version}` : ''}`,
    async deploy(settings) {
      const op: BootstrapOp = settings['EncryptionOperation'] === 'DisableEncryption' ? 'disable' : 'enable';
      if (!pkg) throw new AdeError('CliUsage', { problem: `--via run-command needs --package-url and --package-sha256 to ${op}`, command: op });
      await run(op, settings);
    },
    state: () => run('status'),
  };
}
