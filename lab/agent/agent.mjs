// A fake Azure Linux guest agent (WALinuxAgent 2.15) that drives an extension package the way the real one
// does: the folder layout, HandlerEnvironment.json, N.settings with CMS-encrypted protected settings, the
// command environment, /bin/sh -c with cwd = the extension dir, the per-command timeouts with a SIGKILL of
// the whole process group, the upgrade handshake and the removal order. Plain JavaScript with no
// dependencies so the lab can run it inside a guest with the package's own Node runtime.
// Library: import { FakeAgent } from './agent.mjs'.  CLI: node agent.mjs --root DIR --log-root DIR <cmd> ...
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TIMEOUTS_S = { install: 900, enable: 300, disable: 900, update: 900, uninstall: 300 };

export class FakeAgent {
  /** @param {{root: string, logRoot: string, timeoutsS?: Partial<typeof TIMEOUTS_S>}} o */
  constructor(o) {
    this.root = resolve(o.root);
    this.logRoot = resolve(o.logRoot);
    this.timeoutsS = { ...TIMEOUTS_S, ...(o.timeoutsS ?? {}) };
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** Unpacks a package zip (or copies a folder) and initialises it like the agent's `initialize`. */
  installPackage(source) {
    const tmp = join(this.root, `.unpack-${process.pid}-${Date.now()}`);
    rmSync(tmp, { recursive: true, force: true });
    if (statSync(source).isDirectory()) cpSync(source, tmp, { recursive: true });
    else execFileSync('unzip', ['-q', '-o', source, '-d', tmp]);
    const manifest = JSON.parse(readFileSync(join(tmp, 'HandlerManifest.json'), 'utf8'))[0];
    const version = packageVersion(tmp, source);
    const name = manifest.name;
    const dir = join(this.root, `${name}-${version}`);
    rmSync(dir, { recursive: true, force: true });
    cpSync(tmp, dir, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    // The agent adds u+x to every file: zip extraction drops modes.
    for (const f of walk(dir)) chmodSync(f, statSync(f).mode | 0o100);
    const ext = this.extension(name, version);
    mkdirSync(ext.configFolder, { recursive: true, mode: 0o700 });
    mkdirSync(ext.statusFolder, { recursive: true, mode: 0o700 });
    mkdirSync(join(ext.logFolder, 'events'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'HandlerEnvironment.json'), JSON.stringify([{
      name, version: 1.0,
      handlerEnvironment: {
        logFolder: ext.logFolder, configFolder: ext.configFolder, statusFolder: ext.statusFolder,
        heartbeatFile: join(dir, 'heartbeat.log'), eventsFolder: join(ext.logFolder, 'events'), eventsFolder_preview: join(ext.logFolder, 'events'),
      },
    }]));
    return ext;
  }

  extension(name, version) {
    const dir = join(this.root, `${name}-${version}`);
    return { name, version, dir, configFolder: join(dir, 'config'), statusFolder: join(dir, 'status'), logFolder: join(this.logRoot, name) };
  }

  /** The goal-state certificate, as the agent leaves it: <Lib.Dir>/<UPPER SHA-1>.crt and .prv. */
  certificate() {
    if (this.cert) return this.cert;
    const crt = join(this.root, 'tenant.crt.tmp');
    const prv = join(this.root, 'tenant.prv.tmp');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', prv, '-out', crt, '-days', '2', '-subj', '/DC=Windows Azure CRP Certificate Generator'], { stdio: 'ignore' });
    const der = execFileSync('openssl', ['x509', '-in', crt, '-outform', 'DER']);
    const thumbprint = createHash('sha1').update(der).digest('hex').toUpperCase();
    const final = { thumbprint, crt: join(this.root, `${thumbprint}.crt`), prv: join(this.root, `${thumbprint}.prv`) };
    cpSync(crt, final.crt); cpSync(prv, final.prv); chmodSync(final.prv, 0o600);
    rmSync(crt); rmSync(prv);
    this.cert = final;
    return final;
  }

  /** base64 DER CMS EnvelopedData of the JSON, made by openssl as the platform would. */
  encryptProtected(obj, { cipher = 'aes256', oaep = false } = {}) {
    const c = this.certificate();
    const args = ['cms', '-encrypt', '-binary', '-outform', 'DER', `-${cipher}`, '-recip', c.crt];
    if (oaep) args.push('-keyopt', 'rsa_padding_mode:oaep');
    return execFileSync('openssl', args, { input: JSON.stringify(obj) }).toString('base64');
  }

  sequences(ext) {
    if (!existsSync(ext.configFolder)) return [];
    return readdirSync(ext.configFolder).map((f) => /^(\d+)\.settings$/.exec(f)).filter(Boolean).map((m) => Number(m[1])).sort((a, b) => a - b);
  }

  /** The sequence the agent would pass now: the newest settings file. */
  currentSeq(ext) {
    let best;
    for (const seq of this.sequences(ext)) {
      const t = statSync(join(ext.configFolder, `${seq}.settings`)).mtimeMs;
      if (!best || t >= best.t) best = { seq, t };
    }
    return best?.seq ?? 0;
  }

  /**
   * Writes the next N.settings (one line, as json.dumps does). `raw` writes that text verbatim (e.g. '' for
   * the 0-byte file of an extension without settings).
   */
  writeSettings(ext, { publicSettings = null, protectedSettings, cipher, oaep, raw, seq } = {}) {
    const s = seq ?? (this.sequences(ext).length ? Math.max(...this.sequences(ext)) + 1 : 0);
    let text = raw;
    if (text === undefined) {
      const hs = { publicSettings, protectedSettings: null, protectedSettingsCertThumbprint: null };
      if (protectedSettings !== undefined) {
        hs.protectedSettings = this.encryptProtected(protectedSettings, { cipher, oaep });
        hs.protectedSettingsCertThumbprint = this.certificate().thumbprint;
      }
      text = JSON.stringify({ runtimeSettings: [{ handlerSettings: hs }] });
    }
    mkdirSync(ext.configFolder, { recursive: true, mode: 0o700 });
    writeFileSync(join(ext.configFolder, `${s}.settings`), text);
    return s;
  }

  /** Runs a manifest command exactly as launch_command does. Resolves with its exit code and output. */
  run(ext, op, { env = {}, timeoutS, prefix = [] } = {}) {
    const manifest = JSON.parse(readFileSync(join(ext.dir, 'HandlerManifest.json'), 'utf8'))[0].handlerManifest;
    const cmd = manifest[`${op}Command`];
    if (!cmd) throw new Error(`manifest has no ${op}Command`);
    const seq = this.currentSeq(ext);
    const agentEnv = {
      AZURE_GUEST_AGENT_EXTENSION_PATH: ext.dir,
      AZURE_GUEST_AGENT_EXTENSION_VERSION: ext.version,
      AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: '168.63.129.16',
      AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES: '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]',
      ConfigSequenceNumber: String(seq),
      ...(op === 'install' || op === 'enable' ? { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: 'NOT_RUN' } : {}),
      ...env,
    };
    const limit = (timeoutS ?? this.timeoutsS[op]) * 1000;
    const started = Date.now();
    return new Promise((resolveRun) => {
      // The agent runs "<base_dir>/<command>" through the shell in a new session (os.setsid).
      // `prefix` wraps the shell in a tracer (tests use strace to see every child's argv and environment).
      const argv = [...prefix, '/bin/sh', '-c', join(ext.dir, cmd.replace(/^\/+/, ''))];
      const child = spawn(argv[0], argv.slice(1), {
        cwd: ext.dir, env: { ...agentEnv, ...process.env, ...agentEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '', stderr = '', timedOut = false;
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, limit);
      // The agent waits for the shell only; a detached worker keeping our pipes must not hold us.
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        child.stdout.destroy(); child.stderr.destroy();
        resolveRun({ op, seq, code: code ?? (signal ? 128 : 1), signal, stdout, stderr, timedOut, ms: Date.now() - started });
      });
    });
  }

  statusPath(ext, seq = this.currentSeq(ext)) { return join(ext.statusFolder, `${seq}.status`); }

  status(ext, seq = this.currentSeq(ext)) {
    const p = this.statusPath(ext, seq);
    if (!existsSync(p)) return undefined;
    return JSON.parse(readFileSync(p, 'utf8'));
  }

  /** Polls like the agent until the status is terminal (success/error); returns it, or throws on timeout. */
  async waitTerminal(ext, seq = this.currentSeq(ext), timeoutS = 120) {
    const end = Date.now() + timeoutS * 1000;
    for (;;) {
      let s;
      try { s = this.status(ext, seq); } catch { s = undefined; } // mid-write reads are retried, as the agent does
      if (s && ['success', 'error'].includes(s[0].status.status)) return s;
      if (Date.now() > end) throw new Error(`no terminal status for seq ${seq} after ${timeoutS}s; last: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Fresh install with settings: settings are written before install, then install, then enable. */
  async deploy(source, settings = {}) {
    const ext = this.installPackage(source);
    this.writeSettings(ext, settings);
    const install = await this.run(ext, 'install');
    const enable = await this.run(ext, 'enable');
    return { ext, install, enable };
  }

  /**
   * Upgrade old → new, in the agent's order: new initialize + settings, old disable, copy mrseq and
   * status/, new update, old uninstall, delete old dir, new install (UpdateWithInstall), new enable.
   */
  async upgrade(oldExt, source) {
    const ext = this.installPackage(source);
    const seq = this.currentSeq(oldExt);
    cpSync(join(oldExt.configFolder, `${seq}.settings`), join(ext.configFolder, `${seq}.settings`));
    const ops = [];
    ops.push(await this.run(oldExt, 'disable'));
    if (existsSync(join(oldExt.dir, 'mrseq'))) cpSync(join(oldExt.dir, 'mrseq'), join(ext.dir, 'mrseq'));
    for (const f of readdirSync(oldExt.statusFolder)) cpSync(join(oldExt.statusFolder, f), join(ext.statusFolder, f));
    ops.push(await this.run(ext, 'update', { env: { VERSION: ext.version, AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: oldExt.version, AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE: String(ops[0].code) } }));
    const uninstall = await this.run(oldExt, 'uninstall');
    ops.push(uninstall);
    rmSync(oldExt.dir, { recursive: true, force: true });
    const manifest = JSON.parse(readFileSync(join(ext.dir, 'HandlerManifest.json'), 'utf8'))[0].handlerManifest;
    if ((manifest.updateMode ?? 'UpdateWithInstall') === 'UpdateWithInstall') {
      ops.push(await this.run(ext, 'install', { env: { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: String(uninstall.code) } }));
    }
    ops.push(await this.run(ext, 'enable', { env: { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: String(uninstall.code) } }));
    return { ext, ops };
  }

  /** Removal: disable, uninstall, then the agent deletes the extension dir (logs stay). */
  async remove(ext) {
    const ops = [await this.run(ext, 'disable'), await this.run(ext, 'uninstall')];
    rmSync(ext.dir, { recursive: true, force: true });
    return ops;
  }

  /** The extension installed under root, if one (the CLI's commands act on it). */
  only() {
    const dirs = readdirSync(this.root).filter((d) => existsSync(join(this.root, d, 'HandlerManifest.json')));
    if (dirs.length !== 1) throw new Error(`expected one extension under ${this.root}, found ${dirs.length}`);
    const m = /^(.*)-(\d[\w.]*)$/.exec(dirs[0]);
    return this.extension(m[1], m[2]);
  }
}

function packageVersion(dir, source) {
  // The version comes from the package (as the agent gets it from the goal state); the zip name carries it.
  const m = /-(\d+\.\d+\.\d+(?:\.\d+)?)(?:-[a-z0-9]+)?\.zip$/.exec(String(source));
  if (m) return m[1];
  if (existsSync(join(dir, 'VERSION'))) return readFileSync(join(dir, 'VERSION'), 'utf8').trim();
  return '1.0.0';
}

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p); else if (e.isFile()) yield p;
  }
}

// --- CLI (used inside lab guests) ---
async function cli(argv) {
  const opt = (name, dflt) => { const i = argv.indexOf(name); if (i < 0) return dflt; const v = argv[i + 1]; argv.splice(i, 2); return v; };
  const agent = new FakeAgent({ root: opt('--root', '/var/lib/waagent'), logRoot: opt('--log-root', '/var/log/azure') });
  const [cmd, ...rest] = argv;
  const print = (o) => process.stdout.write(JSON.stringify(o, null, 2) + '\n');
  switch (cmd) {
    case 'install-package': print(agent.installPackage(rest[0])); return 0;
    case 'settings': {
      const pub = opt('--public', undefined); const prot = opt('--protected', undefined);
      const ext = agent.only();
      print({ seq: agent.writeSettings(ext, { publicSettings: pub ? JSON.parse(pub) : null, ...(prot ? { protectedSettings: JSON.parse(prot) } : {}) }) });
      return 0;
    }
    case 'run': { const r = await agent.run(agent.only(), rest[0]); print(r); return r.code; }
    case 'boot': { const r = await agent.run(agent.only(), 'enable'); print(r); return r.code; }
    case 'status': { const seq = opt('--seq', undefined); print(agent.status(agent.only(), seq === undefined ? undefined : Number(seq)) ?? null); return 0; }
    case 'wait': { const t = Number(opt('--timeout', '600')); print(await agent.waitTerminal(agent.only(), undefined, t)); return 0; }
    default:
      process.stderr.write('usage: agent.mjs [--root DIR] [--log-root DIR] install-package <zip|dir> | settings [--public JSON] [--protected JSON] | run <op> | boot | status [--seq N] | wait [--timeout S]\n');
      return 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then((c) => process.exit(c), (e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exit(1); });
}
