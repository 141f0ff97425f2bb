// Fake Entra ID (login.microsoftonline.com and the sovereign equivalents): instance discovery, OpenID
// metadata and the v2.0 client-credentials token endpoint, checking a client secret or a client assertion
// (JWT signed with the application's certificate) for real.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { X509Certificate, constants, createHash, randomUUID, verify } from 'node:crypto';
import { type RequestLog, flatHeaders, readBody, sendJson } from './http.ts';
import type { Principal, TokenStore } from './tokens.ts';

export interface AadApp { clientId: string; objectId: string; tenantId: string; secret?: string; certPem?: string }

const aadError = (error: string, code: number, description: string) => ({
  error, error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: 2026-11-29 12:00:00Z`,
  error_codes: [code], timestamp: '2026-11-29 12:00:00Z', trace_id: randomUUID(), correlation_id: randomUUID(),
});

export class FakeAad {
  readonly apps: AadApp[] = [];
  private readonly tokens: TokenStore;
  private readonly log: RequestLog;
  constructor(tokens: TokenStore, log: RequestLog) { this.tokens = tokens; this.log = log; }

  addApp(app: Omit<AadApp, 'objectId'>): AadApp {
    const a = { objectId: randomUUID(), ...app };
    this.apps.push(a);
    return a;
  }

  async handle(req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
    const url = new URL(req.url ?? '/', `https://${host}`);
    const body = await readBody(req);
    const rec = this.log.add({ kind: 'aad', host, method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: flatHeaders(req) });
    const parts = url.pathname.split('/').filter(Boolean);
    const authority = `https://${host}`;
    if (url.pathname === '/common/discovery/instance') {
      const endpoint = url.searchParams.get('authorization_endpoint') ?? `${authority}/common/oauth2/v2.0/authorize`;
      const tenant = new URL(endpoint).pathname.split('/').filter(Boolean)[0] ?? 'common';
      return sendJson(res, rec, 200, {
        tenant_discovery_endpoint: `${authority}/${tenant}/v2.0/.well-known/openid-configuration`, 'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      });
    }
    if (parts[1] === 'v2.0' && parts[2] === '.well-known' && parts[3] === 'openid-configuration') {
      const t = parts[0];
      return sendJson(res, rec, 200, {
        token_endpoint: `${authority}/${t}/oauth2/v2.0/token`, authorization_endpoint: `${authority}/${t}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${authority}/${t}/oauth2/v2.0/devicecode`, end_session_endpoint: `${authority}/${t}/oauth2/v2.0/logout`,
        issuer: `${authority}/${t}/v2.0`, jwks_uri: `${authority}/${t}/discovery/v2.0/keys`, token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'], scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        tenant_region_scope: 'WW', cloud_instance_name: host.replace(/^login\./, ''), http_logout_supported: true, frontchannel_logout_supported: true,
      });
    }
    if (req.method === 'POST' && parts[1] === 'oauth2' && parts[2] === 'v2.0' && parts[3] === 'token') {
      const tenant = parts[0]!;
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'client_credentials') return sendJson(res, rec, 400, aadError('unsupported_grant_type', 70003, 'The app requested an unsupported grant type.'));
      const app = this.apps.find((a) => a.clientId === form.get('client_id'));
      if (!app || app.tenantId !== tenant) return sendJson(res, rec, 400, aadError('unauthorized_client', 700016, `Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'.`));
      const secret = form.get('client_secret');
      const assertion = form.get('client_assertion');
      if (secret !== null) {
        if (secret !== app.secret) return sendJson(res, rec, 401, aadError('invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.'));
      } else if (assertion !== null) {
        const why = checkAssertion(assertion, app, `${authority}/${tenant}/oauth2/v2.0/token`);
        if (why) return sendJson(res, rec, 401, aadError('invalid_client', 700027, `Client assertion failed signature validation: ${why}`));
      } else {
        return sendJson(res, rec, 401, aadError('invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
      }
      const scope = form.get('scope') ?? '';
      const resource = scope.split(' ').find((s) => s.endsWith('/.default'))?.replace(/\/\.default$/, '') ?? '';
      const principal: Principal = { appId: app.clientId, objectId: app.objectId, tenantId: app.tenantId, label: `aad:${app.clientId}` };
      return sendJson(res, rec, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: this.tokens.issue(principal, resource) });
    }
    sendJson(res, rec, 404, aadError('invalid_request', 900561, `fake Entra ID: no route ${req.method} ${url.pathname}`));
  }
}

/** Verifies a client assertion JWT against the app's certificate; returns why it fails, or undefined. */
function checkAssertion(jwt: string, app: AadApp, audience: string): string | undefined {
  if (!app.certPem) return 'the application has no certificate';
  const [h, p, s] = jwt.split('.');
  if (!h || !p || !s) return 'malformed JWT';
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, string>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const cert = new X509Certificate(app.certPem);
  const sha1 = createHash('sha1').update(cert.raw).digest('base64url');
  const sha256 = createHash('sha256').update(cert.raw).digest('base64url');
  if (header['x5t'] !== sha1 && header['x5t#S256'] !== sha256) return 'unknown certificate thumbprint';
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const ok = header['alg'] === 'PS256'
    ? verify('sha256', data, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)
    : header['alg'] === 'RS256' ? verify('sha256', data, cert.publicKey, sig) : false;
  if (!ok) return `bad ${header['alg']} signature`;
  if (payload['iss'] !== app.clientId || payload['sub'] !== app.clientId) return 'iss/sub is not the client id';
  if (payload['aud'] !== audience) return `aud ${String(payload['aud'])} is not ${audience}`;
  return undefined;
}
