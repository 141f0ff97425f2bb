// Public surface of src/keys (see README.md for the environment the worker must pass through).
export { fetchKey, fetchKeyDetailed, storePassphrase } from './escrow.ts';
export type { EscrowArgs, EscrowRecord, FetchArgs, FetchedKey, StoreArgs, VolumeRef } from './escrow.ts';
export type { KeysDeps } from './session.ts';
export { VaultSession } from './session.ts';
export { cloudForVault, type Cloud } from './cloud.ts';
export { createCredential, describeIdentity, AGENT_LIB_DIR } from './credentials.ts';
export { realClients, type VaultClientFactory } from './clients.ts';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.ts';
export { generatePassphrase, generateRecoveryPassphrase, newPassphrase, newRecoveryPassphrase } from './passphrase.ts';
export * from './tags.ts';
export { rotateKek } from './rotate.ts';
export type { KeyRecord, RotateArgs, RotatedRecord } from './rotate.ts';
export type { BekVolumeRecord, KeyProtector, KeyVaultRecord, ProtectorRecord, SealInput } from './protectors/types.ts';
export { bekVolumeProtector, KEY_FILE_PATTERN } from './protectors/bek-volume.ts';
export { keyVaultProtector, type KeyVaultProtectorOptions } from './protectors/keyvault.ts';
export { firstKey, unlockSlots, unlockVolume, type OpenWithKey, type ProtectorSlot, type VolumeProtectors } from './protectors/unlock.ts';
