// The adapter's exact cryptsetup and e2fsprogs invocations on a real ext4 image file (no device-mapper on
// this host): in-place encryption with a kill -9 of cryptsetup at several offsets, each followed by
// cryptsetup's own recovery (repair) and a resume; the data checked by decrypting in userspace with the
// volume key (aes-xts-plain64, 512-byte-sector tweak) and reading every file back with debugfs. Then the
// decryption (exported header), also killed mid-way, and the files read from the plain image. Last, a stop
// request (the worker's SIGTERM) reaching a running resume through the step machine's signal.
import { spawn } from 'node:child_process';
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type Runner } from '../../../src/system/exec.ts';
import { cryptsetup } from '../../../src/system/cryptsetup.ts';
import { dataShiftBytes, sectorSizeFor } from '../../../src/encryption/data-shift.ts';
import { fileSystems } from '../../../src/system/fs.ts';
import { reencryptDoneBytes, type LuksMetadata } from '../../../src/parsers/luksdump.ts';
import { resumeReencrypt, Stopped, type Tools, type VolumeKeys, type VolumeRun } from '../../../src/encryption/steps.ts';
import type { VolumeProgress } from '../../../src/encryption/volume-journal.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';

process.env['ADE_LINUX_PBKDF'] = 'pbkdf2:1000'; // the lab knob: fast keyslots, same on-disk format otherwise
const MiB = 1024 * 1024;
const SIZE = 384 * MiB;
const dir = mkdtempSync(join(tmpdir(), 'ade-host-enc-'));
const img = join(dir, 'data.img');
const key = randomBytes(48);
const files: Record<string, string> = {};
const cs = cryptsetup(run);
const fs = fileSystems(run);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A Runner that SIGKILLs `cryptsetup reencrypt --resume-only` once the metadata shows `killAt` bytes done. */
function killingRunner(killAt: number, metaOf: () => Promise<LuksMetadata | undefined>, killed: { at?: number }): Runner {
  return (file, args, opts = {}) => {
    if (!(file === 'cryptsetup' && args.includes('--resume-only'))) return run(file, args, opts);
    return new Promise((resolve) => {
      const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', LC_ALL: 'C' } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdin.end(opts.input);
      let done = false;
      const poll = async () => {
        while (!done) {
          const m = await metaOf().catch(() => undefined);
          const bytes = m ? reencryptDoneBytes(m) : undefined;
          if (!done && bytes !== undefined && bytes >= killAt) { killed.at = bytes; child.kill('SIGKILL'); return; }
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      void poll();
      child.on('close', (code, signal) => { done = true; resolve({ exitCode: signal ? 137 : code ?? 1, stdout: '', stderr }); });
    });
  };
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  expect(r.exitCode, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Userspace dm-crypt: decrypts the data segment of a LUKS2 image with the volume key into a plain image. */
function decryptImage(luksImg: string, meta: LuksMetadata, vk: Buffer, out: string): void {
  const seg = meta.segments.find((s) => s.type === 'crypt')!;
  expect(seg.encryption).toBe('aes-xts-plain64');
  expect(vk.length).toBe(64);
  const ss = seg.sectorSize ?? 512;
  const total = seg.size === 'dynamic' ? statSync(luksImg).size - seg.offset : seg.size;
  const fin = openSync(luksImg, 'r');
  const fout = openSync(out, 'w');
  const CH = 4 * MiB;
  const buf = Buffer.alloc(CH);
  for (let pos = 0; pos < total; pos += CH) {
    const n = readSync(fin, buf, 0, Math.min(CH, total - pos), seg.offset + pos);
    const o = Buffer.alloc(n);
    for (let s = 0; s < n; s += ss) {
      const iv = Buffer.alloc(16);
      iv.writeBigUInt64LE(BigInt((pos + s) / 512) + BigInt(seg.ivTweak ?? 0));
      const d = createDecipheriv('aes-256-xts', vk, iv);
      d.setAutoPadding(false);
      Buffer.concat([d.update(buf.subarray(s, s + ss)), d.final()]).copy(o, s);
    }
    writeSync(fout, o, 0, n, pos);
  }
  closeSync(fin);
  closeSync(fout);
}

/** The plaintext of a LUKS2 image, decrypted in userspace with its volume key, as <dir>/<name>. */
async function plainCopy(luksImg: string, meta: LuksMetadata, name: string): Promise<string> {
  const vkFile = join(dir, `${name}.vk`);
  rmSync(vkFile, { force: true });
  await run('cryptsetup', ['luksDump', '--dump-volume-key', '--volume-key-file', vkFile, '--batch-mode', '--key-file', '-', luksImg], { input: key });
  const vk = readFileSync(vkFile);
  rmSync(vkFile);
  const plain = join(dir, name);
  decryptImage(luksImg, meta, vk, plain);
  return plain;
}

async function checkFiles(plainImg: string): Promise<void> {
  const fsck = await run('e2fsck', ['-f', '-n', plainImg]);
  expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
  for (const [name, hash] of Object.entries(files)) {
    const out = join(dir, 'out.bin');
    rmSync(out, { force: true });
    await must('debugfs', ['-R', `dump /${name} ${out}`, plainImg]);
    expect(sha(readFileSync(out)), name).toBe(hash);
  }
}

beforeAll(async () => {
  const src = join(dir, 'src');
  mkdirSync(src);
  for (let i = 0; i < 6; i++) {
    const b = randomBytes(i === 0 ? 1234 : 24 * MiB + i * 4097);
    writeFileSync(join(src, `f${i}.bin`), b);
    files[`f${i}.bin`] = sha(b);
  }
  writeFileSync(img, '');
  await must('truncate', ['-s', String(SIZE), img]);
  await must('mkfs.ext4', ['-q', '-F', '-d', src, img]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('in-place encryption of an ext4 image with the adapter, killed and resumed', () => {
  it('shrinks, initialises, survives kill -9 at several offsets via repair + resume, and keeps every file', async () => {
    await fs.fsck(img);
    const shiftBytes = dataShiftBytes(SIZE);
    const target = SIZE - shiftBytes;
    await fs.shrink(img, target);
    expect(statSync(img).size).toBe(SIZE); // resize2fs truncates a file; the adapter restores it
    const info = await fs.extInfo(img);
    expect(info.blockCount * info.blockSize).toBeLessThanOrEqual(target);

    const uuid = '5b3f6c1e-7d0a-4d8e-9c2b-1a2b3c4d5e6f';
    await cs.initEncrypt(img, key, { uuid, offline: true, shiftBytes, sectorSize: sectorSizeFor(info.blockSize, SIZE), generatedKey: true });
    expect(await cs.uuid(img)).toBe(uuid);
    const meta0 = (await cs.dump(img))!;
    expect(meta0.reencrypt?.mode).toBe('encrypt');
    expect(meta0.reencrypt?.resilience).toBe('datashift');

    const total = SIZE - shiftBytes;
    const kills: number[] = [];
    for (const frac of [0.2, 0.5, 0.8]) {
      const killed: { at?: number } = {};
      const killer = cryptsetup(killingRunner(Math.floor(total * frac), () => cs.dump(img), killed));
      await expect(killer.resume(img, key, { offline: true })).rejects.toThrow(/exit 137/);
      expect(killed.at).toBeDefined();
      kills.push(killed.at!);
      // cryptsetup's own recovery of the hotzone in flight (nothing to do when the kill fell between two),
      // then on to the next kill. (A plain resume here would run to the end whenever no recovery was due.)
      await cs.repair(img, key);
      expect((await cs.dump(img))!.reencryptInProgress).toBe(true);
    }
    expect(kills.length).toBe(3);
    expect(new Set(kills).size).toBe(kills.length);
    if ((await cs.dump(img))!.reencryptInProgress) await cs.resume(img, key, { offline: true });

    const meta = (await cs.dump(img))!;
    expect(meta.reencryptInProgress).toBe(false);
    expect(meta.segments).toHaveLength(1);
    expect(meta.segments[0]).toMatchObject({ type: 'crypt', offset: shiftBytes / 2, encryption: 'aes-xts-plain64', sectorSize: sectorSizeFor(info.blockSize, SIZE) });
    expect(meta.keyslots[0]!.keySize).toBe(64);
    expect(meta.keyslots[0]!.kdf?.type).toBe('pbkdf2');

    const plain = await plainCopy(img, meta, 'plain.img');
    await checkFiles(plain);
    rmSync(plain);
  });

  it('decrypts back in place with the exported header, killed mid-way, and keeps every file', async () => {
    const header = join(dir, 'exported.luks-header');
    await cs.initDecrypt(img, key, { header, offline: true });
    expect(await cs.isLuks(img)).toBe(false); // the device's head now holds data; the header is in the file
    expect((await cs.dump(header))!.reencrypt?.mode).toBe('decrypt');
    const killed: { at?: number } = {};
    const total = SIZE - dataShiftBytes(SIZE) / 2;
    const killer = cryptsetup(killingRunner(Math.floor(total * 0.4), () => cs.dump(header), killed));
    await expect(killer.resume(img, key, { header, offline: true })).rejects.toThrow(/exit 137/);
    expect(killed.at).toBeGreaterThan(0);
    const again = await run('cryptsetup', ['reencrypt', '--resume-only', '--header', header, '--force-offline-reencrypt', '--batch-mode', '--key-file', '-', img], { input: key });
    if (again.exitCode !== 0) {
      expect(again.stderr).toMatch(/repair/i);
      await cs.repair(img, key, { header });
      await cs.resume(img, key, { header, offline: true });
    }
    const meta = (await cs.dump(header))!;
    expect(meta.reencryptInProgress).toBe(false);
    expect(meta.segments.every((s) => s.type === 'linear')).toBe(true);
    expect(await fs.probeType(img)).toBe('ext4');
    await checkFiles(img);
  });
});

/** sha256 of a file's first `bytes` bytes. */
function shaPrefix(file: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(4 * MiB);
  for (let pos = 0; pos < bytes;) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - pos), pos);
    if (n === 0) throw new Error(`${file} ends at ${pos}, before ${bytes}`);
    h.update(buf.subarray(0, n));
    pos += n;
  }
  closeSync(fd);
  return h.digest('hex');
}

describe('a stop request during the reencryption (the worker\'s SIGTERM, passed on to cryptsetup)', () => {
  it('ends a running resume at a hotzone with Stopped, leaves metadata the next resume continues without repair', async () => {
    const STOP_SIZE = 512 * MiB;
    const shiftBytes = dataShiftBytes(STOP_SIZE);
    const kept = STOP_SIZE - shiftBytes; // what an in-place encryption keeps: the rest is header room
    const stopImg = join(dir, 'stop.img');
    // Random content: a block misplaced or decrypted with the wrong tweak would change the hash.
    const fd = openSync(stopImg, 'w');
    for (let pos = 0; pos < STOP_SIZE; pos += 4 * MiB) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, pos);
    closeSync(fd);
    const want = shaPrefix(stopImg, kept);
    await cs.initEncrypt(stopImg, key, { uuid: '0c7d2e4f-1a3b-4c5d-8e9f-a0b1c2d3e4f5', offline: true, shiftBytes, sectorSize: 4096, generatedKey: true });
    const total = STOP_SIZE - shiftBytes / 2;

    const log = memoryLogger();
    const saved: Array<Partial<VolumeProgress>> = [];
    const unused = () => Promise.reject(new Error('no key protector here: the key is in hand'));
    const unusedKeys: VolumeKeys = {
      newPassphrase: () => { throw new Error('no new key here'); }, generatesKeys: true,
      newRecoveryPassphrase: () => { throw new Error('no new key here'); },
      bek: { kind: 'bek-volume', seal: unused, unseal: unused }, keyVault: { kind: 'keyvault', seal: unused, unseal: unused },
    };
    const volumeRun = (signal: AbortSignal): VolumeRun => {
      const p: VolumeProgress = {
        action: 'inplace', device: stopImg, luksUuid: '0c7d2e4f-1a3b-4c5d-8e9f-a0b1c2d3e4f5', mapperName: 'ade-stop', mountpoint: '/stop', fstype: 'ext4',
        fstab: { spec: 'UUID=x', file: '/stop', vfstype: 'ext4', mntops: ['nofail'], freq: 0, passno: 0 }, fileName: 'k', step: 'boot', done: false,
      };
      // Only cryptsetup and the device size are used by the reencrypt step; the rest would be a bug.
      const tools = { cs, fs } as unknown as Tools;
      const v: VolumeRun = {
        id: 'stop', p, device: stopImg, seq: 1, tools, key: Buffer.from(key),
        keys: unusedKeys,
        save(patch) { saved.push(patch); v.p = { ...v.p, ...patch }; }, progress: () => undefined, log, signal, pollMs: 50,
      };
      return v;
    };

    const stop = new AbortController();
    let settled = false;
    const running = resumeReencrypt(volumeRun(stop.signal), stopImg, { offline: true }).finally(() => { settled = true; });
    running.catch(() => undefined);
    let doneAtStop: number | undefined;
    while (!settled) {
      const m = await cs.dump(stopImg).catch(() => undefined);
      const done = m ? reencryptDoneBytes(m) : undefined;
      if (done !== undefined && done > 0) { doneAtStop = done; stop.abort(); break; }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(doneAtStop, 'the reencryption ended before any progress was seen').toBeDefined();
    await expect(running).rejects.toBeInstanceOf(Stopped);

    const mid = (await cs.dump(stopImg))!;
    expect(mid.reencryptInProgress).toBe(true);
    const doneMid = reencryptDoneBytes(mid)!;
    expect(doneMid).toBeGreaterThanOrEqual(doneAtStop!);
    expect(doneMid).toBeLessThan(total);
    // Stopped at a hotzone boundary, not killed inside one (which would flag the hotzone for recovery).
    expect(mid.segments.filter((s) => s.flags.includes('in-reencryption'))).toEqual([]);
    expect(saved.some((s) => s.doneBytes === total)).toBe(false);
    expect(log.lines.some((l) => /interrupted on request/.test(l))).toBe(true);

    await resumeReencrypt(volumeRun(new AbortController().signal), stopImg, { offline: true });
    expect(log.lines.some((l) => /repair/.test(l))).toBe(false);
    const meta = (await cs.dump(stopImg))!;
    expect(meta.reencryptInProgress).toBe(false);
    expect(meta.segments).toHaveLength(1);
    expect(meta.segments[0]).toMatchObject({ type: 'crypt', offset: shiftBytes / 2, sectorSize: 4096, encryption: 'aes-xts-plain64' });

    const plain = await plainCopy(stopImg, meta, 'stop-plain.img');
    rmSync(stopImg);
    expect(shaPrefix(plain, kept)).toBe(want);
    rmSync(plain);
  });
});
