// Fake IMDS managed-identity token endpoint: GET /metadata/identity/oauth2/token[/]?api-version&resource
// [&client_id|object_id|msi_res_id], header Metadata: true. Answers the way IMDS does, including
// 400 "Identity not found" when the VM has no such identity.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { type RequestLog, flatHeaders, readBody, sendJson } from './http.ts';
import type { Principal, TokenStore } from './tokens.ts';

export interface UserIdentity { clientId: string; objectId: string; resourceId: string }

export class FakeImds {
  /** Whether the VM has a system-assigned identity. */
  systemAssigned = true;
  readonly system: Principal = { appId: randomUUID(), objectId: randomUUID(), tenantId: '', label: 'system' };
  readonly users: UserIdentity[] = [];
  private readonly tokens: TokenStore;
  private readonly log: RequestLog;
  constructor(tokens: TokenStore, log: RequestLog, tenantId: string) {
    this.tokens = tokens;
    this.log = log;
    this.system.tenantId = tenantId;
  }

  addUserIdentity(clientId = randomUUID(), name = 'uami1'): UserIdentity {
    const u = { clientId, objectId: randomUUID(), resourceId: `/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}` };
    this.users.push(u);
    return u;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req);
    const rec = this.log.add({ kind: 'imds', host: url.host, method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: flatHeaders(req) });
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== '/metadata/identity/oauth2/token') return sendJson(res, rec, 404, { error: 'not_found', error_description: `no route ${url.pathname}` });
    if (req.headers['metadata'] !== 'true') return sendJson(res, rec, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
    const resource = url.searchParams.get('resource');
    if (!resource) return sendJson(res, rec, 400, { error: 'invalid_request', error_description: 'Required audience parameter not specified' });
    const clientId = url.searchParams.get('client_id');
    const objectId = url.searchParams.get('object_id');
    const resId = url.searchParams.get('msi_res_id');
    let principal: Principal | undefined;
    if (clientId || objectId || resId) {
      const u = this.users.find((x) => x.clientId === clientId || x.objectId === objectId || x.resourceId === resId);
      if (u) principal = { appId: u.clientId, objectId: u.objectId, tenantId: this.system.tenantId, label: `user:${u.clientId}` };
    } else if (this.systemAssigned) {
      principal = this.system;
    }
    if (!principal) return sendJson(res, rec, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    const now = Math.floor(Date.now() / 1000);
    sendJson(res, rec, 200, {
      access_token: this.tokens.issue(principal, resource), refresh_token: '', expires_in: '86399', expires_on: String(now + 86399),
      ext_expires_in: '86399', not_before: String(now), resource, token_type: 'Bearer', client_id: principal.appId,
    });
  }
}
