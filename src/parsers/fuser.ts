// Who keeps a mount busy: the table `fuser -vm <mountpoint>` prints. Pure.

export interface MountUser { pid: number; user: string; command: string }

/**
 * `fuser -vm <mp>` writes its table to stderr: a header, then per process `USER PID ACCESS COMMAND`,
 * the first row prefixed by the mount point; the kernel's own "mount" row has no PID.
 */
export function parseFuser(text: string): MountUser[] {
  const out: MountUser[] = [];
  for (const line of text.split('\n')) {
    const m = /(\S+)\s+(\d+)\s+[.a-zA-Z]{5}\s+(.+?)\s*$/.exec(line.replace(/^\S+:\s+/, ''));
    if (m) out.push({ user: m[1]!, pid: Number(m[2]), command: m[3]! });
  }
  return out;
}
