// The token credential for an identity from the settings. Managed identity (system- or user-assigned) goes
// to IMDS; ADE 0.1's AAD application (client secret, or the certificate the agent delivers as
// <agent lib>/<THUMBPRINT>.crt + .prv) goes to the Entra ID authority of the vault's cloud. The tenant comes
// from the vault's 401 challenge, as ADE 0.1 did. Never DefaultAzureCredential: it probes other sources.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { AdeError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { Identity } from '../shared/types.ts';
import type { Cloud } from './cloud.ts';

/** Where waagent keeps certificates (Lib.Dir in /etc/waagent.conf). */
export const AGENT_LIB_DIR = '/var/lib/waagent';
const IMDS_DEFAULT = 'http://169.254.169.254';

export interface CredentialOptions {
  agentLibDir?: string;
}

/** A phrase naming the identity, for messages: never a secret. */
export function describeIdentity(identity: Identity): string {
  switch (identity.kind) {
    case 'system': return 'system-assigned managed identity';
    case 'user': return `user-assigned managed identity ${identity.clientId ?? identity.objectId ?? identity.resourceId ?? ''}`.trim();
    case 'aad': return `AAD application ${identity.clientId}`;
  }
}

/** Where tokens come from (source) and the endpoint the VM must reach for them. */
export function tokenSource(identity: Identity, cloud: Cloud): { source: string; endpoint: string } {
  if (identity.kind === 'aad') {
    return { source: `Entra ID (${identity.certThumbprint ? `certificate ${identity.certThumbprint}` : 'client secret'})`, endpoint: cloud.tokenHosts.join(' and ') };
  }
  // MSAL honours this variable for the IMDS host (documented for AKS pod identity); default is IMDS.
  const imds = process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] || IMDS_DEFAULT;
  return { source: `IMDS (${describeIdentity(identity)})`, endpoint: imds };
}

export function createCredential(identity: Identity, cloud: Cloud, log: Logger, opts: CredentialOptions = {}): TokenCredential {
  switch (identity.kind) {
    case 'system':
      return new ManagedIdentityCredential();
    case 'user':
      if (identity.clientId) return new ManagedIdentityCredential({ clientId: identity.clientId });
      if (identity.objectId) return new ManagedIdentityCredential({ objectId: identity.objectId });
      if (identity.resourceId) return new ManagedIdentityCredential({ resourceId: identity.resourceId });
      return new ManagedIdentityCredential();
    case 'aad': {
      // 'organizations' is replaced by the tenant of the vault's challenge (additionallyAllowedTenants).
      const common = { authorityHost: cloud.authorityHost, additionallyAllowedTenants: ['*'] };
      if (identity.secret) {
        log.addSecret(identity.secret);
        return new ClientSecretCredential('organizations', identity.clientId, identity.secret, common);
      }
      if (identity.certThumbprint) {
        const pem = readAgentCertificate(identity.certThumbprint, opts.agentLibDir ?? AGENT_LIB_DIR, cloud);
        return new ClientCertificateCredential('organizations', identity.clientId, { certificate: pem }, common);
      }
      throw new AdeError('AadCredentialMissing');
    }
  }
}

/** The private key and certificate the agent delivered, as one PEM (what ClientCertificateCredential takes). */
function readAgentCertificate(thumbprint: string, libDir: string, cloud: Cloud): string {
  const base = join(libDir, thumbprint.toUpperCase());
  try {
    return `${readFileSync(`${base}.prv`, 'utf8')}\n${readFileSync(`${base}.crt`, 'utf8')}`;
  } catch (e) {
    const cause = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${base}.prv or ${base}.crt does not exist (the agent delivers the certificate named by AADClientCertThumbprint there)` : (e as Error).message;
    throw new AdeError('IdentityUnavailable', { resource: cloud.resource, source: `certificate ${thumbprint}`, cause, endpoint: cloud.authorityHost }, { cause: e });
  }
}
