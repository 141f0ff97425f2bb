// Units of the protocol layer against a real temp filesystem (no mocks of fs).
import { mkdtempSync, readFileSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHandlerEnvironment } from '../../../src/protocol/handler-env.ts';
import { currentSequence, readMrseq, writeMrseq } from '../../../src/protocol/seqnum.ts';
import { buildStatus, readStatus, writeStatus, MAX_STATUS_BYTES } from '../../../src/protocol/status.ts';
import { lockHolder, tryLock, unlock } from '../../../src/protocol/lock.ts';
import { redact, fileLogger } from '../../../src/shared/log.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'ade-unit-'));

describe('HandlerEnvironment.json', () => {
  const text = JSON.stringify([{ name: 'AdeLinux.DiskEncryption', version: 1.0, handlerEnvironment: {
    logFolder: '/var/log/azure/AdeLinux.DiskEncryption', configFolder: '/var/lib/waagent/AdeLinux.DiskEncryption-0.1.0/config',
    statusFolder: '/var/lib/waagent/AdeLinux.DiskEncryption-0.1.0/status', heartbeatFile: '/var/lib/waagent/AdeLinux.DiskEncryption-0.1.0/heartbeat.log',
    eventsFolder: '/var/log/azure/AdeLinux.DiskEncryption/events', eventsFolder_preview: '/var/log/azure/AdeLinux.DiskEncryption/events' } }]);
  it('takes the Linux agent\'s fields and derives Lib.Dir and the state dir from configFolder', () => {
    const he = parseHandlerEnvironment(text, '/var/lib/waagent/AdeLinux.DiskEncryption-0.1.0');
    expect(he).toMatchObject({ name: 'AdeLinux.DiskEncryption', libDir: '/var/lib/waagent', stateDir: '/var/lib/ade-linux', statusFolder: '/var/lib/waagent/AdeLinux.DiskEncryption-0.1.0/status' });
  });
  it.each([['not an array', '{}'], ['no handlerEnvironment', '[{}]'], ['no configFolder', '[{"handlerEnvironment":{"logFolder":"/l","statusFolder":"/s"}}]']])('rejects %s', (_, t) => {
    expect(() => parseHandlerEnvironment(t, '/x')).toThrow();
  });
});

describe('sequence numbers', () => {
  it('prefers ConfigSequenceNumber, else the most recently modified settings file (not the highest)', () => {
    const d = tmp();
    writeFileSync(join(d, '7.settings'), '');
    writeFileSync(join(d, '3.settings'), '');
    writeFileSync(join(d, 'HandlerState'), '');
    utimesSync(join(d, '7.settings'), 1000, 1000);
    utimesSync(join(d, '3.settings'), 2000, 2000);
    expect(currentSequence({}, d)).toBe(3);
    expect(currentSequence({ ConfigSequenceNumber: '9' }, d)).toBe(9);
    expect(currentSequence({}, join(d, 'missing'))).toBeUndefined();
  });
  it('keeps "never processed" distinct from sequence 0', () => {
    const d = tmp();
    expect(readMrseq(d)).toBeUndefined();
    writeMrseq(d, 0);
    expect(readMrseq(d)).toBe(0);
    expect(readFileSync(join(d, 'mrseq'), 'utf8')).toBe('0\n');
  });
});

describe('status', () => {
  it('never turns a terminal status back into transitioning, but lets a terminal one be rewritten', () => {
    const d = tmp();
    expect(writeStatus(d, 4, 'n', { operation: 'EnableEncryption', status: 'error', code: 54, message: 'x' })).toBe(true);
    expect(writeStatus(d, 4, 'n', { operation: 'EnableEncryption', status: 'transitioning', code: 0, message: 'y' })).toBe(false);
    expect(readStatus(d, 4)).toMatchObject({ status: 'error', code: 54 });
    expect(writeStatus(d, 4, 'n', { operation: 'EnableEncryption', status: 'success', code: 0, message: 'z', os: 'NotEncrypted', data: 'Encrypted' })).toBe(true);
    expect(readStatus(d, 4)).toMatchObject({ status: 'success', os: 'NotEncrypted', data: 'Encrypted' });
  });
  it('stays under the agent\'s 128 KiB limit with thousands of volumes', () => {
    const volumes = Array.from({ length: 5000 }, (_, i) => ({ device: `/dev/disk/azure/scsi1/lun${i}-part1`, mountpoint: `/data/volume-number-${i}`, state: 'EncryptionInProgress', percent: 50, etaSeconds: 1000 }));
    const text = JSON.stringify(buildStatus('n', { operation: 'EnableEncryption', status: 'transitioning', code: 0, message: 'm'.repeat(5000), os: 'NotEncrypted', data: 'EncryptionInProgress', volumes }));
    expect(text.length).toBeLessThan(MAX_STATUS_BYTES);
    expect(JSON.parse(text)[0].status.formattedMessage.message.length).toBe(1024);
  });
});

describe('worker lock', () => {
  it('is exclusive while its holder lives and taken over when the holder is gone', () => {
    const d = tmp();
    expect(tryLock(d)).toBe(true);
    expect(lockHolder(d)?.pid).toBe(process.pid);
    expect(tryLock(d)).toBe(false);
    unlock(d);
    expect(lockHolder(d)).toBeUndefined();
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'worker.lock'), JSON.stringify({ pid: 999999, start: '1' })); // a dead worker's lock
    expect(tryLock(d)).toBe(true);
    unlock(d);
  });
});

describe('log redaction', () => {
  it('hides registered secrets, bearer tokens and JWTs', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2bSJ9.c2lnbmF0dXJlLXZhbHVl';
    expect(redact(`pass=hunter22 auth: Bearer abc.def token ${jwt}`, ['hunter22'])).toBe('pass=[REDACTED] auth: Bearer [REDACTED] token [REDACTED]');
  });
  it('writes timestamped lines and rotates at the cap', () => {
    const d = tmp();
    const log = fileLogger({ folder: d, source: 'unit', maxBytes: 200 });
    log.addSecret('s3cret-value');
    for (let i = 0; i < 10; i++) log.info(`line ${i} s3cret-value`);
    const cur = readFileSync(join(d, 'extension.log'), 'utf8');
    const prev = readFileSync(join(d, 'extension.log.1'), 'utf8');
    expect(cur + prev).not.toContain('s3cret-value');
    expect(cur.split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO \[unit:\d+\] line \d \[REDACTED\]$/);
    expect(Buffer.byteLength(cur)).toBeLessThan(400);
  });
});

describe('journaled settings', () => {
  it('keep everything a resume needs and no secret', async () => {
    const { withoutSecrets } = await import('../../../src/protocol/journal.ts');
    const base = { operation: 'EnableEncryption' as const, volumeType: 'Data' as const, keyVaultUrl: 'https://kv.vault.azure.net/' };
    expect(withoutSecrets({ ...base, identity: { kind: 'aad', clientId: 'c', secret: 's3cret' }, passphrase: 'my passphrase' }))
      .toEqual({ ...base, identity: { kind: 'aad', clientId: 'c' } });
    expect(withoutSecrets({ ...base, identity: { kind: 'user', clientId: 'c' } })).toEqual({ ...base, identity: { kind: 'user', clientId: 'c' } });
  });
});
