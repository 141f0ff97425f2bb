// After a KEK rotation the OS volume's key lives in a new secret: the initramfs's conf follows the record, and
// every initramfs is rebuilt, exactly when the conf changed (src/encryption/os.ts refreshOsKeys).
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { refreshOsKeys } from '../../../src/encryption/os.ts';
import type { VolumeRecord } from '../../../src/encryption/volume-journal.ts';
import type { OsBootConf } from '../../../src/system/os-boot.ts';

const osRecord = (over: Partial<VolumeRecord> = {}): VolumeRecord => ({
  action: 'os', device: '/dev/sda1', luksUuid: 'l1', mapperName: 'osencrypt', mountpoint: '/', fstype: 'ext4',
  fstab: { spec: 'UUID=f', file: '/', vfstype: 'ext4', mntops: ['defaults'], freq: 0, passno: 1 }, fileName: 'LinuxPassPhraseFileName',
  step: '', done: false, state: 'encrypted', seq: 3, secretUrl: 'https://v.vault.azure.net/secrets/s/2', kekUrl: 'https://v.vault.azure.net/keys/k/2', algorithm: 'RSA-OAEP-256',
  os: { partuuid: 'p', header: '/boot/luks/osluksheader', headerFs: 'UUID=b', headerFsType: 'ext4', backup: '/boot/luks/osluksheader.backup', builder: 'dracut' },
  ...over,
});

function tools(records: VolumeRecord[], confChanges: boolean) {
  const calls: string[] = [];
  const t = {
    records: { list: () => records },
    os: {
      setConfKeys: (kv: NonNullable<OsBootConf['kv']>) => { calls.push(`setConfKeys ${kv.secret} ${kv.kek ?? '-'} ${kv.algorithm ?? '-'}`); return confChanges; },
      rebuild: async (b: string) => { calls.push(`rebuild ${b}`); return ''; },
    },
  };
  return { t: t as unknown as Parameters<typeof refreshOsKeys>[0], calls };
}

describe('refreshOsKeys', () => {
  it('a rotated OS key: the conf takes the new secret and KEK, the initramfs is rebuilt with the recorded builder', async () => {
    const { t, calls } = tools([osRecord()], true);
    await refreshOsKeys(t, memoryLogger());
    expect(calls).toEqual(['setConfKeys https://v.vault.azure.net/secrets/s/2 https://v.vault.azure.net/keys/k/2 RSA-OAEP-256', 'rebuild dracut']);
  });
  it('the recovery passphrase\'s secret follows the record as well', async () => {
    const calls: string[] = [];
    const rec = osRecord();
    rec.os = { ...rec.os!, recovery: { secretUrl: 'https://v.vault.azure.net/secrets/r/2', kekUrl: 'https://v.vault.azure.net/keys/k/2' } };
    const t = { records: { list: () => [rec] }, os: { setConfKeys: (kv: NonNullable<OsBootConf['kv']>) => { calls.push(`recovery ${kv.recovery}`); return false; }, rebuild: async () => '' } };
    await refreshOsKeys(t as unknown as Parameters<typeof refreshOsKeys>[0], memoryLogger());
    expect(calls).toEqual(['recovery https://v.vault.azure.net/secrets/r/2']);
  });
  it('the conf already says so: no rebuild', async () => {
    const { t, calls } = tools([osRecord()], false);
    await refreshOsKeys(t, memoryLogger());
    expect(calls).toHaveLength(1);
  });
  it.each([
    ['no OS volume', [osRecord({ action: 'inplace' })]],
    ['the OS volume still encrypting', [osRecord({ state: 'encrypting' })]],
  ])('%s: nothing', async (_, records) => {
    const { t, calls } = tools(records, true);
    await refreshOsKeys(t, memoryLogger());
    expect(calls).toEqual([]);
  });
});
