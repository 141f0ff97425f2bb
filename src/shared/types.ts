// The settings as the rest of the code sees them: validated, normalised, typed. Raw JSON stays in settings.ts.

export const OPERATIONS = ['EnableEncryption', 'EnableEncryptionFormatAll', 'DisableEncryption', 'QueryEncryptionStatus'] as const;
export type EncryptionOperation = (typeof OPERATIONS)[number];

export const VOLUME_TYPES = ['OS', 'Data', 'All'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

export const KEK_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const;
export type KekAlgorithm = (typeof KEK_ALGORITHMS)[number];

/** Who restarts the VM once the OS disk's boot is ready: the extension, or the operator later. */
export const OS_RESTARTS = ['Automatic', 'Deferred'] as const;
export type OsRestart = (typeof OS_RESTARTS)[number];

/** Which identity the VM uses to reach Key Vault. */
export type Identity =
  | { kind: 'system' }
  | { kind: 'user'; clientId?: string; objectId?: string; resourceId?: string }
  | { kind: 'aad'; clientId: string; secret?: string; certThumbprint?: string };

export interface Kek {
  /** Versioned key URL, normalised (no :443, no trailing slash). */
  url: string;
  vaultResourceId: string;
  algorithm: KekAlgorithm;
}

export interface EncryptionSettings {
  operation: EncryptionOperation;
  volumeType: VolumeType;
  /** Normalised: lower-case host, no :443, exactly one trailing slash. Absent only for Query/Disable. */
  keyVaultUrl?: string;
  keyVaultResourceId?: string;
  kek?: Kek;
  identity: Identity;
  sequenceVersion?: string;
  /** OS volume: Deferred leaves the restart to the operator; Automatic when absent. */
  osRestart?: OsRestart;
  /** A user-chosen passphrase from protected settings; generated when absent. */
  passphrase?: string;
  /** Fields that are no setting of ours (newer clients add some), ignored and named in the status. */
  ignored?: string[];
}
