// Project-wide promises: the code type-checks, README's generated tables match the code, error codes are unique.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdeError, ERRORS, formatMessage } from '../../src/shared/errors.ts';

const root = join(import.meta.dirname, '..', '..');

describe('project', () => {
  it('type-checks (tsc strict)', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('README.md settings and error tables are generated from the current schemas and error table', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts/readme.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('src/protocol/validators.generated.js is compiled from the current schemas', () => {
    const r = spawnSync(process.execPath, [join(root, 'build/validators.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('gives every error its own code', () => {
    const codes = Object.values(ERRORS).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('fills message placeholders and leaves unknown ones visible', () => {
    expect(formatMessage('a {x} b {y}', { x: 1 })).toBe('a 1 b {y}');
    const e = new AdeError('UnsupportedOperation', { value: 'Nope' });
    expect([e.code, e.status, e.message]).toEqual([53, 'error', 'EncryptionOperation "Nope" is not supported. Use one of: EnableEncryption, EnableEncryptionFormatAll, DisableEncryption, QueryEncryptionStatus.']);
  });
});
