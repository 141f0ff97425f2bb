// Network unlock at boot and KEK rotation of encrypted volumes, against injected fakes of the machine and vault.
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../helpers/memory-log.ts';
import type { EncryptionSettings } from '../../../src/shared/types.ts';
import type { BekVolumeRecord, KeyProtector, KeyVaultRecord, ProtectorRecord } from '../../../src/keys/protectors/types.ts';
import { needsRekey, rekeyVolumes } from '../../../src/encryption/rekey.ts';
import { unlockAll } from '../../../src/encryption/unlock.ts';
import type { VolumeRecord } from '../../../src/encryption/volume-journal.ts';
import { installUnlockService, launcherText, removeUnlockService, UNIT_NAME, unitText } from '../../../src/system/unlock-service.ts';
import type { Runner } from '../../../src/system/exec.ts';

const rec = (name: string, over: Partial<VolumeRecord> = {}): VolumeRecord => ({
  action: 'inplace', device: `/dev/${name}`, luksUuid: `uuid-${name}`, mapperName: `ade-${name}`, mountpoint: `/mnt/${name}`, fstype: 'ext4',
  fstab: { spec: `UUID=fs-${name}`, file: `/mnt/${name}`, vfstype: 'ext4', mntops: ['defaults', 'nofail'], freq: 0, passno: 2 },
  fileName: `LinuxPassPhraseFileName_1_${name.charCodeAt(0)}`, secretUrl: `https://kv.vault.azure.net/secrets/${name}/v1`, step: '', done: false,
  state: 'encrypted', seq: 1, ...over,
});

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
    const a = rec('a'), b = rec('b'), c = rec('c'), d = rec('d', { state: 'decrypting' });
    const open = new Set(['ade-a']);
    const mounted = new Set<string>(['/mnt/a']);
    const opened: Array<[string, string, string]> = [];
    const bek = protector<BekVolumeRecord>('bek-volume', { [b.fileName]: 'key-b' });      // b's key file is there
    const kv = protector<KeyVaultRecord>('keyvault', { [c.secretUrl!]: 'key-c', [b.secretUrl!]: 'wrong' }); // c only in the vault
    const log = memoryLogger();
    const r = await unlockAll({
      records: [a, b, c, d], log,
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

describe('KEK rotation of encrypted volumes', () => {
  const kekA = 'https://kv.vault.azure.net/keys/a/1';
  const kekB = 'https://kv.vault.azure.net/keys/b/2';
  const settings = (kek?: string, algorithm: 'RSA-OAEP' | 'RSA-OAEP-256' = 'RSA-OAEP'): EncryptionSettings => ({
    operation: 'EnableEncryption', volumeType: 'Data', keyVaultUrl: 'https://kv.vault.azure.net/', identity: { kind: 'system' },
    ...(kek ? { kek: { url: kek, vaultResourceId: '/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv', algorithm } } : {}),
  });
  it.each([
    ['same KEK and algorithm', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekA), false],
    ['same KEK, other case', rec('a', { kekUrl: kekA.toUpperCase().replace('HTTPS', 'https'), algorithm: 'RSA-OAEP' }), settings(kekA), false],
    ['another KEK', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekB), true],
    ['another algorithm', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' }), settings(kekA, 'RSA-OAEP-256'), true],
    ['a KEK added', rec('a'), settings(kekA), true],
    ['the KEK removed', rec('a', { kekUrl: kekA }), settings(), true],
    ['another vault', rec('a', { secretUrl: 'https://old.vault.azure.net/secrets/a/1' }), settings(), true],
    ['not finished encrypting', rec('a', { state: 'encrypting' }), settings(kekA), false],
  ])('needsRekey: %s', (_, r, s, want) => expect(needsRekey(r as VolumeRecord, s as EncryptionSettings)).toBe(want));

  it('rotates only what needs it and records each new secret before the old one is retired', async () => {
    const store = new Map([['ade-a', rec('a', { kekUrl: kekA, algorithm: 'RSA-OAEP' })], ['ade-b', rec('b', { kekUrl: kekB, algorithm: 'RSA-OAEP' })]]);
    const events: string[] = [];
    const rotated = await rekeyVolumes({
      settings: settings(kekB), log: memoryLogger(),
      records: { list: () => [...store.values()], write: (r) => { events.push(`record ${r.mapperName} ${r.secretUrl}`); store.set(r.mapperName, r); } },
      rotate: async (recs, onRotated) => {
        events.push(`rotate ${recs.map((r) => r.volume.id).join(',')}`);
        const out = recs.map((r) => ({ ...r, secretUrl: `${r.secretUrl}-new`, kekUrl: kekB, algorithm: 'RSA-OAEP' as const, oldSecretUrl: r.secretUrl, unchanged: false }));
        for (const o of out) { onRotated(o); events.push(`retire ${o.oldSecretUrl}`); }
        return out;
      },
    });
    expect(rotated.map((r) => r.volume.id)).toEqual(['uuid-a']);
    expect(events).toEqual(['rotate uuid-a', 'record ade-a https://kv.vault.azure.net/secrets/a/v1-new', 'retire https://kv.vault.azure.net/secrets/a/v1']);
    expect(store.get('ade-a')).toMatchObject({ secretUrl: 'https://kv.vault.azure.net/secrets/a/v1-new', kekUrl: kekB });
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
