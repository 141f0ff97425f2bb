// In-place encryption of a data volume in lab guests, three ways on the same disk, refilled between runs:
//   raw      `cryptsetup reencrypt --encrypt --reduce-device-size 32M --init-only` + mount on the mapping +
//            `--resume-only`: online reencryption with cryptsetup's recommended parameters (its man page's 32M,
//            its own sector size), nothing around it;
//   dd       ADE's method, its commands as it runs them (adeSlicedCopy below): 50 MiB slices copied backwards
//            onto the dm-crypt mapping through a tmpfs file and a backup file on the OS disk, the volume
//            unmounted throughout;
//   ade-linux the packaged extension through the fake guest agent: enable → terminal status, which includes
//            the prerequisites, the Key Vault escrow (fake vault on the host), the brief unmount, fsck and
//            shrink, and the online reencryption with the parameters src/encryption/data-shift.ts chooses.
// Metrics (each the median of the rounds' paired ratios; every round's seconds in the note):
//   data_inplace_vs_dd_slices   ade-linux MB/s over ADE's method, whole job (goal ≥ 1.0)
//   data_inplace_vs_cryptsetup  ade-linux MB/s over raw online with cryptsetup's defaults, whole job (goal ≥ 1.0)
//   data_downtime_vs_ade        ADE's unmounted seconds over ade-linux's (goal ≥ 20); ade-linux's are what a
//                               probe in the guest saw (/data1/fill.bin missing, sampled every 50 ms)
//   data_peak_rss_mib           the worker's VmHWM plus cryptsetup's, in a 1 GiB guest with the production
//                               PBKDF (no lab knob), at two disk sizes (flat: ratio ≤ 1.1)
// The fixed cost (ade-linux's seconds beyond its own reencrypt step) is in the note, per round.
// Run alone: node bench/data.bench.mjs   (ADE_BENCH_DISK_MIB=… the disk, default 4096; ADE_BENCH_ROUNDS=…
// rounds, each in a fresh guest, default 3; ADE_BENCH_RSS_MIB=a,b the two disk sizes of the memory runs,
// default 2048,8192)
import { fileURLToPath } from 'node:url';

const DISK_MIB = Number(process.env.ADE_BENCH_DISK_MIB ?? 4096);
const FILL_MIB = Math.round(DISK_MIB / 2);
const SLICE_MIB = 50;
const round2 = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const ROUNDS = Number(process.env.ADE_BENCH_ROUNDS ?? 3);
const RSS_MIB = (process.env.ADE_BENCH_RSS_MIB ?? '2048,8192').split(',').map(Number);

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


// The probe, one for the guest's whole life, so every method runs beside the same load: a systemd unit,
// shell builtins only but for sleep (a fork costs tens of ms under TCG). "uptime E 0|1" each time
// /data1/fill.bin goes missing or comes back (every 0.1 s), and every $2-th time "uptime M workerHwmKiB
// cryptsetupHwmKiB" for the worker (the node process in an ade-linux-worker-* unit's cgroup; Node 24 names
// it MainThread) and cryptsetup, 0 when none runs: every 10th in the speed rounds (a walk of /proc costs
// CPU under TCG), every time in the memory runs (cryptsetup's init lives seconds; its peak must be seen).
const PROBE = `#!/bin/bash
seen=x; n=0
while :; do
  read -r up _ < /proc/uptime
  if [ -e /data1/fill.bin ]; then now=1; else now=0; fi
  if [ $now != $seen ]; then echo "$up E $now" >> "$1"; seen=$now; fi
  n=$((n + 1))
  if [ $((n % $2)) = 0 ]; then
    w=0; c=0
    for p in /proc/[0-9]*; do
      cg=; { read -r nm < $p/comm && case $nm in node|MainThread) while read -r l; do cg="$cg $l"; done < $p/cgroup ;; esac; } 2>/dev/null || continue
      case "$nm:$cg" in cryptsetup:*|*ade-linux-worker-*) ;; *) continue ;; esac
      h=0; { while read -r k v _; do [ "$k" = VmHWM: ] && h=$v; done < $p/status; } 2>/dev/null
      if [ "$nm" = cryptsetup ]; then [ "$h" -gt "$c" ] && c=$h; else [ "$h" -gt "$w" ] && w=$h; fi
    done
    echo "$up M $w $c" >> "$1"
  fi
  sleep 0.1
done
`;

/** A fresh guest with the extension installed and the sampler in place. */
async function guest(e2e, lab, name, diskMiB, o = {}) {
  const az = await e2e.startGuestAzure();
  if (o.productionPbkdf) delete az.guestEnv.ADE_LINUX_PBKDF;
  const vm = await lab.bootVm({
    flavour: 'full', name, guestfwd: [az.fwd], ...(o.memMiB ? { memMiB: o.memMiB } : {}),
    disks: [{ name: 'data1', kind: 'empty', sizeMiB: diskMiB }, { name: 'bek', kind: 'vfat', label: 'BEK VOLUME' }],
  });
  const ext = await e2e.GuestExtension.install(vm, az);
  await vm.writeFile('/usr/local/sbin/bench-probe', PROBE, 0o755);
  await vm.run(`systemd-run --quiet --collect --unit bench-probe /usr/local/sbin/bench-probe /var/tmp/probe.log ${o.memEvery ?? 10}`);
  await vm.run(`printf 'bench-key-0123456789abcdef' > /root/k`);
  // Guest clock: every method is timed inside the guest, so the host's polling is not in the numbers.
  const clock = async () => Number((await vm.run('date +%s.%N')).trim());
  const timed = async (script) => { const t0 = await clock(); await vm.run(script, { timeoutMs: 3_600_000 }); return (await clock()) - t0; };
  // A fresh ext4 (of fsMiB, the whole disk unless told) with fillMiB of incompressible data, unmounted;
  // every method's result is then checked: the file system is clean and the data reads back the same.
  let want = '';
  const refill = async (fsMiB, fillMiB) => {
    want = (await vm.run(`set -e
      D=$(lab-dev data1); umount /data1 2>/dev/null || true; cryptsetup close bench 2>/dev/null || true
      wipefs -qa "$D"; mkfs.ext4 -q -F "$D" ${fsMiB}M; mkdir -p /data1; mount "$D" /data1
      dd if=/dev/urandom of=/data1/fill.bin bs=1M count=${fillMiB} status=none; sync; sha256sum < /data1/fill.bin; umount /data1`, { timeoutMs: 3_600_000 })).trim();
  };
  const verify = async (what, dev) => {
    const got = (await vm.run(`set -e; if ! findmnt -n /data1 >/dev/null; then e2fsck -fn ${dev} >/dev/null; mount ${dev} /data1; fi
      sha256sum < /data1/fill.bin; umount /data1; cryptsetup close bench 2>/dev/null || true`, { timeoutMs: 3_600_000 })).trim();
    if (got !== want) throw new Error(`${what}: the data did not survive (sha256 ${got}, expected ${want})`);
  };
  const close = async () => { await vm.destroy(); await az.close(); };
  return { az, vm, ext, clock, timed, refill, verify, close };
}

/** The extension's enable on the mounted /data1: seconds, unavailable seconds, memory, per-step seconds. */
async function extensionRun(e2e, g) {
  const { vm, ext, az, clock } = g;
  await e2e.mountDataDisks(vm, [{ disk: 'data1', mountpoint: '/data1' }]);
  await ext.run('install');
  const seq = await ext.settings(e2e.enableSettings(az));
  const uptime = async () => Number((await vm.run(`cut -d' ' -f1 /proc/uptime`)).trim());
  const up0 = await uptime();
  // From before enable to the terminal status's write (its mtime): the host's 5 s poll only finds the end.
  const t0 = await clock();
  await ext.run('enable');
  const status = e2e.parseStatus(await ext.waitDone(seq, { everyMs: 5000, timeoutMs: 7_200_000 }));
  const s = Number((await vm.run(`stat -c %.3Y ${e2e.EXT_DIR}/status/${seq}.status`)).trim()) - t0;
  const up1 = await uptime();
  if (status.status !== 'success') throw new Error(`the extension did not encrypt: ${status.message}\n${await ext.logTail()}`);
  const probe = (await vm.run('cat /var/tmp/probe.log')).trim().split('\n').map((l) => l.split(' '))
    .filter(([u]) => Number(u) >= up0 && Number(u) <= up1);
  // Mounted when the run starts; each E 0 … E 1 stretch inside it is time the data was unavailable.
  let downS = 0; let since;
  for (const [u, kind, v] of probe) {
    if (kind !== 'E') continue;
    if (v === '0') since = Number(u); else if (since !== undefined) { downS += Number(u) - since; since = undefined; }
  }
  if (since !== undefined) throw new Error('the volume was still unavailable at the end');
  const mem = probe.filter(([, kind]) => kind === 'M').map((r) => r.map(Number));
  const workerKiB = Math.max(0, ...mem.map((r) => r[2]));
  const cryptKiB = Math.max(0, ...mem.map((r) => r[3]));
  // Where the time went: the worker logs every step's milliseconds.
  const steps = {};
  for (const m of (await vm.run(`grep -h 'step .* done' /var/log/azure/*/extension.log || true`)).matchAll(/step (\w+) done \{"ms":(\d+)\}/g)) steps[m[1]] = (steps[m[1]] ?? 0) + Number(m[2]) / 1000;
  const layout = (await vm.run('cryptsetup luksDump "$(lab-dev data1)" | grep -m2 -E "offset:|sector:" | tr -s " \\t" " " | tr "\\n" " "')).trim();
  return { s, downS, workerKiB, cryptKiB, steps, layout };
}

/** One round in a fresh guest: raw online, the extension, ADE's method, back to back on the same disk. */
async function round(e2e, lab, n) {
  const g = await guest(e2e, lab, `bench-data-${n}`, DISK_MIB);
  const fill = Math.round(DISK_MIB / 2);
  try {
    // cryptsetup's recommended parameters (man cryptsetup-reencrypt: --reduce-device-size 32M), its own sector size.
    await g.refill(DISK_MIB - 32, fill);
    const rawS = await g.timed(`set -e; D=$(lab-dev data1)
      cryptsetup reencrypt --encrypt --type luks2 --cipher aes-xts-plain64 --key-size 512 --reduce-device-size 32M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --key-file /root/k --init-only "$D" bench
      mount /dev/mapper/bench /data1
      cryptsetup reencrypt --resume-only --batch-mode --key-file /root/k "$D"`);
    await g.verify('raw online', '/dev/mapper/bench');

    await g.refill(DISK_MIB, fill);
    const ext = await extensionRun(e2e, g);
    await g.verify('ade-linux', '');
    // Back to a plain disk ADE's method owns: the extension's mapping, boot entries and records go.
    await g.vm.run(`set -e; umount /data1 2>/dev/null || true; for m in /dev/mapper/ade-*; do if [ -e "$m" ]; then cryptsetup close "\${m#/dev/mapper/}"; fi; done
      awk '$2 != "/data1"' /etc/fstab > /etc/fstab.new; mv /etc/fstab.new /etc/fstab; : > /etc/crypttab; rm -rf ${e2e.STATE_DIR}/volumes`);

    await g.refill(DISK_MIB, fill);
    const ddS = await g.timed(adeSlicedCopy());
    await g.verify('ADE\'s sliced dd', '/dev/mapper/bench');
    return { rawS, ddS, ...ext };
  } finally {
    await g.close();
  }
}

/** The memory run: a 1 GiB guest, production PBKDF (Argon2id bounded by RAM/8), a nearly empty disk. */
async function memoryRun(e2e, lab, diskMiB) {
  const g = await guest(e2e, lab, `bench-mem-${diskMiB}`, diskMiB, { memMiB: 1024, productionPbkdf: true, memEvery: 1 });
  try {
    await g.refill(diskMiB, 64);
    const ext = await extensionRun(e2e, g);
    await g.verify('ade-linux', '');
    return { diskMiB, ...ext };
  } finally {
    await g.close();
  }
}

const median = (xs) => { const a = [...xs].sort((x, y) => x - y); const m = a.length >> 1; return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2; };
const mib = (kib) => Math.round(kib / 1024);

export async function run() {
  const e2e = await import('../lab/e2e.ts');
  const lab = await import('../lab/vm.ts');
  const rounds = [];
  for (let n = 1; n <= ROUNDS; n++) {
    rounds.push(await round(e2e, lab, n));
    console.error(`bench data round ${n}: ${JSON.stringify(rounds.at(-1))}`);
  }
  const mem = [];
  for (const size of RSS_MIB) {
    mem.push(await memoryRun(e2e, lab, size));
    console.error(`bench data memory ${size} MiB: ${JSON.stringify(mem.at(-1))}`);
  }
  const mbS = (sec) => round2(DISK_MIB / sec, 1);
  const fixed = (r) => r.s - (r.steps.reencrypt ?? 0);
  const perRound = rounds.map((r, i) => `#${i + 1} ade-linux ${round2(r.s, 1)} s (reencrypt step ${round2(r.steps.reencrypt ?? 0, 1)}, fixed cost ${round2(fixed(r), 1)}; unavailable ${round2(r.downS, 1)}; steps ${Object.entries(r.steps).map(([k, v]) => `${k} ${round2(v, 1)}`).join(', ')}; ${r.layout}), raw online ${round2(r.rawS, 1)} s, ADE ${round2(r.ddS, 1)} s`).join('; ');
  const note = `${DISK_MIB} MiB disk half full of random data, ${rounds.length} round(s), guest seconds: ${perRound}`;
  const speed = (base) => {
    const ratios = rounds.map((r) => r[base] / r.s);
    return { value: mbS(median(rounds.map((r) => r.s))), unit: 'MB/s', baseline: mbS(median(rounds.map((r) => r[base]))), ratio: round2(median(ratios)), note: `per round ${ratios.map((x) => round2(x)).join(', ')}; ${note}` };
  };
  const down = rounds.map((r) => r.ddS / r.downS);
  const downtime = () => ({
    value: round2(median(rounds.map((r) => r.downS))), unit: 's', baseline: round2(median(rounds.map((r) => r.ddS))), ratio: round2(median(down)),
    note: `ADE's method keeps the volume unmounted for its whole run; ade-linux's unavailable seconds are the probe's (fill.bin missing); per round ${down.map((x) => round2(x, 1)).join(', ')}`,
  });
  const total = (m) => m.workerKiB + m.cryptKiB;
  const [small, large] = mem;
  // ADE_BENCH_ROUNDS=0: the memory runs alone.
  return {
    ...(rounds.length ? { data_inplace_vs_dd_slices: speed('ddS'), data_inplace_vs_cryptsetup: speed('rawS'), data_downtime_vs_ade: downtime() } : {}),
    data_peak_rss_mib: {
      value: mib(total(large)), unit: 'MiB', baseline: mib(total(small)), ratio: round2(total(large) / total(small)),
      note: `worker VmHWM + cryptsetup VmHWM, 1 GiB guest, production PBKDF, sampled every ≈ 0.2 s: ${mem.map((m) => `${m.diskMiB} MiB disk: worker ${mib(m.workerKiB)} + cryptsetup ${mib(m.cryptKiB)} = ${mib(total(m))} MiB (${m.layout}; ${round2(m.s, 1)} s)`).join('; ')} (goal: flat, and under 256 MiB)`,
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await run(), null, 2));
