import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandFailed, type RunResult, type Runner } from '../../../src/system/exec.ts';
import { diskLinks, readBlockSnapshot } from '../../../src/system/blockdev.ts';
import { classifyVolumes, summarize } from '../../../src/encryption/discovery.ts';

/** What QueryEncryptionStatus does: the system's snapshot, classified by the core. */
const readSystemVolumes = async (run: Runner, root: string) => classifyVolumes(await readBlockSnapshot(run, root));

const fx = (n: string) => readFileSync(new URL(`../../fixtures/${n}`, import.meta.url), 'utf8');
const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: '' });

/** Answers by command line; records every call. */
function fakeRunner(answers: Record<string, RunResult>): Runner & { calls: string[] } {
  const calls: string[] = [];
  const r = async (file: string, args: readonly string[]) => {
    const key = [file, ...args].join(' ');
    calls.push(key);
    return answers[key] ?? { exitCode: 1, stdout: '', stderr: `unexpected: ${key}` };
  };
  return Object.assign(r, { calls });
}

const LSBLK = 'lsblk --json --bytes --output NAME,PATH,KNAME,PKNAME,TYPE,FSTYPE,UUID,LABEL,PARTUUID,SIZE,MOUNTPOINTS,RO,SERIAL,MODEL,HCTL';
const FINDMNT = 'findmnt --json --list --output TARGET,SOURCE,FSTYPE,OPTIONS';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A fake root with etc/ files and udev-style relative symlinks. */
function fakeRoot(files: Record<string, string>, links: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ade-blockdev-'));
  roots.push(root);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  for (const [p, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    symlinkSync(target, join(root, p));
  }
  return root;
}

describe('readSystemVolumes', () => {
  it('Azure VM: runs the tools, reads the fake root, classifies', async () => {
    const root = fakeRoot(
      { 'etc/fstab': fx('blockdev/azure-fstab'), 'etc/crypttab': fx('blockdev/azure-crypttab') },
      {
        'dev/disk/azure/root': '../../sda', 'dev/disk/azure/resource-part1': '../../sdb1', 'dev/disk/azure/resource': '../../sdb',
        'dev/disk/azure/scsi1/lun0': '../../../sdc', 'dev/disk/azure/scsi1/lun0-part1': '../../../sdc1',
        'dev/disk/azure/scsi1/lun1': '../../../sdd', 'dev/disk/azure/scsi1/lun2': '../../../sde',
        'dev/disk/azure/scsi1/lun3': '../../../sdf', 'dev/disk/azure/scsi1/lun3-part1': '../../../sdf1',
        'dev/disk/by-uuid/4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11': '../../sda1',
      },
    );
    const run = fakeRunner({
      [LSBLK]: ok(fx('blockdev/azure-lsblk.json')),
      [FINDMNT]: ok(fx('blockdev/azure-findmnt.json')),
      'blkid -o export': { exitCode: 2, stdout: '', stderr: '' },
      'cryptsetup luksDump --dump-json-metadata /dev/sdf1': ok(fx('luks/luks2-encrypted.json')),
    });
    const vs = await readSystemVolumes(run, root);
    expect(run.calls.sort()).toEqual(['blkid -o export', 'cryptsetup luksDump --dump-json-metadata /dev/sdf1', FINDMNT, LSBLK].sort());
    expect(vs.filter((v) => v.role === 'data').map((v) => [v.kname, v.persistentName, v.mountpoint ?? null, v.encrypted])).toEqual([
      ['sdc1', '/dev/disk/azure/scsi1/lun0-part1', '/data1', false],
      ['sdd', '/dev/disk/azure/scsi1/lun1', '/data2', false],
      ['dm-0', '/dev/mapper/datavg-datalv', '/data3', false],
      ['sdf1', '/dev/disk/azure/scsi1/lun3-part1', null, true],
      ['dm-1', '/dev/mapper/8b1f4c5e-6d7a-4e8b-9c0d-1e2f3a4b5c6d', '/data4', true],
    ]);
    expect(vs.find((v) => v.kname === 'sda1')!.persistentName).toBe('/dev/disk/by-uuid/4a1c1fa1-6f0c-4d6e-8b1e-0f3b2d3a7c11');
    expect(vs.find((v) => v.kname === 'sdf1')!.crypttabEntry?.keyfile).toBe('/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_3');
    expect(summarize(vs)).toEqual({ os: 'NotEncrypted', data: 'NotEncrypted' });
  });

  /** The lab guest mid-encryption: lsblk, findmnt and blkid as seen there, /dev/vde's reencryption killed half-way. */
  const labRunner = () => fakeRunner({
    [LSBLK]: ok(fx('blockdev/lab-lsblk.json')),
    [FINDMNT]: ok(fx('blockdev/lab-findmnt.json')),
    'blkid -o export': ok(fx('blockdev/lab-blkid.txt')),
    'cryptsetup luksDump --dump-json-metadata /dev/vde': ok(fx('luks/luks2-reencrypt-killed.json')),
  });

  it('lab: empty root (no fstab, no udev links), blkid fills lsblk gaps, luksDump shows reencryption', async () => {
    const root = fakeRoot({}, {});
    const run = labRunner();
    const vs = await readSystemVolumes(run, root);
    expect(vs.find((v) => v.kname === 'vdb')!.role).toBe('bek');
    expect(summarize(vs)).toEqual({ os: 'NotEncrypted', data: 'EncryptionInProgress' });
  });

  it('lab: /dev/disk/by-id gives the virtio disks hardware names (no Azure links there)', async () => {
    const root = fakeRoot({}, {
      'dev/disk/by-id/virtio-data': '../../vdc', 'dev/disk/by-id/virtio-data2-part1': '../../vdd1', 'dev/disk/by-id/virtio-data3': '../../vde',
      'dev/disk/by-id/dm-name-data3': '../../dm-0', 'dev/disk/by-id/dm-uuid-CRYPT-LUKS2-cce6c401fbaf4eda88288c05fb5c814b-data3': '../../dm-0',
    });
    const run = labRunner();
    const vs = await readSystemVolumes(run, root);
    expect(vs.filter((v) => v.role === 'data').map((v) => [v.kname, v.hardwareNames?.[0] ?? null])).toEqual([
      ['vdc', '/dev/disk/by-id/virtio-data'], ['vdd1', '/dev/disk/by-id/virtio-data2-part1'], ['vde', '/dev/disk/by-id/virtio-data3'], ['dm-0', null],
    ]);
  });

  it('LUKS1 (luksDump JSON refused) is still an encrypted volume', async () => {
    const run = fakeRunner({
      [LSBLK]: ok(fx('blockdev/lab-lsblk.json')),
      [FINDMNT]: ok(fx('blockdev/lab-findmnt.json')),
      'blkid -o export': ok(fx('blockdev/lab-blkid.txt')),
      'cryptsetup luksDump --dump-json-metadata /dev/vde': { exitCode: 1, stdout: '', stderr: 'Dump operation is not supported for this device type.\n' },
    });
    const vs = await readSystemVolumes(run, fakeRoot({}, {}));
    expect(vs.find((v) => v.kname === 'vde')).toMatchObject({ encrypted: true });
    expect(vs.find((v) => v.kname === 'vde')).not.toHaveProperty('reencrypt');
  });

  it.each([
    [LSBLK, { exitCode: 32, stdout: '', stderr: 'lsblk: failed to access sysfs directory: /sys/dev/block: No such file or directory\n' }],
    ['blkid -o export', { exitCode: 4, stdout: '', stderr: 'usage error' }],
  ])('a failing %s throws CommandFailed', async (cmd, res) => {
    const answers: Record<string, RunResult> = { [LSBLK]: ok(fx('blockdev/lab-lsblk.json')), [FINDMNT]: ok(fx('blockdev/lab-findmnt.json')), 'blkid -o export': ok(''), [cmd]: res };
    await expect(readSystemVolumes(fakeRunner(answers), fakeRoot({}, {}))).rejects.toBeInstanceOf(CommandFailed);
  });
});

describe('diskLinks', () => {
  it('resolves relative udev links against their /dev path and recurses', () => {
    const root = fakeRoot({}, { 'dev/disk/azure/scsi1/lun10-part2': '../../../sdk2', 'dev/disk/azure/resource': '../../sdb', 'dev/disk/azure/abs': '/dev/sdz' });
    expect(diskLinks(root, 'azure')).toEqual({ abs: '/dev/sdz', resource: '/dev/sdb', 'scsi1/lun10-part2': '/dev/sdk2' });
    expect(diskLinks(root, 'by-uuid')).toEqual({});
  });
});
