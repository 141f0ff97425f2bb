// The system adapters the encryption core works through, built once for a command from its Runner: the
// only place above src/system/ that constructs them (units build the same set on a fake Runner).
import type { Tools, VolumeKeys } from '../encryption/steps.ts';
import type { VolumeRecord } from '../encryption/volume-journal.ts';
import type { Logger } from '../shared/log.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import { bekVolumeProtector, keyVaultProtector, newPassphrase, newRecoveryPassphrase, type KeysDeps } from '../keys/index.ts';
import type { KeyVolume } from '../system/bek-volume.ts';
import { readBlockSnapshot } from '../system/blockdev.ts';
import { cryptsetup } from '../system/cryptsetup.ts';
import type { Runner } from '../system/exec.ts';
import { fileSystems } from '../system/fs.ts';
import { mounts } from '../system/mount.ts';
import { sysFiles, volumeRecords } from '../system/sysfiles.ts';
import { osBoot } from '../system/os-boot.ts';

/**
 * `root` prefixes /etc/fstab, /etc/crypttab and /dev/disk (tests point it at a temporary tree);
 * `initramfsDir` is the package's initramfs/ folder, the boot plumbing the OS disk installs.
 */
export function machineTools(run: Runner, stateDir: string, root = '/', initramfsDir?: string, netEnv?: Readonly<Record<string, string>>): Tools {
  return {
    cs: cryptsetup(run), fs: fileSystems(run), mnt: mounts(run), files: sysFiles(root),
    records: volumeRecords<VolumeRecord>(stateDir),
    ...(initramfsDir ? { os: osBoot(run, { root, scriptsDir: initramfsDir, ...(netEnv ? { netEnv } : {}) }) } : {}),
    snapshot: () => readBlockSnapshot(run, root),
  };
}

export interface KeysWiring {
  settings: EncryptionSettings;
  machineName: string;
  log: Logger;
  keyVolume: KeyVolume;
  deps?: KeysDeps;
}

/** Keys as the settings say: the user's passphrase or a random one, escrowed in their vault, kept on the key volume. */
export function volumeKeys(w: KeysWiring): VolumeKeys {
  return {
    newPassphrase: () => newPassphrase(w.settings, w.log),
    generatesKeys: w.settings.passphrase === undefined,
    newRecoveryPassphrase: () => newRecoveryPassphrase(w.log),
    keyVault: keyVaultProtector({ settings: w.settings, machineName: w.machineName, log: w.log, ...(w.deps ? { deps: w.deps } : {}) }),
    bek: bekVolumeProtector(w.keyVolume, w.log),
  };
}
