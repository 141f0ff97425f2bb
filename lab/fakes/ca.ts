// A throw-away PKI made with the real openssl at test time: a CA, one server certificate that covers every
// Azure host the fakes answer for (vaults, Entra ID, ARM and blob storage), and AAD
// application certificates delivered the way the guest agent does (<lib>/<THUMBPRINT>.crt + .prv, PEM).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every name the fake's TLS certificate covers (one wildcard level, like the real services). */
export const FAKE_HOSTS = [
  '*.vault.azure.net', '*.managedhsm.azure.net', 'login.microsoftonline.com', 'management.azure.com', '*.blob.core.windows.net',
  '*.vault.azure.cn', '*.managedhsm.azure.cn', 'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn', 'management.chinacloudapi.cn',
  '*.vault.usgovcloudapi.net', '*.managedhsm.usgovcloudapi.net', 'login.microsoftonline.us', 'management.usgovcloudapi.net',
];

export interface TestPki {
  dir: string;
  caCertPath: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestPki(dir = mkdtempSync(join(tmpdir(), 'ade-pki-'))): TestPki {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
    '-subj', '/CN=ade-linux test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=fake-azure'], dir);
  writeFileSync(join(dir, 'server.ext'), [
    `subjectAltName=${FAKE_HOSTS.map((h) => `DNS:${h}`).join(',')},IP:127.0.0.1`,
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext'], dir);
  return {
    dir,
    caCertPath: join(dir, 'ca.crt'),
    caCert: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    serverKey: readFileSync(join(dir, 'server.key'), 'utf8'),
    serverCert: readFileSync(join(dir, 'server.crt'), 'utf8'),
  };
}

export interface AppCert { thumbprint: string; certPem: string; keyPem: string }

/** A self-signed application certificate written as the agent delivers it: <libDir>/<THUMBPRINT>.crt/.prv. */
export function makeAppCert(libDir: string, cn = 'ade-linux-test-app'): AppCert {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'app.prv', '-out', 'app.crt', '-days', '2', '-subj', `/CN=${cn}`], libDir);
  const certPem = readFileSync(join(libDir, 'app.crt'), 'utf8');
  const keyPem = readFileSync(join(libDir, 'app.prv'), 'utf8');
  const thumbprint = new X509Certificate(certPem).fingerprint.replace(/:/g, '').toUpperCase();
  writeFileSync(join(libDir, `${thumbprint}.crt`), certPem, { mode: 0o600 });
  writeFileSync(join(libDir, `${thumbprint}.prv`), keyPem, { mode: 0o600 });
  return { thumbprint, certPem, keyPem };
}
