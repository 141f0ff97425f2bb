// Everything a command needs from the outside world, gathered once by src/main.ts and passed down, so units
// can hand in fakes and nothing below reads process.env or the clock on its own.
import type { Detached, DetachRequest } from '../system/detach.ts';
import type { Runner } from '../system/exec.ts';
import type { HandlerEnvironment } from '../protocol/handler-env.ts';
import type { Logger } from '../shared/log.ts';
import type { Report } from '../shared/report.ts';

export interface Context {
  handlerEnv: HandlerEnvironment;
  /** The sequence number the agent asked for (ConfigSequenceNumber, else the newest settings file). */
  seq: number;
  log: Logger;
  run: Runner;
  /** Starts a process that outlives this one (the worker). */
  detach: (req: DetachRequest) => Promise<Detached>;
  /**
   * Writes status/<seq>.status for `seq`. Only commands the table lets write a status get a working one:
   * the agent reads the status of the current sequence only, and a disable or update writing there would
   * replace enable's result on the portal.
   */
  report: (r: Report, seq?: number) => void;
  /** The agent's environment for this command. */
  processEnv: NodeJS.ProcessEnv;
  /** Our version (package.json) and how to start ourselves again (for the worker). */
  version: string;
  self: { node: string; script: string };
}

/**
 * Variables the worker must see to reach Azure the way the command did: proxies, extra CA trust and the
 * IMDS endpoint override. None is a secret we create; anything else stays behind. IDENTITY_ENDPOINT,
 * IDENTITY_HEADER and MSI_ENDPOINT are left out on purpose: they switch managed identity to other sources.
 */
export const WORKER_ENV_PASSTHROUGH = [
  'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  // The lab lowers the LUKS key-derivation cost (argon2id takes ~20 s under emulation); see cryptsetup.ts.
  'ADE_LINUX_PBKDF',
  // Set by bin/ade-shim: the worker reuses the compiled code the commands (and install) left there.
  'NODE_COMPILE_CACHE',
  'AZURE_GUEST_AGENT_EXTENSION_PATH', 'AZURE_GUEST_AGENT_EXTENSION_VERSION', 'ConfigSequenceNumber',
] as const;
