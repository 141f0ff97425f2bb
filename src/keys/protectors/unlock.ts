// Unlock with the first protector that yields a key: the key goes from the protector straight to the
// opener (e.g. cryptsetup(run).open from src/system/cryptsetup.ts, key on stdin) and is zeroed afterwards. Several protectors mean
// one failure (key volume missing, vault unreachable) never locks a VM out.
import { asAdeError } from '../../extension/errors.ts';
import type { Logger } from '../../extension/log.ts';
import type { KeyProtector, ProtectorRecord } from './types.ts';

export type OpenWithKey = (device: string, name: string, key: Buffer) => Promise<void>;

export interface ProtectorSlot<R extends ProtectorRecord = ProtectorRecord> {
  protector: KeyProtector<R>;
  record: R;
}

/** Tries each protector in order; returns the kind that opened the device, or throws the last failure. */
export async function unlockVolume(device: string, name: string, slots: ProtectorSlot[], open: OpenWithKey, log: Logger): Promise<ProtectorRecord['kind']> {
  let last: unknown = new Error('no key protector configured');
  for (const { protector, record } of slots) {
    let key: Buffer | undefined;
    try {
      key = await (protector as KeyProtector).unseal(record);
      log.addSecret(key.toString('utf8'));
      await open(device, name, key);
      log.info(`Opened ${device} as ${name} with the ${protector.kind} protector`);
      return protector.kind;
    } catch (e) {
      last = e;
      log.warn(`The ${protector.kind} protector could not open ${device}: ${asAdeError(e).message}`);
    } finally {
      key?.fill(0);
    }
  }
  throw asAdeError(last);
}
