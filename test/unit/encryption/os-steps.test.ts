// The OS disk's step machine in process, on a small recording fake of the machine: what each step does on a
// fresh run, what it skips when the worker starts again after the restart (or a power cut), that a deferred
// restart stops the worker without restarting anything, and that a header that is not ours is never touched.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { OS_STEPS } from '../../../src/encryption/os-steps.ts';
import { RestartPending, runSteps, Stopped, type Tools, type VolumeKeys, type VolumeRun } from '../../../src/encryption/steps.ts';
import type { VolumeProgress } from '../../../src/encryption/volume-journal.ts';
import { formatOsConf, type OsBoot, type OsBootConf } from '../../../src/system/os-boot.ts';
import type { KeyVaultRecord, SealInput } from '../../../src/keys/index.ts';

interface World { recoverySlot?: boolean; headerUuid?: string; headerState?: 'null' | 'reencrypt'; key?: string; root: string; conf?: string; fstab: string; calls: string[]; bootFrom?: string; onReboot?: () => void; splitRefusal?: string }

function progress(over: Partial<VolumeProgress> = {}, os: Partial<NonNullable<VolumeProgress['os']>> = {}): VolumeProgress {
  return {
    action: 'os', device: '/dev/vda1', luksUuid: 'luks-os-1', mapperName: 'osencrypt', mountpoint: '/', fstype: 'ext4',
    fstab: { spec: 'LABEL=cloudimg-rootfs', file: '/', vfstype: 'ext4', mntops: ['discard', 'errors=remount-ro'], freq: 0, passno: 1 },
    fileName: 'LinuxPassPhraseFileName', step: '', done: false,
    os: { partuuid: 'part-1', header: '/boot/luks/osluksheader', headerFs: 'UUID=boot-1', headerFsType: 'ext4', backup: '/boot/luks/osluksheader.backup', builder: 'initramfs-tools', ...os },
    ...over,
  };
}

function fake(w: World, signal = new AbortController().signal) {
  const rec = (name: string) => (..._a: unknown[]) => { w.calls.push(name); return Promise.resolve(''); };
  const os = {
    hasConf: (c: OsBootConf) => w.conf === formatOsConf(c),
    prepareHeaderDir: () => { w.calls.push('prepareHeaderDir'); },
    install: (_b: string, c: OsBootConf) => { w.calls.push('install'); w.conf = formatOsConf(c); },
    rebuild: rec('rebuild'),
    backupHeader: async () => { w.calls.push('backupHeader'); },
    reboot: async () => { w.calls.push('reboot'); w.onReboot?.(); },
    dropForcePartuuid: () => { w.calls.push('dropForcePartuuid'); return true; },
    updateGrub: rec('updateGrub'),
    bootMountedFrom: async (uuid: string) => { w.calls.push(`bootMountedFrom ${uuid}`); return w.bootFrom === uuid; },
    espMountpoint: async () => '/boot/efi',
    splitRefusal: () => w.splitRefusal,
    installGrub: async (o: { partition: string; efiDir?: string }) => { w.calls.push(`installGrub ${o.partition} ${o.efiDir}`); return ['i386-pc on /dev/vda']; },
  } as unknown as OsBoot;
  const tools = {
    cs: {
      uuid: async (d: string) => (d === '/boot/luks/osluksheader' ? w.headerUuid : undefined),
      initEncryptDetached: async (_d: string, _k: Buffer, o: { uuid: string }) => { w.calls.push('initEncryptDetached'); w.headerUuid = o.uuid; w.headerState = 'reencrypt'; return ''; },
      formatNullDetached: async (_d: string, k: Buffer, o: { uuid: string }) => { w.calls.push(`formatNullDetached ${k.toString()}`); w.headerUuid = o.uuid; w.headerState = 'null'; return ''; },
      initReencryptDetached: async (_d: string, ps: Buffer[], o: { header: string }) => {
        w.calls.push(`initReencryptDetached ${o.header} ${ps.map(String).join(' ')}`); w.headerState = 'reencrypt'; return '';
      },
      testKey: async (_d: string, k: Buffer, o: { header?: string }) => w.recoverySlot === true && k.toString() === RECOVERY && o.header === '/boot/luks/osluksheader',
      addKey: async (h: string, key: Buffer, pass: Buffer) => { w.calls.push(`addKey ${h} ${key.toString()} ${pass.toString()}`); w.recoverySlot = true; return ''; },
      // the header's state as the steps left it; once resumed, nothing is left to do (the reencryption itself is the lab's to prove)
      dump: async () => ({
        reencryptInProgress: w.headerState === 'reencrypt',
        segments: w.headerState === 'reencrypt' ? [] : [{ type: 'crypt', encryption: w.headerState === 'null' ? 'cipher_null-ecb' : 'aes-xts-plain64', flags: [] }],
      }),
      resume: async () => { w.headerState = undefined; return ''; },
    },
    mnt: { sourceAt: async (mp: string) => (mp === '/' ? w.root : undefined) },
    fs: { deviceBytes: async () => 1 << 30 },
    files: { readFstab: () => w.fstab, writeFstab: (t: string) => { w.calls.push('writeFstab'); w.fstab = t; } },
    records: { write: () => { w.calls.push('record'); } },
    os,
  } as unknown as Tools;
  const keys = {
    newPassphrase: () => Buffer.from(w.key ?? 'k'),
    newRecoveryPassphrase: () => Buffer.from(RECOVERY),
    keyVault: {
      seal: async ({ volume }: SealInput) => {
        const recovery = volume.fileName === 'LinuxRecoveryPassphrase';
        w.calls.push(recovery ? `escrow ${volume.id}` : 'escrow');
        return { secretUrl: `https://v.vault.azure.net/secrets/${recovery ? 'r' : 's'}/1`, kekUrl: 'https://v.vault.azure.net/keys/kek/2', algorithm: 'RSA-OAEP-256' };
      },
      unseal: async (r: KeyVaultRecord) => Buffer.from(r.secretUrl === RECOVERY_URL ? RECOVERY : w.key ?? 'k'),
    },
    bek: { seal: async () => { w.calls.push('bek'); return {}; }, unseal: async () => Buffer.from(w.key ?? 'k') },
  } as unknown as VolumeKeys;
  return { tools, keys, signal };
}

function volumeRun(p: VolumeProgress, f: ReturnType<typeof fake>): VolumeRun {
  const v: VolumeRun = {
    id: 'os', p, device: p.device, seq: 1, tools: f.tools, keys: f.keys, log: memoryLogger(), signal: f.signal, pollMs: 5,
    save(patch) { v.p = { ...v.p, ...patch }; }, progress: () => undefined,
  };
  return v;
}

const KV = { secret: 'https://v.vault.azure.net/secrets/s/1' };
const RECOVERY = '123456-000001-000002-000003-000004-000005-000006-000007';
const RECOVERY_URL = 'https://v.vault.azure.net/secrets/r/1';
const REC = { recovery: { secretUrl: RECOVERY_URL } };
const KV_REC = { ...KV, recovery: RECOVERY_URL };
const upTo = (name: string) => OS_STEPS.slice(0, OS_STEPS.findIndex((s) => s.name === name) + 1);
const FSTAB = 'LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\nLABEL=BOOT /boot ext4 defaults 0 2\n';

describe('the OS disk steps', () => {
  it('fresh: escrow, the header, the plumbing, fstab by the mapping, then the restart; the worker stops for it', async () => {
    const w: World = { root: '/dev/vda1', fstab: FSTAB, calls: [] };
    const ac = new AbortController();
    const v = volumeRun(progress(), fake(w, ac.signal));
    const run = runSteps(OS_STEPS, upTo('restart'), v);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(); // systemd stops the worker on the way down
    await expect(run).rejects.toBeInstanceOf(Stopped);
    // the recovery passphrase gets its keyslot in a cipher_null header, before the reencryption begins
    expect(w.calls).toEqual(['escrow', 'bek', 'record', 'escrow luks-os-1/recovery', 'prepareHeaderDir', 'formatNullDetached k', `addKey /boot/luks/osluksheader k ${RECOVERY}`,
      `initReencryptDetached /boot/luks/osluksheader k ${RECOVERY}`, 'install', 'rebuild', 'writeFstab', 'reboot']);
    expect(w.fstab).toBe('/dev/mapper/osencrypt / ext4 discard,errors=remount-ro 0 1\nLABEL=BOOT /boot ext4 defaults 0 2\n');
    expect(w.conf).toContain('ADE_DATA="PARTUUID=part-1"');
    expect(w.conf).toContain('ADE_HEADER="luks/osluksheader"');
    // the network unlock in the initramfs reads the escrowed secret and unwraps it with the KEK
    expect(w.conf).toContain('ADE_KV_SECRET="https://v.vault.azure.net/secrets/s/1"\nADE_KV_KEK="https://v.vault.azure.net/keys/kek/2"\nADE_KV_ALG="RSA-OAEP-256"\n');
    // the console's last resort names the recovery passphrase's secret; the journal keeps it and its KEK
    expect(w.conf).toContain(`ADE_RECOVERY_SECRET="${RECOVERY_URL}"\n`);
    expect(v.p.os?.recovery).toEqual({ secretUrl: RECOVERY_URL, kekUrl: 'https://v.vault.azure.net/keys/kek/2', algorithm: 'RSA-OAEP-256' });
    expect(w.conf).not.toMatch(/ADE_MI_/);
    expect(v.p.step).toBe('grubcfg');
  });

  it('after the restart (root on the mapping), header from an earlier version: nothing before it is done again, and it runs to the end', async () => {
    const w: World = { root: '/dev/mapper/osencrypt', headerUuid: 'luks-os-1', fstab: FSTAB.replace('LABEL=cloudimg-rootfs', '/dev/mapper/osencrypt'), calls: [] };
    const p = progress({ step: 'fstab', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }, REC);
    const f = fake(w);
    w.conf = formatOsConf({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=boot-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName', kv: KV_REC });
    const v = volumeRun(p, f);
    await runSteps(OS_STEPS, OS_STEPS, v);
    expect(w.calls).toEqual([`addKey /boot/luks/osluksheader k ${RECOVERY}`, 'backupHeader', 'record']);
    expect(v.p.done).toBe(true);
  });

  it('recovery passphrase in a header from an earlier version: its keyslot added after the reencryption and before the backup, once', async () => {
    const w: World = { root: '/dev/mapper/osencrypt', headerUuid: 'luks-os-1', fstab: FSTAB.replace('LABEL=cloudimg-rootfs', '/dev/mapper/osencrypt'), calls: [] };
    const recovery = { secretUrl: RECOVERY_URL };
    const p = progress({ step: 'fstab', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }, { recovery });
    w.conf = formatOsConf({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=boot-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName', kv: { ...KV, recovery: RECOVERY_URL } });
    const v = volumeRun(p, fake(w));
    await runSteps(OS_STEPS, OS_STEPS, v);
    // the key (from the key volume) opens the header; the passphrase read back from its secret is added
    expect(w.calls).toEqual([`addKey /boot/luks/osluksheader k ${RECOVERY}`, 'backupHeader', 'record']);
    expect(v.p.os?.recovery).toEqual(recovery);
    // the enable after a power cut between the keyslot and the record: the keyslot is there, not added twice
    w.calls = [];
    v.p = { ...v.p, done: false, step: 'reencrypt' };
    await runSteps(OS_STEPS, OS_STEPS, v);
    expect(w.calls).toEqual(['backupHeader', 'record']);
  });

  it('systemd\'s SIGTERM while systemctl reboot is still returning: the worker stops at once, not after its wait', async () => {
    const ac = new AbortController();
    const w: World = { root: '/dev/vda1', fstab: FSTAB, calls: [], onReboot: () => ac.abort() };
    const v = volumeRun(progress(), fake(w, ac.signal));
    // the wait for the restart is 10 minutes: only a stop seen before it starts ends this within the test's timeout
    await expect(runSteps(OS_STEPS, upTo('restart'), v)).rejects.toBeInstanceOf(Stopped);
    expect(w.calls.at(-1)).toBe('reboot');
  });

  it('OSRestart Deferred: the worker stops at the restart with RestartPending and restarts nothing', async () => {
    const w: World = { root: '/dev/vda1', fstab: FSTAB, calls: [] };
    const v = volumeRun(progress({}, { deferRestart: true }), fake(w));
    await expect(runSteps(OS_STEPS, upTo('restart'), v)).rejects.toBeInstanceOf(RestartPending);
    expect(w.calls).not.toContain('reboot');
    expect(w.calls.at(-1)).toBe('writeFstab');
  });

  it('a header a power cut tore (no LUKS yet) is written again; one with another UUID is never touched', async () => {
    const torn: World = { root: '/dev/vda1', fstab: FSTAB, calls: [] };
    const ac = new AbortController();
    const run = runSteps(OS_STEPS, upTo('restart'), volumeRun(progress({ secretUrl: 'https://v.vault.azure.net/secrets/s/1', step: 'recovery' }, REC), fake(torn, ac.signal)));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(run).rejects.toBeInstanceOf(Stopped);
    expect(torn.calls.slice(0, 4)).toEqual(['prepareHeaderDir', 'formatNullDetached k', `addKey /boot/luks/osluksheader k ${RECOVERY}`, `initReencryptDetached /boot/luks/osluksheader k ${RECOVERY}`]);

    const foreign: World = { root: '/dev/vda1', headerUuid: 'someone-else', fstab: FSTAB, calls: [] };
    const v = volumeRun(progress({ secretUrl: 'https://v.vault.azure.net/secrets/s/1', step: 'recovery' }, REC), fake(foreign));
    await expect(runSteps(OS_STEPS, upTo('restart'), v)).rejects.toThrow(/holds LUKS UUID someone-else, not luks-os-1 .*refusing to touch it/);
    expect(foreign.calls).toEqual([]);
  });
});

describe('the OS disk header with the recovery passphrase: each power cut redoes only what is missing', () => {
  const fromRecovery = () => progress({ secretUrl: 'https://v.vault.azure.net/secrets/s/1', step: 'recovery' }, REC);
  async function header(w: World): Promise<void> {
    await runSteps(OS_STEPS, upTo('header'), volumeRun(fromRecovery(), fake(w)));
  }
  it.each([
    ['after the cipher_null header', { headerState: 'null' as const }, [`addKey /boot/luks/osluksheader k ${RECOVERY}`, `initReencryptDetached /boot/luks/osluksheader k ${RECOVERY}`]],
    ['after the recovery keyslot', { headerState: 'null' as const, recoverySlot: true }, [`initReencryptDetached /boot/luks/osluksheader k ${RECOVERY}`]],
    ['after the reencryption began', { headerState: 'reencrypt' as const, recoverySlot: true }, []],
  ])('%s', async (_what, state, want) => {
    const w: World = { root: '/dev/vda1', fstab: FSTAB, calls: [], headerUuid: 'luks-os-1', ...state };
    await header(w);
    expect(w.calls).toEqual(want);
    expect(w.headerState).toBe('reencrypt');
  });

  it('a key with a newline (an operator\'s Passphrase: cryptsetup reads prompts by line) gets the plain header and its recovery keyslot at the end', async () => {
    const w: World = { root: '/dev/vda1', fstab: FSTAB, calls: [], key: 'line one\nline two' };
    await header(w);
    expect(w.calls).toEqual(['prepareHeaderDir', 'initEncryptDetached']);
    expect(w.recoverySlot).toBeUndefined();
  });
});

describe('the OS disk steps, no /boot: split off the root at the restart', () => {
  const split = { rootBytes: 1_409_286_144, bootStartBytes: 1_543_503_872, bootBytes: 1_073_741_824, sectorSize: 512, bootPartUuid: 'bp-1', bootUuid: 'bu-1', rootFsUuid: 'fs-1' };
  const NOBOOT = 'PARTUUID=part-1 / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\nPARTUUID=esp-1 /boot/efi vfat defaults 0 0\n';
  const splitProgress = (over: Partial<VolumeProgress> = {}) => progress(over, { headerFs: 'UUID=bu-1', split, ...(over.step ? REC : {}) });

  it('fresh: the conf carries the plan, fstab gains /boot, grub.cfg is rewritten without an initramfs-less boot, then the restart', async () => {
    const w: World = { root: '/dev/vda1', fstab: NOBOOT, calls: [] };
    const ac = new AbortController();
    const v = volumeRun(splitProgress(), fake(w, ac.signal));
    const run = runSteps(OS_STEPS, upTo('restart'), v);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(run).rejects.toBeInstanceOf(Stopped);
    expect(w.calls).toEqual(['escrow', 'bek', 'record', 'escrow luks-os-1/recovery', 'prepareHeaderDir', 'formatNullDetached k', `addKey /boot/luks/osluksheader k ${RECOVERY}`,
      `initReencryptDetached /boot/luks/osluksheader k ${RECOVERY}`, 'install', 'rebuild', 'writeFstab', 'dropForcePartuuid', 'updateGrub', 'reboot']);
    expect(w.fstab).toBe('/dev/mapper/osencrypt / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\nPARTUUID=esp-1 /boot/efi vfat defaults 0 0\n' +
      "# /boot, split off the root by ade-linux: it holds the kernels and the encrypted root's LUKS2 header\nUUID=bu-1 /boot ext4 defaults 0 2\n");
    for (const line of ['ADE_HEADER_FS="UUID=bu-1"', 'ADE_SPLIT_ROOT_BYTES="1409286144"', 'ADE_SPLIT_BOOT_START="3014656"', 'ADE_SPLIT_BOOT_SECTORS="2097152"',
      'ADE_SPLIT_BOOT_PARTUUID="bp-1"', 'ADE_SPLIT_BOOT_UUID="bu-1"', 'ADE_SPLIT_ROOT_FS_UUID="fs-1"', 'ADE_SPLIT_SECTOR_SIZE="512"']) {
      expect(w.conf).toContain(line);
    }
  });

  it('after the restart: grub installed again for the new /boot, the conf without the plan, every initramfs rebuilt, then the rest; once', async () => {
    const conf = (withSplit: boolean): OsBootConf => ({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=bu-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName', kv: KV_REC, ...(withSplit ? { split } : {}) });
    const w: World = { root: '/dev/mapper/osencrypt', headerUuid: 'luks-os-1', fstab: NOBOOT.replace('PARTUUID=part-1', '/dev/mapper/osencrypt') + 'UUID=bu-1 /boot ext4 defaults 0 2\n', calls: [], bootFrom: 'bu-1' };
    w.conf = formatOsConf(conf(true));
    const v = volumeRun(splitProgress({ step: 'restart', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }), fake(w));
    await runSteps(OS_STEPS, OS_STEPS, v);
    expect(w.calls).toEqual(['bootMountedFrom bu-1', 'installGrub /dev/vda1 /boot/efi', 'updateGrub', 'install', 'rebuild', `addKey /boot/luks/osluksheader k ${RECOVERY}`, 'backupHeader', 'record']);
    expect(w.conf).toBe(formatOsConf(conf(false)));
    expect(w.conf).not.toMatch(/ADE_SPLIT/);
    // a later run (the enable after a power cut) neither splits nor installs grub again
    w.calls = [];
    v.p = { ...v.p, done: false };
    await runSteps(OS_STEPS, OS_STEPS, v);
    expect(w.calls).toEqual(['backupHeader', 'record']);
  });

  it('the restart happened but its initramfs refused the split and booted the plaintext root: 607 with its reason, no second restart', async () => {
    const reason = 'the root file system needs 2900 MiB and would have 2400 MiB once a /boot is split off; free 501 MiB on / and restart';
    const w: World = { root: '/dev/vda1', headerUuid: 'luks-os-1', fstab: NOBOOT.replace('PARTUUID=part-1', '/dev/mapper/osencrypt') + 'UUID=bu-1 /boot ext4 defaults 0 2\n', calls: [], splitRefusal: reason };
    w.conf = formatOsConf({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=bu-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName', kv: KV_REC, split });
    const v = volumeRun(splitProgress({ step: 'restart', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }), fake(w));
    await expect(runSteps(OS_STEPS, OS_STEPS, v)).rejects.toMatchObject({ code: 607, message: expect.stringContaining(`did not split a /boot off the root: ${reason}. It booted the root unencrypted`) });
    // the refusing initramfs was ours with this conf: no rebuild, and no reboot
    expect(w.calls).toEqual([]);
  });

  it('a refused split whose conf no longer matches the installed one: the plumbing is installed again before the 607', async () => {
    const w: World = { root: '/dev/vda1', headerUuid: 'luks-os-1', fstab: NOBOOT.replace('PARTUUID=part-1', '/dev/mapper/osencrypt') + 'UUID=bu-1 /boot ext4 defaults 0 2\n', calls: [], splitRefusal: 'no room' };
    w.conf = 'ADE_OS_NAME=osencrypt\n';
    const v = volumeRun(splitProgress({ step: 'restart', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }), fake(w));
    await expect(runSteps(OS_STEPS, OS_STEPS, v)).rejects.toMatchObject({ code: 607 });
    expect(w.calls).toEqual(['install', 'rebuild']);
  });

  it('after the restart, /boot not mounted from the split partition: 605, grub untouched', async () => {
    const w: World = { root: '/dev/mapper/osencrypt', headerUuid: 'luks-os-1', fstab: '/dev/mapper/osencrypt / ext4 defaults 0 1\nUUID=bu-1 /boot ext4 defaults 0 2\n', calls: [], bootFrom: 'other' };
    w.conf = formatOsConf({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=bu-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName', kv: KV_REC, split });
    const v = volumeRun(splitProgress({ step: 'restart', secretUrl: 'https://v.vault.azure.net/secrets/s/1' }), fake(w));
    await expect(runSteps(OS_STEPS, OS_STEPS, v)).rejects.toMatchObject({ code: 605, message: expect.stringMatching(/not mounted from the partition split off the root \(UUID=bu-1\)/) });
    expect(w.calls).toEqual(['bootMountedFrom bu-1']);
  });
});
