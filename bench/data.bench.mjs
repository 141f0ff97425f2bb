// In-place encryption of a data volume in one lab guest, four ways on the same disk, refilled between runs:
//   online   raw `cryptsetup reencrypt --encrypt --reduce-device-size 32M --init-only` + mount on the mapping +
//            `--resume-only`: the job the extension does (the volume stays mounted), with nothing around it;
//   offline  the same reencryption with the file system unmounted (the floor: no dm reloads, no escrow, no fs work);
//   dd       ADE's method: each 50 MiB slice read, written to a backup file, then written to the dm-crypt
//            mapping with dd (ADE journals every slice, so it writes each one twice);
//   ade-linux the packaged extension through the fake guest agent: enable → terminal status, which includes
//            the prerequisites, the Key Vault escrow (fake vault on the host), the brief unmount, fsck and
//            shrink, and the online reencryption.
// Metrics (MB/s of the volume, "times as fast", higher is better):
//   data_inplace_vs_cryptsetup         = ade-linux / raw online  (goal ≥ 0.9: what the extension adds to the same job)
//   data_inplace_vs_cryptsetup_offline = ade-linux / raw offline (what staying mounted costs on top)
//   data_inplace_vs_dd_slices          = ade-linux / ADE's dd     (goal ≥ 2)
// The extension's fixed cost (seconds beyond the raw online run) is in the note: on a small disk it dominates.
// Run alone: node bench/data.bench.mjs   (ADE_BENCH_DISK_MIB=… sets the disk size, default 1024)
import { fileURLToPath } from 'node:url';

const DISK_MIB = Number(process.env.ADE_BENCH_DISK_MIB ?? 1024);
const FILL_MIB = Math.round(DISK_MIB / 2);
const SLICE_MIB = 50;
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function run() {
  const e2e = await import('../test/vm/e2e.ts');
  const lab = await import('../test/vm/lab.ts');
  const az = await e2e.startGuestAzure();
  const vm = await lab.bootVm({
    flavour: 'full', name: 'bench-data', guestfwd: [az.fwd],
    disks: [{ name: 'data1', kind: 'empty', sizeMiB: DISK_MIB }, { name: 'bek', kind: 'vfat', label: 'BEK VOLUME' }],
  });
  const up = async () => Number((await vm.run('cut -d" " -f1 /proc/uptime')).trim());
  // A fresh ext4 (of fsMiB, the whole disk unless told) with FILL_MIB of incompressible data, unmounted.
  const refill = (fsMiB = DISK_MIB) => vm.run(`set -e
    D=$(lab-dev data1); umount /data1 2>/dev/null || true; cryptsetup close bench 2>/dev/null || true
    wipefs -qa "$D"; mkfs.ext4 -q -F "$D" ${fsMiB}M; mkdir -p /data1; mount "$D" /data1
    dd if=/dev/urandom of=/data1/fill.bin bs=1M count=${FILL_MIB} status=none; sync; umount /data1`);
  try {
    const ext = await e2e.GuestExtension.install(vm, az);
    await vm.run(`printf 'bench-key-0123456789abcdef' > /root/k`);

    // The raw runs get their file system already 32 MiB short of the disk: they measure cryptsetup alone.
    const RAW = `--type luks2 --cipher aes-xts-plain64 --key-size 512 --reduce-device-size 32M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --key-file /root/k`;
    await refill(DISK_MIB - 32);
    let t = await up();
    await vm.run(`cryptsetup reencrypt --encrypt ${RAW} "$(lab-dev data1)"`, { timeoutMs: 3_600_000 });
    const offlineS = (await up()) - t;

    await refill(DISK_MIB - 32);
    t = await up();
    await vm.run(`set -e; D=$(lab-dev data1)
      cryptsetup reencrypt --encrypt ${RAW} --init-only "$D" bench; mount /dev/mapper/bench /data1
      cryptsetup reencrypt --resume-only --batch-mode --key-file /root/k "$D"`, { timeoutMs: 3_600_000 });
    const rawS = (await up()) - t;
    await vm.run('umount /data1');

    await refill();
    t = await up();
    await vm.run(`set -e; D=$(lab-dev data1)
      cryptsetup luksFormat --type luks2 --cipher aes-xts-plain64 --key-size 512 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --header /var/tmp/bench.hdr --key-file /root/k "$D"
      cryptsetup open --header /var/tmp/bench.hdr --key-file /root/k "$D" bench
      n=$(( ${DISK_MIB} / ${SLICE_MIB} )); i=$n
      while [ $i -ge 0 ]; do
        dd if="$D" of=/var/tmp/slice bs=1M count=${SLICE_MIB} skip=$((i * ${SLICE_MIB})) iflag=direct status=none
        sync /var/tmp/slice
        dd if=/var/tmp/slice of=/dev/mapper/bench bs=1M seek=$((i * ${SLICE_MIB})) oflag=direct conv=notrunc status=none 2>/dev/null || true
        i=$((i - 1))
      done
      cryptsetup close bench; rm -f /var/tmp/slice /var/tmp/bench.hdr`, { timeoutMs: 3_600_000 });
    const ddS = (await up()) - t;

    await refill();
    await e2e.mountDataDisks(vm, [{ disk: 'data1', mountpoint: '/data1' }]);
    await ext.run('install');
    const seq = await ext.settings(e2e.enableSettings(az));
    t = await up();
    await ext.run('enable');
    const status = e2e.parseStatus(await ext.waitTerminal(seq, { everyMs: 1000 }));
    const extS = (await up()) - t;
    if (status.status !== 'success') throw new Error(`the extension did not encrypt: ${status.message}`);

    const mbS = (s) => round(DISK_MIB / s, 1);
    const note = `guest seconds on a ${DISK_MIB} MiB disk: ade-linux ${round(extS, 1)} (fixed cost ${round(extS - rawS, 1)}), ` +
      `raw online ${round(rawS, 1)}, raw offline ${round(offlineS, 1)}, dd slices ${round(ddS, 1)}`;
    return {
      data_inplace_vs_cryptsetup: { value: mbS(extS), unit: 'MB/s', baseline: mbS(rawS), ratio: round(rawS / extS), note },
      data_inplace_vs_cryptsetup_offline: { value: mbS(extS), unit: 'MB/s', baseline: mbS(offlineS), ratio: round(offlineS / extS), note },
      data_inplace_vs_dd_slices: { value: mbS(extS), unit: 'MB/s', baseline: mbS(ddS), ratio: round(ddS / extS), note },
    };
  } finally {
    await vm.destroy();
    await az.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await run(), null, 2));
