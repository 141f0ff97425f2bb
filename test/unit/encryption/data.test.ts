// Prerequisites (each its code, nothing mutated), the plan's table, format-and-encrypt and decryption with a
// crash after every command.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { EncryptionOperation } from '../../../src/shared/types.ts';
import { runDataOperation } from '../../../src/encryption/data.ts';
import { locate, planData, steadiestName } from '../../../src/encryption/plan.ts';
import type { Volume } from '../../../src/encryption/discovery.ts';
import type { VolumeProgress } from '../../../src/encryption/volume-journal.ts';
import { dataPbkdf, parsePbkdf } from '../../../src/system/cryptsetup.ts';
import { parseFuser } from '../../../src/parsers/fuser.ts';
import { Crash, Machine, isMutating, memoryJournal, type Disk } from '../../helpers/flow-fake.ts';

const FSTAB0 = 'UUID=fs-0-0000 /data ext4 defaults,nofail 0 2';

async function operate(m: Machine, op: EncryptionOperation, journal = memoryJournal(1, () => m.dead)) {
  const log = memoryLogger();
  return runDataOperation({
    beforeChanges: () => { m.calls.push({ file: 'beforeChanges', args: [] }); },
    settings: { operation: op, volumeType: 'Data', identity: { kind: 'system' }, keyVaultUrl: 'https://v.vault.azure.net/' },
    journal, log, signal: new AbortController().signal, tools: m.tools(), keys: m.keys(log),
    progress: () => undefined, pollMs: 5, newUuid: m.newUuid,
  });
}

describe('prerequisites: each failure has its code and nothing changes', () => {
  const cases: Array<[string, (m: Machine) => void, number, EncryptionOperation?]> = [
    ['not in fstab', (m) => m.addDisk(0, 256, { mountpoint: '/data' }), 401],
    ['kernel name in fstab', (m) => m.addDisk(0, 256, { mountpoint: '/data', fstab: '/dev/sdc /data ext4 defaults,nofail 0 2' }), 402],
    ['no nofail', (m) => m.addDisk(0, 256, { mountpoint: '/data', fstab: 'UUID=fs-0-0000 /data ext4 defaults 0 2' }), 403],
    ['busy', (m) => { m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 }); m.users.set('/data', [{ pid: 4242, user: 'root', command: 'postgres' }]); }, 404],
    ['cannot shrink', (m) => m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0, minBytes: 240 * 1024 * 1024 }), 405],
    ['xfs in place', (m) => m.addDisk(0, 256, { type: 'xfs', mountpoint: '/data', fstab: 'UUID=fs-0-0000 /data xfs defaults,nofail 0 2' }), 406],
    ['no dm-crypt', (m) => { m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 }); m.dmCrypt = false; }, 408],
    ['mounted elsewhere than fstab says', (m) => m.addDisk(0, 256, { mountpoint: '/srv', fstab: FSTAB0 }), 411],
    ['format of an unsupported fs', (m) => m.addDisk(0, 256, { type: 'vfat', mountpoint: '/data', fstab: 'UUID=fs-0-0000 /data vfat defaults,nofail 0 2' }), 413, 'EnableEncryptionFormatAll'],
  ];
  for (const [name, arrange, code, op] of cases) {
    it(`${name} → ${code}`, async () => {
      const m = new Machine();
      arrange(m);
      const r = await operate(m, op ?? 'EnableEncryption');
      expect(r.status).toBe('error');
      expect(r.code).toBe(code);
      expect(r.message).toMatch(/^Nothing was changed\./);
      expect(m.calls.filter(isMutating)).toEqual([]);
      expect(m.calls.some((c) => c.file === 'escrow')).toBe(false);
      expect(m.calls.some((c) => c.file === 'beforeChanges')).toBe(false);
    });
  }

  it('once every check passes, beforeChanges is called once, before the first escrow or disk command', async () => {
    const m = new Machine();
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    m.addDisk(1, 128, { mountpoint: '/data2', fstab: 'UUID=fs-1-0000 /data2 ext4 defaults,nofail 0 2' });
    const r = await operate(m, 'EnableEncryption');
    expect(r.status, r.message).toBe('success');
    const at = m.calls.findIndex((c) => c.file === 'beforeChanges');
    expect(m.calls.filter((c) => c.file === 'beforeChanges')).toHaveLength(1);
    expect(at).toBeGreaterThan(0);
    expect(m.calls.slice(0, at).some((c) => c.file === 'escrow' || isMutating(c))).toBe(false);
  });
  it('names the processes that block the unmount', async () => {
    const m = new Machine();
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    m.users.set('/data', [{ pid: 4242, user: 'root', command: 'postgres' }]);
    expect((await operate(m, 'EnableEncryption')).message).toContain('postgres (pid 4242, user root)');
  });
  it('parses fuser -v and the PBKDF knob', () => {
    expect(parseFuser('                     USER        PID ACCESS COMMAND\n/data:               root     kernel mount /data\n                     alice     123 ..c.. bash\n')).toEqual([{ user: 'alice', pid: 123, command: 'bash' }]);
    expect(parsePbkdf(undefined, 1024 * 1024 * 1024)).toEqual(['--pbkdf', 'argon2id', '--pbkdf-memory', String(128 * 1024)]);
    expect(parsePbkdf(undefined, 64 * 1024 ** 3)).toEqual(['--pbkdf', 'argon2id', '--pbkdf-memory', String(256 * 1024)]);
    expect(parsePbkdf('pbkdf2:1000', 1)).toEqual(['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000']);
    expect(() => parsePbkdf('fast', 1)).toThrow(/ADE_LINUX_PBKDF/);
  });
  it('gives a generated key the cheapest keyslot KDF, an operator\'s passphrase Argon2id', () => {
    const knob = process.env['ADE_LINUX_PBKDF'];
    delete process.env['ADE_LINUX_PBKDF'];
    try {
      expect(dataPbkdf(true)).toEqual(['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000']);
      expect(dataPbkdf(false).slice(0, 2)).toEqual(['--pbkdf', 'argon2id']);
    } finally {
      if (knob !== undefined) process.env['ADE_LINUX_PBKDF'] = knob;
    }
  });
});

describe('plan', () => {
  const m = new Machine();
  m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
  m.addDisk(1, 256, { fstab: 'UUID=fs-1-0000 /unmounted ext4 defaults,nofail 0 2' });
  const rows: Array<[EncryptionOperation, string[], string[]]> = [
    ['EnableEncryption', ['/dev/sdc'], ['/dev/sdd']],
    ['EnableEncryptionFormatAll', ['/dev/sdc'], ['/dev/sdd']],
    ['DisableEncryption', [], []],
  ];
  for (const [op, act, skipped] of rows) {
    it(`${op}: acts on ${act.join(',') || 'nothing'}, skips ${skipped.join(',') || 'nothing'}; never the OS disk`, () => {
      const p = planData({ operation: op, volumes: m.volumes(), progress: {}, records: [], newUuid: () => 'u' });
      expect(p.act.map((a) => a.volume?.device)).toEqual(act);
      expect(p.skipped.map((s) => s.device)).toEqual(skipped);
      expect(p.act.every((a) => a.fresh)).toBe(true);
    });
  }
  it('resumes journaled entries instead of planning them again', () => {
    const first = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: {}, records: [], newUuid: () => 'u1' });
    const again = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: { u1: first.act[0]!.progress }, records: [], newUuid: () => 'u2' });
    expect(again.act).toHaveLength(1);
    expect(again.act[0]!.id).toBe('u1');
    expect(again.act[0]!.fresh).toBe(false);
  });
});

describe('plan: hardware names', () => {
  it('records the hardware name of a new volume, and gives one to a decryption whose record has none', () => {
    const m = new Machine();
    m.azureLinks = false;
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 }).id = 'virtio-data0';
    const enc = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: {}, records: [], newUuid: () => 'u1' });
    expect(enc.act[0]!.progress).toMatchObject({ hardwareName: '/dev/disk/by-id/virtio-data0', device: '/dev/sdc' });
    expect(enc.act[0]!.progress).not.toHaveProperty('persistentName');
    // An encrypted volume, recorded by a version that kept no hardware name.
    const d = m.disks[0]!;
    d.luks = { uuid: 'u1', key: 'k', done: 0, needsRepair: false };
    const { hardwareName: _h, ...old } = enc.act[0]!.progress;
    const dec = planData({ operation: 'DisableEncryption', volumes: m.volumes(), progress: {}, records: [{ ...old, state: 'encrypted', seq: 1 }], newUuid: () => 'x' });
    expect(dec.act.map((a) => a.progress.hardwareName)).toEqual(['/dev/disk/by-id/virtio-data0']);
  });

  it('an unfinished OS volume recorded by its own operation is never adopted as a data volume', () => {
    const m = new Machine();
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    const enc = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: {}, records: [], newUuid: () => 'u1' });
    const os = { ...enc.act[0]!.progress, action: 'os' as const, luksUuid: 'os-1', mapperName: 'osencrypt', mountpoint: '/', fileName: 'LinuxPassPhraseFileName', state: 'encrypting' as const, seq: 1 };
    const again = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: {}, records: [os], newUuid: () => 'u2' });
    expect(again.act.map((a) => [a.progress.action, a.progress.mountpoint])).toEqual([['inplace', '/data']]);
  });

  it("a decryption starts its progress from nothing: the encryption's counters stay with its record", () => {
    const m = new Machine();
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    const enc = planData({ operation: 'EnableEncryption', volumes: m.volumes(), progress: {}, records: [], newUuid: () => 'u1' });
    m.disks[0]!.luks = { uuid: 'u1', key: 'k', done: 0, needsRepair: false };
    const rec = { ...enc.act[0]!.progress, doneBytes: 240 << 20, totalBytes: 240 << 20, error: { code: 52, message: 'old' }, state: 'encrypted' as const, seq: 1 };
    const dec = planData({ operation: 'DisableEncryption', volumes: m.volumes(), progress: {}, records: [rec], newUuid: () => 'x' });
    expect(dec.act).toHaveLength(1);
    for (const k of ['doneBytes', 'totalBytes', 'error']) expect(dec.act[0]!.progress).not.toHaveProperty(k);
  });
});

describe('locate: the volume a journal entry is about, on a later boot', () => {
  const HW = '/dev/disk/by-id/virtio-data';
  const vol = (over: Partial<Volume>): Volume => ({ device: '/dev/vdz', kname: 'vdz', name: 'vdz', type: 'disk', disk: over.device ?? '/dev/vdz', role: 'data', mountpoints: [], encrypted: false, size: 1, readOnly: false, ...over });
  // Half-way through decryption the device shows neither the LUKS UUID nor the file system's.
  const decrypting = vol({ device: '/dev/vdc', kname: 'vdc', hardwareNames: [HW] });
  const entry: Pick<VolumeProgress, 'persistentName' | 'hardwareName' | 'luksUuid' | 'fsUuid' | 'device'> = { device: '/dev/vdb', hardwareName: HW, luksUuid: 'luks-1', fsUuid: 'fs-1' };
  const rows: Array<[string, typeof entry, Volume[], string | undefined]> = [
    ['by its hardware name, renamed by the kernel, no UUID left', entry, [vol({ device: '/dev/vdb', kname: 'vdb' }), decrypting], '/dev/vdc'],
    ['by a hardware name that is no longer its first', entry, [vol({ device: '/dev/vdd', kname: 'vdd', hardwareNames: ['/dev/disk/by-id/wwn-0x1', HW] })], '/dev/vdd'],
    ['the Azure link first', { ...entry, persistentName: '/dev/disk/azure/scsi1/lun0' }, [decrypting, vol({ device: '/dev/sdc', kname: 'sdc', persistentName: '/dev/disk/azure/scsi1/lun0' })], '/dev/sdc'],
    ['the hardware name before the LUKS UUID', entry, [vol({ device: '/dev/vde', kname: 'vde', uuid: 'luks-1' }), decrypting], '/dev/vdc'],
    ['then the LUKS UUID (no hardware name recorded)', { ...entry, hardwareName: undefined }, [decrypting, vol({ device: '/dev/vde', kname: 'vde', uuid: 'luks-1' })], '/dev/vde'],
    ['never a mapping', entry, [vol({ device: '/dev/mapper/x', kname: 'dm-0', type: 'crypt', hardwareNames: [HW] })], undefined],
    ['not attached', entry, [vol({ device: '/dev/vdb', kname: 'vdb', hardwareNames: ['/dev/disk/by-id/virtio-other'] })], undefined],
  ];
  it.each(rows)('%s', (_, p, volumes, want) => {
    expect(locate(p, volumes)?.device).toBe(want);
  });
});

describe('the decrypting crypttab line names the device by', () => {
  it.each<[string, Pick<VolumeProgress, 'persistentName' | 'hardwareName'>, string]>([
    ['its Azure link', { persistentName: '/dev/disk/azure/scsi1/lun0', hardwareName: '/dev/disk/by-id/wwn-0x1' }, '/dev/disk/azure/scsi1/lun0'],
    ['its hardware name without one', { hardwareName: '/dev/disk/by-id/virtio-data' }, '/dev/disk/by-id/virtio-data'],
    ['this boot\'s kernel name without either', {}, '/dev/vdb'],
  ])('%s', (_, p, want) => {
    expect(steadiestName(p, '/dev/vdb')).toBe(want);
  });
});

function sweep(name: string, prepare: (m: Machine) => Promise<void>, op: EncryptionOperation, check: (m: Machine) => void, rename: Record<string, string> = {}) {
  it(name, async () => {
    const probe = new Machine();
    await prepare(probe);
    const start = probe.calls.length;
    const clean = await operate(probe, op);
    expect(clean.status, clean.message).toBe('success');
    check(probe);
    for (let k = start + 1; k <= probe.calls.length; k++) {
      for (const reboot of [false, true]) {
        const m = new Machine();
        await prepare(m);
        m.crashAt = k;
        const journal = memoryJournal(1, () => m.dead);
        await operate(m, op, journal).catch((e: unknown) => { if (!(e instanceof Crash)) throw e; });
        if (!m.dead) continue;
        m.crashAt = 0;
        m.dead = false;
        if (reboot) m.reboot(rename);
        const r = await operate(m, op, journal);
        expect(r.status, `crash at ${k} (${probe.calls[k - 1]!.file} ${probe.calls[k - 1]!.args.join(' ')}), reboot ${reboot}: ${r.message}`).toBe('success');
        check(m);
      }
    }
  });
}

describe('EnableEncryptionFormatAll', () => {
  const prepare = async (m: Machine) => { m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 }); };
  sweep('formats once, mounts the new file system at the same place, survives a crash after any command', prepare, 'EnableEncryptionFormatAll', (m) => {
    const d = m.disks[0]!;
    expect(m.damage).toEqual([]);
    expect(m.mkfsCount).toBe(1);
    expect(d.fs?.type).toBe('ext4');
    expect(d.fs?.uuid).toBe('mkfs-1');
    expect(m.mounts.get('/data')).toBe(`/dev/mapper/ade-${d.luks!.uuid}`);
    expect(m.crypttab()).toContain(`ade-${d.luks!.uuid} /dev/disk/azure/scsi1/lun0 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0 luks,nofail,headless=true`);
  });
});

describe('DisableEncryption', () => {
  const prepare = async (m: Machine) => {
    m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    const r = await operate(m, 'EnableEncryption', memoryJournal(7));
    expect(r.status).toBe('success');
  };
  const decrypted = (m: Machine) => {
    const d = m.disks[0]!;
    expect(m.damage).toEqual([]);
    expect(d.luks?.finished).toBe(true);
    expect(d.fs?.uuid).toBe('fs-0-0000');
    expect(d.fs?.data).toBe('data-of-0');
    expect(d.fs?.bytes).toBe(d.size);
    expect(m.mounts.get('/data')).toBe(d.path);
    expect(m.fstab()).toContain(FSTAB0);
    expect(m.fstab()).not.toContain('/dev/mapper/');
    expect(m.crypttab()).not.toContain('ade-');
    expect(m.mappings.size).toBe(0);
    const hdr = m.calls.find((c) => c.args.includes('--decrypt'))!;
    expect(hdr.args).toContain('--header');
  };
  sweep('decrypts online with the exported header, restores fstab, drops crypttab, survives a crash after any command', prepare, 'DisableEncryption', decrypted);

  // No Azure udev rules (the lab's virtio disks, other clouds): the by-id name is all that finds the
  // volume once its header is exported, and the reboot may hand its kernel name to another disk.
  const withoutAzureLinks = async (m: Machine) => {
    m.azureLinks = false;
    const d = m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
    d.id = 'virtio-data0';
    const r = await operate(m, 'EnableEncryption', memoryJournal(7));
    expect(r.status).toBe('success');
  };
  sweep('without Azure links: found again by its hardware name after a crash after any command, and a reboot that renames it', withoutAzureLinks, 'DisableEncryption', decrypted, { sdc: 'sdh' });

  it('without Azure links: the decrypting crypttab line names the hardware, so boot reopens a renamed disk', async () => {
    const probe = new Machine();
    await withoutAzureLinks(probe);
    const start = probe.calls.length;
    await operate(probe, 'DisableEncryption');
    const k = probe.calls.findIndex((c, i) => i >= start && c.args.includes('--resume-only')) + 1;
    const m = new Machine();
    await withoutAzureLinks(m);
    const d: Disk = m.disks[0]!;
    const mapper = `ade-${d.luks!.uuid}`;
    m.crashAt = k;
    const journal = memoryJournal(8, () => m.dead);
    await expect(operate(m, 'DisableEncryption', journal)).rejects.toBeInstanceOf(Crash);
    expect(d.luks!.done).toBeGreaterThan(0);
    expect(d.luks!.header).toBeDefined();
    expect(m.crypttab()).toMatch(new RegExp(`^${mapper} /dev/disk/by-id/virtio-data0 \\S+ luks,nofail,headless=true,header=`, 'm'));
    expect(Object.values(journal.volumes())[0]).toMatchObject({ hardwareName: '/dev/disk/by-id/virtio-data0', device: '/dev/sdc' });
    m.crashAt = 0;
    m.dead = false;
    m.reboot({ sdc: 'sdh' });
    expect(m.mappings.get(mapper)).toBe('/dev/sdh'); // systemd-cryptsetup opened it through the by-id name
    const r = await operate(m, 'DisableEncryption', journal);
    expect(r.status, r.message).toBe('success');
    decrypted(m);
    expect(m.mounts.get('/data')).toBe('/dev/sdh');
  });
});
