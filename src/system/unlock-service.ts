// Installs the boot-time network unlock: a oneshot systemd unit ordered after systemd-cryptsetup and the
// network, whose launcher finds the installed extension (its folder name carries the version, so it
// changes on upgrade) and runs `ade-shim unlock`. Files are written atomically; nothing here holds a secret.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from './exec.ts';
import { environmentFileText } from './detach.ts';
import { readTextIfExists, writeFileAtomic } from './files.ts';

export const UNIT_NAME = 'ade-linux-unlock.service';

export interface UnlockServicePaths {
  /** /etc/systemd/system (a prefix lets tests write elsewhere). */
  unitDir: string;
  stateDir: string;
  /** The agent's Lib.Dir, holding <Publisher>.<Type>-<version>/. */
  libDir: string;
  extensionName: string;
}

export function launcherText(p: UnlockServicePaths): string {
  return `#!/bin/sh
# Written by ade-linux. Runs the newest installed ade-linux extension's network unlock.
for ext in $(ls -d "${p.libDir}/${p.extensionName}-"*/ 2>/dev/null | sort -V -r); do
  [ -x "$ext/bin/ade-shim" ] || continue
  AZURE_GUEST_AGENT_EXTENSION_PATH="\${ext%/}" exec "$ext/bin/ade-shim" unlock
done
echo "ade-linux: no ${p.extensionName} extension under ${p.libDir}; volumes whose key volume is missing stay locked" >&2
exit 1
`;
}

export function unitText(p: UnlockServicePaths): string {
  return `# Written by ade-linux: opens encrypted data volumes from Key Vault when the key volume is missing.
[Unit]
Description=ade-linux network unlock of encrypted data volumes
Wants=network-online.target
After=network-online.target cryptsetup.target local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=-${join(p.stateDir, 'unlock.env')}
ExecStart=/bin/sh ${join(p.stateDir, 'unlock.sh')}
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
`;
}

export async function installUnlockService(run: Runner, p: UnlockServicePaths, env: Record<string, string>): Promise<void> {
  writeFileAtomic(join(p.stateDir, 'unlock.sh'), launcherText(p), 0o700);
  writeFileAtomic(join(p.stateDir, 'unlock.env'), environmentFileText(env), 0o600);
  const unit = join(p.unitDir, UNIT_NAME);
  const text = unitText(p);
  // Every enable calls this: when the unit is in place and enabled, a systemd reload (seconds on a busy VM)
  // buys nothing. The environment file is read when the unit starts, so a new one needs no reload either.
  if (readTextIfExists(unit) === text && existsSync(join(p.unitDir, 'multi-user.target.wants', UNIT_NAME))) return;
  writeFileAtomic(unit, text, 0o644);
  // `enable` reloads systemd itself after linking; a daemon-reload before it would be a second reload.
  await systemctl(run, ['enable', UNIT_NAME]);
}

export async function removeUnlockService(run: Runner, p: UnlockServicePaths): Promise<void> {
  const unit = join(p.unitDir, UNIT_NAME);
  if (!existsSync(unit)) return;
  await systemctl(run, ['disable', UNIT_NAME]);
  rmSync(unit, { force: true });
  for (const f of ['unlock.sh', 'unlock.env']) rmSync(join(p.stateDir, f), { force: true });
  await systemctl(run, ['daemon-reload']);
}

/** Without systemd (containers, minimal guests) there is no boot to hook: the files are still written. */
async function systemctl(run: Runner, args: string[]): Promise<void> {
  await run('systemctl', args);
}
