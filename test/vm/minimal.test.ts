// Lab self-test, minimal guest (one boot shared by every case in this file):
// real dm-crypt on a virtio disk, the BEK VOLUME found by label, disks of every kind the lab makes,
// copy in/out, and guestfwd as the only way out of the guest.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootVm, FAST_PBKDF, readVfatFile, sha256, sleep, type FileTree, type Vm } from '../../lab/vm.ts';

const passphrase = randomBytes(48).toString('base64');
const files: FileTree = { 'a.bin': randomBytes(2 << 20), 'dir/b.txt': 'hello from the host\n', 'dir/sub/c.bin': randomBytes(300_000) };
const xfsFiles: FileTree = { 'x1.bin': randomBytes(1 << 20), 'sub/x2.txt': 'xfs file\n' };
const hashes = (t: FileTree): Record<string, string> => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, sha256(v)]));

let vm: Vm;
let server: http.Server;
let hostPort = 0;
const body = `lab-fwd-${randomBytes(8).toString('hex')}`;

beforeAll(async () => {
  server = http.createServer((_req, res) => { res.end(body); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hostPort = (server.address() as AddressInfo).port;
  vm = await bootVm({
    flavour: 'minimal', name: 'minimal-selftest',
    disks: [
      { name: 'fresh', kind: 'empty', sizeMiB: 64 },
      { name: 'data', kind: 'ext4', sizeMiB: 64, label: 'data', files },
      { name: 'xfs', kind: 'xfs', label: 'xdata', files: xfsFiles },
      { name: 'bek', kind: 'bek', passphrase },
    ],
    guestfwd: [{ guestIp: '10.0.2.100', guestPort: 80, hostPort }],
    hosts: { 'lab-vault.vault.azure.net': '10.0.2.100' },
  });
});

afterAll(async () => {
  await vm?.destroy();
  server?.close();
});

describe('minimal guest', () => {
  it('runs the Debian kernel with device-mapper and the lab tools', async () => {
    const r = await vm.exec('uname -r; cryptsetup --version; test -e /dev/mapper/control && echo DM_OK; echo err >&2; exit 3');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/m);
    expect(r.stdout).toMatch(/^cryptsetup 2\.\d+\.\d+/m);
    expect(r.stdout).toContain('DM_OK');
    expect(r.stderr).toBe('err\n');
  });

  it('(a) luksFormat + open on a virtio disk, writes and reads through the mapper', async () => {
    const payload = randomBytes(3 << 20);
    await vm.writeFile('/tmp/payload.bin', payload);
    await vm.writeFile('/tmp/key', passphrase, 0o600);
    const out = await vm.run(`
      set -e
      D=$(lab-dev fresh)
      cryptsetup luksFormat --type luks2 --batch-mode ${FAST_PBKDF} --key-file /tmp/key "$D"
      cryptsetup isLuks "$D" && echo IS_LUKS
      cryptsetup open --key-file /tmp/key "$D" fresh
      dmsetup table fresh | awk '{print $3, $4}'
      dd if=/tmp/payload.bin of=/dev/mapper/fresh bs=1M oflag=direct status=none
      cryptsetup close fresh
      # reopen and read back; the raw sectors behind the 16 MiB LUKS2 header must differ
      cryptsetup open --key-file /tmp/key "$D" fresh
      dd if=/dev/mapper/fresh bs=1M count=3 iflag=direct status=none | sha256sum
      dd if="$D" bs=1M skip=16 count=3 status=none | sha256sum
      cryptsetup close fresh
    `);
    const lines = out.trim().split('\n');
    expect(lines).toContain('IS_LUKS');
    expect(out).toMatch(/^crypt aes-xts-plain64$/m);
    const sums = lines.filter((l) => /^[0-9a-f]{64}\s+-$/.test(l)).map((l) => l.slice(0, 64));
    expect(sums[0]).toBe(sha256(payload)); // read back through dm-crypt
    expect(sums[1]).not.toBe(sha256(payload)); // the raw sectors are ciphertext
  });

  it('(b) finds the BEK VOLUME by label and reads the key file', async () => {
    const out = await vm.run(`
      set -e
      B=$(blkid -L 'BEK VOLUME')
      echo "dev=$B type=$(blkid -o value -s TYPE "$B")"
      mkdir -p /mnt/bek && mount -t vfat -o ro "$B" /mnt/bek
      ls /mnt/bek
      sha256sum < /mnt/bek/LinuxPassPhraseFileName
      umount /mnt/bek
    `);
    expect(out).toMatch(/^dev=\/dev\/vd[a-z] type=vfat$/m);
    expect(out).toMatch(/^LinuxPassPhraseFileName$/m);
    expect(out).toContain(`${sha256(passphrase)}  -`);
    const dev = /^dev=(\S+)/m.exec(out)![1];
    expect(await vm.run('lab-dev bek')).toBe(`${dev}\n`);
    // the host-side helper made it with mtools; reading it back on the host agrees
    expect((await readVfatFile(vm.diskPath('bek'), 'LinuxPassPhraseFileName')).toString()).toBe(passphrase);
  });

  it('ext4 and xfs disks carry the host files, byte for byte', async () => {
    await vm.run('mkdir -p /mnt/d /mnt/x && mount -o ro "$(lab-dev data)" /mnt/d && mount -o ro -t xfs "$(lab-dev xfs)" /mnt/x');
    expect(await vm.hashTree('/mnt/d')).toEqual(hashes(files));
    expect(await vm.hashTree('/mnt/x')).toEqual(hashes(xfsFiles));
    expect(await vm.run('blkid -o value -s LABEL "$(lab-dev xfs)"; blkid -o value -s TYPE "$(lab-dev xfs)"')).toBe('xdata\nxfs\n');
    await vm.run('umount /mnt/d /mnt/x');
  });

  it('copies a directory in and out', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-cp-'));
    try {
      fs.mkdirSync(path.join(src, 'pkg/bin'), { recursive: true });
      fs.writeFileSync(path.join(src, 'pkg/bin/x.sh'), '#!/bin/sh\necho ran-x "$@"\n', { mode: 0o755 });
      fs.writeFileSync(path.join(src, 'pkg/data.bin'), randomBytes(100_000));
      await vm.copyIn(path.join(src, 'pkg'), '/opt/pkg');
      expect(await vm.run('/opt/pkg/bin/x.sh 1 2')).toBe('ran-x 1 2\n');
      await vm.run('echo made-in-guest > /opt/pkg/new.txt');
      await vm.copyOut('/opt/pkg', path.join(src, 'back'));
      expect(fs.readFileSync(path.join(src, 'back/new.txt'), 'utf8')).toBe('made-in-guest\n');
      expect(sha256(fs.readFileSync(path.join(src, 'back/data.bin')))).toBe(sha256(fs.readFileSync(path.join(src, 'pkg/data.bin'))));
    } finally { fs.rmSync(src, { recursive: true, force: true }); }
  });

  it('reaches a host loopback service only through a guestfwd rule', async () => {
    // busybox-static's resolver crashes without NSS modules: talk to IPs (node in the guest resolves /etc/hosts)
    const get = (ip: string, port: number, out: string): string =>
      `(printf 'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' | timeout 6 busybox nc ${ip} ${port} > ${out} 2>&1; true) &`;
    const out = await vm.run(`
      ${get('10.0.2.100', 80, '/tmp/fwd')}
      ${get('10.0.2.2', hostPort, '/tmp/host')}
      ${get('192.0.2.1', 80, '/tmp/out')}
      wait
      for f in fwd host out; do echo "== $f"; cat /tmp/$f; echo; done
      grep lab-vault /etc/hosts
    `, { timeoutMs: 120_000 });
    const part = (n: string): string => out.split(`== ${n}\n`)[1]!.split('\n== ')[0]!;
    expect(part('fwd')).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(part('fwd')).toContain(body);
    expect(part('host')).not.toContain(body); // the host itself is not reachable (restrict=on)
    expect(part('out')).not.toMatch(/HTTP/); // nor is anything outside
    expect(out).toMatch(/^10\.0\.2\.100 lab-vault\.vault\.azure\.net$/m);
  });

  it('forwards every guest connection, not only the first', async () => {
    const out = await vm.run(`for i in 1 2 3 4; do printf 'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' | timeout 10 busybox nc 10.0.2.100 80 | grep -c '${body}'; done`, { timeoutMs: 120_000 });
    expect(out).toBe('1\n1\n1\n1\n');
  });

  it('what the host types at the serial console reaches a reader of ttyS0 in the guest', async () => {
    const typed = `typed-${randomBytes(4).toString('hex')}`;
    await vm.run('stty -F /dev/ttyS0 -echo icanon; (timeout 60 head -n 1 /dev/ttyS0 > /tmp/typed) > /dev/null 2>&1 & echo started');
    for (let i = 0; i < 50 && !(await vm.exec('pidof head')).stdout.trim(); i++) await sleep(100);
    vm.typeSerial(`${typed}\n`);
    let got = '';
    for (let i = 0; i < 100 && !got; i++) { got = (await vm.exec('cat /tmp/typed 2>/dev/null')).stdout; if (!got) await sleep(100); }
    expect(got).toBe(`${typed}\n`);
  });
});
