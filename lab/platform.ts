// The lab's Azure platform for one running guest: what Azure's fabric and WALinuxAgent do between Resource
// Manager and the VM, played between the fake ARM (lab/fakes/arm.ts) and the fake guest agent (lab/e2e.ts).
//  - An extension PUT reaches the guest as the agent's next N.settings and an `enable`; the handler's status
//    file goes back to ARM as the extension's instance view, converted as Azure converts it, and the PUT's
//    long-running operation ends when that status first turns terminal (ARM waits for no more than that).
//  - At every start of an encrypted VM the platform fills a fresh `BEK VOLUME` disk from the key references
//    on the VM's managed disks (encryptionSettingsCollection), unwrapping each key with its KEK.
//  - Data disks get the /dev/disk/azure/scsi1/lun<N> links WALinuxAgent's udev rule makes on Azure.
//
// The status conversion (what the agent sends, what ARM shows):
//  WALinuxAgent reads only the first element of <seq>.status and forwards status, code, formattedMessage.message
//  and each substatus' name/status/code/message unchanged (azurelinuxagent/ga/exthandlers.py parse_ext_status;
//  azurelinuxagent/common/protocol/wire.py ext_status_to_v1, ext_substatus_to_v1); a status outside
//  transitioning|warning|error|success is reported as error. No displayStatus is made in the guest: the
//  platform (CRP) builds the instance view, as Azure's documented instance views show it: statuses
//  `ProvisioningState/succeeded` "Provisioning succeeded" Info, `ProvisioningState/failed/<code>` "Provisioning
//  failed" Error, `ProvisioningState/transitioning` "Transitioning"; substatuses `ComponentStatus/<name>/succeeded`
//  (e.g. ComponentStatus/StdOut/succeeded, ADE's ComponentStatus/<handler>/succeeded) with the substatus'
//  message verbatim. A warning shows as succeeded at level Warning (not seen in any example: our handler
//  never writes one).
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { ExtensionInstanceView, ExtensionPut, FakeArm, InstanceViewStatus } from './fakes/arm.ts';
import type { Decision } from './fakes/arm-ops.ts';
import { rsaUnwrap } from './fakes/vault.ts';
import { isOver, type AgentStatus, type GuestAzure, type GuestExtension } from './e2e.ts';
import { labLog, makeVfatDisk, sleep, type Vm } from './vm.ts';

type Json = Record<string, unknown>;

/**
 * Stands for WALinuxAgent's 66-azure-storage.rules (config/66-azure-storage.rules in Azure/WALinuxAgent), which
 * links each Hyper-V SCSI data disk as /dev/disk/azure/scsi1/lun<N> (partitions: -part<K>) from the LUN in its
 * SCSI address. The lab's disks are virtio-blk with the disk's name as serial, so a disk named `lun<N>` is LUN N
 * on the data-disk controller; the OS disk and the BEK VOLUME (other names) get no link, as on Azure.
 */
export function lunUdevRule(): string {
  return [
    '# lab stand-in for WALinuxAgent 66-azure-storage.rules: virtio disks with serial lun<N> are data-disk LUN N',
    'ACTION!="add|change", GOTO="lab_azure_end"',
    'SUBSYSTEM!="block", GOTO="lab_azure_end"',
    'KERNEL!="vd*", GOTO="lab_azure_end"',
    'ENV{DEVTYPE}=="disk", ATTRS{serial}=="lun[0-9]*", SYMLINK+="disk/azure/scsi1/$attr{serial}"',
    'ENV{DEVTYPE}=="partition", ATTRS{serial}=="lun[0-9]*", SYMLINK+="disk/azure/scsi1/$attr{serial}-part%n"',
    'LABEL="lab_azure_end"',
    '',
  ].join('\n');
}

/** Installs the rule in a running guest and applies it to the disks already there (udev sees new ones itself). */
export async function installLunLinks(vm: Vm): Promise<string> {
  await vm.writeFile('/etc/udev/rules.d/66-azure-storage.rules', lunUdevRule());
  await vm.run('udevadm control --reload && udevadm trigger --subsystem-match=block --action=change && udevadm settle --timeout=60');
  return vm.run('ls -l /dev/disk/azure/scsi1/ 2>&1 || true');
}

const PROVISIONING: Record<string, { state: string; level: InstanceViewStatus['level']; display: string }> = {
  success: { state: 'succeeded', level: 'Info', display: 'Provisioning succeeded' },
  warning: { state: 'succeeded', level: 'Warning', display: 'Provisioning succeeded' },
  error: { state: 'failed', level: 'Error', display: 'Provisioning failed' },
  transitioning: { state: 'transitioning', level: 'Info', display: 'Transitioning' },
};
const provisioning = (status: string) => PROVISIONING[status] ?? PROVISIONING['error']!;

/** A status file's first element as ARM's extension instance view shows it (see the conversion above). */
export function instanceViewOf(s: AgentStatus): ExtensionInstanceView {
  const st = s.status;
  const p = provisioning(st.status);
  const time = (s as { timestampUTC?: string }).timestampUTC;
  const statuses: InstanceViewStatus[] = [{
    code: `ProvisioningState/${p.state}${p.state === 'failed' ? `/${st.code}` : ''}`, level: p.level, displayStatus: p.display,
    message: st.formattedMessage.message, ...(time ? { time } : {}),
  }];
  const substatuses = (st.substatus ?? []).map((x): InstanceViewStatus => {
    const q = provisioning(x.status);
    return { code: `ComponentStatus/${x.name}/${q.state}`, level: q.level, displayStatus: q.display, message: x.formattedMessage.message };
  });
  return { statuses, ...(substatuses.length ? { substatuses } : {}) };
}

export interface PlatformOptions {
  arm: FakeArm;
  vmId: string;
  ext: GuestExtension;
  az: GuestAzure;
  /** How often the guest's status file is read (the real agent reports every few seconds). */
  everyMs?: number;
  /** ARM's extensionsTimeBudget: no terminal status by then fails the PUT with VMExtensionProvisioningTimeout. */
  budgetMs?: number;
}

export interface Platform {
  /** The sequence numbers the PUTs became in the guest, in order. */
  readonly seqs: number[];
  /** Resolves when the current status copying is over (the status is over, or detach()). */
  idle(): Promise<void>;
  detach(): void;
}

/** Bridges extension PUTs for one VM to its guest agent; PUTs for other VMs go to the hook that was there. */
export function attachPlatform(o: PlatformOptions): Platform {
  const previous = o.arm.onExtensionPut;
  const seqs: number[] = [];
  let generation = 0;
  let detached = false;
  let installed = false;
  let copying: Promise<void> = Promise.resolve();
  const live = (g: number) => !detached && g === generation;
  o.arm.onExtensionPut = (vmId: string, x: ExtensionPut): Decision | Promise<Decision> => {
    if (vmId.toLowerCase() !== o.vmId.toLowerCase()) return previous?.(vmId, x);
    const g = ++generation;
    return new Promise<Decision>((decide, fail) => {
      const run = async (): Promise<void> => {
        const seq = await o.ext.settings((x.properties.settings ?? {}) as Json, x.protectedSettings as Json | undefined);
        seqs.push(seq);
        // The agent installs a handler once, before its first enable (settings are written before both).
        if (!installed) { await o.ext.run('install'); installed = true; }
        const en = await o.ext.run('enable');
        labLog(`platform: ${x.name} seq ${seq}: enable exited ${en.code}`);
        if (en.code !== 0) decide({ failed: { code: String(en.code), message: `Non-zero exit code: ${en.code}, enable\n${en.stderr.slice(-1000)}` } });
        copying = copyStatus(o, x.name, seq, () => live(g), decide);
        await copying;
      };
      run().catch(fail);
    });
  };
  return {
    seqs,
    idle: () => copying,
    detach: () => { detached = true; o.arm.onExtensionPut = previous; },
  };
}

/**
 * Copies the status file into the instance view until the status is over; decides the PUT at the first
 * terminal status (success → succeeded; error → failed with the handler's code and message).
 */
async function copyStatus(o: PlatformOptions, name: string, seq: number, live: () => boolean, decide: (d: Decision) => void): Promise<void> {
  const t0 = Date.now();
  const budget = o.budgetMs ?? 90 * 60_000;
  let decided = false;
  const once = (d: Decision) => { if (!decided) { decided = true; decide(d); } };
  let last = '';
  while (live()) {
    const s = await o.ext.status(seq).catch(() => undefined);
    if (s) {
      const text = JSON.stringify(s.status);
      if (text !== last) { o.arm.setExtensionInstanceView(o.vmId, name, instanceViewOf(s)); last = text; }
      if (s.status.status === 'success') once('succeeded');
      if (s.status.status === 'error') once({ failed: { code: String(s.status.code), message: s.status.formattedMessage.message } });
      if (isOver(s)) return;
    }
    if (!decided && Date.now() - t0 > budget) once({ failed: { code: 'VMExtensionProvisioningTimeout', message: `Provisioning of VM extension ${name} has timed out.` } });
    await sleep(o.everyMs ?? 1000);
  }
  once({ failed: { code: 'LabPlatformDetached', message: 'the lab platform was detached before the extension reported a terminal status' } });
}

export interface BekKey { diskId: string; secretUrl: string; fileName: string }

/** The managed-disk ids the VM's model names: OS disk first, then data disks. */
function managedDiskIds(arm: FakeArm, vmId: string): string[] {
  const body = arm.vm(vmId);
  if (!body) throw new Error(`fake ARM: no VM ${vmId}`);
  const storage = ((body['properties'] as Json | undefined)?.['storageProfile'] ?? {}) as Json;
  const disks = [storage['osDisk'] as Json | undefined, ...((storage['dataDisks'] ?? []) as Json[])];
  return disks.map((d) => (d?.['managedDisk'] as Json | undefined)?.['id']).filter((id): id is string => typeof id === 'string');
}

/** A disk-encryption secret's bytes as the key file holds them: unwrapped with the lab's KEK when wrapped. */
function keyFileBytes(az: GuestAzure, secretUrl: string): { bytes: Buffer; fileName: string } {
  const s = az.fake.vault.secret(secretUrl);
  if (!s) throw new Error(`the fake vault holds no secret ${secretUrl}`);
  const fileName = s.tags['DiskEncryptionKeyFileName'];
  if (!fileName) throw new Error(`secret ${secretUrl} has no DiskEncryptionKeyFileName tag`);
  const alg = s.tags['DiskEncryptionKeyEncryptionAlgorithm'];
  const kek = s.tags['DiskEncryptionKeyEncryptionKeyURL'];
  if (alg && kek && kek !== az.kek.url) throw new Error(`secret ${secretUrl} is wrapped with ${kek}, not the lab's KEK ${az.kek.url}`);
  const bytes = alg ? rsaUnwrap(az.kek.privateKey, alg, Buffer.from(s.value, 'base64url')) : Buffer.from(s.value, 'base64');
  return { bytes, fileName };
}

/**
 * What the platform attaches at a start of the VM: a fresh vfat `BEK VOLUME` at `file` holding, for every managed
 * disk whose encryptionSettingsCollection is enabled, each entry's secret under its DiskEncryptionKeyFileName.
 */
export async function bekVolumeFromArm(o: { arm: FakeArm; vmId: string; az: GuestAzure; file: string }): Promise<BekKey[]> {
  const keys: BekKey[] = [];
  const files: Record<string, Buffer> = {};
  for (const diskId of managedDiskIds(o.arm, o.vmId)) {
    const disk = o.arm.disk(diskId);
    const collection = (disk?.['properties'] as Json | undefined)?.['encryptionSettingsCollection'] as Json | undefined;
    if (collection?.['enabled'] !== true) continue;
    for (const entry of (collection['encryptionSettings'] ?? []) as Json[]) {
      const secretUrl = (entry['diskEncryptionKey'] as Json | undefined)?.['secretUrl'];
      if (typeof secretUrl !== 'string') throw new Error(`disk ${diskId}: an encryptionSettings entry without diskEncryptionKey.secretUrl`);
      const { bytes, fileName } = keyFileBytes(o.az, secretUrl);
      files[fileName] = bytes;
      keys.push({ diskId, secretUrl, fileName });
    }
  }
  await makeVfatDisk(o.file, 16, { label: 'BEK VOLUME', files });
  return keys;
}

/**
 * Powers the guest off and starts it as Azure starts an encrypted VM: the old key volume is gone (nothing the
 * extension wrote on it survives) and a fresh one, filled from ARM, takes its place. Returns what it holds.
 */
export async function restartFromArm(o: { vm: Vm; arm: FakeArm; vmId: string; az: GuestAzure; bekDisk: string }): Promise<{ disk: string; keys: BekKey[] }> {
  await o.vm.shutdown();
  o.vm.detach(o.bekDisk);
  const disk = `bek${randomUUID().slice(0, 8)}`;
  const file = path.join(o.vm.dir, 'disks', `${disk}.img`);
  const keys = await bekVolumeFromArm({ arm: o.arm, vmId: o.vmId, az: o.az, file });
  await o.vm.attach({ name: disk, kind: 'raw', path: file });
  await o.vm.start();
  return { disk, keys };
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the VM's Managed Run Commands in its guest as Azure's RunCommandHandlerLinux does (Azure/run-command-handler-linux:
 * internal/files/files.go writes source.script to <download dir>/script.sh, mode 0500; internal/exec/exec.go sets
 * each named parameter, public then protected, as an environment variable and runs `/bin/bash -c <script>` as root
 * in that directory). `env` is the handler's own environment: in the lab, the way to the fake Azure (proxy, CA).
 * Returns a function that detaches it.
 */
export function attachRunCommands(o: { arm: FakeArm; vmId: string; vm: Vm; env: Record<string, string>; timeoutMs?: number }): () => void {
  const previous = o.arm.onRunCommandPut;
  o.arm.onRunCommandPut = async (vmId, name, p) => {
    if (vmId.toLowerCase() !== o.vmId.toLowerCase()) return previous ? previous(vmId, name, p) : { exitCode: 0, output: '', error: '' };
    const params = [...((p['parameters'] ?? []) as Array<{ name?: string; value?: string }>), ...((p['protectedParameters'] ?? []) as Array<{ name?: string; value?: string }>)]
      .filter((x): x is { name: string; value: string } => !!x.name && !!x.value);
    const dir = `/var/lib/waagent/run-command-handler/download/${name}/0`;
    await o.vm.run(`mkdir -p -m 700 ${dir}`);
    await o.vm.writeFile(`${dir}/script.sh`, String((p['source'] as Json | undefined)?.['script'] ?? ''), 0o500);
    const env = [...Object.entries(o.env), ...params.map((x): [string, string] => [x.name, x.value])].map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
    const r = await o.vm.exec(`cd ${dir} && env ${env} /bin/bash -c ${dir}/script.sh`, { timeoutMs: o.timeoutMs ?? 1_200_000 });
    labLog(`platform: run command ${name} exited ${r.code}`);
    return { exitCode: r.code, output: r.stdout, error: r.stderr };
  };
  return () => { o.arm.onRunCommandPut = previous; };
}
