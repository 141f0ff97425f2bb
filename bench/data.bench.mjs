// In-place encryption of a data volume in one lab guest, four ways on the same disk, refilled between runs:
//   online   raw `cryptsetup reencrypt --encrypt --reduce-device-size 32M --init-only` + mount on the mapping +
//            `--resume-only`: the job the extension does (the volume stays mounted), with nothing around it;
//   offline  the same reencryption with the file system unmounted (the floor: no dm reloads, no escrow, no fs work);
//   dd       ADE's method, its commands as it runs them (adeSlicedCopy below): 50 MiB slices copied backwards
//            onto the dm-crypt mapping through a tmpfs file and a backup file on the OS disk;
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

/**
 * ADE's non-online in-place data encryption (VMEncryption/main: EncryptionInPlace phases BackupHeader →
 * EncryptDevice → EncryptingData → RecoverHeader, TransactionalCopyTask.copy_internal), as the commands it
 * runs, minus the key handling: e2fsck and shrink by the LUKS2 header (16 MiB), save the first 50 MiB slice,
 * luksFormat with the header in the device, then from the end backwards, slice by slice: dd the device's
 * slice to a tmpfs file, dd it to the backup file on the OS disk (in the background; killed once the target
 * write is done), dd it onto the mapping, delete both files, commit the slice index to the INI journal. The
 * last (partial) slice goes at bs=512, as ADE does. Then the saved first slice onto the mapping, resize2fs.
 * ADE's dd writes through the page cache without a sync; a final `sync` makes the run end with the data on
 * disk, as cryptsetup's does.
 */
export function adeSlicedCopy() {
  const H = 16 * 1024 * 1024;
  const B = SLICE_MIB * 1024 * 1024;
  return `set -e; D=$(lab-dev data1); T=/mnt/azure_encrypt_tmpfs; C=/var/lib/azure_disk_encryption_config
    mkdir -p $T $C; mount -t tmpfs -o size=${B + 1024} tmpfs $T
    SIZE=$(blockdev --getsize64 "$D"); TOTAL=$((SIZE - ${H}))
    e2fsck -f -y "$D" >/dev/null || [ $? -le 1 ]
    resize2fs "$D" $((TOTAL / 512))s >/dev/null
    dd if="$D" of=$C/copy_header_slice_file bs=${B} count=1 status=none
    cryptsetup luksFormat --type luks2 --cipher aes-xts-plain64 --key-size 512 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --key-file /root/k "$D"
    cryptsetup open --key-file /root/k "$D" bench
    LAST=$((TOTAL % ${B})); N=$(( (TOTAL - LAST) / ${B} + 1 )); i=0
    while [ $i -lt $N ]; do
      k=$((N - i - 1))
      if [ $i -eq 0 ]; then
        if [ $LAST -gt 0 ]; then dd if="$D" of=/dev/mapper/bench bs=512 skip=$((k * ${B} / 512)) seek=$((k * ${B} / 512)) count=$((LAST / 512)) status=none; fi
      else
        dd if="$D" of=$T/slice_file bs=${B} skip=$k count=1 status=none
        dd if=$T/slice_file of=$C/copy_slice_item.bak bs=${B} count=1 status=none & BP=$!
        dd if=$T/slice_file of=/dev/mapper/bench bs=${B} seek=$k count=1 status=none
        kill $BP 2>/dev/null || true; wait $BP 2>/dev/null || true
        rm -f $C/copy_slice_item.bak $T/slice_file
      fi
      i=$((i + 1))
      printf '[azure_crypt_ongoing_item_config]\ncurrentsliceindex = %s\n' $i > $C/azure_crypt_ongoing_item.ini
    done
    dd if=$C/copy_header_slice_file of=/dev/mapper/bench bs=${B} count=1 status=none
    resize2fs /dev/mapper/bench >/dev/null; sync
    umount $T; rm -rf $C`;
}

export async function run() {
  const e2e = await import('../test/vm/e2e.ts');
  const lab = await import('../test/vm/lab.ts');
  const az = await e2e.startGuestAzure();
  const vm = await lab.bootVm({
    flavour: 'full', name: 'bench-data', guestfwd: [az.fwd],
    disks: [{ name: 'data1', kind: 'empty', sizeMiB: DISK_MIB }, { name: 'bek', kind: 'vfat', label: 'BEK VOLUME' }],
  });
  const up = async () => Number((await vm.run('cut -d" " -f1 /proc/uptime')).trim());
  // A fresh ext4 (of fsMiB, the whole disk unless told) with FILL_MIB of incompressible data, unmounted;
  // every method's result is then checked: the file system is clean and the data reads back the same.
  let want = '';
  const refill = async (fsMiB = DISK_MIB) => {
    want = (await vm.run(`set -e
      D=$(lab-dev data1); umount /data1 2>/dev/null || true; cryptsetup close bench 2>/dev/null || true
      wipefs -qa "$D"; mkfs.ext4 -q -F "$D" ${fsMiB}M; mkdir -p /data1; mount "$D" /data1
      dd if=/dev/urandom of=/data1/fill.bin bs=1M count=${FILL_MIB} status=none; sync; sha256sum < /data1/fill.bin; umount /data1`)).trim();
  };
  const verify = async (what, dev) => {
    const got = (await vm.run(`set -e; if ! findmnt -n /data1 >/dev/null; then e2fsck -fn ${dev} >/dev/null; mount ${dev} /data1; fi
      sha256sum < /data1/fill.bin; umount /data1; cryptsetup close bench 2>/dev/null || true`)).trim();
    if (got !== want) throw new Error(`${what}: the data did not survive (sha256 ${got}, expected ${want})`);
  };
  try {
    const ext = await e2e.GuestExtension.install(vm, az);
    await vm.run(`printf 'bench-key-0123456789abcdef' > /root/k`);

    // The raw runs get their file system already 32 MiB short of the disk: they measure cryptsetup alone.
    const RAW = `--type luks2 --cipher aes-xts-plain64 --key-size 512 --reduce-device-size 32M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --key-file /root/k`;
    await refill(DISK_MIB - 32);
    let t = await up();
    await vm.run(`cryptsetup reencrypt --encrypt ${RAW} "$(lab-dev data1)"`, { timeoutMs: 3_600_000 });
    const offlineS = (await up()) - t;
    await vm.run('cryptsetup open --key-file /root/k "$(lab-dev data1)" bench');
    await verify('raw offline', '/dev/mapper/bench');

    await refill(DISK_MIB - 32);
    t = await up();
    await vm.run(`set -e; D=$(lab-dev data1)
      cryptsetup reencrypt --encrypt ${RAW} --init-only "$D" bench; mount /dev/mapper/bench /data1
      cryptsetup reencrypt --resume-only --batch-mode --key-file /root/k "$D"`, { timeoutMs: 3_600_000 });
    const rawS = (await up()) - t;
    await verify('raw online', '/dev/mapper/bench');

    await refill();
    t = await up();
    await vm.run(adeSlicedCopy(), { timeoutMs: 3_600_000 });
    const ddS = (await up()) - t;
    await verify('ADE\'s sliced dd', '/dev/mapper/bench');

    await refill();
    await e2e.mountDataDisks(vm, [{ disk: 'data1', mountpoint: '/data1' }]);
    await ext.run('install');
    const seq = await ext.settings(e2e.enableSettings(az));
    // Timed in the guest, from before enable to the terminal status's write (its mtime): polling the status
    // from the host only finds the end, and polling often would load the guest the raw runs do not have.
    const clock = async () => Number((await vm.run('date +%s.%N')).trim());
    const t0 = await clock();
    await ext.run('enable');
    const status = e2e.parseStatus(await ext.waitTerminal(seq, { everyMs: 5000 }));
    const extS = Number((await vm.run(`stat -c %.3Y ${e2e.EXT_DIR}/status/${seq}.status`)).trim()) - t0;
    if (status.status !== 'success') throw new Error(`the extension did not encrypt: ${status.message}`);
    await verify('ade-linux', '');

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
