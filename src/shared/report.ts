// What an operation reports, as every layer sees it: the terminal or running status, ADE's {"os", "data"}
// states and one row per volume. protocol/status.ts turns it into the agent's status file.

export type StatusValue = 'transitioning' | 'warning' | 'error' | 'success';
export type OsState = 'NotEncrypted' | 'Encrypted' | 'EncryptionInProgress' | 'VMRestartPending';
export type DataState = 'NotEncrypted' | 'NotMounted' | 'Encrypted' | 'EncryptionInProgress' | 'DecryptionInProgress';

export interface VolumeDetail {
  device: string;
  mountpoint?: string;
  state: string;
  percent?: number;
  etaSeconds?: number;
  code?: number;
  secretUrl?: string;
}

export interface Report {
  operation: string;
  status: StatusValue;
  code: number;
  message: string;
  os?: OsState;
  data?: DataState;
  volumes?: VolumeDetail[];
}

