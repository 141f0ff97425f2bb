// Microsoft.Resources/deployments at resource-group scope: PUT (a long-running operation polled at the
// deployment's operationStatuses URL, as ARM does), GET. The template is checked and evaluated first
// (arm-deploy-template.ts: an invalid one is a 400 InvalidTemplate and nothing is deployed); then each VM
// extension in it is written through the same handler a direct extension PUT takes, so onExtensionPut decides
// it and the VM shows it, and the deployment ends as its resources end: Succeeded, or Failed with ARM's
// DeploymentFailed whose details hold each resource's error. This fake models no other resource type, and no
// Complete mode (which would delete what the template does not name): it refuses them rather than pretend.
// The status URL's shape and its 'Running' are recalled; DeploymentFailed's wording is quoted from real
// responses in public issues; DeploymentNotFound, DeploymentActive and DeploymentOutputEvaluationFailed are recalled.
import { randomUUID } from 'node:crypto';
import * as E from './arm-errors.ts';
import type { Settled } from './arm-ops.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type ArmStore, type Failure, type Json, groupId, key, providerId } from './arm-store.ts';
import { type Plan, type TemplateError, plan } from './arm-deploy-template.ts';
import { VM_ROUTES, isReply } from './arm-vm.ts';

const DEPLOYMENTS = 'Microsoft.Resources/deployments';
const EXTENSIONS = 'Microsoft.Compute/virtualMachines/extensions';
const FAILED = 'At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/DeployOperations for usage details.';

interface Deployment { id: string; sub: string; rg: string; body: Json; opId?: string }

const byStore = new WeakMap<ArmStore, Map<string, Deployment>>();
function deployments(store: ArmStore): Map<string, Deployment> {
  let m = byStore.get(store);
  if (!m) byStore.set(store, (m = new Map()));
  return m;
}

const err = (status: number, code: string, message: string): Reply => ({ status, body: { error: { code, message } } });
export const notModelled = (what: string): Reply => err(400, 'FakeArmNotModelled', `fake ARM: ${what} is not modelled by this fake; it does not pretend to deploy it.`);

/** The request's shape: mode and an inline template, as the deployments API requires. */
function checkShape(p: Json): Reply | undefined {
  const mode = p['mode'];
  if (typeof mode !== 'string') return err(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'mode' not found in JSON. Path 'properties'.'.");
  if (mode.toLowerCase() === 'complete') return notModelled("a deployment in mode 'Complete' (it would delete every resource of the group the template does not name)");
  if (mode.toLowerCase() !== 'incremental') return err(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: 'Error converting value "${mode}" to type 'DeploymentMode'. Path 'properties.mode'.'.`);
  if (p['templateLink'] !== undefined) return notModelled('a deployment by templateLink');
  if (typeof p['template'] !== 'object' || p['template'] === null) return err(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'template' not found in JSON. Path 'properties'.'.");
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => { setTimeout(r, ms).unref(); });

/** Polls a resource provider's operation to its end, as ARM's deployment engine does. */
async function settled(e: Engine, opId: string): Promise<Json> {
  for (;;) {
    const s = e.poll(opId);
    if (!s) return { status: 'Failed', error: { code: 'NotFound', message: `The operation '${opId}' was not found.` } };
    if (s['status'] !== 'InProgress') return s;
    await sleep(2);
  }
}

/** One extension written through the handler a direct PUT of it takes. */
function writeExtension(e: Engine, c: Call, r: Json): Reply {
  const names = String(r['name']).split('/');
  const apiVersion = String(r['apiVersion'] ?? c.apiVersion);
  const body: Json = { ...(r['location'] !== undefined ? { location: r['location'] } : {}), ...(r['tags'] ? { tags: r['tags'] } : {}), properties: r['properties'] ?? {} };
  const call: Call = {
    method: 'PUT', host: c.host, path: `${providerId(c.sub, c.rg, 'Microsoft.Compute/virtualMachines', names[0]!)}/extensions/${names[1]!}`,
    query: new URLSearchParams({ 'api-version': apiVersion }), apiVersion, sub: c.sub, rg: c.rg, names, body, verb: 'write',
  };
  const route = VM_ROUTES.find((x) => key(x.type) === key(EXTENSIONS) && x.inGroup && x.names === 2)!;
  return route.methods['PUT']!(e, call);
}

/** Deploys the resources one after another; returns each failed resource's error (none: success). */
async function deployResources(e: Engine, c: Call, resources: Json[]): Promise<TemplateError[]> {
  const failures: TemplateError[] = [];
  for (const r of resources) {
    const reply = writeExtension(e, c, r);
    const error = (reply.body as { error?: TemplateError } | undefined)?.error;
    if (reply.status >= 400) { failures.push(error ?? { code: String(reply.status), message: 'The resource write failed.' }); continue; }
    const url = reply.headers?.['azure-asyncoperation'];
    if (!url) continue;
    const s = await settled(e, new URL(url).pathname.split('/').pop()!);
    if (s['status'] !== 'Succeeded') failures.push((s['error'] as TemplateError | undefined) ?? { code: 'Canceled', message: 'The operation was canceled.' });
  }
  return failures;
}

function finish(d: Deployment, p: Plan, s: Settled, failure: TemplateError | undefined, started: number): Failure | undefined {
  const props = d.body['properties'] as Json;
  props['duration'] = `PT${((Date.now() - started) / 1000).toFixed(3)}S`;
  if (s.ok) {
    try { props['outputs'] = p.outputs(); } catch (e) {
      // Recalled wording.
      const output = String((e as { output?: string }).output);
      failure = { code: 'DeploymentOutputEvaluationFailed', message: `Unable to evaluate template outputs: '${output}'. Please see error details and deployment operations. Please see https://aka.ms/arm-common-errors for usage details.`, details: [{ code: 'DeploymentOutputEvaluationFailed', message: (e as Error).message }] };
    }
  }
  if (!s.ok && !failure) failure = s.failure;
  props['provisioningState'] = failure ? 'Failed' : 'Succeeded';
  if (failure) {
    props['error'] = failure;
    return failure as Failure;
  }
  props['outputResources'] = p.resources.map((r) => {
    const [vm, x] = String(r['name']).split('/');
    return { id: `${providerId(d.sub, d.rg, 'Microsoft.Compute/virtualMachines', vm!)}/extensions/${x!}` };
  });
  return undefined;
}

/** PUT: checks, evaluates, then deploys in the background; answers 201/200 with the status URL. */
function putDeployment(e: Engine, c: Call): Reply {
  const rg = e.store.groupName(c.sub, c.rg);
  if (rg === undefined) return E.resourceGroupNotFound(c.rg);
  const p = (c.body['properties'] ?? {}) as Json;
  const bad = checkShape(p);
  if (bad) return bad;
  const name = c.names[0]!;
  const id = providerId(c.sub, rg, DEPLOYMENTS, name);
  const before = deployments(e.store).get(key(id));
  if (before && e.running(before.opId)) return err(409, 'DeploymentActive', `Unable to edit or replace deployment '${name}': previous deployment from '${String((before.body['properties'] as Json)['timestamp'])}' is still active. Please see https://aka.ms/arm-deploy for usage details.`);
  const planned = plan({ store: e.store, sub: c.sub, rg, template: p['template'] as Json, given: (p['parameters'] ?? {}) as Json });
  if ('invalid' in planned) return { status: 400, body: { error: planned.invalid } };
  const other = planned.resources.find((r) => key(String(r['type'])) !== key(EXTENSIONS));
  if (other) return notModelled(`a deployment of resource type '${String(other['type'])}' (this fake deploys ${EXTENSIONS} only)`);
  const d: Deployment = { id, sub: c.sub, rg, body: {
    id, name, type: DEPLOYMENTS,
    properties: { templateHash: String(JSON.stringify(p['template']).length), parameters: planned.parameters, mode: 'Incremental', provisioningState: 'Accepted', timestamp: new Date().toISOString(), duration: 'PT0S', correlationId: randomUUID() },
  } };
  const started = Date.now();
  let failure: TemplateError | undefined = planned.runtime ? { code: 'DeploymentFailed', message: FAILED, details: [planned.runtime] } : undefined;
  const decision = failure ? Promise.resolve({ failed: failure }) : deployResources(e, { ...c, rg }, planned.resources).then((fs) => {
    if (fs.length === 0) return 'succeeded' as const;
    failure = { code: 'DeploymentFailed', message: FAILED, details: fs };
    return { failed: failure };
  });
  const location = e.store.groups.get(key(groupId(c.sub, rg)))?.location ?? 'eastus';
  const op = e.operation(c, location, decision, (s) => finish(d, planned, s, failure, started));
  d.opId = op.id;
  deployments(e.store).set(key(id), d);
  const answer = { status: before ? 200 : 201, body: view(d), headers: { ...op.headers, 'azure-asyncoperation': `https://${c.host}${id}/operationStatuses/${op.id}?api-version=${c.apiVersion}` } };
  (d.body['properties'] as Json)['provisioningState'] = 'Running';
  return answer;
}

/** The deployment as GET returns it. */
const view = (d: Deployment): Json => structuredClone(d.body);

function find(e: Engine, c: Call): Deployment | Reply {
  const rg = e.store.groupName(c.sub, c.rg);
  if (rg === undefined) return E.resourceGroupNotFound(c.rg);
  return deployments(e.store).get(key(providerId(c.sub, rg, DEPLOYMENTS, c.names[0]!))) ?? err(404, 'DeploymentNotFound', `Deployment '${c.names[0]!}' could not be found.`);
}

function getDeployment(e: Engine, c: Call): Reply {
  const d = find(e, c);
  return isReply(d) ? d : { status: 200, body: view(d) };
}

function pollDeployment(e: Engine, c: Call): Reply {
  const d = find(e, c);
  if (isReply(d)) return d;
  const s = e.poll(c.names[1]!);
  if (!s) return E.operationNotFound(c.names[1]!);
  const status = s['status'] === 'InProgress' ? 'Running' : String(s['status']);
  return { status: 200, body: { status, ...(s['error'] ? { error: s['error'] } : {}) } };
}

/** A deployment Azure itself starts (a policy's remediation), through the same path as a client's PUT. */
export function startDeployment(e: Engine, sub: string, rg: string, name: string, properties: Json): { reply: Reply; id: string } {
  const apiVersion = '2022-09-01';
  const path = providerId(sub, rg, DEPLOYMENTS, name);
  const c: Call = { method: 'PUT', host: 'management.azure.com', path, query: new URLSearchParams({ 'api-version': apiVersion }), apiVersion, sub, rg, names: [name], body: { properties }, verb: 'write' };
  return { reply: putDeployment(e, c), id: path };
}

/** The deployment as GET returns it, for tests. */
export function deploymentOf(store: ArmStore, id: string): Json | undefined {
  const d = deployments(store).get(key(id));
  return d && view(d);
}

/** Polls a deployment to its end, as a client (or Azure Policy's remediation) does; its final state. */
export async function awaitDeployment(e: Engine, id: string): Promise<Json | undefined> {
  const d = deployments(e.store).get(key(id));
  if (d?.opId) await settled(e, d.opId);
  return d && view(d);
}

export const DEPLOY_ROUTES: Route[] = [
  { type: DEPLOYMENTS, inGroup: true, names: 1, methods: { PUT: putDeployment, GET: getDeployment } },
  { type: `${DEPLOYMENTS}/operationStatuses`, inGroup: true, names: 2, methods: { GET: pollDeployment } },
];
