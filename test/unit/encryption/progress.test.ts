// Per-volume rows of the status while a data operation runs (src/encryption/progress.ts).
import { describe, expect, it } from 'vitest';
import { osState, progressReport, volumeRow } from '../../../src/encryption/progress.ts';
import { OS_STEPS } from '../../../src/encryption/os-steps.ts';
import type { VolumeProgress } from '../../../src/encryption/volume-journal.ts';

const base: VolumeProgress = {
  action: 'inplace', device: '/dev/sdc', luksUuid: 'u1', mapperName: 'ade-u1', mountpoint: '/data1', fstype: 'ext4',
  fstab: { spec: 'UUID=f1', file: '/data1', vfstype: 'ext4', mntops: ['defaults', 'nofail'], freq: 0, passno: 2 },
  fileName: 'LinuxPassPhraseFileName_1_0', step: '', done: false,
};
const escrowed = { secretUrl: 'https://v.vault.azure.net/secrets/s/1' };

describe('volumeRow state', () => {
  it.each([
    ['queued encryption (nothing escrowed, no step done)', {}, 'NotEncrypted'],
    ['escrowed, first step done', { ...escrowed, step: 'escrow' }, 'EncryptionInProgress'],
    ['adopted half-way (escrowed, steps start again)', { ...escrowed }, 'EncryptionInProgress'],
    ['escrow failed: nothing was touched', { error: { code: 303, message: 'no secrets/set' } }, 'NotEncrypted'],
    ['failed after escrow', { ...escrowed, step: 'shrink', error: { code: 19, message: 'x' } }, 'EncryptionInProgress'],
    ['format queued', { action: 'format' as const }, 'NotEncrypted'],
    ['encrypted', { ...escrowed, step: 'record', done: true }, 'Encrypted'],
    ['decryption queued', { action: 'decrypt' as const, ...escrowed }, 'DecryptionInProgress'],
    ['decrypted', { action: 'decrypt' as const, ...escrowed, done: true }, 'NotEncrypted'],
  ])('%s → %s', (_name, patch, state) => {
    expect(volumeRow({ ...base, ...patch }, 0).state).toBe(state);
  });

  it('the second of two volumes waits as NotEncrypted while the first runs', () => {
    const r = progressReport('EnableEncryption', [{ ...base, ...escrowed, step: 'init', totalBytes: 100, doneBytes: 40 }, { ...base, device: '/dev/sdd', mountpoint: '/data2', luksUuid: 'u2', mapperName: 'ade-u2' }], 0, new Map());
    expect(r.volumes?.map((v) => [v.mountpoint, v.state, v.percent])).toEqual([['/data1', 'EncryptionInProgress', 40], ['/data2', 'NotEncrypted', undefined]]);
    expect(r.data).toBe('EncryptionInProgress');
    expect(r.message).toBe('Encrypting data volume 1/2 (/data1): 40%.');
  });
});

describe('osState: ADE\'s VMRestartPending from the last step before the restart until the restart', () => {
  const os = (step: string): VolumeProgress => ({ ...base, action: 'os', mountpoint: '/', ...escrowed, step });
  const at = (n: string) => OS_STEPS.findIndex((s) => s.name === n);
  it.each(OS_STEPS.map((s) => s.name))('last step done: %s', (step) => {
    const pending = at(step) >= at('fstab') && at(step) < at('restart');
    expect(osState(os(step))).toBe(pending ? 'VMRestartPending' : 'EncryptionInProgress');
  });
  it('the restart pending is the state right after the last step before it', () => {
    expect(osState(os(OS_STEPS[at('restart') - 1]!.name))).toBe('VMRestartPending');
  });
});

describe('the OS restart in the status message', () => {
  const osP = (deferRestart: boolean): VolumeProgress => ({
    ...base, action: 'os', mountpoint: '/', ...escrowed, step: 'fstab',
    os: { partuuid: 'p', header: '/boot/luks/osluksheader', headerFs: 'UUID=b', headerFsType: 'ext4', backup: '/boot/luks/osluksheader.backup', builder: 'initramfs-tools', ...(deferRestart ? { deferRestart } : {}) },
  });
  it.each([
    [false, 'The OS volume is ready to be opened encrypted: the VM restarts now, and the encryption goes on after the boot.'],
    [true, 'The OS volume is ready to be opened encrypted: OSRestart is Deferred: restart the VM to continue, and the encryption goes on after the boot.'],
  ])('deferred %s', (deferred, message) => {
    expect(progressReport('EnableEncryption', [osP(deferred)], 0, new Map()).message).toBe(message);
  });
});
