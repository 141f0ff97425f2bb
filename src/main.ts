// Entry point: bin/ade-shim runs `node handler.mjs <command>`. Gathers the context, runs the command from
// the table, and turns any failure into a log line and a non-zero exit the agent records.
import { join } from 'node:path';
import { COMMANDS, statusReporter } from './commands/index.ts';
import type { Context } from './commands/context.ts';
import { asAdeError } from './shared/errors.ts';
import { handlerEnvPath, loadHandlerEnvironment } from './protocol/handler-env.ts';
import { fileLogger } from './shared/log.ts';
import { currentSequence } from './protocol/seqnum.ts';
import { startDetached } from './system/detach.ts';
import { run } from './system/exec.ts';
import { VERSION } from './shared/version.ts';

async function main(argv: string[]): Promise<number> {
  const name = argv[0] ?? '';
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`usage: ade-shim <${Object.entries(COMMANDS).filter(([, c]) => c.agent).map(([n]) => n).join('|')}>\n`);
    return 2;
  }
  const handlerEnv = await loadHandlerEnvironment(handlerEnvPath(process.env, process.cwd()));
  const log = fileLogger({ folder: handlerEnv.logFolder, source: name });
  const seq = currentSequence(process.env, handlerEnv.configFolder) ?? 0;
  const ctx: Context = {
    handlerEnv, seq, log, run,
    detach: (req) => startDetached(run, req),
    report: statusReporter(name, command, handlerEnv, seq, log),
    processEnv: process.env,
    version: VERSION,
    self: { node: process.execPath, script: process.argv[1] ?? '' },
  };
  try {
    return await command.run(ctx);
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
