// Lab baselines (bench/run.mjs imports every bench/*.bench.mjs and calls run()):
//   lab_boot_s          wall time from qemu start to the minimal guest's command channel being ready;
//   lab_reencrypt_mb_s  raw `cryptsetup reencrypt --encrypt` (in place, data shift, LUKS2, aes-xts-plain64)
//                       throughput inside that guest on a 256 MiB virtio disk.
// These two ARE the baselines: later benchmarks (the extension's boot-to-enable time, its in-place
// encryption throughput) divide by them, so the machine's speed (TCG vs KVM, a busy CI host) cancels out.
// A baseline has nothing below it to compare with, so baseline = value and ratio = 1 by definition.
// Run alone: node bench/lab.bench.mjs
import { fileURLToPath } from 'node:url';

const DISK_MIB = 256;
const SHIFT_MIB = 32; // --reduce-device-size: room for the LUKS2 header; the rest is reencrypted

export async function run() {
  const { bootVm, FAST_PBKDF } = await import('../lab/vm.ts');
  const vm = await bootVm({
    flavour: 'minimal', name: 'bench-lab',
    disks: [{ name: 'data', kind: 'empty', sizeMiB: DISK_MIB }, { name: 'bek', kind: 'bek', passphrase: 'bench-passphrase' }],
  });
  try {
    const bootS = vm.lastBootMs / 1000;
    const out = await vm.run(`set -e
      mkdir -p /mnt/bek && mount -t vfat -o ro "$(blkid -L 'BEK VOLUME')" /mnt/bek
      D=$(lab-dev data)
      dd if=/dev/urandom of="$D" bs=1M count=${DISK_MIB - SHIFT_MIB} status=none
      t0=$(cut -d' ' -f1 /proc/uptime)
      cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size ${SHIFT_MIB}M --batch-mode ${FAST_PBKDF} \\
        --key-file /mnt/bek/LinuxPassPhraseFileName "$D"
      t1=$(cut -d' ' -f1 /proc/uptime)
      cryptsetup isLuks "$D"
      echo "ELAPSED $t0 $t1"`, { timeoutMs: 1_800_000 });
    const m = /ELAPSED (\S+) (\S+)/.exec(out);
    if (!m) throw new Error(`no timing in guest output: ${out}`);
    const seconds = Number(m[2]) - Number(m[1]);
    const mbS = ((DISK_MIB - SHIFT_MIB) * 1024 * 1024) / 1e6 / seconds;
    await vm.shutdown();
    const r3 = (x) => Math.round(x * 1000) / 1000;
    return {
      lab_boot_s: { value: r3(bootS), unit: 's', baseline: r3(bootS), ratio: 1 },
      lab_reencrypt_mb_s: { value: r3(mbS), unit: 'MB/s', baseline: r3(mbS), ratio: 1 },
    };
  } finally {
    await vm.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await run(), null, 2));
}
