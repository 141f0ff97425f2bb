// Points this test process at a FakeAzure the way an operator would point a VM at a proxy: environment
// variables and CA trust, set before any credential or client exists. Also installs a guard that makes any
// connection to a non-loopback address fail loudly, so a mistake can never reach IMDS or Azure.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { FakeAzure } from './azure.ts';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;
let guarded = false;
export const blockedConnections: string[] = [];

export function installNetworkGuard(): void {
  if (guarded) return;
  guarded = true;
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const opts = (Array.isArray(first) ? first[0] : first) as { host?: string; path?: string; port?: number } | number | string;
    let host: string | undefined;
    if (typeof opts === 'object' && opts !== null) host = opts.path ? undefined : (opts.host ?? 'localhost');
    else if (typeof opts === 'number') host = typeof args[1] === 'string' ? args[1] : 'localhost';
    if (host !== undefined && !LOOPBACK.test(host)) {
      blockedConnections.push(host);
      throw new Error(`network guard: a test tried to connect to ${host}`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
}

/** Sets the documented variables in this process and trusts the test CA. Call before creating credentials. */
export function useFakeAzure(fake: FakeAzure): void {
  installNetworkGuard();
  for (const k of ['AZURE_POD_IDENTITY_AUTHORITY_HOST', 'HTTPS_PROXY', 'NO_PROXY']) process.env[k] = fake.env[k];
  for (const k of ['https_proxy', 'http_proxy', 'HTTP_PROXY', 'ALL_PROXY', 'all_proxy', 'no_proxy', 'IDENTITY_ENDPOINT', 'MSI_ENDPOINT', 'AZURE_FEDERATED_TOKEN_FILE']) delete process.env[k];
  // In-process equivalent of NODE_EXTRA_CA_CERTS (which Node reads only at start-up).
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(fake.pki.caCertPath, 'utf8')]);
}
