// The in-place, format and decrypt step machines against the model machine: a clean run's side effects;
// a crash after every single command (with and without a reboot) resumes to the same end state; keys only
// on stdin; no command touches a disk before the key is escrowed.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { Report } from '../../../src/shared/report.ts';
import type { EncryptionOperation } from '../../../src/shared/types.ts';
import { runDataOperation } from '../../../src/encryption/data.ts';
import { Stopped } from '../../../src/encryption/steps.ts';
import { Crash, Machine, MiB, isMutating, memoryJournal } from '../../helpers/flow-fake.ts';
import { machineTools } from '../../../src/commands/machine.ts';

const FSTAB0 = 'UUID=fs-0-0000 /data ext4 defaults,nofail 0 2';

function setup(): Machine {
  const m = new Machine();
  m.addDisk(0, 256, { mountpoint: '/data', fstab: FSTAB0 });
  return m;
}

async function operate(m: Machine, op: EncryptionOperation, journal = memoryJournal(), signal = new AbortController().signal, o: { escrowDelayMs?: number; heartbeatMs?: number } = {}) {
  const reports: Report[] = [];
  const log = memoryLogger();
  const keys = m.keys(log, o);
  const report = await runDataOperation({
    settings: { operation: op, volumeType: 'Data', identity: { kind: 'system' }, keyVaultUrl: 'https://v.vault.azure.net/' },
    journal, log, signal, tools: m.tools(), keys,
    progress: (r) => reports.push(r), pollMs: 5, newUuid: m.newUuid, ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}),
  });
  return { report, escrowed: keys.escrowed, reports, journal };
}

function expectEncrypted(m: Machine) {
  const d = m.disks[0]!;
  expect(m.damage).toEqual([]);
  expect(d.luks?.mode).toBeUndefined();
  expect(d.luks?.finished).toBeFalsy();
  expect(d.fs?.uuid).toBe('fs-0-0000'); // the same file system, now inside LUKS
  expect(d.fs?.data).toBe('data-of-0');
  expect(d.fs?.bytes).toBe(d.size - 16 * MiB); // grown into the mapping
  const name = `ade-${d.luks!.uuid}`;
  expect(m.mounts.get('/data')).toBe(`/dev/mapper/${name}`);
  expect(m.fstab()).toContain(`/dev/mapper/${name} /data ext4 defaults,nofail 0 2`);
  expect(m.fstab()).toContain('LABEL=BEK\\040VOLUME /mnt/azure_bek_disk auto defaults,discard,nofail,fmask=0277,dmask=0077,x-systemd.device-timeout=30s 0 0');
  expect(m.crypttab()).toContain(`${name} /dev/disk/azure/scsi1/lun0 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0 luks,nofail,headless=true`);
  expect(m.keyFiles.get('LinuxPassPhraseFileName_1_0')?.toString()).toBe(d.luks!.key);
}

function expectSecretsOnlyOnStdin(m: Machine, secrets: string[]) {
  for (const c of m.calls) {
    for (const s of secrets) {
      expect(c.args.join(' ')).not.toContain(s);
      expect(JSON.stringify(c.env ?? {})).not.toContain(s);
    }
  }
}

describe('EnableEncryption in place', () => {
  it('rewrites the status on a heartbeat while a step runs long (here a slow escrow), and not after the end', async () => {
    const m = setup();
    const { reports } = await operate(m, 'EnableEncryption', undefined, undefined, { escrowDelayMs: 300, heartbeatMs: 20 });
    // Step boundaries alone give one report per step; the beats add several while the escrow waits.
    const beforeEscrow = reports.filter((r) => r.volumes?.[0]?.state === 'NotEncrypted');
    expect(beforeEscrow.length).toBeGreaterThanOrEqual(5);
    const n = reports.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(reports.length).toBe(n);
  });

  it('a clean run: escrow, unmount, fsck, shrink, init, open, mount, boot files, resume, grow', async () => {
    const m = setup();
    const { report, escrowed, journal } = await operate(m, 'EnableEncryption');
    expect(report.status).toBe('success');
    expect(report.data).toBe('Encrypted');
    expectEncrypted(m);
    expect(escrowed).toHaveLength(1);
    expectSecretsOnlyOnStdin(m, escrowed);
    const firstMutation = m.calls.findIndex(isMutating);
    expect(m.calls.findIndex((c) => c.file === 'escrow')).toBeLessThan(firstMutation);
    const seq = m.calls.filter(isMutating).map((c) => `${c.file} ${c.args[0]}`);
    expect(seq).toEqual(['umount /data', 'e2fsck -f', 'resize2fs -f', 'cryptsetup reencrypt', 'mount -t', 'cryptsetup reencrypt', 'resize2fs /dev/mapper/ade-00000001-aaaa-bbbb-cccc-dddddddddddd']);
    const init = m.calls.find((c) => c.args.includes('--init-only'))!;
    expect(init.args).toEqual(expect.arrayContaining(['--encrypt', '--type', 'luks2', '--reduce-device-size', '32M', '--cipher', 'aes-xts-plain64', '--key-size', '512', '--key-file', '-']));
    expect(init.input).toBe(escrowed[0]);
    const p = Object.values(journal.volumes())[0]!;
    expect(p.done).toBe(true);
    expect(p.secretUrl).toBe('https://v.vault.azure.net/secrets/s1/1');
  });

  for (const reboot of [false, true]) {
    it(`a crash after any command${reboot ? ' followed by a reboot' : ''} resumes to the same end state`, async () => {
      const probe = setup();
      await operate(probe, 'EnableEncryption');
      const total = probe.calls.length;
      let crashes = 0;
      for (let k = 1; k <= total; k++) {
        const m = setup();
        m.crashAt = k;
        const journal = memoryJournal(1, () => m.dead);
        await operate(m, 'EnableEncryption', journal).catch((e: unknown) => { if (!(e instanceof Crash)) throw e; });
        if (!m.dead) { expect(probe.calls[k - 1]!.file, `no crash at ${k}`).toBe('escrow'); continue; }
        crashes++;
        m.crashAt = 0;
        m.dead = false;
        if (reboot) m.reboot();
        const second = await operate(m, 'EnableEncryption', journal);
        expect(second.report.status, `crash at ${k} (${probe.calls[k - 1]!.file} ${probe.calls[k - 1]!.args.join(' ')}): ${second.report.message}`).toBe('success');
        expectEncrypted(m);
        // A key once escrowed is the key: a resume never escrows again after the disk was touched.
        const l = m.disks[0]!.luks!;
        expect(m.keyFiles.get('LinuxPassPhraseFileName_1_0')!.toString()).toBe(l.key);
        expectSecretsOnlyOnStdin(m, [l.key]);
      }
      expect(crashes).toBeGreaterThan(15);
    });
  }

  it('a crash in the middle of the online reencryption is repaired (or recovered by open) and resumed', async () => {
    const probe = setup();
    await operate(probe, 'EnableEncryption');
    const k = probe.calls.findIndex((c) => c.args.includes('--resume-only')) + 1;
    for (const reboot of [false, true]) {
      const m = setup();
      m.crashAt = k;
      const journal = memoryJournal(1, () => m.dead);
      await operate(m, 'EnableEncryption', journal).catch((e: unknown) => { if (!(e instanceof Crash)) throw e; });
      expect(m.dead).toBe(true);
      expect(m.disks[0]!.luks!.done).toBeGreaterThan(0);
      m.crashAt = 0;
      m.dead = false;
      if (reboot) m.reboot();
      // Without a reboot the mapping stays active, so nothing reopens (and recovers) it: the repair path.
      const r = await operate(m, 'EnableEncryption', journal);
      expect(r.report.status).toBe('success');
      expectEncrypted(m);
      if (!reboot) expect(m.calls.some((c) => c.file === 'cryptsetup' && c.args[0] === 'repair')).toBe(true);
    }
  });

  it('a stop request reaches the running reencryption: it ends at a hotzone, Stopped, the journal left to resume', async () => {
    const m = setup();
    m.hotzoneBytes = 16 * MiB;
    const stop = new AbortController();
    let hotzones = 0;
    m.onHotzone = () => { if (++hotzones === 3) stop.abort(); }; // SIGTERM to the worker, 3 hotzones in
    const journal = memoryJournal();
    await expect(operate(m, 'EnableEncryption', journal, stop.signal)).rejects.toBeInstanceOf(Stopped);
    const l = m.disks[0]!.luks!;
    const total = m.disks[0]!.size - 16 * MiB;
    expect(l.mode).toBe('encrypt'); // still in progress: cryptsetup stopped, it did not run to the end
    expect(l.done).toBe(3 * 16 * MiB);
    expect(l.done).toBeLessThan(total);
    expect(l.needsRepair).toBe(false);
    const resumes = m.calls.filter((c) => c.args.includes('--resume-only'));
    expect(resumes.map((c) => c.signalled)).toEqual([true]);
    const p = Object.values(journal.volumes())[0]!;
    expect(p.done).toBe(false);
    expect(p.error).toBeUndefined();
    expect(p.step).toBe('boot'); // the last step that completed; 'reencrypt' runs again
    expect(m.calls.some((c) => c.file === 'resize2fs' && c.args[0]!.startsWith('/dev/mapper/'))).toBe(false);

    // The next enable (the worker restarted) resumes from the metadata, with no repair needed.
    m.onHotzone = undefined;
    const again = await operate(m, 'EnableEncryption', journal);
    expect(again.report.status, again.report.message).toBe('success');
    expectEncrypted(m);
    expect(m.calls.some((c) => c.file === 'cryptsetup' && c.args[0] === 'repair')).toBe(false);
    expect(Object.values(journal.volumes())[0]!.done).toBe(true);
  });

  it('reports a percentage that only goes up while the reencryption runs, to 100 after the last hotzone', async () => {
    const m = setup();
    m.hotzoneBytes = 16 * MiB;
    m.hotzoneMs = 15; // the 5 ms poll sees every hotzone, and the final state before cryptsetup clears the flag
    const { reports } = await operate(m, 'EnableEncryption');
    expect(reports.some((r) => r.status === 'transitioning' && r.data === 'EncryptionInProgress')).toBe(true);
    const pcts = reports.map((r) => r.volumes?.[0]?.percent).filter((x): x is number => x !== undefined);
    expect(pcts.length).toBeGreaterThan(5);
    expect(pcts).toEqual([...pcts].sort((a, b) => a - b));
    expect(pcts.at(-1)).toBe(100);
    expect(new Set(pcts).size).toBeGreaterThan(3);
    expect(reports.at(-1)!.volumes![0]!.state).toBe('Encrypted');
  });

  it('a new SequenceVersion with an added disk encrypts only the new disk', async () => {
    const m = setup();
    await operate(m, 'EnableEncryption');
    const firstKey = m.disks[0]!.luks!.key;
    m.addDisk(1, 128, { mountpoint: '/data2', fstab: 'UUID=fs-1-0000 /data2 ext4 defaults,nofail 0 2' });
    m.calls = [];
    const { report, escrowed } = await operate(m, 'EnableEncryption', memoryJournal(2));
    expect(report.status).toBe('success');
    expect(escrowed).toHaveLength(1);
    expect(m.disks[0]!.luks!.key).toBe(firstKey);
    expect(m.disks[1]!.luks?.mode).toBeUndefined();
    expect(m.disks[1]!.fs?.uuid).toBe('fs-1-0000');
    expect(m.calls.filter(isMutating).every((c) => !c.args.includes('/dev/sdc'))).toBe(true);
    expect(m.crypttab()).toContain('/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1 luks,nofail,headless=true');
  });

  it('reports success once every volume is past its safe point, then follows the work to its end', async () => {
    const m = setup();
    m.addDisk(1, 128, { mountpoint: '/data2', fstab: 'UUID=fs-1-0000 /data2 ext4 defaults,nofail 0 2' });
    m.hotzoneBytes = 16 * MiB;
    m.hotzoneMs = 15;
    const { report, reports } = await operate(m, 'EnableEncryption');
    // Both volumes are initialised (and their boot entries written) before either is reencrypted.
    const at = (pred: (c: { file: string; args: string[] }) => boolean) => m.calls.findIndex(pred);
    const inits = m.calls.map((c, i) => (c.file === 'cryptsetup' && c.args.includes('--init-only') ? i : -1)).filter((i) => i >= 0);
    expect(inits).toHaveLength(2);
    expect(Math.max(...inits)).toBeLessThan(at((c) => c.file === 'cryptsetup' && c.args.includes('--resume-only')));
    const first = reports.findIndex((r) => r.status === 'success');
    expect(first).toBeGreaterThan(0);
    expect(reports.slice(0, first).every((r) => r.status === 'transitioning')).toBe(true);
    expect(reports.slice(first).every((r) => r.status === 'success')).toBe(true);
    expect(reports[first]!.data).toBe('EncryptionInProgress');
    expect(reports[first]!.message).toMatch(/^Encrypting data volume 1\/2 \(\/data\).* Under way: it goes on by itself after a restart/);
    expect(reports.slice(first).some((r) => r.data === 'EncryptionInProgress' && (r.volumes?.[0]?.percent ?? 100) < 100)).toBe(true);
    expect(report).toMatchObject({ status: 'success', data: 'Encrypted' });
  });

  it('a failure after the early success ends in error, with the volume that failed', async () => {
    const m = setup();
    m.hotzoneBytes = 16 * MiB;
    const log = memoryLogger();
    const run = m.runner();
    // The grow after the reencryption fails (the file system on the mapping refuses to be resized).
    const failingGrow: typeof run = async (file, args, o) => (file === 'resize2fs' && args.length === 1 && args[0]!.startsWith('/dev/mapper/') ? { exitCode: 1, stdout: '', stderr: 'resize2fs: Bad magic' } : run(file, args, o));
    const reports: Report[] = [];
    const report = await runDataOperation({
      settings: { operation: 'EnableEncryption', volumeType: 'Data', identity: { kind: 'system' }, keyVaultUrl: 'https://v.vault.azure.net/' },
      journal: memoryJournal(), log, signal: new AbortController().signal, keys: m.keys(log),
      tools: { ...machineTools(failingGrow, m.stateDir, m.root), snapshot: async () => m.snapshot() },
      progress: (r) => reports.push(r), pollMs: 5, newUuid: m.newUuid,
    });
    expect(reports.some((r) => r.status === 'success')).toBe(true);
    expect(report).toMatchObject({ status: 'error', code: 19 });
    expect(report.message).toContain('resize2fs: Bad magic');
  });
});
