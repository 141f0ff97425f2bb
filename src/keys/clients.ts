// The Key Vault SDK clients behind a factory, so units can inject their own. The real ones have the SDK's
// own retries switched off: retry.ts owns retrying (bounded, Retry-After honoured, reported with a code).
// Proxy (HTTPS_PROXY/NO_PROXY) and CA trust (NODE_EXTRA_CA_CERTS) come from the environment as usual.
import type { TokenCredential } from '@azure/core-auth';
import { CryptographyClient, KeyClient, type KeyVaultKey } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';

export type SecretsApi = Pick<SecretClient, 'setSecret' | 'getSecret' | 'updateSecretProperties'>;
export type KeysApi = Pick<KeyClient, 'getKey'>;
export type CryptoApi = Pick<CryptographyClient, 'wrapKey' | 'unwrapKey'>;

export interface VaultClientFactory {
  secrets(vaultUrl: string, credential: TokenCredential): SecretsApi;
  keys(vaultUrl: string, credential: TokenCredential): KeysApi;
  /** A key URL (the client fetches the key) or a key already fetched (wraps locally where the SDK can). */
  crypto(key: string | KeyVaultKey, credential: TokenCredential): CryptoApi;
}

const OPTIONS = { retryOptions: { maxRetries: 0 }, userAgentOptions: { userAgentPrefix: 'ade-linux' } };

export const realClients: VaultClientFactory = {
  secrets: (vaultUrl, credential) => new SecretClient(vaultUrl, credential, OPTIONS),
  keys: (vaultUrl, credential) => new KeyClient(vaultUrl, credential, OPTIONS),
  crypto: (key, credential) => (typeof key === 'string' ? new CryptographyClient(key, credential, OPTIONS) : new CryptographyClient(key, credential, OPTIONS)),
};
