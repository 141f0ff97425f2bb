// Which managed disk a volume's key reference belongs on: the OS disk for /, a data disk by the LUN Azure's own
// links name; anything else (LVM, another vault) is left out and named, never guessed.
import { describe, expect, it } from 'vitest';
import { diskKeyPlan, disksToClear, lunOf } from '../../../src/operator/disk-keys.ts';

describe('lunOf', () => {
  it.each([
    ['/dev/disk/azure/scsi1/lun0', 0],
    ['/dev/disk/azure/scsi1/lun12-part1', 12],
    ['/dev/disk/azure/data/by-lun/3', 3],
    ['/dev/disk/azure/data/by-lun/3-part2', 3],
    ['/dev/disk/azure/root-part1', undefined],
    ['/dev/disk/by-uuid/1234', undefined],
    ['/dev/sdc1', undefined],
    ['/dev/disk/azure/scsi1/lun0x', undefined],
  ])('%s → %s', (device, want) => expect(lunOf(device)).toBe(want));
});

describe('diskKeyPlan', () => {
  const disks = [{ id: '/d/os', name: 'os' }, { id: '/d/a', name: 'a', lun: 0 }, { id: '/d/b', name: 'b', lun: 1 }];
  const vault = { id: '/v/kv', vaultUri: 'https://kv.vault.azure.net/' };
  const s = (n: string, host = 'kv.vault.azure.net') => `https://${host}/secrets/${n}/1`;

  it('groups by disk, one entry per secret; only Encrypted volumes with a secret count', () => {
    const { writes, unplaced } = diskKeyPlan(disks, [
      { device: '/dev/disk/azure/root-part1', mountpoint: '/', state: 'Encrypted', secretUrl: s('os') },
      { device: '/dev/disk/azure/scsi1/lun0-part1', mountpoint: '/a1', state: 'Encrypted', secretUrl: s('a1') },
      { device: '/dev/disk/azure/scsi1/lun0-part2', mountpoint: '/a2', state: 'Encrypted', secretUrl: s('a2') },
      { device: '/dev/disk/azure/scsi1/lun1', mountpoint: '/b', state: 'EncryptionInProgress', secretUrl: s('b') },
      { device: '/dev/disk/azure/scsi1/lun1', mountpoint: '/b', state: 'Encrypted' },
    ], vault, { url: 'https://kv.vault.azure.net/keys/k/1', vaultId: '/v/kv' });
    expect(writes.map((w) => [w.disk.name, w.keys.map((k) => k.secretUrl)])).toEqual([['os', [s('os')]], ['a', [s('a1'), s('a2')]]]);
    expect(writes[0]!.keys[0]).toEqual({ secretUrl: s('os'), vaultId: '/v/kv', kekUrl: 'https://kv.vault.azure.net/keys/k/1', kekVaultId: '/v/kv' });
    expect(unplaced).toEqual([]);
  });

  it('no LUN link, an unknown LUN or a secret in another vault: left out and returned', () => {
    const odd = [
      { device: '/dev/mapper/vg-lv', mountpoint: '/lv', state: 'Encrypted', secretUrl: s('lv') },
      { device: '/dev/disk/azure/scsi1/lun7', mountpoint: '/x', state: 'Encrypted', secretUrl: s('x') },
      { device: '/dev/disk/azure/scsi1/lun1', mountpoint: '/b', state: 'Encrypted', secretUrl: s('b', 'other.vault.azure.net') },
    ];
    const { writes, unplaced } = diskKeyPlan(disks, odd, vault);
    expect(writes).toEqual([]);
    expect(unplaced.map((v) => v.mountpoint)).toEqual(['/lv', '/x', '/b']);
  });
});

describe('disksToClear', () => {
  it('data disks whose instance view still shows key references; never the OS disk', () => {
    const disks = [{ id: '/d/os', name: 'OS' }, { id: '/d/a', name: 'a', lun: 0 }, { id: '/d/b', name: 'b', lun: 1 }];
    expect(disksToClear(disks, [{ name: 'os', encryptionSettings: [{}] }, { name: 'A', encryptionSettings: [{}] }, { name: 'b', encryptionSettings: [] }]).map((d) => d.name)).toEqual(['a']);
  });
});
