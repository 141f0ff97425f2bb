// Managed Run Commands (Microsoft.Compute/virtualMachines/runCommands): PUT runs the script, as a long-running
// operation that ends when the script does (asyncExecution false); GET with $expand=instanceView shows its
// state, exit code and the last 4 KB of stdout and stderr, as Azure/run-command-handler-linux reports them
// (internal/cmds/cmds.go maxTailLen, internal/types/instanceview.go); DELETE removes it. What the script does
// is the test's: onRunCommandPut runs it (the lab runs it in a guest) and says how it ended.
import * as E from './arm-errors.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type Json, type RunCommandState, type ScriptRun, key, props } from './arm-store.ts';
import { findVm, isReply } from './arm-vm.ts';

const VM = 'Microsoft.Compute/virtualMachines';
const TAIL = 4096;

const tail = (s: string) => (Buffer.byteLength(s) > TAIL ? Buffer.from(s).subarray(-TAIL).toString() : s);

function instanceView(r: ScriptRun | undefined, startTime: string): Json {
  if (!r) return { executionState: 'Running', executionMessage: 'Execution in progress', output: '', error: '', startTime };
  const ok = r.exitCode === 0;
  return {
    executionState: ok ? 'Succeeded' : 'Failed', executionMessage: ok ? 'Execution completed' : `Execution failed: failed to execute command: command terminated with exit status=${r.exitCode}`,
    exitCode: r.exitCode, output: tail(r.output), error: tail(r.error), startTime, endTime: new Date().toISOString(),
  };
}

function writeRunCommand(e: Engine, c: Call): Reply {
  const m = findVm(e, c, 'virtualMachines/runCommands');
  if (isReply(m)) return m;
  const p = (c.body['properties'] ?? {}) as Json;
  const source = (p['source'] ?? {}) as Json;
  if (typeof c.body['location'] !== 'string') return E.invalidParameter('The location property is required for this definition.', 'location');
  if (typeof source['script'] !== 'string' && typeof source['scriptUri'] !== 'string' && typeof source['commandId'] !== 'string') {
    return E.invalidParameter('Run command source must have one of script, scriptUri or commandId.', 'source');
  }
  const id = `${m.id}/runCommands/${c.names[1]!}`;
  const body: Json = { name: c.names[1], id, type: `${VM}/runCommands`, location: c.body['location'], properties: { ...structuredClone(p), provisioningState: 'Creating' } };
  delete props(body)['protectedParameters']; // never returned, as protectedSettings
  const rc: RunCommandState = { body, startTime: new Date().toISOString() };
  e.store.runCommands.set(key(id), rc);
  const decision = e.runCommandDecision(m.id, c.names[1]!, p).then((r: ScriptRun) => { rc.result = r; return undefined; });
  const op = e.operation(c, String(m.body['location']), decision, () => {
    const failed = p['treatFailureAsDeploymentFailure'] === true && rc.result !== undefined && rc.result.exitCode !== 0;
    props(body)['provisioningState'] = failed ? 'Failed' : 'Succeeded';
    return failed ? { code: 'VMExtensionProvisioningError', message: `Run command failed with exit code ${rc.result!.exitCode}` } : undefined;
  });
  return { status: 201, body: view(rc, false), headers: op.headers };
}

function view(rc: RunCommandState, expand: boolean): Json {
  const out = structuredClone(rc.body);
  if (expand) props(out)['instanceView'] = instanceView(rc.result, rc.startTime);
  return out;
}

function found(e: Engine, c: Call): RunCommandState | Reply {
  const m = findVm(e, c, 'virtualMachines/runCommands');
  if (isReply(m)) return m;
  return e.store.runCommands.get(key(`${m.id}/runCommands/${c.names[1]!}`)) ?? E.resourceNotFound(`${VM}/${c.names[0]!}/runCommands/${c.names[1]!}`, e.store.groupName(c.sub, c.rg)!);
}

function getRunCommand(e: Engine, c: Call): Reply {
  const r = found(e, c);
  return isReply(r) ? r : { status: 200, body: view(r, c.query.get('$expand')?.toLowerCase() === 'instanceview') };
}

function deleteRunCommand(e: Engine, c: Call): Reply {
  const r = found(e, c);
  if (isReply(r)) return r.status === 404 ? { status: 204 } : r;
  const op = e.operation(c, String(r.body['location']), 'succeeded', () => { e.store.runCommands.delete(key(String(r.body['id']))); return undefined; }, true);
  return { status: 202, headers: op.headers };
}

export const RUN_COMMAND_ROUTES: Route[] = [
  { type: `${VM}/runCommands`, inGroup: true, names: 2, methods: { GET: getRunCommand, PUT: writeRunCommand, DELETE: deleteRunCommand } },
];
