// `ade-shim unlock`, run at boot by ade-linux-unlock.service (never by the agent): opens every volume we
// encrypted that systemd-cryptsetup could not (key volume missing), with the key volume or Key Vault, and
// mounts it. Key Vault access uses the latest settings' identity; without readable settings, the VM's
// system-assigned identity and the vault named by each secret URL.
import { hostname } from 'node:os';
import type { Context } from './context.ts';
import { readSettings } from './settings.ts';
import { validateSettings } from './validate.ts';
import type { EncryptionSettings } from './types.ts';

export async function unlockCommand(ctx: Context): Promise<number> {
  const [{ unlockAll }, { volumeRecords }, { cryptsetup }, { readSystemVolumes }, { locate }, keys, { bekVolume }] = await Promise.all([
    import('../encryption/unlock.ts'), import('../system/sysfiles.ts'), import('../system/cryptsetup.ts'), import('../system/blockdev.ts'),
    import('../encryption/plan.ts'), import('../keys/index.ts'), import('../system/bek-volume.ts'),
  ]);
  const he = ctx.handlerEnv;
  const log = ctx.log;
  const records = volumeRecords(he.stateDir).list();
  if (records.length === 0) { log.info('unlock: no volumes encrypted by ade-linux'); return 0; }
  const settings = await settingsForUnlock(ctx);
  const cs = cryptsetup(ctx.run);
  // One look at the block devices serves every record (lsblk, findmnt, blkid and luksDump are not free).
  let volumes: ReturnType<typeof readSystemVolumes> | undefined;
  const deps = { agentLibDir: he.libDir };
  const machineName = hostname().split('.')[0] ?? '';
  const bek = keys.bekVolumeProtector(bekVolume({ runner: ctx.run }), log);
  const result = await unlockAll({
    records, log,
    isOpen: (name) => cs.isActive(name),
    locate: async (r) => locate(r, await (volumes ??= readSystemVolumes(ctx.run)))?.device,
    slots: (r) => [
      { protector: bek, record: { kind: 'bek-volume' as const, fileName: r.fileName, ...(r.secretUrl ? { secretUrl: r.secretUrl } : {}) } },
      ...(r.secretUrl ? [{ protector: keys.keyVaultProtector({ settings: settings(r.secretUrl), machineName, log, deps }), record: { kind: 'keyvault' as const, secretUrl: r.secretUrl } }] : []),
    ],
    open: async (device, name, key) => { await cs.open(device, name, key); },
    isMounted: async (mp) => (await ctx.run('findmnt', ['-n', '--mountpoint', mp])).exitCode === 0,
    mount: async (mp) => {
      const r = await ctx.run('mount', [mp]);
      if (r.exitCode !== 0) throw new Error(`mount ${mp} failed: ${r.stderr.trim()}`);
    },
  });
  log.info('unlock finished', { opened: result.opened, alreadyOpen: result.alreadyOpen, failed: result.failed.map((f) => `${f.name}: [${f.code}] ${f.message}`) });
  return result.failed.length ? 1 : 0;
}

/** The settings' identity and vault when they can be read; else the system identity and the secret's vault. */
async function settingsForUnlock(ctx: Context): Promise<(secretUrl: string) => EncryptionSettings> {
  let known: EncryptionSettings | undefined;
  try {
    known = validateSettings(await readSettings(ctx.handlerEnv.configFolder, ctx.handlerEnv.libDir, ctx.seq, ctx.run, ctx.log));
  } catch (e) {
    ctx.log.warn(`unlock: settings ${ctx.seq} unreadable (${e instanceof Error ? e.message : String(e)}); using the system-assigned identity`);
  }
  return (secretUrl) => ({
    operation: 'QueryEncryptionStatus', volumeType: 'Data', identity: known?.identity ?? { kind: 'system' },
    keyVaultUrl: `${new URL(secretUrl).origin}/`,
  });
}
