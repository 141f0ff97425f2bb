// Value patterns of the settings, shared by the schema formats (build/validators.mjs compiles them into
// src/protocol/validators.generated.js) and by the normalisation in validate.ts.
// ADE's own patterns (check_util.py), kept so every URL ADE accepted is accepted here.
export const KV_URL = /^https:\/\/([a-zA-Z0-9-]+)\.([a-zA-Z0-9.-]+)(:443)?\/?$/;
export const KV_ID = /^\/subscriptions\/([a-zA-Z0-9-]+)\/resourceGroups\/([-\w.()]+)\/providers\/Microsoft\.KeyVault\/vaults\/([a-zA-Z0-9-_]+)\/?$/i;
export const KEK_URL = /^https:\/\/([a-zA-Z0-9-]+)\.([a-zA-Z0-9.-]+)(:443)?\/keys\/([a-zA-Z0-9-]+)\/([a-zA-Z0-9]+)\/?$/i;
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const THUMBPRINT = /^[0-9a-fA-F]{40}$/;
export const MANAGED_IDENTITY = /^(\/subscriptions\/.+|(client_id|object_id)=[0-9a-f-]{36}|res_id=\/subscriptions\/.+)$/i;

export const FORMATS: Record<string, RegExp> = {
  'keyvault-url': KV_URL,
  'keyvault-resource-id': KV_ID,
  'kek-url': KEK_URL,
  guid: GUID,
  thumbprint: THUMBPRINT,
  'managed-identity': MANAGED_IDENTITY,
};
