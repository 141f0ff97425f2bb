// End-to-end helpers for the data-volume VM tests: the packaged extension driven by the fake guest agent inside
// a full lab guest, with Key Vault and IMDS played by lab/fakes on the host and reached only through the
// lab's guestfwd rule (QEMU user networking, restrict=on).
//
// Why a relay: the fake's plain-HTTP side (IMDS) answers only requests addressed to 127.0.0.1/localhost (it
// refuses anything else as "would forward"). The guest reaches it as http://10.0.2.100:80, so the Host
// header says 10.0.2.100. The relay below sits between guestfwd and the fake on host loopback: CONNECT
// tunnels pass through byte for byte (TLS is still terminated by the fake), plain requests get their Host
// rewritten to the fake's loopback origin. Nothing else changes.
import { randomUUID, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFakeAzure, type FakeAzure } from './fakes/azure.ts';
import { rsaUnwrap } from './fakes/vault.ts';
import { packageZip, EXTENSION_NAME, VERSION } from './package.ts';
import { bootVm, installAgent, labLog, sleep, type Firmware, type GuestFwd, type Vm, type VmOptions } from './vm.ts';

export const GUEST_FAKE_IP = '10.0.2.100';
export const GUEST_FAKE_PORT = 80;
export const VAULT_NAME = 'lab-kv';
export const VAULT_HOST = `${VAULT_NAME}.vault.azure.net`;
export const VAULT_URL = `https://${VAULT_HOST}/`;
export const VAULT_RESOURCE_ID = `/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT_NAME}`;
export const EXT_DIR = `/var/lib/waagent/${EXTENSION_NAME}-${VERSION}`;
export const STATE_DIR = '/var/lib/ade-linux';
export const CA_IN_GUEST = '/opt/lab/fake-ca.pem';
export const BEK_DIR = '/mnt/azure_bek_disk';

export interface GuestAzure {
  fake: FakeAzure;
  /** The guestfwd rule for bootVm. */
  fwd: GuestFwd;
  /** What the agent's environment carries inside the guest (the handler passes these to the worker). */
  guestEnv: Record<string, string>;
  kek: { url: string; privateKey: KeyObject };
  close(): Promise<void>;
}

export async function startGuestAzure(): Promise<GuestAzure> {
  const fake = await startFakeAzure();
  const fakePort = Number(new URL(fake.origin).port);
  const sockets = new Set<net.Socket>();
  const debug = process.env['E2E_DEBUG'] === '1';
  const relay = http.createServer((req, res) => {
    if (debug) labLog(`relay: ${req.method} ${req.url}`);
    const u = new URL(req.url ?? '/', 'http://relay');
    const up = http.request({ host: '127.0.0.1', port: fakePort, method: req.method, path: `${u.pathname}${u.search}`, headers: { ...req.headers, host: `127.0.0.1:${fakePort}` } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  relay.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  relay.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    if (debug) labLog(`relay: CONNECT ${req.url}`);
    const up = net.connect(fakePort, '127.0.0.1', () => {
      up.write(`CONNECT ${req.url} HTTP/1.1\r\nHost: ${req.url}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    const end = (): void => { up.destroy(); client.destroy(); sockets.delete(up); };
    up.on('error', end); client.on('error', end); up.on('close', end); client.on('close', end);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const hostPort = (relay.address() as AddressInfo).port;
  const origin = `http://${GUEST_FAKE_IP}:${GUEST_FAKE_PORT}`;
  const kek = fake.vault.createKey(VAULT_HOST, 'lab-kek', 2048);
  return {
    fake, kek,
    fwd: { guestIp: GUEST_FAKE_IP, guestPort: GUEST_FAKE_PORT, hostPort },
    guestEnv: {
      HTTPS_PROXY: origin,
      // IMDS is never proxied (on Azure: 169.254.169.254); here it is the same origin as the proxy.
      NO_PROXY: GUEST_FAKE_IP,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: origin,
      NODE_EXTRA_CA_CERTS: CA_IN_GUEST,
      ADE_LINUX_PBKDF: 'pbkdf2:1000',
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
      await fake.close();
    },
  };
}

/** Public settings of an enable with a KEK (RSA-OAEP-256 unless told). */
export function enableSettings(az: GuestAzure, operation: 'EnableEncryption' | 'EnableEncryptionFormatAll' = 'EnableEncryption', alg = 'RSA-OAEP-256'): Record<string, string> {
  return {
    EncryptionOperation: operation, VolumeType: 'Data',
    KeyVaultURL: VAULT_URL, KeyVaultResourceId: VAULT_RESOURCE_ID,
    KeyEncryptionKeyURL: az.kek.url, KekVaultResourceId: VAULT_RESOURCE_ID, KeyEncryptionAlgorithm: alg,
    SequenceVersion: randomUUID(),
  };
}

/**
 * The OS disk's recovery passphrase, as its owner would read it: the secret the guest's initramfs conf names,
 * from the fake vault, unwrapped with the lab's KEK when it is wrapped (the algorithm from its tags).
 */
export async function recoveryPassphrase(az: GuestAzure, vm: Vm): Promise<{ secretUrl: string; passphrase: string }> {
  const secretUrl = (await vm.run('. /etc/ade-linux/osencrypt.conf; echo "$ADE_RECOVERY_SECRET"')).trim();
  const s = az.fake.vault.secret(secretUrl);
  if (!s) throw new Error(`the fake vault holds no secret ${secretUrl || '(the conf names none)'}`);
  const alg = s.tags['DiskEncryptionKeyEncryptionAlgorithm'];
  const bytes = alg ? rsaUnwrap(az.kek.privateKey, alg, Buffer.from(s.value, 'base64url')) : Buffer.from(s.value, 'base64');
  return { secretUrl, passphrase: bytes.toString('utf8') };
}

/** The firmware this boot went through (the cloud guest's hybrid disk boots under either). */
export async function bootFirmware(vm: Vm): Promise<Firmware> {
  return (await vm.run('test -d /sys/firmware/efi && echo uefi || echo bios')).trim() as Firmware;
}

export function disableSettings(): Record<string, string> {
  return { EncryptionOperation: 'DisableEncryption', VolumeType: 'Data', SequenceVersion: randomUUID() };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface Substatus { name: string; status: string; code: number; formattedMessage: { message: string } }
export interface AgentStatus { status: { name: string; operation: string; status: string; code: number; formattedMessage: { message: string }; substatus?: Substatus[] } }
export interface VolumeRow { device: string; mountpoint?: string; state: string; percent?: number; code?: number; secretUrl?: string }
export interface RunResult { op: string; seq: number; code: number; stdout: string; stderr: string; timedOut: boolean; ms: number }

/** The parsed parts of a status file. */
export function parseStatus(s: AgentStatus): { status: string; code: number; message: string; state?: { os: string; data: string }; volumes?: VolumeRow[] } {
  const st = s.status;
  const state = st.substatus?.find((x) => x.name === 'EncryptionState');
  const vols = st.substatus?.find((x) => x.name === 'Volumes');
  return {
    status: st.status, code: st.code, message: st.formattedMessage.message,
    ...(state ? { state: JSON.parse(state.formattedMessage.message) as { os: string; data: string } } : {}),
    ...(vols ? { volumes: JSON.parse(vols.formattedMessage.message) as VolumeRow[] } : {}),
  };
}

/** Over: an error, or a success whose OS and data volumes are no longer being encrypted or decrypted. */
export function isOver(s: AgentStatus): boolean {
  if (s.status.status === 'error') return true;
  if (s.status.status !== 'success') return false;
  const state = parseStatus(s).state;
  return ![state?.data, state?.os].some((x) => x === 'EncryptionInProgress' || x === 'DecryptionInProgress' || x === 'VMRestartPending');
}

/** The extension as the guest agent sees it, inside one VM. */
export class GuestExtension {
  readonly vm: Vm;
  readonly agent: string;
  readonly env: Record<string, string>;
  private constructor(vm: Vm, agent: string, env: Record<string, string>) { this.vm = vm; this.agent = agent; this.env = env; }

  /** Copies the agent, its Node, the package and the fake's CA in; unpacks the package and runs install. */
  static async install(vm: Vm, az: GuestAzure): Promise<GuestExtension> {
    const zip = packageZip();
    const agent = await installAgent(vm);
    await vm.copyIn(zip, `/opt/lab/${path.basename(zip)}`);
    await vm.writeFile(CA_IN_GUEST, fs.readFileSync(az.fake.pki.caCertPath));
    const ext = new GuestExtension(vm, agent, az.guestEnv);
    const installed = JSON.parse(await vm.run(`${agent} install-package /opt/lab/${path.basename(zip)}`)) as { dir: string };
    if (installed.dir !== EXT_DIR) throw new Error(`package unpacked to ${installed.dir}, expected ${EXT_DIR}`);
    // On a VM the package was unpacked long before any power cut; here a cut can come seconds later, and
    // ext4 would lose the unpacked files still in its write-back cache (HandlerManifest.json read back empty).
    await vm.run('sync');
    return ext;
  }

  private envPrefix(): string {
    return `env ${Object.entries(this.env).map(([k, v]) => `${k}=${q(v)}`).join(' ')}`;
  }

  /** Writes the next N.settings; returns N. */
  async settings(pub: Record<string, unknown>, prot?: Record<string, unknown>): Promise<number> {
    const out = await this.vm.run(`${this.agent} settings --public ${q(JSON.stringify(pub))}${prot ? ` --protected ${q(JSON.stringify(prot))}` : ''}`);
    return (JSON.parse(out) as { seq: number }).seq;
  }

  /** `run <op>` (install, enable, disable, ...) with the agent's environment plus the fake's configuration. */
  async run(op: string): Promise<RunResult> {
    return this.agentCall(`run ${op}`);
  }

  /** What the agent does after each boot: enable with the newest settings' sequence number. */
  async boot(): Promise<RunResult> {
    return this.agentCall('boot');
  }

  /** The agent prints its result as JSON; anything else (it crashed, the guest broke) is shown as it came. */
  private async agentCall(args: string): Promise<RunResult> {
    const r = await this.vm.exec(`${this.envPrefix()} ${this.agent} ${args}`, { timeoutMs: 900_000 });
    try {
      return JSON.parse(r.stdout) as RunResult;
    } catch {
      throw new Error(`the guest agent's "${args}" exited ${r.code} without a result\n--- stdout ---\n${r.stdout.slice(-2000)}\n--- stderr ---\n${r.stderr.slice(-2000)}`);
    }
  }

  /** The raw status file of a sequence number (no agent process: cheap enough to poll). */
  async statusText(seq: number): Promise<string | undefined> {
    const r = await this.vm.exec(`cat ${EXT_DIR}/status/${seq}.status 2>/dev/null`);
    return r.code === 0 ? r.stdout : undefined;
  }

  async status(seq: number): Promise<AgentStatus | undefined> {
    const t = await this.statusText(seq);
    if (!t) return undefined;
    try { return (JSON.parse(t) as AgentStatus[])[0]; } catch { return undefined; }
  }

  /**
   * Polls the status file until the operation is over: an error, or a success whose data volumes are no
   * longer in progress (the extension reports success early, once the work is safe, and keeps the same
   * status file up to date to the end), or one `stopWhen` accepts. `onPoll` sees every status before that.
   */
  async waitDone(seq: number, opts: { timeoutMs?: number; everyMs?: number; onPoll?: (s: AgentStatus | undefined) => Promise<void> | void; stopWhen?: (s: AgentStatus) => boolean } = {}): Promise<AgentStatus> {
    const end = Date.now() + (opts.timeoutMs ?? 1_200_000);
    let last = '';
    for (;;) {
      const s = await this.status(seq);
      const now = s ? `${s.status.status}: ${s.status.formattedMessage.message}` : '(no status)';
      if (now !== last) { labLog(`seq ${seq}: ${now}`); last = now; }
      if (s && (isOver(s) || opts.stopWhen?.(s))) return s;
      await opts.onPoll?.(s);
      if (Date.now() > end) throw new Error(`seq ${seq} did not end; last: ${JSON.stringify(s)}\n--- extension.log ---\n${await this.logTail()}`);
      await sleep(opts.everyMs ?? 1000);
    }
  }

  /**
   * What ARM waits for: the first terminal status (success or error), within its time budget for the VM's
   * extensions (extensionsTimeBudget, 90 minutes by default); past it the deployment fails with
   * VMExtensionProvisioningTimeout, whatever the extension goes on doing.
   */
  async waitDeployed(seq: number, budgetMs: number): Promise<{ status: AgentStatus; ms: number }> {
    const t0 = Date.now();
    for (;;) {
      const s = await this.status(seq);
      if (s && (s.status.status === 'success' || s.status.status === 'error')) return { status: s, ms: Date.now() - t0 };
      if (Date.now() - t0 > budgetMs) throw new Error(`VMExtensionProvisioningTimeout: no terminal status for seq ${seq} within ${budgetMs / 1000} s; last: ${JSON.stringify(s)}`);
      await sleep(500);
    }
  }

  /** How many lines of the extension's log hold `text` (a fixed string). */
  async logCount(text: string): Promise<number> {
    const r = await this.vm.exec(`grep -cF -- ${JSON.stringify(text)} /var/log/azure/${EXTENSION_NAME}/extension.log || true`);
    return Number(r.stdout.trim() || 0);
  }

  async logTail(n = 60): Promise<string> {
    const r = await this.vm.exec(`tail -n ${n} /var/log/azure/${EXTENSION_NAME}/extension.log 2>&1; journalctl -q --no-pager -n 40 -u 'ade-linux-worker-*' -u 'systemd-cryptsetup@*' -u ade-linux-unlock.service 2>&1`);
    return r.stdout;
  }
}

/**
 * A full guest with the fake Azure reached through its guestfwd rule and the package unpacked: what every
 * data-volume scenario starts from. `stop` powers it off and closes the fake.
 */
export async function startDataGuest(opts: Omit<VmOptions, 'flavour' | 'guestfwd'>): Promise<{ az: GuestAzure; vm: Vm; ext: GuestExtension; stop: () => Promise<void> }> {
  const az = await startGuestAzure();
  const vm = await bootVm({ ...opts, flavour: 'full', guestfwd: [az.fwd] });
  const ext = await GuestExtension.install(vm, az);
  return { az, vm, ext, stop: async () => { await vm.destroy(); await az.close(); } };
}

/**
 * A cloud guest (grub-booted GPT disk shaped like an Azure image) with the fake Azure and the package
 * unpacked: what every OS-disk scenario starts from. The key volume is attached empty, as the platform does.
 */
export async function startOsGuest(opts: Omit<VmOptions, 'flavour' | 'guestfwd'>): Promise<{ az: GuestAzure; vm: Vm; ext: GuestExtension; stop: () => Promise<void> }> {
  const az = await startGuestAzure();
  const disks = opts.disks ?? [{ name: 'bek', kind: 'vfat' as const, sizeMiB: 16, label: 'BEK VOLUME' }];
  const vm = await bootVm({ ...opts, disks, flavour: 'cloud', guestfwd: [az.fwd] });
  const ext = await GuestExtension.install(vm, az);
  return { az, vm, ext, stop: async () => { await vm.destroy(); await az.close(); } };
}

/**
 * A marker tree the test made on the host, copied to `guestDir` and synced (a power cut seconds later must
 * not find it in the write-back cache); returns every file's sha256, as vm.hashTree() will read it back.
 */
export async function writeMarkerTree(vm: Vm, guestDir: string, files: Record<string, Buffer>): Promise<Record<string, string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-marker-'));
  try {
    for (const [name, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), data);
    }
    await vm.copyIn(dir, guestDir);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  await vm.run('sync');
  return vm.hashTree(guestDir);
}

/** Data-disk setup inside the guest: mount points, fstab lines `UUID=… <mp> ext4 defaults,nofail 0 2`, mounted. */
export async function mountDataDisks(vm: Vm, disks: Array<{ disk: string; mountpoint: string; fstype?: string; options?: string }>): Promise<{ fstabLines: Record<string, string>; uuids: Record<string, string> }> {
  const fstabLines: Record<string, string> = {};
  const uuids: Record<string, string> = {};
  for (const d of disks) {
    const uuid = (await vm.run(`blkid -o value -s UUID "$(lab-dev ${d.disk})"`)).trim();
    uuids[d.disk] = uuid;
    const line = `UUID=${uuid} ${d.mountpoint} ${d.fstype ?? 'ext4'} ${d.options ?? 'defaults,nofail'} 0 2`;
    fstabLines[d.mountpoint] = line;
    await vm.run(`mkdir -p ${d.mountpoint} && echo ${q(line)} >> /etc/fstab`);
  }
  await vm.run(`systemctl daemon-reload && ${disks.map((d) => `mount ${d.mountpoint}`).join(' && ')}`);
  return { fstabLines, uuids };
}

/** fstab lines (no comments) keyed by mount point. */
export function fstabByMount(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (!t || t.startsWith('#')) continue;
    const f = t.split(/\s+/);
    if (f[1]) out[f[1]] = t;
  }
  return out;
}

/** Byte offsets of `needle` in a (possibly sparse, multi-GiB) file, read in chunks with an overlap. */
export async function findInFile(file: string, needles: Buffer[]): Promise<number[]> {
  const max = Math.max(...needles.map((n) => n.length));
  const hits: number[] = [];
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = 64 << 20;
    const buf = Buffer.alloc(chunk + max);
    let pos = 0;
    let carry = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, carry, chunk, pos);
      if (n <= 0) break;
      const view = buf.subarray(0, carry + n);
      for (const needle of needles) {
        let i = view.indexOf(needle);
        while (i >= 0) { hits.push(pos - carry + i); i = view.indexOf(needle, i + 1); }
      }
      pos += n;
      carry = Math.min(max - 1, view.length);
      view.copy(buf, 0, view.length - carry);
    }
  } finally { fs.closeSync(fd); }
  return hits;
}
