// The Runner's stop signal on real processes: aborting sends SIGTERM and waits for the child to end by
// itself (cryptsetup needs the time to finish its hotzone), reporting the child's own exit, never a SIGKILL
// that execa would otherwise send 5 s after the SIGTERM.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/system/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'ade-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Waits until the child says its handler is installed (a file appears), then aborts. */
async function abortWhenReady(ready: string, stop: AbortController): Promise<void> {
  while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 10));
  stop.abort();
}

describe('run() with a signal', () => {
  it('aborting sends SIGTERM and returns the exit of the child\'s own handler, even one slower than 5 s', async () => {
    const ready = join(dir, 'ready');
    const stop = new AbortController();
    // The handler outlives execa's default force-kill delay (5 s): a SIGKILL would lose "stopped" and exit 3.
    const script = `trap 'echo stopping; sleep 5.5; echo stopped; exit 3' TERM; : > "$1"; while :; do sleep 0.05; done`;
    const child = run('sh', ['-c', script, 'sh', ready], { signal: stop.signal });
    await abortWhenReady(ready, stop);
    const r = await child;
    expect(r).toMatchObject({ exitCode: 3, stdout: 'stopping\nstopped\n' });
  }, 30_000);

  it('a signal that never aborts changes nothing', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2; exit 4'], { signal: new AbortController().signal });
    expect(r).toEqual({ exitCode: 4, stdout: 'out\n', stderr: 'err\n' });
  });

  it('a child the SIGTERM kills outright is reported as not finished (127), not as success', async () => {
    const ready = join(dir, 'ready2');
    const stop = new AbortController();
    const child = run('sh', ['-c', ': > "$1"; while :; do sleep 0.05; done', 'sh', ready], { signal: stop.signal });
    await abortWhenReady(ready, stop);
    expect((await child).exitCode).toBe(127);
  });
});
