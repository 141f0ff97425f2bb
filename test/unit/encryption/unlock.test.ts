// Network unlock at boot and the unlock service, against injected fakes of the machine and vault (KEK rotation: rekey.test.ts).
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import { volumeRecord as rec } from '../../helpers/volume-record.ts';
import type { BekVolumeRecord, KeyProtector, KeyVaultRecord, ProtectorRecord } from '../../../src/keys/protectors/types.ts';
import { unlockAll } from '../../../src/encryption/unlock.ts';
import { installUnlockService, launcherText, removeUnlockService, UNIT_NAME, unitText } from '../../../src/system/unlock-service.ts';
import type { Runner } from '../../../src/system/exec.ts';

function protector<R extends ProtectorRecord>(kind: R['kind'], keys: Record<string, string | undefined>): KeyProtector<R> {
  return {
    kind,
    seal: () => Promise.reject(new Error('not used')),
    unseal: async (r: ProtectorRecord) => {
      const k = keys[kind === 'bek-volume' ? (r as { fileName: string }).fileName : (r as { secretUrl: string }).secretUrl];
      if (!k) throw new Error(`${kind}: no key`);
      return Buffer.from(k);
    },
  } as unknown as KeyProtector<R>;
}

describe('unlockAll', () => {
  it('opens what is locked with the first protector that works, mounts it, and leaves open volumes alone', async () => {
    // e: the OS volume, which the initramfs opens (with its detached header) before anything of ours runs
    const a = rec('a'), b = rec('b'), c = rec('c'), d = rec('d', { state: 'decrypting' }), e = rec('e', { action: 'os', state: 'encrypted' });
    const open = new Set(['ade-a']);
    const mounted = new Set<string>(['/mnt/a']);
    const opened: Array<[string, string, string]> = [];
    const bek = protector<BekVolumeRecord>('bek-volume', { [b.fileName]: 'key-b' });      // b's key file is there
    const kv = protector<KeyVaultRecord>('keyvault', { [c.secretUrl!]: 'key-c', [b.secretUrl!]: 'wrong' }); // c only in the vault
    const log = memoryLogger();
    const r = await unlockAll({
      records: [a, b, c, d, e], log,
      isOpen: async (n) => open.has(n),
      locate: async (v) => v.device,
      protectors: () => ({ bek, keyVault: kv }),
      open: async (dev, name, key) => { opened.push([dev, name, key.toString()]); open.add(name); },
      isMounted: async (mp) => mounted.has(mp),
      mount: async (mp) => { mounted.add(mp); },
    });
    expect(r).toEqual({ opened: [{ name: 'ade-b', by: 'bek-volume' }, { name: 'ade-c', by: 'keyvault' }], alreadyOpen: ['ade-a'], failed: [] });
    expect(opened).toEqual([['/dev/b', 'ade-b', 'key-b'], ['/dev/c', 'ade-c', 'key-c']]);
    expect([...mounted].sort()).toEqual(['/mnt/a', '/mnt/b', '/mnt/c']);
  });

  it('reports a volume no protector can open, and still handles the others', async () => {
    const log = memoryLogger();
    const r = await unlockAll({
      records: [rec('x'), rec('y')], log,
      isOpen: async () => false,
      locate: async (v) => (v.mapperName === 'ade-x' ? undefined : v.device),
      protectors: () => ({ bek: protector<BekVolumeRecord>('bek-volume', {}), keyVault: protector<KeyVaultRecord>('keyvault', {}) }),
      open: async () => undefined, isMounted: async () => false, mount: async () => undefined,
    });
    expect(r.opened).toEqual([]);
    expect(r.failed.map((f) => [f.name, f.code])).toEqual([['ade-x', 100], ['ade-y', 100]]);
    expect(r.failed[0]!.message).toContain('its device (LUKS UUID uuid-x) is not attached');
    expect(r.failed[1]!.message).toContain('keyvault: no key');
  });
});

describe('the unlock service', () => {
  it('writes the unit, the launcher and the environment file, enables it, and removes all of it again', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ade-unit-'));
    const calls: string[] = [];
    const run: Runner = async (f, a) => { calls.push([f, ...a].join(' ')); return { exitCode: 0, stdout: '', stderr: '' }; };
    const paths = { unitDir: join(d, 'etc'), stateDir: join(d, 'state'), libDir: '/var/lib/waagent', extensionName: 'AdeLinux.DiskEncryption' };
    await installUnlockService(run, paths, { HTTPS_PROXY: 'http://proxy:3128', NODE_EXTRA_CA_CERTS: '/etc/ca "x".pem' });
    const unit = readFileSync(join(paths.unitDir, UNIT_NAME), 'utf8');
    expect(unit).toContain('After=network-online.target cryptsetup.target local-fs.target');
    expect(unit).toContain(`ExecStart=/bin/sh ${join(paths.stateDir, 'unlock.sh')}`);
    expect(readFileSync(join(paths.stateDir, 'unlock.env'), 'utf8')).toBe('HTTPS_PROXY="http://proxy:3128"\nNODE_EXTRA_CA_CERTS="/etc/ca \\"x\\".pem"\n');
    expect(statSync(join(paths.stateDir, 'unlock.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(paths.stateDir, 'unlock.sh'), 'utf8')).toBe(launcherText(paths));
    expect(calls).toEqual([`systemctl enable ${UNIT_NAME}`]); // enable reloads systemd itself
    // What `systemctl enable` leaves: the wants link. Installing again (every enable does) reloads nothing,
    // even with another environment (read when the unit starts); a changed unit is enabled (reloaded) again.
    mkdirSync(join(paths.unitDir, 'multi-user.target.wants'));
    symlinkSync(join(paths.unitDir, UNIT_NAME), join(paths.unitDir, 'multi-user.target.wants', UNIT_NAME));
    await installUnlockService(run, paths, { HTTPS_PROXY: 'http://other:3128' });
    expect(calls).toHaveLength(1);
    expect(readFileSync(join(paths.stateDir, 'unlock.env'), 'utf8')).toBe('HTTPS_PROXY="http://other:3128"\n');
    writeFileSync(join(paths.unitDir, UNIT_NAME), '# an older version\'s unit\n');
    await installUnlockService(run, paths, {});
    expect(calls).toEqual([`systemctl enable ${UNIT_NAME}`, `systemctl enable ${UNIT_NAME}`]);
    expect(readFileSync(join(paths.unitDir, UNIT_NAME), 'utf8')).toBe(unitText(paths));
    await removeUnlockService(run, paths);
    expect(() => statSync(join(paths.unitDir, UNIT_NAME))).toThrow();
    expect(() => statSync(join(paths.stateDir, 'unlock.env'))).toThrow();
    expect(calls.slice(2)).toEqual([`systemctl disable ${UNIT_NAME}`, 'systemctl daemon-reload']);
  });
});
