// Single Debian packages for the lab's guests, fetched on the host: guests have no network, so a test that
// installs a package in a guest downloads its .deb here (`apt-get download`, the host's apt sources are the
// rootfs's mirrors), caches it in ${ADE_LAB_CACHE}/debs/ and copies it in (vm.copyIn, then dpkg -i).
//
//   const deb = await hostDeb('linux-image-6.1.0-57-cloud-amd64', '6.1.192-3');
//   await vm.copyIn(deb, `/var/cache/lab-debs/${path.basename(deb)}`);
//
// "Erasable" TypeScript, node built-ins only, like the rest of lab/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir } from './images.ts';
import { labLog, run, withLock } from './util.ts';

/** The host apt's candidate version of a package, or undefined when it has none. */
async function candidate(pkg: string): Promise<string | undefined> {
  const r = await run('apt-cache', ['policy', pkg], { allowFail: true });
  const c = /^\s+Candidate:\s+(\S+)/m.exec(r.stdout);
  return c && c[1] !== '(none)' ? c[1] : undefined;
}

/**
 * Host path of `pkg`'s .deb (`version`, else the host apt's candidate), downloaded once into
 * ${ADE_LAB_CACHE}/debs/ with `apt-get download`. `apt-get update` runs only when the download (or the
 * version lookup) fails, then the download is tried once more.
 */
export async function hostDeb(pkg: string, version?: string): Promise<string> {
  const dir = path.join(cacheDir(), 'debs');
  fs.mkdirSync(dir, { recursive: true });
  // apt-get download names files package_version_arch.deb, with an epoch's ':' as %3a
  const find = (v: string): string | undefined => {
    const prefix = `${pkg}_${v.replace(/:/g, '%3a')}_`;
    const f = fs.readdirSync(dir).find((n) => n.startsWith(prefix) && n.endsWith('.deb'));
    return f && path.join(dir, f);
  };
  if (version && find(version)) return find(version)!;
  return withLock(path.join(dir, `.lock-${pkg}`), `the ${pkg} .deb`, async () => {
    const attempt = async (): Promise<{ file?: string; error: string }> => {
      const v = version ?? await candidate(pkg);
      if (!v) return { error: `apt on the host has no candidate for ${pkg}` };
      const have = find(v);
      if (have) return { file: have, error: '' };
      labLog(`downloading ${pkg} ${v} into ${dir}`);
      const r = await run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', `${pkg}=${v}`], { cwd: dir, allowFail: true });
      const f = find(v);
      return f ? { file: f, error: '' } : { error: `apt-get download ${pkg}=${v} failed (code ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}` };
    };
    const first = await attempt();
    if (first.file) return first.file;
    labLog(`${first.error}; running apt-get update and trying again`);
    await run('apt-get', ['update', '-q'], { allowFail: true });
    const second = await attempt();
    if (second.file) return second.file;
    throw new Error(`${second.error} (after apt-get update; first attempt: ${first.error})`);
  });
}
