// Issue 5 in the lab: a refused EnableEncryption (a mounted data volume missing from /etc/fstab) changes
// nothing, then EnableEncryptionFormatAll formats an xfs and an ext4 data disk as LUKS2 with the previous file
// system type, mounted at the same place, unlocked by systemd at the next boot.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type FileTree, type Vm } from '../../lab/vm.ts';
import { enableSettings, fstabByMount, GuestExtension, mountDataDisks, parseStatus, startDataGuest, STATE_DIR, type GuestAzure } from '../../lab/e2e.ts';

const xfsFiles: FileTree = { 'old-x.bin': randomBytes(1 << 20) };
const extFiles: FileTree = { 'old-e.bin': randomBytes(1 << 20) };
const loose: FileTree = { 'keep.bin': randomBytes(2 << 20), 'dir/note.txt': 'not in fstab\n' };
const hashes = (t: FileTree): Record<string, string> => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, sha256(v)]));

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let g: Awaited<ReturnType<typeof startDataGuest>> | undefined;

beforeAll(async () => {
  g = await startDataGuest({
    name: 'data-format',
    disks: [
      { name: 'xdata', kind: 'xfs', sizeMiB: 340, files: xfsFiles },
      { name: 'edata', kind: 'ext4', sizeMiB: 64, files: extFiles },
      { name: 'loose', kind: 'ext4', sizeMiB: 64, files: loose },
      { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' },
    ],
  });
  ({ az, vm, ext } = g);
  await mountDataDisks(vm, [{ disk: 'xdata', mountpoint: '/xdata', fstype: 'xfs' }, { disk: 'edata', mountpoint: '/edata' }]);
  expect((await ext.run('install')).code).toBe(0);
});

afterAll(async () => {
  await g?.stop();
});

const snapshot = (): Promise<string> => vm.run(`cat /etc/fstab /etc/crypttab; for d in xdata edata loose; do blkid -p -o export "$(lab-dev $d)" | grep -v '^DEVNAME'; done; ls /mnt/azure_bek_disk 2>/dev/null; dmsetup ls --target crypt`);

describe('data volumes: a refusal changes nothing; EnableEncryptionFormatAll', () => {
  it('refuses EnableEncryption (a mounted data volume not in /etc/fstab: 401; xfs in place: 406) and changes nothing', async () => {
    await vm.run('mkdir -p /loose && mount "$(lab-dev loose)" /loose');
    const before = await snapshot();
    const seq = await ext.settings(enableSettings(az));
    expect((await ext.run('enable')).code).toBe(0);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status).toBe('error');
    // every volume is checked before anything changes; the status code is the first failure's (xfs in place: 406)
    expect([401, 406]).toContain(st.code);
    expect(st.message).toMatch(/^Nothing was changed\./);
    expect(st.message).toMatch(/\[401\] Data volume \/dev\/vd[a-z] \(mounted at \/loose\) is not listed in \/etc\/fstab/);
    expect(st.message).toMatch(/\[406\] \/dev\/vd[a-z] holds xfs/);
    expect(await snapshot()).toBe(before);
    expect(await vm.hashTree('/loose')).toEqual(hashes(loose));
    expect(await vm.hashTree('/xdata')).toEqual(hashes(xfsFiles));
    expect(await vm.hashTree('/edata')).toEqual(hashes(extFiles));
    // no key was made or escrowed for anything
    expect(az.fake.log.of('vault').filter((r) => r.method === 'PUT')).toEqual([]);
    expect((await vm.exec(`ls ${STATE_DIR}/volumes/*.json`)).code).not.toBe(0);
  });

  it('EnableEncryptionFormatAll: xfs and ext4 become LUKS2 holding a fresh file system of the same type, same mount point; boot unlocks them', async () => {
    await vm.run('umount /loose');
    const fstabBefore = fstabByMount(await vm.run('cat /etc/fstab'));
    const seq = await ext.settings(enableSettings(az, 'EnableEncryptionFormatAll'));
    expect((await ext.run('enable')).code).toBe(0);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'Encrypted' });
    expect(st.volumes?.map((v) => [v.mountpoint, v.state]).sort()).toEqual([['/edata', 'Encrypted'], ['/xdata', 'Encrypted']]);

    const check = async (): Promise<void> => {
      for (const [disk, mp, fstype] of [['xdata', '/xdata', 'xfs'], ['edata', '/edata', 'ext4']] as const) {
        const dump = await vm.run(`cryptsetup luksDump "$(lab-dev ${disk})"`);
        expect(dump).toMatch(/^Version:\s+2$/m);
        expect(dump).toMatch(/cipher:\s+aes-xts-plain64/);
        expect(dump).toMatch(/Cipher key:\s+512 bits/);
        const uuid = (await vm.run(`cryptsetup luksUUID "$(lab-dev ${disk})"`)).trim();
        expect(await vm.run(`findmnt -no SOURCE,FSTYPE ${mp}`)).toMatch(new RegExp(`^/dev/mapper/ade-${uuid}\\s+${fstype}\\s*$`));
        expect(fstabByMount(await vm.run('cat /etc/fstab'))[mp]).toMatch(new RegExp(`^/dev/mapper/ade-${uuid}\\s+${mp}\\s+${fstype}\\s+\\S*nofail`));
        expect(await vm.run('cat /etc/crypttab')).toMatch(new RegExp(`^ade-${uuid}\\s+UUID=${uuid}\\s+/mnt/azure_bek_disk/LinuxPassPhraseFileName_0_\\d+\\s+\\S*luks`, 'm'));
        expect(await vm.hashTree(mp)).toEqual({}); // formatted: the old files are gone
      }
    };
    await check();
    expect(fstabBefore['/xdata']).toMatch(/^UUID=/);
    // the user's new data lands encrypted and survives a reboot unlocked by systemd alone
    await vm.run('echo after-format > /xdata/new.txt && echo after-format > /edata/new.txt && sync');
    expect((await vm.run('grep -c after-format "$(lab-dev xdata)" "$(lab-dev edata)" || true')).trim().split('\n').map((l) => l.split(':').pop())).toEqual(['0', '0']);
    await vm.reboot();
    expect((await vm.run('cat /xdata/new.txt /edata/new.txt'))).toBe('after-format\nafter-format\n');
    await vm.run('rm /xdata/new.txt /edata/new.txt');
    await check();
    // the volume that was never in scope is untouched
    expect(await vm.run('blkid -o value -s TYPE "$(lab-dev loose)"')).toBe('ext4\n');
    expect(new Set(az.fake.log.of('vault').filter((r) => r.method === 'PUT' && r.path.startsWith('/secrets/')).map((r) => r.path)).size).toBe(2);
  });
});
