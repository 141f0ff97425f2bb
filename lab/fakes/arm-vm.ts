// Microsoft.Compute virtual machines and their extensions: GET (with $expand=instanceView), the instance view,
// the lists, and the writes, each a long-running operation as Compute runs it. An extension write is decided
// by the test (onExtensionPut); while it runs, the instance view shows the extension transitioning; when the
// handler fails, the VM itself turns Failed with VMExtensionProvisioningError, as on Azure.
import { randomUUID } from 'node:crypto';
import * as E from './arm-errors.ts';
import type { Settled } from './arm-ops.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type ExtensionState, type Json, type Machine, deepMerge, groupId, key, newMachine, props, providerId } from './arm-store.ts';
import { extensionBody, machineBody, machineView } from './arm-views.ts';

const VM = 'Microsoft.Compute/virtualMachines';
const expanded = (c: Call) => c.query.get('$expand')?.toLowerCase() === 'instanceview';
/** What a client may not write: ARM computes these itself. */
const READ_ONLY = ['provisioningState', 'instanceView', 'vmId', 'timeCreated'];

/**
 * The resource group, then the resource of `type` named by the call in `map`: ARM's 404s in ARM's order.
 * `asParentOf` names the child type asked for.
 */
export function findIn<T>(e: Engine, c: Call, type: string, map: ReadonlyMap<string, T>, asParentOf?: string): T | Reply {
  const rg = e.store.groupName(c.sub, c.rg);
  if (rg === undefined) return E.resourceGroupNotFound(c.rg);
  const id = providerId(c.sub, c.rg, type, c.names[0]!);
  const found = map.get(key(id));
  if (found) return found;
  return asParentOf ? E.parentNotFound(c.verb, asParentOf, id) : E.resourceNotFound(`${type}/${c.names[0]!}`, rg);
}
export const findVm = (e: Engine, c: Call, asParentOf?: string): Machine | Reply => findIn(e, c, VM, e.store.machines, asParentOf);
export const isReply = (x: unknown): x is Reply => typeof x === 'object' && x !== null && 'status' in x;

function writableProps(body: Json): Json {
  const p = { ...((body['properties'] ?? {}) as Json) };
  for (const k of READ_ONLY) delete p[k];
  return p;
}

function writeVm(e: Engine, c: Call): Reply {
  let m = e.store.machines.get(key(providerId(c.sub, c.rg, VM, c.names[0]!)));
  const created = !m;
  if (!m) {
    if (c.method === 'PATCH') return findVm(e, c) as Reply;
    if (e.store.groupName(c.sub, c.rg) === undefined) return E.resourceGroupNotFound(c.rg);
    if (typeof c.body['location'] !== 'string') return E.invalidParameter('The location property is required for this definition.', 'location');
    const id = providerId(c.sub, c.rg, VM, c.names[0]!);
    m = newMachine(id, { name: c.names[0], id, type: VM, location: c.body['location'], properties: { vmId: randomUUID(), timeCreated: new Date().toISOString() } });
    e.store.machines.set(key(id), m);
  }
  deepMerge(props(m.body), writableProps(c.body));
  for (const k of ['tags', 'identity', 'zones'] as const) if (c.body[k] !== undefined) m.body[k] = structuredClone(c.body[k]);
  props(m.body)['provisioningState'] = created ? 'Creating' : 'Updating';
  const vm = m;
  const op = e.operation(c, String(vm.body['location']), 'succeeded', () => {
    props(vm.body)['provisioningState'] = 'Succeeded';
    delete vm.failure;
    return undefined;
  });
  return { status: created ? 201 : 200, body: machineBody(vm, false), headers: op.headers };
}

function listVms(e: Engine, c: Call): Reply {
  const prefix = c.rg ? `${key(groupId(c.sub, c.rg))}/providers/microsoft.compute/virtualmachines/` : `/subscriptions/${key(c.sub)}/`;
  if (c.rg && e.store.groupName(c.sub, c.rg) === undefined) return E.resourceGroupNotFound(c.rg);
  const value = [...e.store.machines.values()].filter((m) => key(m.id).startsWith(prefix)).map((m) => machineBody(m, false));
  return { status: 200, body: { value } };
}

function findExtension(e: Engine, c: Call): { m: Machine; x: ExtensionState } | Reply {
  const m = findVm(e, c, 'virtualMachines/extensions');
  if (isReply(m)) return m;
  const x = m.extensions.get(key(c.names[1]!));
  return x ? { m, x } : E.resourceNotFound(`${VM}/${c.names[0]!}/extensions/${c.names[1]!}`, e.store.groupName(c.sub, c.rg)!);
}

/** The properties of the extension after this write; an error when a new one lacks what Compute requires. */
function extensionProps(c: Call, existing: ExtensionState | undefined): Json | Reply {
  const given = writableProps(c.body);
  delete given['protectedSettings'];
  const merged = { ...(existing ? props(existing.body) : {}), ...given };
  for (const required of ['publisher', 'type', 'typeHandlerVersion']) {
    if (merged[required] === undefined) return E.invalidParameter(`Required parameter '${required}' is missing (null).`, required);
  }
  return merged;
}

function writeExtension(e: Engine, c: Call): Reply {
  const m = findVm(e, c, 'virtualMachines/extensions');
  if (isReply(m)) return m;
  const name = c.names[1]!;
  const existing = m.extensions.get(key(name));
  if (!existing && c.method === 'PATCH') return E.resourceNotFound(`${VM}/${m.body['name'] as string}/extensions/${name}`, e.store.groupName(c.sub, c.rg)!);
  if (m.powerState !== 'running') return { status: 409, body: { error: { code: 'OperationNotAllowed', message: 'Cannot modify extensions in the VM when the VM is not running.' } } };
  const p = extensionProps(c, existing);
  if (isReply(p)) return p;
  if (existing?.activeOp && e.running(existing.activeOp)) e.cancel(existing.activeOp, E.preempted);
  const id = `${m.id}/extensions/${name}`;
  const x: ExtensionState = existing ?? { body: {} };
  x.body = { name: existing?.body['name'] ?? name, id, type: `${VM}/extensions`, location: c.body['location'] ?? m.body['location'], ...(c.body['tags'] ? { tags: c.body['tags'] } : {}), properties: { ...p, provisioningState: existing ? 'Updating' : 'Creating' } };
  if ((c.body['properties'] as Json | undefined)?.['protectedSettings'] !== undefined) x.protectedSettings = structuredClone((c.body['properties'] as Json)['protectedSettings']);
  delete x.failure;
  m.extensions.set(key(name), x);
  m.reported.delete(key(name)); // the agent has not reported on this sequence number yet
  props(m.body)['provisioningState'] = 'Updating';
  const decision = e.extensionDecision(m.id, { ...structuredClone(x.body), ...(x.protectedSettings !== undefined ? { protectedSettings: structuredClone(x.protectedSettings) } : {}) });
  const op = e.operation(c, String(m.body['location']), decision, (s) => finishExtension(m, x, s));
  x.activeOp = op.id;
  return { status: existing ? 200 : 201, body: extensionBody(m, x, false), headers: op.headers };
}

function finishExtension(m: Machine, x: ExtensionState, s: Settled) {
  delete x.activeOp;
  props(x.body)['provisioningState'] = s.ok ? 'Succeeded' : 'Failed';
  props(m.body)['provisioningState'] = s.ok ? 'Succeeded' : 'Failed';
  if (s.ok) { delete m.failure; return undefined; }
  const p = props(x.body);
  x.failure = s.failure;
  m.failure = { code: 'VMExtensionProvisioningError', message: E.extensionFailureMessage(String(x.body['name']), String(p['publisher']), String(p['type']), s.failure.message) };
  return m.failure;
}

function deleteExtension(e: Engine, c: Call): Reply {
  const found = findExtension(e, c);
  if (isReply(found)) return found.status === 404 && found.body && (found.body as E.ArmErrorBody).error.code === 'ResourceNotFound' ? { status: 204 } : found;
  const { m, x } = found;
  props(x.body)['provisioningState'] = 'Deleting';
  const op = e.operation(c, String(m.body['location']), 'succeeded', () => {
    m.extensions.delete(key(String(x.body['name'])));
    m.reported.delete(key(String(x.body['name'])));
    return undefined;
  }, true);
  return { status: 202, headers: op.headers };
}

function getExtension(e: Engine, c: Call): Reply {
  const found = findExtension(e, c);
  return isReply(found) ? found : { status: 200, body: extensionBody(found.m, found.x, expanded(c)) };
}

function listExtensions(e: Engine, c: Call): Reply {
  const m = findVm(e, c, 'virtualMachines/extensions');
  return isReply(m) ? m : { status: 200, body: { value: [...m.extensions.values()].map((x) => extensionBody(m, x, expanded(c))) } };
}

function getVm(e: Engine, c: Call): Reply {
  const m = findVm(e, c);
  return isReply(m) ? m : { status: 200, body: machineBody(m, expanded(c)) };
}

function vmInstanceView(e: Engine, c: Call): Reply {
  const m = findVm(e, c);
  return isReply(m) ? m : { status: 200, body: machineView(m) };
}

export const VM_ROUTES: Route[] = [
  { type: VM, inGroup: false, names: 0, methods: { GET: listVms } },
  { type: VM, inGroup: true, names: 0, methods: { GET: listVms } },
  { type: VM, inGroup: true, names: 1, methods: { GET: getVm, PUT: writeVm, PATCH: writeVm } },
  { type: `${VM}/instanceView`, inGroup: true, names: 1, methods: { GET: vmInstanceView } },
  { type: `${VM}/extensions`, inGroup: true, names: 1, methods: { GET: listExtensions } },
  { type: `${VM}/extensions`, inGroup: true, names: 2, methods: { GET: getExtension, PUT: writeExtension, PATCH: writeExtension, DELETE: deleteExtension } },
];
