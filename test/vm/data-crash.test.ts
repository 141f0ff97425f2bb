// Issue 5, crash safety on real dm-crypt: power cuts (SIGKILL of qemu) with a real kernel and a real boot
// afterwards, while the packaged extension's worker runs. (a) in-place encryption with the parameters a real
// disk gets (2 GiB: the largest data shift, 4096-byte sectors), cut twice: inside the first hotzone, and after
// the last one but before the worker has finished. Each time systemd unlocks the volume from crypttab at boot,
// the agent's enable-after-boot restarts the worker from its journal; it finishes: success, every file
// intact. (b) mid decryption (the header exported to the OS disk): the same, back to plain ext4. Progress is
// read from the LUKS2 metadata the way the worker reads it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLuksDumpJson, reencryptDoneBytes, reencryptTotalBytes, type LuksMetadata } from '../../src/parsers/luksdump.ts';
import { dataShiftBytes, MAX_SHIFT_BYTES } from '../../src/encryption/data-shift.ts';
import { sha256, sleep, type FileTree, type Vm } from '../../lab/vm.ts';
import { disableSettings, enableSettings, fstabByMount, GuestExtension, isOver, mountDataDisks, parseStatus, startDataGuest, STATE_DIR, type GuestAzure } from '../../lab/e2e.ts';

const files: FileTree = { 'big.bin': randomBytes(48 << 20), 'docs/readme.txt': 'must survive two power cuts\n' };
for (let i = 0; i < 24; i++) files[`many/f${i}.bin`] = randomBytes(100_000 + i * 4099);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
const DATA_MiB = 2048;

let az: GuestAzure;
let vm: Vm;
let ext: GuestExtension;
let g: Awaited<ReturnType<typeof startDataGuest>> | undefined;
let fstabLine = '';

beforeAll(async () => {
  g = await startDataGuest({
    name: 'data-crash',
    disks: [{ name: 'data', kind: 'ext4', sizeMiB: DATA_MiB, files }, { name: 'bek', kind: 'vfat', sizeMiB: 16, label: 'BEK VOLUME' }],
    // Each 64 MiB hotzone takes seconds to write whatever the host's speed: the cuts below land where they aim.
    throttleMBps: { data: 24 },
  });
  ({ az, vm, ext } = g);
  // No Azure LUN link here (virtio): half-way through decryption the device has no LUKS UUID and ciphertext
  // at its head, so only its hardware name (/dev/disk/by-id/virtio-data) finds it again after the power cut.
  fstabLine = (await mountDataDisks(vm, [{ disk: 'data', mountpoint: '/data' }])).fstabLines['/data']!;
  expect((await ext.run('install')).code).toBe(0);
});

afterAll(async () => {
  await g?.stop();
});

async function metadata(metaPath: string): Promise<LuksMetadata | undefined> {
  const r = await vm.exec(`cryptsetup luksDump --dump-json-metadata ${metaPath} 2>/dev/null`);
  return r.code === 0 ? parseLuksDumpJson(r.stdout) : undefined;
}

/** Bytes done of the reencryption described by this LUKS2 metadata (device or exported header), if one runs. */
async function doneFraction(metaPath: string): Promise<number | undefined> {
  const meta = await metadata(metaPath);
  const bytes = DATA_MiB * 1024 * 1024;
  const done = meta && reencryptDoneBytes(meta, bytes);
  return done === undefined ? undefined : done / reencryptTotalBytes(meta!, bytes)!;
}

/** Inside the first hotzone: a segment is being reencrypted and none is done yet. */
async function inFirstHotzone(metaPath: string): Promise<boolean> {
  const meta = await metadata(metaPath);
  return !!meta && reencryptDoneBytes(meta, DATA_MiB * 1024 * 1024) === 0 && meta.segments.some((x) => x.flags.includes('in-reencryption'));
}

/** Starts the operation of `seq` and cuts the power once `cutNow(metaPath())` says so. */
async function enableAndCut(seq: number, metaPath: () => Promise<string | undefined>, cutNow: (path: string) => Promise<boolean>): Promise<void> {
  const en = await ext.run('enable');
  expect(en.code, en.stderr).toBe(0);
  expect(en.seq).toBe(seq);
  const deadline = Date.now() + 900_000;
  for (;;) {
    const p = await metaPath();
    if (p && await cutNow(p)) { await vm.powerCut(); return; }
    const s = await ext.status(seq);
    if (s && isOver(s)) throw new Error(`the operation ended before the cut: ${JSON.stringify(s)}\n${await ext.logTail()}`);
    if (Date.now() > deadline) throw new Error(`no reencryption progress seen\n${await ext.logTail()}`);
    await sleep(300);
  }
}

/**
 * A guest unit that waits for the worker's `cryptsetup reencrypt --resume-only`, and the moment it exits
 * (the last hotzone written, the metadata final) freezes the worker (SIGSTOP) before its next step, then
 * says so on the serial console: the power cut that follows lands between the last hotzone and the end.
 */
const AFTER_LAST = `#!/bin/bash
while :; do
  until c=$(pgrep -n -f 'reencrypt --resume-only'); do sleep 0.1; done
  w=$(ps -o ppid= -p "$c" | tr -d ' ')
  while [ -d /proc/$c ]; do sleep 0.01; done
  kill -STOP "$w"
  # a resume that stopped short (a recovery first, say) is not the last: let the worker go on
  if cryptsetup luksDump "$(lab-dev data)" | grep -q online-reencrypt; then kill -CONT "$w"; else break; fi
done
lab-mark AFTER_LAST_HOTZONE
`;

describe('power cuts during the worker\'s reencryption', () => {
  it('(a) in-place encryption cut in the first hotzone, then after the last: each boot unlocks from crypttab, enable-after-boot resumes, success, files intact', async () => {
    expect(await vm.hashTree('/data')).toEqual(expected);
    const seq = await ext.settings(enableSettings(az));
    await enableAndCut(seq, async () => (await vm.run('lab-dev data')).trim(), inFirstHotzone);

    await vm.start();
    // the cut really was in the first hotzone, with the parameters a real disk gets
    const cut1 = (await metadata((await vm.run('lab-dev data')).trim()))!;
    expect(cut1.reencryptInProgress).toBe(true);
    expect(dataShiftBytes(DATA_MiB * 1024 * 1024)).toBe(MAX_SHIFT_BYTES);
    expect(cut1.segments.find((x) => x.flags.includes('backup-final'))).toMatchObject({ offset: MAX_SHIFT_BYTES / 2, sectorSize: 4096 });
    expect(reencryptDoneBytes(cut1, DATA_MiB * 1024 * 1024)).toBeLessThanOrEqual(MAX_SHIFT_BYTES / 2);
    // The cut came after the early success (the reencryption had started): the status says so, in progress.
    const st0 = parseStatus((await ext.status(seq))!);
    expect([st0.status, st0.state?.data]).toEqual(['success', 'EncryptionInProgress']);

    await vm.writeFile('/usr/local/sbin/after-last', AFTER_LAST, 0o755);
    await vm.run('systemd-run --quiet --collect --unit after-last /usr/local/sbin/after-last');
    const frozen = vm.waitSerial(/AFTER_LAST_HOTZONE/, { timeoutMs: 1_800_000 });
    const boot1 = await ext.boot();
    expect(boot1.code, boot1.stderr).toBe(0);
    await frozen;
    await vm.powerCut();

    await vm.start();
    // after the last hotzone: the metadata is final, the worker had not finished (no grow, no done)
    expect((await metadata((await vm.run('lab-dev data')).trim()))!.reencryptInProgress).toBe(false);
    const st1 = parseStatus((await ext.status(seq))!);
    expect([st1.status, st1.state?.data]).toEqual(['success', 'EncryptionInProgress']);
    const boot = await ext.boot();
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.seq).toBe(seq);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'Encrypted' });
    expect(st.volumes?.map((v) => [v.mountpoint, v.state])).toEqual([['/data', 'Encrypted']]);
    const dump = await vm.run('cryptsetup luksDump "$(lab-dev data)"');
    expect(dump).toMatch(/^Version:\s+2$/m);
    expect(dump).toMatch(/cipher:\s+aes-xts-plain64/);
    expect(dump).not.toMatch(/online-reencrypt/);
    const uuid = (await vm.run('cryptsetup luksUUID "$(lab-dev data)"')).trim();
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toBe(`/dev/mapper/ade-${uuid}`);
    // grown back over the tail the shift freed: the file system fills all but the header area
    const fs = await vm.run(`dumpe2fs -h /dev/mapper/ade-${uuid} 2>/dev/null | grep -E '^Block (count|size):'`);
    expect(Number(/Block count:\s+(\d+)/.exec(fs)![1]) * Number(/Block size:\s+(\d+)/.exec(fs)![1])).toBe(DATA_MiB * 1024 * 1024 - MAX_SHIFT_BYTES / 2);
    expect(await vm.hashTree('/data')).toEqual(expected);
    expect((await vm.run(`e2fsck -fn /dev/mapper/ade-${uuid} >/dev/null 2>&1 && echo CLEAN || (mount -o remount,ro /data; e2fsck -fn /dev/mapper/ade-${uuid} >/dev/null 2>&1 && echo CLEAN_RO; mount -o remount,rw /data)`)).trim()).toMatch(/CLEAN/);
    // one escrowed secret (name) for the volume, even though the worker ran twice
    const puts = az.fake.log.of('vault').filter((r) => r.method === 'PUT' && r.path.startsWith('/secrets/'));
    expect(new Set(puts.map((r) => r.path)).size).toBe(1);
    expect(await vm.run('cat /etc/crypttab')).toMatch(new RegExp(`^ade-${uuid}\\s+UUID=${uuid}\\s+/mnt/azure_bek_disk/LinuxPassPhraseFileName_0_0\\s`, 'm'));
  });

  it('(b) mid decryption: the exported header reopens it at boot, the worker resumes, plain ext4 with the same files', async () => {
    const seq = await ext.settings(disableSettings());
    const header = async (): Promise<string | undefined> => {
      const r = await vm.exec(`ls ${STATE_DIR}/volumes/*.luks-header 2>/dev/null`);
      return r.code === 0 ? r.stdout.trim().split('\n')[0] : undefined;
    };
    await enableAndCut(seq, header, async (p) => { const f = await doneFraction(p); return f !== undefined && f >= 0.2; });

    await vm.start();
    const h = await header();
    expect(h).toBeDefined();
    expect(await vm.run(`cryptsetup luksDump ${h}`)).toMatch(/online-reencrypt/);
    // the decrypting crypttab line names the disk by its hardware, not by this boot's /dev/vdX
    expect(await vm.run('cat /etc/crypttab')).toMatch(/^ade-\S+\s+\/dev\/disk\/by-id\/virtio-data\s+\S+\s+\S*header=/m);
    const st0 = parseStatus((await ext.status(seq))!);
    expect([st0.status, st0.state?.data]).toEqual(['success', 'DecryptionInProgress']);

    const boot = await ext.boot();
    expect(boot.code, boot.stderr).toBe(0);
    const st = parseStatus(await ext.waitDone(seq));
    expect(st.status, `${st.message}\n${await ext.logTail()}`).toBe('success');
    expect(st.state).toEqual({ os: 'NotEncrypted', data: 'NotEncrypted' });

    expect(await vm.hashTree('/data')).toEqual(expected);
    expect((await vm.exec('cryptsetup isLuks "$(lab-dev data)"')).code).not.toBe(0);
    expect(await vm.run('blkid -o value -s TYPE "$(lab-dev data)"')).toBe('ext4\n');
    expect((await vm.run('findmnt -no SOURCE /data')).trim()).toBe((await vm.run('lab-dev data')).trim());
    expect(fstabByMount(await vm.run('cat /etc/fstab'))['/data']).toBe(fstabLine);
    expect(await vm.run('cat /etc/crypttab')).not.toMatch(/ade-/);
    expect((await vm.exec(`ls ${STATE_DIR}/volumes/*.luks-header`)).code).not.toBe(0);
  });
});
