// The OS disk's step machine in process, on a small recording fake of the machine: what each step does on a
// fresh run, what it skips when the worker starts again after the restart (or a power cut), that a deferred
// restart stops the worker without restarting anything, and that a header that is not ours is never touched.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { OS_STEPS } from '../../../src/encryption/os-steps.ts';
import { RestartPending, runSteps, Stopped, type Tools, type VolumeKeys, type VolumeRun } from '../../../src/encryption/steps.ts';
import type { VolumeProgress } from '../../../src/encryption/volume-journal.ts';
import { formatOsConf, type OsBoot, type OsBootConf } from '../../../src/system/os-boot.ts';

interface World { headerUuid?: string; root: string; conf?: string; fstab: string; calls: string[] }

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
    reboot: async () => { w.calls.push('reboot'); },
  } as unknown as OsBoot;
  const tools = {
    cs: {
      uuid: async (d: string) => (d === '/boot/luks/osluksheader' ? w.headerUuid : undefined),
      initEncryptDetached: async (_d: string, _k: Buffer, o: { uuid: string }) => { w.calls.push('initEncryptDetached'); w.headerUuid = o.uuid; return ''; },
      // the metadata says nothing is left to do once resumed: the reencryption itself is the lab's to prove
      dump: async () => ({ reencryptInProgress: false }),
    },
    mnt: { sourceAt: async (mp: string) => (mp === '/' ? w.root : undefined) },
    fs: { deviceBytes: async () => 1 << 30 },
    files: { readFstab: () => w.fstab, writeFstab: (t: string) => { w.calls.push('writeFstab'); w.fstab = t; } },
    records: { write: () => { w.calls.push('record'); } },
    os,
  } as unknown as Tools;
  const keys = {
    newPassphrase: () => Buffer.from('k'),
    keyVault: { seal: async () => { w.calls.push('escrow'); return { secretUrl: 'https://v.vault.azure.net/secrets/s/1' }; }, unseal: async () => Buffer.from('k') },
    bek: { seal: async () => { w.calls.push('bek'); return {}; }, unseal: async () => Buffer.from('k') },
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
    expect(w.calls).toEqual(['escrow', 'bek', 'record', 'prepareHeaderDir', 'initEncryptDetached', 'install', 'rebuild', 'writeFstab', 'reboot']);
    expect(w.fstab).toBe('/dev/mapper/osencrypt / ext4 discard,errors=remount-ro 0 1\nLABEL=BOOT /boot ext4 defaults 0 2\n');
    expect(w.conf).toContain('ADE_DATA="PARTUUID=part-1"');
    expect(w.conf).toContain('ADE_HEADER="luks/osluksheader"');
    expect(v.p.step).toBe('fstab');
  });

  it('after the restart (root on the mapping): nothing before it is done again, and it runs to the end', async () => {
    const w: World = { root: '/dev/mapper/osencrypt', headerUuid: 'luks-os-1', fstab: FSTAB.replace('LABEL=cloudimg-rootfs', '/dev/mapper/osencrypt'), calls: [] };
    const p = progress({ step: 'fstab', secretUrl: 'https://v.vault.azure.net/secrets/s/1' });
    const f = fake(w);
    w.conf = formatOsConf({ name: 'osencrypt', data: 'PARTUUID=part-1', headerFs: 'UUID=boot-1', headerFsType: 'ext4', header: 'luks/osluksheader', keyLabel: 'BEK VOLUME', keyFile: 'LinuxPassPhraseFileName' });
    const v = volumeRun(p, f);
    await runSteps(OS_STEPS, OS_STEPS, v);
    expect(w.calls).toEqual(['backupHeader', 'record']);
    expect(v.p.done).toBe(true);
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
    const run = runSteps(OS_STEPS, upTo('restart'), volumeRun(progress({ secretUrl: 'https://v.vault.azure.net/secrets/s/1', step: 'escrow' }), fake(torn, ac.signal)));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(run).rejects.toBeInstanceOf(Stopped);
    expect(torn.calls.slice(0, 2)).toEqual(['prepareHeaderDir', 'initEncryptDetached']);

    const foreign: World = { root: '/dev/vda1', headerUuid: 'someone-else', fstab: FSTAB, calls: [] };
    const v = volumeRun(progress({ secretUrl: 'https://v.vault.azure.net/secrets/s/1', step: 'escrow' }), fake(foreign));
    await expect(runSteps(OS_STEPS, upTo('restart'), v)).rejects.toThrow(/holds LUKS UUID someone-else, not luks-os-1 .*refusing to touch it/);
    expect(foreign.calls).toEqual([]);
  });
});
