// The Managed Run Command bootstrap: how the extension reaches a VM when its publisher is not registered with
// Azure (README, "Distribution"). A run command runs BOOTSTRAP_SCRIPT as root with bash; its parameters arrive
// as environment variables (Azure/run-command-handler-linux, internal/exec/exec.go). The script installs the
// package as the guest agent installs an extension (its own folder, HandlerEnvironment.json, N.settings with
// the public settings), runs the handler's command with the agent's environment, waits for the first terminal
// status as ARM would, and prints it on one line: the run command's instance view keeps the last 4 KB of
// output, which is where the CLI reads it. Pure.
import { AdeError } from '../shared/errors.ts';

/** Where the bootstrap installs packages: its own folder, never the agent's (which deletes what it did not install). */
export const BOOTSTRAP_ROOT = '/var/lib/ade-linux-bootstrap';
export const STATUS_MARK = 'ADE_LINUX_STATUS ';
/** Inside ARM's 90-minute budget for the whole run command; the handler reports a terminal status in seconds. */
export const RUN_COMMAND_TIMEOUT_S = 5400;

export const BOOTSTRAP_SCRIPT = `#!/bin/bash
# ade-linux bootstrap (Azure Managed Run Command, as root). Parameters: ADE_OP (enable|disable|status),
# ADE_PACKAGE_URL, ADE_PACKAGE_SHA256, ADE_PACKAGE_VERSION, ADE_SETTINGS (the public settings, JSON).
set -u
root=${BOOTSTRAP_ROOT}
say() { echo "ade-linux bootstrap: $*" >&2; }
newest_dir() { ls -d "$root"/*-[0-9]*/ 2>/dev/null | sort -V | tail -n 1 | sed 's:/$::'; }
newest_seq() { ls "$1/config" 2>/dev/null | sed -n 's/^\\([0-9][0-9]*\\)\\.settings$/\\1/p' | sort -n | tail -n 1; }
print_status() { [ -s "$1" ] || return 1; printf '${STATUS_MARK}%s\\n' "$(tr -d '\\n' < "$1")"; }
if [ "$ADE_OP" = status ]; then
  dir=$(newest_dir); seq=$([ -n "$dir" ] && newest_seq "$dir")
  [ -n "$seq" ] || { say "ade-linux was never run on this VM by the bootstrap"; exit 3; }
  print_status "$dir/status/$seq.status" || { say "no status for sequence $seq yet"; exit 3; }
  exit 0
fi
case "$ADE_PACKAGE_URL" in https://*) ;; *) say "the package URL must be https"; exit 2 ;; esac
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
curl -fsS --retry 3 --retry-all-errors -o "$tmp/package.zip" "$ADE_PACKAGE_URL" || { say "cannot download $ADE_PACKAGE_URL"; exit 2; }
echo "$ADE_PACKAGE_SHA256  $tmp/package.zip" | sha256sum -c --status || { say "the package's sha256 is $(sha256sum < "$tmp/package.zip" | cut -d' ' -f1), not $ADE_PACKAGE_SHA256: not installed"; exit 2; }
mkdir -p "$tmp/x" && { python3 -m zipfile -e "$tmp/package.zip" "$tmp/x" 2>/dev/null || unzip -q -o "$tmp/package.zip" -d "$tmp/x"; } || { say "cannot unpack the package (python3 or unzip needed)"; exit 2; }
name=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$tmp/x/HandlerManifest.json" | head -n 1)
cmd=$(sed -n "s/.*\\"\${ADE_OP}Command\\"[[:space:]]*:[[:space:]]*\\"\\([^\\"]*\\)\\".*/\\1/p" "$tmp/x/HandlerManifest.json" | head -n 1)
[ -n "$name" ] && [ -n "$cmd" ] || { say "the package has no HandlerManifest.json with $ADE_OP"; exit 2; }
dir="$root/$name-$ADE_PACKAGE_VERSION"
fresh=0
if [ ! -d "$dir" ]; then
  mkdir -p -m 700 "$root" && chmod -R u+x "$tmp/x" && mv "$tmp/x" "$dir" || { say "cannot install into $dir"; exit 2; }
  fresh=1
fi
logs="/var/log/azure/$name"
mkdir -p -m 700 "$dir/config" "$dir/status" "$logs/events"
cat > "$dir/HandlerEnvironment.json" <<EOF
[{"name": "$name", "version": 1.0, "handlerEnvironment": {"logFolder": "$logs", "configFolder": "$dir/config", "statusFolder": "$dir/status", "heartbeatFile": "$dir/heartbeat.log", "eventsFolder": "$logs/events"}}]
EOF
last=$(newest_seq "$dir"); seq=$(( \${last:--1} + 1 ))
printf '{"runtimeSettings":[{"handlerSettings":{"publicSettings":%s,"protectedSettings":null,"protectedSettingsCertThumbprint":null}}]}' "$ADE_SETTINGS" > "$dir/config/$seq.settings"
run() { ( cd "$dir" && env -u ADE_SETTINGS -u ADE_PACKAGE_URL -u ADE_PACKAGE_SHA256 AZURE_GUEST_AGENT_EXTENSION_PATH="$dir" AZURE_GUEST_AGENT_EXTENSION_VERSION="$ADE_PACKAGE_VERSION" ConfigSequenceNumber="$seq" /bin/sh -c "$dir/$1" ); }
if [ "$fresh" = 1 ]; then run "$(sed -n 's/.*"installCommand"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$dir/HandlerManifest.json")" || { say "install failed"; exit 1; }; fi
run "$cmd"; rc=$?
say "$ADE_OP (sequence $seq) exited $rc"
i=0
while [ "$i" -lt $(( ${RUN_COMMAND_TIMEOUT_S} - 120 )) ]; do
  if grep -q '"status" *: *"\\(success\\|error\\)"' "$dir/status/$seq.status" 2>/dev/null; then
    print_status "$dir/status/$seq.status"
    grep -q '"status" *: *"success"' "$dir/status/$seq.status" && exit 0
    exit 1
  fi
  sleep 5; i=$((i + 5))
done
say "no terminal status for sequence $seq"; print_status "$dir/status/$seq.status"; exit 1
`;

export interface PackageRef { url: string; sha256: string; version: string }

/** --package-url and --package-sha256, checked before anything is sent; the version from the zip's name. */
export function packageRef(url: string | undefined, sha256: string | undefined, command: string): PackageRef {
  if (!url || !/^https:\/\//i.test(url)) throw new AdeError('CliUsage', { problem: '--via run-command needs --package-url, an https URL of the package zip the VM can download', command });
  if (!sha256 || !/^[0-9a-f]{64}$/i.test(sha256)) throw new AdeError('CliUsage', { problem: '--via run-command needs --package-sha256, the zip\'s sha256 (64 hex digits): the VM runs what it downloads as root', command });
  const m = /-(\d+\.\d+\.\d+(?:\.\d+)?)(?:-[a-z0-9]+)?\.zip$/i.exec(new URL(url).pathname);
  if (!m) throw new AdeError('CliUsage', { problem: `the package's file name must carry its version, as npm run package names it (AdeLinux.DiskEncryption-1.1.0.zip), not ${url}`, command });
  return { url, sha256: sha256.toLowerCase(), version: m[1]! };
}

export type BootstrapOp = 'enable' | 'disable' | 'status';

/** The run command resource's body (api: virtualMachines/runCommands). Nothing in it is secret. */
export function runCommandBody(op: BootstrapOp, pkg: PackageRef | undefined, settings: Record<string, unknown> | undefined, location: string): Record<string, unknown> {
  const p = (name: string, value: string) => ({ name, value });
  return {
    location, source: { script: BOOTSTRAP_SCRIPT }, asyncExecution: false, timeoutInSeconds: RUN_COMMAND_TIMEOUT_S, treatFailureAsDeploymentFailure: false,
    parameters: [p('ADE_OP', op), ...(pkg ? [p('ADE_PACKAGE_URL', pkg.url), p('ADE_PACKAGE_SHA256', pkg.sha256), p('ADE_PACKAGE_VERSION', pkg.version)] : []),
      ...(settings ? [p('ADE_SETTINGS', JSON.stringify(settings))] : [])],
  };
}

/** The handler's status file from the run command's output (its last line that carries one). */
export function statusFromOutput(output: string): unknown {
  const line = output.split('\n').reverse().find((l) => l.startsWith(STATUS_MARK));
  if (!line) return undefined;
  try { return JSON.parse(line.slice(STATUS_MARK.length)) as unknown; } catch { return undefined; }
}
