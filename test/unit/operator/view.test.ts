// The extension's instance view as the agent reports our status (statuses: ProvisioningState/<status>;
// substatuses: ComponentStatus/EncryptionState/<status> with ADE's {"os","data"}, ComponentStatus/Volumes/<status>
// with our rows), read back into the state the CLI prints, and the table, JSON and progress line it prints.
import { describe, expect, it } from 'vitest';
import { allEncrypted, findExtension, overallPercent, readExtensionView } from '../../../src/operator/instance-view.ts';
import { progressLine, stateJson, stateTable } from '../../../src/operator/render.ts';

const view = (status: string, os: string, data: string, volumes: unknown[]) => ({
  name: 'DiskEncryption', type: 'AdeLinux.DiskEncryption',
  statuses: [{ code: `ProvisioningState/${status}`, level: 'Info', displayStatus: 'Provisioning succeeded', message: 'Encrypting 1 data volume(s).' }],
  substatuses: [
    { code: `ComponentStatus/EncryptionState/${status}`, message: JSON.stringify({ os, data }) },
    { code: `ComponentStatus/Volumes/${status}`, message: JSON.stringify(volumes) },
  ],
});

describe('readExtensionView', () => {
  it('in progress: the states, the rows, the message', () => {
    const s = readExtensionView(view('succeeded', 'NotEncrypted', 'EncryptionInProgress', [
      { device: '/dev/sdc', mountpoint: '/data', state: 'EncryptionInProgress', percent: 40, etaSeconds: 185 },
      { device: '/dev/sdd', mountpoint: '/logs', state: 'Encrypted' }]));
    expect(s).toEqual({ provisioning: 'succeeded', message: 'Encrypting 1 data volume(s).', os: 'NotEncrypted', data: 'EncryptionInProgress', volumes: [
      { device: '/dev/sdc', mountpoint: '/data', state: 'EncryptionInProgress', percent: 40, etaSeconds: 185 }, { device: '/dev/sdd', mountpoint: '/logs', state: 'Encrypted' }] });
    expect(overallPercent(s)).toBe(70);
    expect(allEncrypted(s)).toBe(false);
    // a volume waiting its turn counts 0, not left out (the bar once jumped to 100% between two volumes)
    expect(overallPercent({ ...s, volumes: [{ device: '/dev/sdd', state: 'Encrypted' }, { device: '/dev/sde', state: 'NotEncrypted' }] })).toBe(50);
    expect(overallPercent({ ...s, data: 'DecryptionInProgress', volumes: [{ device: '/dev/sdd', state: 'NotEncrypted' }, { device: '/dev/sde', state: 'DecryptionInProgress', percent: 20 }] })).toBe(60);
    expect(overallPercent({ ...s, volumes: [] })).toBeUndefined();
    expect(progressLine(s)).toBe('[##############......]  70%  /dev/sdc EncryptionInProgress, ETA 3m05s');
    expect(stateTable('vm1', s)).toBe('vm1: OS NotEncrypted, data EncryptionInProgress (extension succeeded)\n' +
      'Disk      Mount  State                 Done  ETA\n/dev/sdc  /data  EncryptionInProgress  40%   3m05s\n/dev/sdd  /logs  Encrypted             100%\nEncrypting 1 data volume(s).\n');
    expect(JSON.parse(stateJson('vm1', s))).toMatchObject({ vm: 'vm1', os: 'NotEncrypted', data: 'EncryptionInProgress', extension: 'succeeded', volumes: s.volumes });
  });
  it.each([
    ['everything encrypted', 'Encrypted', 'Encrypted', [{ device: '/dev/sda1', state: 'Encrypted' }], true],
    ['OS encrypted, no data volume', 'Encrypted', 'NotMounted', [], true],
    ['a data volume not encrypted', 'Encrypted', 'Encrypted', [{ device: '/dev/sdc', state: 'NotEncrypted' }], false],
    ['the OS disk waiting for its restart', 'VMRestartPending', 'NotMounted', [], false],
  ])('allEncrypted: %s', (_, os, data, vols, want) => {
    expect(allEncrypted(readExtensionView(view('succeeded', os, data, vols)))).toBe(want);
  });
  it('no extension, a failed one, garbage in the substatus: nothing invented', () => {
    expect(readExtensionView(undefined)).toEqual({ provisioning: 'unknown', message: '', volumes: [] });
    const failed = readExtensionView({ statuses: [{ code: 'ProvisioningState/failed/204', message: 'KeyVaultURL is not a vault URL. Give ...' }], substatuses: [{ code: 'ComponentStatus/Volumes/failed', message: '{not json' }] });
    expect(failed).toEqual({ provisioning: 'failed', message: 'KeyVaultURL is not a vault URL. Give ...', volumes: [] });
    expect(allEncrypted(failed)).toBe(false);
  });
  it('findExtension: by resource name, else by publisher.type', () => {
    const all = [{ name: 'Other', type: 'X.Y' }, { name: 'ade', type: 'AdeLinux.DiskEncryption' }];
    expect(findExtension(all, 'DiskEncryption', 'adelinux.diskencryption')?.name).toBe('ade');
    expect(findExtension(all, 'Other', 'AdeLinux.DiskEncryption')?.name).toBe('Other');
    expect(findExtension(all, 'none', 'No.Such')).toBeUndefined();
  });
});
