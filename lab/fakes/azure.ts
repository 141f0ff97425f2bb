// One loopback server that stands in for Azure as seen from a VM:
//  - plain HTTP requests are the IMDS token endpoint (reached with AZURE_POD_IDENTITY_AUTHORITY_HOST);
//  - CONNECT host:443 is an HTTPS proxy (reached with HTTPS_PROXY) that terminates TLS itself with a test-CA
//    certificate for *.vault.azure.net, login.microsoftonline.com, management.azure.com, the sovereign
//    clouds' equivalents and *.blob.core.windows.net, and answers as Key Vault, Entra ID, Resource Manager or
//    a blob download. It never opens a connection
//    anywhere else: other hosts are refused.
// So the code under test uses its production URLs unchanged (https://myvault.vault.azure.net/...).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { FakeAad } from './aad.ts';
import { FakeArm, isArmHost } from './arm.ts';
import { FakeBlobs, isBlobHost } from './blob.ts';
import { RequestLog, sendJson } from './http.ts';
import { FakeImds } from './imds.ts';
import { type TestPki, makeTestPki } from './ca.ts';
import { TokenStore } from './tokens.ts';
import { FakeVault, cloudOfVaultHost } from './vault.ts';

export interface FakeAzure {
  /** http://127.0.0.1:PORT: the IMDS origin and the proxy URL at once. */
  origin: string;
  pki: TestPki;
  tenantId: string;
  log: RequestLog;
  tokens: TokenStore;
  imds: FakeImds;
  aad: FakeAad;
  vault: FakeVault;
  arm: FakeArm;
  blobs: FakeBlobs;
  /** The environment a process needs to reach this fake with production code (see src/keys/README.md). */
  env: Record<string, string>;
  close(): Promise<void>;
}

const isLoginHost = (h: string) => ['login.microsoftonline.com', 'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn', 'login.microsoftonline.us'].includes(h);

export async function startFakeAzure(opts: { pki?: TestPki } = {}): Promise<FakeAzure> {
  const pki = opts.pki ?? makeTestPki();
  const tenantId = randomUUID();
  const log = new RequestLog();
  const tokens = new TokenStore();
  const imds = new FakeImds(tokens, log, tenantId);
  const aad = new FakeAad(tokens, log);
  const vault = new FakeVault(tokens, log, tenantId);
  const arm = new FakeArm(tokens, log, tenantId);
  const blobs = new FakeBlobs(log);
  const sockets = new Set<Socket>();

  const inner = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:443$/, '').toLowerCase();
    const work = isLoginHost(host) ? aad.handle(req, res, host) : isArmHost(host) ? arm.handle(req, res, host) : isBlobHost(host) ? blobs.handle(req, res, host) : vault.handle(req, res, host);
    work.catch((e: unknown) => { if (!res.headersSent) { res.writeHead(500); res.end(String(e)); } });
  });

  const outer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
      const rec = log.add({ kind: 'refused', host: url.host, method: req.method ?? '', path: url.pathname, query: {}, body: '', headers: {} });
      return sendJson(res, rec, 502, { error: `fake azure never forwards to ${url.host}` });
    }
    imds.handle(req, res, url).catch((e: unknown) => { if (!res.headersSent) { res.writeHead(500); res.end(String(e)); } });
  });
  outer.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  outer.on('connect', (req, socket: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const host = target.replace(/:\d+$/, '').toLowerCase();
    const served = isLoginHost(host) || isArmHost(host) || isBlobHost(host) || cloudOfVaultHost(host) !== undefined;
    log.add({ kind: served ? 'connect' : 'refused', host: target, method: 'CONNECT', path: '', query: {}, body: '', headers: {} });
    if (!served || (vault.faults.unreachable && cloudOfVaultHost(host) !== undefined)) { socket.destroy(); return; }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    inner.emit('connection', socket);
  });

  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(outer.address() as AddressInfo).port}`;
  const env = {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: origin,
    HTTPS_PROXY: origin,
    NO_PROXY: '127.0.0.1,localhost',
    NODE_EXTRA_CA_CERTS: pki.caCertPath,
  };
  return {
    origin, pki, tenantId, log, tokens, imds, aad, vault, arm, blobs, env,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      outer.close(() => { if (!opts.pki) rmSync(pki.dir, { recursive: true, force: true }); r(); });
    }),
  };
}
