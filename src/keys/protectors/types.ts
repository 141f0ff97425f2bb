// A key protector keeps a copy of a volume's passphrase somewhere it can be recovered from at unlock time
// (clevis calls these "pins"). One small interface; records are JSON so the journal and status can hold them.
import type { KekAlgorithm } from '../../shared/types.ts';
import type { VolumeRef } from '../escrow.ts';

export type BekVolumeRecord = { kind: 'bek-volume'; fileName: string; /** The escrowed copy, for the error when the file is gone. */ secretUrl?: string };
export type KeyVaultRecord = { kind: 'keyvault'; secretUrl: string; kekUrl?: string; algorithm?: KekAlgorithm };
export type ProtectorRecord = BekVolumeRecord | KeyVaultRecord;

export interface SealInput {
  volume: VolumeRef;
  passphrase: Buffer;
  secretUrl?: string;
}

export interface KeyProtector<R extends ProtectorRecord = ProtectorRecord> {
  readonly kind: R['kind'];
  /** Stores the passphrase; returns what unseal needs. */
  seal(input: SealInput): Promise<R>;
  /**
   * Optional: gets ready to seal (a token, a key to wrap with) while the caller does other work. It never
   * needs awaiting for correctness: seal does whatever is still missing, and reports any failure itself.
   */
  prepare?(): Promise<void>;
  /** The passphrase back. The caller zeroes the buffer when done. */
  unseal(record: R): Promise<Buffer>;
}
