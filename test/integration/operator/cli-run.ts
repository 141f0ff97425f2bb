// Shared by the CLI's integration tests: the bundled CLI run as bin/ade-linux runs it, against a fake Azure,
// and the extension's instance view as the guest agent reports our handler's status.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type FakeAzure, startFakeAzure } from '../../../lab/fakes/azure.ts';
import type { ExtensionInstanceView } from '../../../lab/fakes/arm.ts';
// @ts-expect-error: plain ESM build script
import { cliPath } from '../../../build/build.mjs';

const NODE = join(import.meta.dirname, '../../../node_modules/.bin/node');

export interface Run { code: number; stdout: string; stderr: string }

/** `env` changes the CLI's environment last: a value replaces, undefined removes (e.g. no subscription). */
export function runCli(fake: FakeAzure, subscription: string, args: string[], pollMs = '20', env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<Run> {
  const all: Record<string, string | undefined> = { PATH: process.env['PATH'] ?? '', ...fake.env, AZURE_SUBSCRIPTION_ID: subscription, ADE_LINUX_POLL_MS: pollMs, ...env };
  const defined = Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
  return new Promise((resolve) => {
    execFile(NODE, [cliPath as string, ...args], { env: defined, timeout: timeoutMs }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** The instance view the agent makes of our status: ProvisioningState, then EncryptionState and Volumes. */
export const status = (s: string, os: string, data: string, volumes: unknown[], message = 'Encrypting the data volumes.'): ExtensionInstanceView => ({
  statuses: [{ code: `ProvisioningState/${s}`, level: 'Info' as const, displayStatus: 'Provisioning succeeded', message }],
  substatuses: [
    { code: `ComponentStatus/EncryptionState/${s}`, level: 'Info' as const, message: JSON.stringify({ os, data }) },
    { code: `ComponentStatus/Volumes/${s}`, level: 'Info' as const, message: JSON.stringify(volumes) },
  ],
});

/** One fake Azure for the test file (what `setup` seeds once), its faults, hooks and request log reset before each test. */
export function fakeAzureForFile(setup?: (fake: FakeAzure) => void): () => FakeAzure {
  let fake: FakeAzure | undefined;
  beforeAll(async () => { fake = await startFakeAzure(); setup?.(fake); }, 120_000);
  afterAll(async () => { await fake?.close(); });
  beforeEach(() => { fake!.arm.resetFaults(); fake!.arm.onExtensionPut = undefined; fake!.arm.onRunCommandPut = undefined; fake!.log.clear(); });
  return () => fake!;
}
