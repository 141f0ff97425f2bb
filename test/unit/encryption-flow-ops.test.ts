// Prerequisites (each its code, nothing mutated), the plan's table, format-and-encrypt and decryption with a
// crash after every command.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/extension/log.ts';
import type { EncryptionOperation } from '../../src/extension/types.ts';
import { runDataOperation } from '../../src/encryption/data.ts';
import { planData } from '../../src/encryption/plan.ts';
import { parsePbkdf } from '../../src/system/cryptsetup.ts';
import { parseFuser } from '../../src/system/mount.ts';
import { Crash, Machine, isMutating, memoryJournal } from '../helpers/encryption-flow-fake.ts';

const FSTAB0 = 'UUID=fs-0-0000 /data ext4 defaults,nofail 0 2';

async function operate(m: Machine, op: EncryptionOperation, journal = memoryJournal(op, 1, () => m.dead)) {
  let n = 0;
  return runDataOperation({
    settings: { operation: op, volumeType: 'Data', identity: { kind: 'system' }, keyVaultUrl: 'https://v.vault.azure.net/' },
    journal, log: memoryLogger(), run: m.runner(), signal: new AbortController().signal,
    escrow: async (vol) => { m.calls.push({ file: 'escrow', args: [vol.fileName] }); return { passphrase: Buffer.from(`pass-${++n}`), secretUrl: `https://v.vault.azure.net/secrets/s${n}/1` }; },
    keyVolume: m.keyVolume(), progress: () => undefined, root: m.root, stateDir: m.stateDir,
    discover: async () => m.volumes(), pollMs: 5, newUuid: m.newUuid,
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
    });
  }
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

function sweep(name: string, prepare: (m: Machine) => Promise<void>, op: EncryptionOperation, check: (m: Machine) => void) {
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
        const journal = memoryJournal(op, 1, () => m.dead);
        await operate(m, op, journal).catch((e: unknown) => { if (!(e instanceof Crash)) throw e; });
        if (!m.dead) continue;
        m.crashAt = 0;
        m.dead = false;
        if (reboot) m.reboot();
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
    const r = await operate(m, 'EnableEncryption', memoryJournal('EnableEncryption', 7));
    expect(r.status).toBe('success');
  };
  sweep('decrypts online with the exported header, restores fstab, drops crypttab, survives a crash after any command', prepare, 'DisableEncryption', (m) => {
    const d = m.disks[0]!;
    expect(m.damage).toEqual([]);
    expect(d.luks?.finished).toBe(true);
    expect(d.fs?.uuid).toBe('fs-0-0000');
    expect(d.fs?.data).toBe('data-of-0');
    expect(d.fs?.bytes).toBe(d.size);
    expect(m.mounts.get('/data')).toBe('/dev/sdc');
    expect(m.fstab()).toContain(FSTAB0);
    expect(m.fstab()).not.toContain('/dev/mapper/');
    expect(m.crypttab()).not.toContain('ade-');
    expect(m.mappings.size).toBe(0);
    const hdr = m.calls.find((c) => c.args.includes('--decrypt'))!;
    expect(hdr.args).toContain('--header');
  });
});
