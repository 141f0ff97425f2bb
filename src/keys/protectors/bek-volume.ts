// The "BEK VOLUME" protector (ADE-compatible): the passphrase as a file on the small vfat disk the platform
// attaches, named LinuxPassPhraseFileName (OS volume, ADE's one-key-per-VM name) or
// LinuxPassPhraseFileName_<controller>_<lun> (per data disk). Pure: the disk is reached through KeyVolume
// (src/system/bek-volume.ts: mounts read-only, files mode 0400).
import { timingSafeEqual } from 'node:crypto';
import { AdeError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { KeyVolume } from '../../system/bek-volume.ts';
import type { BekVolumeRecord, KeyProtector } from './types.ts';

export const KEY_FILE_PATTERN = /^LinuxPassPhraseFileName(_\d+_\d+)?$/;

function checkName(fileName: string): void {
  if (!KEY_FILE_PATTERN.test(fileName)) {
    throw new AdeError('SettingInvalid', { field: 'key file name', problem: `"${fileName}" is not LinuxPassPhraseFileName or LinuxPassPhraseFileName_<controller>_<lun>`, fix: 'This is a bug in the caller; report it.' });
  }
}

export function bekVolumeProtector(volume: KeyVolume, log: Logger): KeyProtector<BekVolumeRecord> {
  return {
    kind: 'bek-volume',
    async seal({ volume: v, passphrase, secretUrl }) {
      checkName(v.fileName);
      await volume.writeKey(v.fileName, passphrase);
      const back = await volume.readKey(v.fileName);
      const same = back !== undefined && back.length === passphrase.length && timingSafeEqual(back, passphrase);
      back?.fill(0);
      if (!same) throw new AdeError('PassphraseFileNotFound', { file: v.fileName, secret: secretUrl ?? 'in Key Vault' });
      log.info(`Key of volume ${v.id} written to the key volume as ${v.fileName}`);
      return { kind: 'bek-volume', fileName: v.fileName, ...(secretUrl ? { secretUrl } : {}) };
    },
    async unseal(record) {
      checkName(record.fileName);
      const key = await volume.readKey(record.fileName);
      if (!key || key.length === 0) throw new AdeError('PassphraseFileNotFound', { file: record.fileName, secret: record.secretUrl ?? 'in Key Vault' });
      return key;
    },
  };
}
