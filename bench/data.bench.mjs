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
// Run alone: node bench/data.bench.mjs   (ADE_BENCH_DISK_MIB=… sets the disk size, default 1024;
// ADE_BENCH_ROUNDS=… the number of rounds, each in a fresh guest, default 2; the median ratio is reported)
import { fileURLToPath } from 'node:url';

const DISK_MIB = Number(process.env.ADE_BENCH_DISK_MIB ?? 1024);
const FILL_MIB = Math.round(DISK_MIB / 2);
const SLICE_MIB = 50;
const round2 = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const ROUNDS = Number(process.env.ADE_BENCH_ROUNDS ?? 2);

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

/** One round in a fresh guest: the four methods back to back, the extension right after raw online. */
async function round(e2e, lab, n) {
  const az = await e2e.startGuestAzure();
  const vm = await lab.bootVm({
    flavour: 'full', name: `bench-data-${n}`, guestfwd: [az.fwd],
    disks: [{ name: 'data1', kind: 'empty', sizeMiB: DISK_MIB }, { name: 'bek', kind: 'vfat', label: 'BEK VOLUME' }],
  });
  // Guest clock: every method is timed inside the guest, so the host's polling is not in the numbers.
  const clock = async () => Number((await vm.run('date +%s.%N')).trim());
  const timed = async (script) => { const t0 = await clock(); await vm.run(script, { timeoutMs: 3_600_000 }); return (await clock()) - t0; };
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
    const rawS = await timed(`set -e; D=$(lab-dev data1)
      cryptsetup reencrypt --encrypt ${RAW} --init-only "$D" bench; mount /dev/mapper/bench /data1
      cryptsetup reencrypt --resume-only --batch-mode --key-file /root/k "$D"`);
    await verify('raw online', '/dev/mapper/bench');

    await refill();
    await e2e.mountDataDisks(vm, [{ disk: 'data1', mountpoint: '/data1' }]);
    await ext.run('install');
    const seq = await ext.settings(e2e.enableSettings(az));
    // From before enable to the terminal status's write (its mtime): the host's 5 s poll only finds the end.
    const t0 = await clock();
    await ext.run('enable');
    const status = e2e.parseStatus(await ext.waitDone(seq, { everyMs: 5000 }));
    const extS = Number((await vm.run(`stat -c %.3Y ${e2e.EXT_DIR}/status/${seq}.status`)).trim()) - t0;
    if (status.status !== 'success') throw new Error(`the extension did not encrypt: ${status.message}`);
    await verify('ade-linux', '');
    // Back to a plain disk the raw runs own: the extension's mapping, boot entries and records go.
    await vm.run(`set -e; umount /data1 2>/dev/null || true; for m in /dev/mapper/ade-*; do if [ -e "$m" ]; then cryptsetup close "\${m#/dev/mapper/}"; fi; done
      awk '$2 != "/data1"' /etc/fstab > /etc/fstab.new; mv /etc/fstab.new /etc/fstab; : > /etc/crypttab; rm -rf ${e2e.STATE_DIR}/volumes`);

    await refill();
    const ddS = await timed(adeSlicedCopy());
    await verify('ADE\'s sliced dd', '/dev/mapper/bench');

    await refill(DISK_MIB - 32);
    const offlineS = await timed(`cryptsetup reencrypt --encrypt ${RAW} "$(lab-dev data1)"`);
    await vm.run('cryptsetup open --key-file /root/k "$(lab-dev data1)" bench');
    await verify('raw offline', '/dev/mapper/bench');
    return { extS, rawS, offlineS, ddS };
  } finally {
    await vm.destroy();
    await az.close();
  }
}

export async function run() {
  const e2e = await import('../lab/e2e.ts');
  const lab = await import('../lab/vm.ts');
  const rounds = [];
  for (let n = 1; n <= ROUNDS; n++) {
    rounds.push(await round(e2e, lab, n));
    console.error(`bench data round ${n}: ${JSON.stringify(rounds.at(-1))}`);
  }
  // The guest's speed drifts by a third between runs minutes apart (a shared host): each round's ratio
  // pairs adjacent runs, and the median of those is reported.
  const median = (xs) => { const a = [...xs].sort((x, y) => x - y); const m = a.length >> 1; return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2; };
  const mbS = (sec) => round2(DISK_MIB / sec, 1);
  const metric = (base) => {
    const ratios = rounds.map((r) => r[base] / r.extS);
    return {
      value: mbS(median(rounds.map((r) => r.extS))), unit: 'MB/s', baseline: mbS(median(rounds.map((r) => r[base]))), ratio: round2(median(ratios)),
      note: `${DISK_MIB} MiB disk, ${rounds.length} round(s), guest seconds per round: ` + rounds.map((r, i) =>
        `#${i + 1} ade-linux ${round2(r.extS, 1)} (fixed cost ${round2(r.extS - r.rawS, 1)}), raw online ${round2(r.rawS, 1)}, raw offline ${round2(r.offlineS, 1)}, ADE ${round2(r.ddS, 1)}, ratio ${round2(ratios[i])}`).join('; '),
    };
  };
  return {
    data_inplace_vs_cryptsetup: metric('rawS'),
    data_inplace_vs_cryptsetup_offline: metric('offlineS'),
    data_inplace_vs_dd_slices: metric('ddS'),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await run(), null, 2));
