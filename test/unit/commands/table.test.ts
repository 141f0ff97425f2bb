// The command table is the contract with the agent: HandlerManifest.json names exactly the agent's
// commands, and only the commands the table lets write a status can write one.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, statusReporter } from '../../../src/commands/index.ts';
import { parseHandlerEnvironment } from '../../../src/protocol/handler-env.ts';
import { readStatus } from '../../../src/protocol/status.ts';
import { memoryLogger } from '../../helpers/memory-log.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('the command table', () => {
  it('HandlerManifest.json runs exactly the commands the table gives the agent, through bin/ade-shim', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'HandlerManifest.json'), 'utf8')) as Array<{ handlerManifest: Record<string, unknown> }>;
    const commands = Object.entries(manifest[0]!.handlerManifest).filter(([k]) => k.endsWith('Command')).map(([, v]) => String(v));
    const agent = Object.entries(COMMANDS).filter(([, c]) => c.agent).map(([n]) => `bin/ade-shim ${n}`);
    expect(commands.sort()).toEqual(agent.sort());
  });

  it('only enable and the worker may write a status', () => {
    expect(Object.entries(COMMANDS).filter(([, c]) => c.writesStatus).map(([n]) => n).sort()).toEqual(['enable', 'worker']);
  });

  it.each(Object.keys(COMMANDS))('%s gets a status writer that does what the table says', (name) => {
    const d = mkdtempSync(join(tmpdir(), 'ade-table-'));
    const he = parseHandlerEnvironment(JSON.stringify([{ name: 'AdeLinux.DiskEncryption', handlerEnvironment: {
      logFolder: join(d, 'log'), configFolder: join(d, 'lib/ext/config'), statusFolder: join(d, 'status'),
    } }]), join(d, 'ext'));
    const log = memoryLogger();
    statusReporter(name, COMMANDS[name]!, he, 3, log)({ operation: 'Enable', status: 'success', code: 0, message: 'done' });
    if (COMMANDS[name]!.writesStatus) {
      expect(readStatus(he.statusFolder, 3)).toEqual({ operation: 'Enable', status: 'success', code: 0, message: 'done' });
    } else {
      expect(() => readdirSync(he.statusFolder)).toThrow(/ENOENT/);
      expect(log.lines.some((l) => l.includes(`${name} may not write a status`))).toBe(true);
    }
  });
});
