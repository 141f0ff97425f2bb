// A volume record as the encryption core leaves it for an encrypted data volume, named after `name`.
import type { VolumeRecord } from '../../src/encryption/volume-journal.ts';

export const volumeRecord = (name: string, over: Partial<VolumeRecord> = {}): VolumeRecord => ({
  action: 'inplace', device: `/dev/${name}`, luksUuid: `uuid-${name}`, mapperName: `ade-${name}`, mountpoint: `/mnt/${name}`, fstype: 'ext4',
  fstab: { spec: `UUID=fs-${name}`, file: `/mnt/${name}`, vfstype: 'ext4', mntops: ['defaults', 'nofail'], freq: 0, passno: 2 },
  fileName: `LinuxPassPhraseFileName_1_${name.charCodeAt(0)}`, secretUrl: `https://kv.vault.azure.net/secrets/${name}/v1`, step: '', done: false,
  state: 'encrypted', seq: 1, ...over,
});
