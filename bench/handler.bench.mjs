// How fast the packaged handler answers the agent, against the floor of starting its own Node runtime:
// enable_to_transitioning_ms — enable starts → status/<seq>.status says "transitioning" (target < 300 ms);
// reenable_noop_ms — an enable for a sequence number already handled (every reboot and goal state), start → exit.
// Baseline for both: `node -e 0` with the shipped runtime, the same process start the handler pays anyway.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeAgent } from '../lab/agent/agent.mjs';
import { makePackage, zipPath } from '../build/package.mjs';

const RUNS = 15;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const SETTINGS = {
  EncryptionOperation: 'EnableEncryption', VolumeType: 'Data',
  KeyVaultURL: 'https://bench-kv.vault.azure.net/',
  KeyVaultResourceId: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/bench-kv',
};

function waitForTransitioning(path, folder) {
  return new Promise((resolve) => {
    const done = () => {
      try { if (JSON.parse(readFileSync(path, 'utf8'))[0].status.status === 'transitioning') { w.close(); resolve(performance.now()); return true; } } catch { /* not there yet */ }
      return false;
    };
    const w = watch(folder, () => done());
    done();
  });
}

export async function run() {
  if (!existsSync(zipPath())) await makePackage({ arches: ['x64'] });
  const root = mkdtempSync(join(tmpdir(), 'ade-bench-'));
  try {
    const agent = new FakeAgent({ root: join(root, 'var/lib/waagent'), logRoot: join(root, 'var/log/azure') });
    const { ext } = await agent.deploy(zipPath(), { publicSettings: { EncryptionOperation: 'QueryEncryptionStatus' } });
    const node = join(ext.dir, 'build', 'node');
    const baseline = [];
    for (let i = 0; i < RUNS; i++) { const t = performance.now(); spawnSync(node, ['-e', '0']); baseline.push(performance.now() - t); }
    const transitioning = [];
    const noop = [];
    for (let i = 0; i < RUNS; i++) {
      const seq = agent.writeSettings(ext, { publicSettings: SETTINGS });
      const t0 = performance.now();
      const seen = waitForTransitioning(agent.statusPath(ext, seq), ext.statusFolder);
      await agent.run(ext, 'enable');
      transitioning.push((await seen) - t0);
      await agent.waitTerminal(ext, seq, 60);
      const t1 = performance.now();
      await agent.run(ext, 'enable');
      noop.push(performance.now() - t1);
    }
    const b = median(baseline);
    const metric = (xs) => ({ value: round(median(xs)), unit: 'ms', baseline: round(b), ratio: round(median(xs) / b, 2), note: 'node -e 0 (shipped runtime)' });
    return { enable_to_transitioning_ms: metric(transitioning), reenable_noop_ms: metric(noop) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
