// Access tokens the fake IMDS and fake Entra ID issue and the fake vault accepts. Opaque (not JWTs) so a
// test can tell exactly which identity and audience a request was authorised with.
import { randomBytes } from 'node:crypto';

export interface Principal {
  /** Application (client) id. */
  appId: string;
  objectId: string;
  tenantId: string;
  /** How the test named it, e.g. "system", "user:<clientId>", "aad:<clientId>". */
  label: string;
}

export interface IssuedToken { principal: Principal; resource: string }

export class TokenStore {
  private readonly tokens = new Map<string, IssuedToken>();
  issue(principal: Principal, resource: string): string {
    const token = `fake-at-${randomBytes(24).toString('hex')}`;
    this.tokens.set(token, { principal, resource: resource.replace(/\/+$/, '') });
    return token;
  }
  lookup(token: string): IssuedToken | undefined { return this.tokens.get(token); }
  all(): string[] { return [...this.tokens.keys()]; }
}
