// `ade-shim unlock`, run at boot by ade-linux-unlock.service (never by the agent): opens every volume we
// encrypted that systemd-cryptsetup could not (key volume missing), with the key volume or Key Vault, and
// mounts it. Key Vault access uses the latest settings' identity; without readable settings, the VM's
// system-assigned identity and the vault named by each secret URL.
import { hostname } from 'node:os';
import type { Context } from './context.ts';
import { readSettings } from '../protocol/settings.ts';
import { validateSettings } from '../protocol/validate.ts';
import type { EncryptionSettings } from '../shared/types.ts';
import type { Volume } from '../encryption/discovery.ts';

export async function unlockCommand(ctx: Context): Promise<number> {
  const [{ unlockAll }, { locate }, { classifyVolumes }, { bekVolume }, { machineTools, volumeKeys }] = await Promise.all([
    import('../encryption/unlock.ts'), import('../encryption/plan.ts'), import('../encryption/discovery.ts'),
    import('../system/bek-volume.ts'), import('./machine.ts'),
  ]);
  const { handlerEnv: he, log } = ctx;
  const tools = machineTools(ctx.run, he.stateDir);
  const records = tools.records.list();
  if (records.length === 0) { log.info('unlock: no volumes encrypted by ade-linux'); return 0; }
  const settings = await settingsForUnlock(ctx);
  // One look at the block devices serves every record (lsblk, findmnt, blkid and luksDump are not free).
  let volumes: Promise<Volume[]> | undefined;
  const keyVolume = bekVolume({ runner: ctx.run });
  const machineName = hostname().split('.')[0] ?? '';
  const result = await unlockAll({
    records, log,
    isOpen: (name) => tools.cs.isActive(name),
    locate: async (r) => locate(r, await (volumes ??= tools.snapshot().then(classifyVolumes)))?.device,
    protectors: (r) => volumeKeys({ settings: settings(r.secretUrl), machineName, log, keyVolume, deps: { agentLibDir: he.libDir } }),
    open: async (device, name, key) => { await tools.cs.open(device, name, key); },
    isMounted: async (mp) => (await tools.mnt.sourceAt(mp)) !== undefined,
    mount: (mp) => tools.mnt.mountFromFstab(mp),
  });
  log.info('unlock finished', { opened: result.opened, alreadyOpen: result.alreadyOpen, failed: result.failed.map((f) => `${f.name}: [${f.code}] ${f.message}`) });
  return result.failed.length ? 1 : 0;
}

/** The settings' identity and vault when they can be read; else the system identity and the secret's vault. */
async function settingsForUnlock(ctx: Context): Promise<(secretUrl: string | undefined) => EncryptionSettings> {
  let known: EncryptionSettings | undefined;
  try {
    known = validateSettings(await readSettings(ctx.handlerEnv.configFolder, ctx.handlerEnv.libDir, ctx.seq, ctx.run, ctx.log));
  } catch (e) {
    ctx.log.warn(`unlock: settings ${ctx.seq} unreadable (${e instanceof Error ? e.message : String(e)}); using the system-assigned identity`);
  }
  return (secretUrl) => ({
    operation: 'QueryEncryptionStatus', volumeType: 'Data', identity: known?.identity ?? { kind: 'system' },
    ...(secretUrl ? { keyVaultUrl: `${new URL(secretUrl).origin}/` } : {}),
  });
}
