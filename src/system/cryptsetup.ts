// cryptsetup, the only engine that touches LUKS metadata or data: no home-made copy loops, because its
// reencryption resumes after a crash at any point. Every key goes in on stdin (`--key-file -`, which
// cryptsetup reads to EOF, the same bytes crypttab's key file holds), never argv, environment or a
// temporary file. All parameters that decide the on-disk format live
// here, so the host crash test and the worker run the exact same invocations.
import { totalmem } from 'node:os';
import { CommandFailed, must as mustRun, type Runner } from './exec.ts';
import { parseLuksDumpJson, type LuksMetadata } from '../parsers/luksdump.ts';

const MiB = 1024 * 1024;
export const CIPHER = ['--cipher', 'aes-xts-plain64', '--key-size', '512'] as const;
/** The OS disk header's segment before its reencryption begins: the data as it is (formatNullDetached). */
export const NULL_CIPHER = 'cipher_null-ecb';

/**
 * PBKDF arguments. argon2id with memory bounded to min(256 MiB, RAM/8) so a small VM never OOMs at
 * unlock. Lab/test knob: ADE_LINUX_PBKDF=pbkdf2:<iterations> or argon2id:<KiB> (argon2id takes 14–22 s per
 * keyslot under TCG). Read once, at first use, so one process never mixes two settings.
 */
let pbkdfArgs: string[] | undefined;
export function pbkdf(): string[] {
  pbkdfArgs ??= parsePbkdf(process.env['ADE_LINUX_PBKDF'], totalmem());
  return pbkdfArgs;
}

export function parsePbkdf(knob: string | undefined, ramBytes: number): string[] {
  const boundKiB = Math.max(32 * 1024, Math.min(256 * 1024, Math.floor(ramBytes / 8 / 1024)));
  if (!knob) return ['--pbkdf', 'argon2id', '--pbkdf-memory', String(boundKiB)];
  const m = /^(pbkdf2|argon2id|argon2i):(\d+)$/.exec(knob.trim());
  if (!m) throw new Error(`ADE_LINUX_PBKDF="${knob}" is not pbkdf2:<iterations> or argon2id:<KiB>`);
  if (m[1] === 'pbkdf2') return ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', m[2]!];
  return ['--pbkdf', m[1]!, '--pbkdf-memory', String(Math.min(Number(m[2]), boundKiB))];
}

/** PBKDF2 at cryptsetup's floor: for random secrets only (the generated key, the recovery passphrase). */
const PBKDF_FLOOR = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
/**
 * A data volume's keyslot. A KDF slows down guessing a passphrase; a generated one (1016 random bits, ADE's
 * format: src/keys/passphrase.ts) cannot be guessed whatever the KDF, so it gets cryptsetup's cheapest,
 * PBKDF2 at its 1000-iteration floor with no benchmark: no Argon2 memory peak (RAM/8, up to 256 MiB) and
 * no seconds of derivation while the volume is unmounted, nor at every boot's unlock. An operator's own
 * passphrase (the Passphrase setting) keeps Argon2id. The lab's knob, when set, wins.
 */
export function dataPbkdf(generatedKey: boolean): string[] {
  if (process.env['ADE_LINUX_PBKDF'] || !generatedKey) return pbkdf();
  return PBKDF_FLOOR;
}

/**
 * The OS disk's keyslots: PBKDF2, unless the lab's knob says otherwise. The key is opened in the initramfs,
 * where Argon2's memory is not to be had on a small VM; PBKDF2's iteration time is benchmarked as usual for
 * an operator's own passphrase, and left at the floor when every passphrase of the keyslots is random.
 */
export function osPbkdf(randomOnly = false): string[] {
  if (process.env['ADE_LINUX_PBKDF']) return pbkdf();
  // Every passphrase of these keyslots random (the generated key, the 159-bit recovery passphrase): no KDF
  // adds strength, and each keyslot tried costs the boot its iteration time (two per open mid-reencryption).
  return randomOnly ? PBKDF_FLOOR : ['--pbkdf', 'pbkdf2'];
}

export interface ReencryptOptions {
  /** Detached (decrypt: exported) header file. */
  header?: string;
  /** Resume by the active mapping's name instead of the device: never offline under a mounted file system. */
  activeName?: string;
  resilience?: 'checksum' | 'journal';
  /** Images in regular files (host tests): cryptsetup cannot tell whether they are active. */
  offline?: boolean;
  hotzoneSize?: string;
}

const hdr = (h?: string) => (h ? ['--header', h] : []);

/** The LUKS devices and mappings as they are; nothing here writes. */
function inspect(run: Runner) {
  return {
    /** Whether a failure says an interrupted reencryption must be recovered (repair, or open) before it resumes. */
    needsRepair(e: unknown): boolean {
      return e instanceof CommandFailed && /requires reencryption recovery|run repair/i.test(e.stderr);
    },
    async isLuks(device: string): Promise<boolean> {
      return (await run('cryptsetup', ['isLuks', device])).exitCode === 0;
    },
    async uuid(device: string): Promise<string | undefined> {
      const r = await run('cryptsetup', ['luksUUID', device]);
      return r.exitCode === 0 ? r.stdout.trim() : undefined;
    },
    /** LUKS2 metadata, or undefined when the device (or header file) holds none. */
    async dump(deviceOrHeader: string): Promise<LuksMetadata | undefined> {
      const r = await run('cryptsetup', ['luksDump', '--dump-json-metadata', deviceOrHeader]);
      return r.exitCode === 0 ? parseLuksDumpJson(r.stdout) : undefined;
    },
    /** Whether a dm mapping of that name is active. */
    async isActive(name: string): Promise<boolean> {
      return (await run('cryptsetup', ['status', name])).exitCode === 0;
    },
    /** Proves a key opens a keyslot without activating anything. */
    async testKey(device: string, key: Buffer, o: { header?: string } = {}): Promise<boolean> {
      return (await run('cryptsetup', ['open', '--test-passphrase', ...hdr(o.header), '--key-file', '-', device], { input: key })).exitCode === 0;
    },
  };
}

/** cryptsetup that must succeed, named for its errors, with the key (if any) on stdin. */
const mustCs = (run: Runner) => (action: string, args: string[], key?: Buffer, signal?: AbortSignal): Promise<string> =>
  mustRun(run, 'cryptsetup', args, { name: `cryptsetup ${action}`, ...(key ? { input: key } : {}), ...(signal ? { signal } : {}) });

/** Everything that writes LUKS metadata, data or mappings; every key on stdin. */
function change(run: Runner) {
  const must = mustCs(run);
  const opts = (o: ReencryptOptions) => [...hdr(o.header), ...(o.offline ? ['--force-offline-reencrypt'] : []),
    ...(o.resilience ? ['--resilience', o.resilience] : []), ...(o.hotzoneSize ? ['--hotzone-size', o.hotzoneSize] : [])];
  const target = (device: string, o: ReencryptOptions) => (o.activeName ? ['--active-name', o.activeName] : [device]);
  return {
    /**
     * In-place encryption, metadata only: moves the first shiftBytes/2 to the freed tail and writes the
     * header (resilience is datashift, implied; the hotzone is shiftBytes/2, whatever --hotzone-size says). With a name the future device is activated at once, so the file
     * system can be mounted on it before the data is encrypted (online).
     */
    initEncrypt(device: string, key: Buffer, o: { uuid: string; shiftBytes: number; sectorSize: 512 | 4096; generatedKey: boolean; name?: string; offline?: boolean }): Promise<string> {
      return must('reencrypt --encrypt --init-only', ['reencrypt', '--encrypt', '--type', 'luks2', '--init-only',
        '--reduce-device-size', `${o.shiftBytes / MiB}M`, '--sector-size', String(o.sectorSize), ...CIPHER, ...dataPbkdf(o.generatedKey), '--uuid', o.uuid,
        '--key-file', '-', '--batch-mode', ...(o.offline ? ['--force-offline-reencrypt'] : []), device, ...(o.name ? [o.name] : [])], key);
    },
    /** Decryption, metadata only: exports the header to `header` (must not exist) and frees the head of the device. */
    initDecrypt(device: string, key: Buffer, o: { header: string; offline?: boolean }): Promise<string> {
      return must('reencrypt --decrypt --init-only', ['reencrypt', '--decrypt', '--init-only', ...opts(o), '--key-file', '-', '--batch-mode', device], key);
    },
    /**
     * Runs (or continues) whatever reencryption the metadata describes, to the end, or until `signal`
     * aborts: cryptsetup then finishes the hotzone in flight, leaves the metadata consistent for the
     * next resume, and exits non-zero (a CommandFailed the caller tells apart by its signal). A SIGTERM
     * while it is still starting (cryptsetup 2.6 clears its interrupt flag when the reencryption loop
     * begins) is lost and the run goes on to the end; callers check the signal again afterwards.
     */
    resume(device: string, key: Buffer, o: ReencryptOptions & { signal?: AbortSignal } = {}): Promise<string> {
      return must('reencrypt --resume-only', ['reencrypt', '--resume-only', ...opts(o), '--key-file', '-', '--batch-mode', ...target(device, o)], key, o.signal);
    },
    /** Replays cryptsetup's own hotzone recovery after a crash. */
    repair(device: string, key: Buffer, o: { header?: string } = {}): Promise<string> {
      return must('repair', ['repair', ...hdr(o.header), '--key-file', '-', '--batch-mode', device], key);
    },
    format(device: string, key: Buffer, o: { uuid: string; generatedKey: boolean }): Promise<string> {
      return must('luksFormat', ['luksFormat', '--type', 'luks2', ...CIPHER, ...dataPbkdf(o.generatedKey), '--uuid', o.uuid, '--key-file', '-', '--batch-mode', device], key);
    },
    /** Activation also runs the reencryption recovery when a crash left one pending. */
    open(device: string, name: string, key: Buffer, o: { header?: string } = {}): Promise<string> {
      return must('open', ['open', '--type', 'luks2', ...hdr(o.header), '--key-file', '-', device, name], key);
    },
    close(name: string): Promise<string> {
      return must('close', ['close', name]);
    },
  };
}

/** The OS disk's detached header, metadata only, and its keyslots beside the key's (the recovery passphrase). */
function osHeader(run: Runner) {
  const must = mustCs(run);
  return {
    /**
     * In-place encryption with the header in a file (the OS disk: on /boot): metadata only, nothing on the
     * device is written, so the running system goes on from it unchanged until the restart opens it.
     */
    initEncryptDetached(device: string, key: Buffer, o: { uuid: string; header: string }): Promise<string> {
      return must('reencrypt --encrypt --init-only --header', ['reencrypt', '--encrypt', '--type', 'luks2', '--init-only', '--header', o.header,
        ...CIPHER, ...osPbkdf(), '--uuid', o.uuid, '--key-file', '-', '--batch-mode', device], key);
    },
    /**
     * The OS disk's header when a recovery passphrase must open it from the restart on: a detached LUKS2
     * header whose one segment is cipher_null, i.e. the partition as it is (nothing on the device is written).
     * Its keyslots can still change (a reencryption's header refuses that), so the recovery passphrase gets
     * one before initReencryptDetached turns it into the real encryption. The keyslots themselves are AES.
     */
    formatNullDetached(device: string, key: Buffer, o: { uuid: string; header: string; generatedKey: boolean }): Promise<string> {
      return must('luksFormat --cipher cipher_null-ecb --header', ['luksFormat', '--type', 'luks2', '--header', o.header, '--cipher', NULL_CIPHER,
        '--keyslot-cipher', 'aes-xts-plain64', '--keyslot-key-size', '512', ...osPbkdf(o.generatedKey), '--uuid', o.uuid, '--key-file', '-', '--batch-mode', device], key);
    },
    /**
     * Metadata only: a reencryption from formatNullDetached's cipher_null to AES-XTS with a new volume key.
     * cryptsetup gives every keyslot a twin for the new key, so each passphrase opens the device throughout
     * and after. It asks for each keyslot's passphrase in keyslot order and, with no --key-file (refused with
     * more than one keyslot), reads each from stdin up to its newline: none may hold one.
     */
    initReencryptDetached(device: string, passphrases: readonly Buffer[], o: { header: string; generatedKey: boolean }): Promise<string> {
      if (passphrases.some((p) => p.includes(0x0a))) throw new Error('a passphrase read line by line cannot hold a newline');
      const input = Buffer.concat(passphrases.flatMap((p) => [p, Buffer.from('\n')]));
      return must('reencrypt --init-only --header', ['reencrypt', '--init-only', '--header', o.header, ...CIPHER, ...osPbkdf(o.generatedKey), '--batch-mode', device], input)
        .finally(() => input.fill(0));
    },
    /**
     * A keyslot for the typed `passphrase` (random: the recovery passphrase; no newline in it), opened by
     * `key`. Both go on stdin: the key as exactly its length in bytes (--keyfile-size), then the passphrase up
     * to the newline, which is how cryptsetup reads a new passphrase from a stdin that is not a terminal. Not
     * while a reencryption is under way: cryptsetup refuses every keyslot change then.
     */
    addKey(deviceOrHeader: string, key: Buffer, passphrase: Buffer): Promise<string> {
      if (passphrase.includes(0x0a)) throw new Error('a typed passphrase cannot hold a newline');
      const input = Buffer.concat([key, passphrase, Buffer.from('\n')]);
      return must('luksAddKey', ['luksAddKey', ...osPbkdf(true), '--key-file', '-', '--keyfile-size', String(key.length), '--batch-mode', deviceOrHeader], input)
        .finally(() => input.fill(0));
    },
  };
}

export function cryptsetup(run: Runner) {
  return { ...inspect(run), ...change(run), ...osHeader(run) };
}

export type Cryptsetup = ReturnType<typeof cryptsetup>;
