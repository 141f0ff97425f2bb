// Lab self-test (d): the full Debian guest (systemd) runs a trivial extension package through the fake guest
// agent (lab/agent/agent.mjs on the Node runtime the package would ship): install → enable → reboot →
// enable again with the same sequence number (the agent's work after each boot, from a systemd unit).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootVm, installAgent, type Vm } from '../../lab/vm.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.join(HERE, 'fixtures/trivial-ext');
const EXT = '/var/lib/waagent/Lab.TrivialExt-1.0.0';

let vm: Vm;
let agent: string;
beforeAll(async () => {
  vm = await bootVm({ flavour: 'full', name: 'agent-selftest', disks: [{ name: 'bek', kind: 'bek', passphrase: 'lab-passphrase' }] });
  agent = await installAgent(vm);
});
afterAll(async () => { await vm?.destroy(); });

describe('full guest + fake guest agent', () => {
  it('boots systemd with udev names for the lab disks', async () => {
    const out = await vm.run('systemctl is-system-running || true; readlink -f "/dev/disk/by-label/BEK\\x20VOLUME"; lab-dev bek; findmnt -no FSTYPE /boot; node=$(command -v node || true); echo "node=$node"');
    expect(out).toMatch(/^(running|degraded)$/m);
    const [, byLabel, dev] = out.split('\n');
    expect(byLabel).toMatch(/^\/dev\/vd[a-z]$/);
    expect(byLabel).toBe(dev);
    expect(out).toMatch(/^ext4$/m); // /boot is its own partition
  });

  it('(d) install → enable → reboot → enable with the same sequence number', async () => {
    await vm.copyIn(PKG, '/tmp/trivial-ext');
    const installed = JSON.parse(await vm.run(`${agent} install-package /tmp/trivial-ext`)) as { dir: string };
    expect(installed.dir).toBe(EXT);
    const settings = JSON.parse(await vm.run(`${agent} settings --public '{"EncryptionOperation":"EnableEncryption"}' --protected '{"Passphrase":"s3cret"}'`)) as { seq: number };
    expect(settings.seq).toBe(0);
    const install = JSON.parse(await vm.run(`${agent} run install`)) as { code: number; seq: number };
    expect(install).toMatchObject({ code: 0, seq: 0 });
    const enable = JSON.parse(await vm.run(`${agent} run enable`)) as { code: number; stdout: string };
    expect(enable.code).toBe(0);
    expect(enable.stdout).toMatch(/enable ok \(call 1\); protected settings \d+ bytes/);
    expect(JSON.parse(await vm.run(`cat ${EXT}/state/protected.json`))).toEqual({ Passphrase: 's3cret' });
    const st1 = JSON.parse(await vm.run(`${agent} status`)) as Array<{ status: { status: string; operation: string; formattedMessage: { message: string } } }>;
    expect(st1[0]!.status).toMatchObject({ status: 'success', operation: 'enable' });
    const boot1 = (await vm.run('cat /proc/sys/kernel/random/boot_id')).trim();

    // the agent's start after each boot: enable again with the newest settings' sequence number
    await vm.run(`mkdir -p /etc/lab/boot.d && printf '#!/bin/sh\\nexec ${agent} boot\\n' > /etc/lab/boot.d/50-agent && chmod +x /etc/lab/boot.d/50-agent`);
    await vm.reboot();
    const boot2 = (await vm.run('cat /proc/sys/kernel/random/boot_id')).trim();
    expect(boot2).not.toBe(boot1);
    expect(await vm.run('systemctl show -p Result --value lab-boot.service')).toBe('success\n');

    const calls = (await vm.run(`cat ${EXT}/state/calls.log`)).trim().split('\n');
    expect(calls).toEqual([`install seq=0 boot=${boot1}`, `enable seq=0 boot=${boot1}`, `enable seq=0 boot=${boot2}`]);
    expect(await vm.run(`cat ${EXT}/state/install.count ${EXT}/state/enable.count`)).toBe('1\n2\n');
    const st2 = JSON.parse(await vm.run(`${agent} status --seq 0`)) as Array<{ status: { status: string; operation: string; formattedMessage: { message: string } } }>;
    expect(st2[0]!.status.status).toBe('success');
    expect(st2[0]!.status.formattedMessage.message).toMatch(/^enable ok \(call 2\)/);
    expect(await vm.run(`ls ${EXT}/status`)).toBe('0.status\n');
  });
});
