// Run by test/integration/keys-env.test.ts as a separate Node process whose environment holds ONLY the
// variables documented in src/keys/README.md: proves a detached worker reaches the fakes by configuration
// alone. Reads {settings, volume, machineName} as JSON on stdin; prints the result (passphrase as SHA-256).
import { createHash } from 'node:crypto';
import { memoryLogger } from './memory-log.ts';
import { fetchKey } from '../../src/keys/index.ts';
import { escrowKey } from './escrow.ts';
import { blockedConnections, installNetworkGuard } from '../../lab/fakes/env.ts';

installNetworkGuard();
let input = '';
for await (const c of process.stdin) input += c;
const { settings, volume, machineName } = JSON.parse(input);
const log = memoryLogger();
try {
  const r = await escrowKey({ settings, volume, machineName, log });
  const back = await fetchKey({ settings, secretUrl: r.secretUrl, log });
  process.stdout.write(JSON.stringify({
    ok: true, secretUrl: r.secretUrl, kekUrl: r.kekUrl, sha256: createHash('sha256').update(r.passphrase).digest('hex'),
    fetchedMatches: back.equals(r.passphrase), blockedConnections, logLines: log.lines.length,
  }));
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).message, code: (e as { code?: number }).code, blockedConnections }));
}
