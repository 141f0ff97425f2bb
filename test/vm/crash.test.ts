// Lab self-test (c): a power cut (SIGKILL qemu) in the middle of `cryptsetup reencrypt --encrypt` of an ext4
// disk with files; after the next boot, repair + resume must leave every file's sha256 unchanged.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootVm, FAST_PBKDF, sha256, type FileTree, type Vm } from '../../lab/vm.ts';

const passphrase = randomBytes(48).toString('base64');
const files: FileTree = {
  'big.bin': randomBytes(72 << 20),
  'docs/readme.txt': 'data that must survive a power cut\n',
  'docs/small.bin': randomBytes(123_457),
};
for (let i = 0; i < 20; i++) files[`many/f${i}.bin`] = randomBytes(50_000 + i * 1000);
const expected = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));

/** cryptsetup --progress-json lines on the serial console: true once `fraction` of the device is done. */
function progressAtLeast(fraction: number) {
  return (text: string): boolean => {
    let last = 0;
    for (const m of text.matchAll(/"device_bytes"\s*:\s*"(\d+)"\s*,\s*"device_size"\s*:\s*"(\d+)"/g)) last = Number(m[1]) / Number(m[2]);
    return last >= fraction;
  };
}

let vm: Vm;
beforeAll(async () => {
  vm = await bootVm({
    flavour: 'minimal', name: 'crash-selftest',
    disks: [{ name: 'data', kind: 'ext4', sizeMiB: 256, label: 'data', files }, { name: 'bek', kind: 'bek', passphrase }],
  });
});
afterAll(async () => { await vm?.destroy(); });

describe('power cut during in-place encryption', () => {
  it('(c) resumes after repair and keeps every file intact', async () => {
    const KEY = 'K=/mnt/bek/LinuxPassPhraseFileName; mkdir -p /mnt/bek; mountpoint -q /mnt/bek || mount -t vfat -o ro "$(blkid -L "BEK VOLUME")" /mnt/bek';
    // shrink the fs so the LUKS2 header fits (data shift), then encrypt in place; progress goes to the serial console
    await vm.run(`set -e; D=$(lab-dev data); e2fsck -fy "$D" >/dev/null 2>&1 || true; resize2fs "$D" 200M`);
    const since = vm.serialText().length;
    const reenc = vm.exec(`${KEY}
      lab-mark REENC_START
      cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M --batch-mode ${FAST_PBKDF} --key-file "$K" \
        --progress-json --progress-frequency 1 "$(lab-dev data)" > /dev/ttyS0 2>&1
      lab-mark REENC_END $?`);
    reenc.catch(() => undefined); // rejected by the power cut
    await vm.powerCut({ when: progressAtLeast(0.3), since, timeoutMs: 900_000 });
    await expect(reenc).rejects.toThrow(/qemu exited/);
    expect(vm.serialText().slice(since)).not.toMatch(/REENC_END/);

    await vm.start();
    // the cut really happened mid-way: the header says the device is still being reencrypted
    const dump = await vm.run(`cryptsetup luksDump "$(lab-dev data)"`);
    expect(dump).toMatch(/online-reencrypt/);
    const out = await vm.run(`set -e; ${KEY}; D=$(lab-dev data)
      cryptsetup repair --batch-mode --key-file "$K" "$D" && echo REPAIR_OK
      cryptsetup reencrypt --resume-only --batch-mode --key-file "$K" "$D" && echo RESUME_OK
      cryptsetup luksDump "$D" | grep -c online-reencrypt || true
      cryptsetup open --key-file "$K" "$D" data
      e2fsck -fn /dev/mapper/data >/dev/null && echo FSCK_CLEAN
      mkdir -p /mnt/data && mount -o ro /dev/mapper/data /mnt/data`, { timeoutMs: 900_000 });
    expect(out).toContain('REPAIR_OK');
    expect(out).toContain('RESUME_OK');
    expect(out).toMatch(/^0$/m); // no reencryption requirement left
    expect(out).toContain('FSCK_CLEAN');
    expect(await vm.hashTree('/mnt/data')).toEqual(expected);
    // and the data really is encrypted on the disk now
    expect(await vm.run('blkid -o value -s TYPE "$(lab-dev data)"')).toBe('crypto_LUKS\n');
    await vm.run('umount /mnt/data && cryptsetup close data');
  });
});
