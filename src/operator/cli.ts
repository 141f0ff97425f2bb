// The operator CLI's entry point, bundled as build/out/cli.mjs and run by bin/ade-linux.
import { main } from './main.ts';

process.exitCode = await main({
  argv: process.argv.slice(2), env: process.env, isTty: process.stderr.isTTY === true,
  stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s),
});
