// /etc/fstab and /etc/crypttab under a root prefix (tests point it at a temporary tree), and the per-volume
// records in the state dir that outlive any one operation's journal (the original fstab line is needed by a
// DisableEncryption months later). Every write is atomic and keeps the file's mode (fstab must stay readable).
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from './files.ts';

function modeOf(path: string, fallback: number): number {
  try { return statSync(path).mode & 0o7777; } catch { return fallback; }
}

export function sysFiles(root = '/') {
  const fstab = join(root, 'etc/fstab');
  const crypttab = join(root, 'etc/crypttab');
  return {
    fstabPath: fstab,
    crypttabPath: crypttab,
    readFstab: (): string => readTextIfExists(fstab) ?? '',
    readCrypttab: (): string => readTextIfExists(crypttab) ?? '',
    writeFstab: (text: string): void => writeFileAtomic(fstab, text, modeOf(fstab, 0o644)),
    writeCrypttab: (text: string): void => writeFileAtomic(crypttab, text, modeOf(crypttab, 0o644)),
  };
}
export type SysFiles = ReturnType<typeof sysFiles>;

const recordsDir = (stateDir: string) => join(stateDir, 'volumes');
const safe = (name: string) => {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`mapping name ${name} is not a safe file name`);
  return name;
};

/** JSON records named by their mapping, in <stateDir>/volumes, with a decryption's exported header beside each. */
export interface RecordStore<T extends { mapperName: string }> {
  dir: string;
  read(name: string): T | undefined;
  write(r: T): void;
  remove(name: string): void;
  list(): T[];
  /** Where a decryption keeps the header it exports (on the OS disk, never on the volume itself). */
  headerPath(name: string): string;
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
}

export function volumeRecords<T extends { mapperName: string }>(stateDir: string): RecordStore<T> {
  const headerPath = (name: string) => join(recordsDir(stateDir), `${safe(name)}.luks-header`);
  return {
    dir: recordsDir(stateDir),
    read(name: string): T | undefined {
      const t = readTextIfExists(join(recordsDir(stateDir), `${safe(name)}.json`));
      return t ? (JSON.parse(t) as T) : undefined;
    },
    write(r: T): void {
      writeFileAtomic(join(recordsDir(stateDir), `${safe(r.mapperName)}.json`), JSON.stringify(r, null, 2) + '\n', 0o600);
    },
    remove(name: string): void {
      rmSync(join(recordsDir(stateDir), `${safe(name)}.json`), { force: true });
    },
    list(): T[] {
      let names: string[];
      try { names = readdirSync(recordsDir(stateDir)); } catch { return []; }
      return names.filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readTextIfExists(join(recordsDir(stateDir), n)) ?? '{}') as T);
    },
    headerPath,
    hasHeader: (name) => existsSync(headerPath(name)),
    removeHeader: (name) => rmSync(headerPath(name), { force: true }),
  };
}
