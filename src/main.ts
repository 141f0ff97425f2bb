// Entry point: bin/ade-shim runs `node handler.mjs <command>`. Gathers the context, runs the command from
// the table, and turns any failure into a log line and a non-zero exit the agent records.
import { join } from 'node:path';
import { COMMANDS } from './extension/commands.ts';
import type { Context } from './extension/context.ts';
import { asAdeError } from './extension/errors.ts';
import { handlerEnvPath, loadHandlerEnvironment } from './extension/handler-env.ts';
import { fileLogger } from './extension/log.ts';
import { currentSequence } from './extension/seqnum.ts';
import { run } from './system/exec.ts';
import { VERSION } from './version.ts';

async function main(argv: string[]): Promise<number> {
  const name = argv[0] ?? '';
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`usage: ade-shim <${Object.keys(COMMANDS).filter((c) => c !== 'worker' && c !== 'unlock').join('|')}>\n`);
    return 2;
  }
  const handlerEnv = await loadHandlerEnvironment(handlerEnvPath(process.env, process.cwd()));
  const log = fileLogger({ folder: handlerEnv.logFolder, source: name });
  const ctx: Context = {
    handlerEnv,
    seq: currentSequence(process.env, handlerEnv.configFolder) ?? 0,
    log,
    run,
    processEnv: process.env,
    version: VERSION,
    self: { node: process.execPath, script: process.argv[1] ?? '' },
  };
  try {
    return await command(ctx);
  } catch (e) {
    const err = asAdeError(e, join(handlerEnv.logFolder, 'extension.log'));
    log.error(`${name} failed`, { code: err.code, message: err.message, stack: e instanceof Error ? e.stack : undefined });
    process.stderr.write(`${name} failed: ${err.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ade-linux: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
