// Fake Azure Resource Manager (management.azure.com and the sovereign clouds' equivalents), tunnelled to by
// the fake Azure's proxy: the Compute resources an operator's tools touch to deploy and watch this extension
// (VMs, their extensions and instance views, managed disks, scale sets) and the Key Vault management plane's
// vault GET.
// It checks bearer tokens and their audience the way ARM does, requires api-version, runs writes as
// Azure-AsyncOperation long-running operations whose outcome the test decides, and injects ARM's faults
// (403 AuthorizationFailed, 409 Conflict, 429 throttling) by RBAC action.
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as E from './arm-errors.ts';
import { type Decision, Operations, type Settled } from './arm-ops.ts';
import { type Call, type Engine, type Parsed, type Reply, type Route, parsePath, verbOf } from './arm-routes.ts';
import { DISK_ROUTES, seedDisks } from './arm-disks.ts';
import { RUN_COMMAND_ROUTES } from './arm-runcmd.ts';
import { SIZE_ROUTES } from './arm-sizes.ts';
import { SCALE_SET_ROUTES } from './arm-scaleset.ts';
import { type VaultSeed, type ScaleSetSeed, type VmSeed, seedScaleSet, seedVault, seedVm } from './arm-seed.ts';
import { ArmStore, type DiskInstanceView, type ExtensionInstanceView, type Failure, type Json, type ScriptRun, key } from './arm-store.ts';
import { VM_ROUTES } from './arm-vm.ts';
import { DEPLOY_ROUTES, deploymentOf } from './arm-deploy.ts';
import { POLICY_ROUTES } from './arm-policy.ts';
import { type ComplianceResult, remediate } from './arm-policy-remediate.ts';
import { extensionView, machineBody } from './arm-views.ts';
import { type RecordedRequest, type RequestLog, flatHeaders, readBody, sendJson } from './http.ts';
import type { Principal, TokenStore } from './tokens.ts';

export type { OperationOutcome } from './arm-ops.ts';
export type { ExtensionInstanceView, DiskInstanceView, InstanceViewStatus, ScriptRun } from './arm-store.ts';
export type { VmSeed, ScaleSetSeed, VaultSeed } from './arm-seed.ts';

/** ARM hosts and the token audiences each accepts (ARM takes both its own and the classic management one). */
const ARM_HOSTS: Record<string, readonly string[]> = {
  'management.azure.com': ['https://management.azure.com', 'https://management.core.windows.net'],
  'management.chinacloudapi.cn': ['https://management.chinacloudapi.cn', 'https://management.core.chinacloudapi.cn'],
  'management.usgovcloudapi.net': ['https://management.usgovcloudapi.net', 'https://management.core.usgovcloudapi.net'],
};
export const isArmHost = (host: string): boolean => host in ARM_HOSTS;

/** One fault: requests needing `action` ('*' = any), optionally only under `scope` (an id prefix), `count` times. */
export interface ArmFaultRule { action: string; scope?: string; count?: number }
export interface ArmFaults {
  forbidden: ArmFaultRule[];
  conflict: (ArmFaultRule & { message?: string })[];
  throttle: (ArmFaultRule & { retryAfter?: string })[];
}

/** What onExtensionPut sees: the extension as written (protectedSettings included, as the guest gets them). */
export interface ExtensionPut {
  id: string;
  name: string;
  location: string;
  properties: { publisher: string; type: string; typeHandlerVersion: string; settings?: unknown; [k: string]: unknown };
  protectedSettings?: unknown;
}
export type ExtensionPutHook = (vmId: string, extension: ExtensionPut) => Decision | Promise<Decision>;
/** Runs a run command's script (its properties as written: source, parameters, protectedParameters). */
export type RunCommandHook = (vmId: string, name: string, properties: Json) => Promise<ScriptRun>;

const OPERATIONS: Route = { type: 'Microsoft.Compute/locations/operations', inGroup: false, names: 2, methods: { GET: pollOperation } };
const ROUTES: readonly Route[] = [OPERATIONS, ...VM_ROUTES, ...DISK_ROUTES, ...RUN_COMMAND_ROUTES, ...SIZE_ROUTES, ...SCALE_SET_ROUTES, ...DEPLOY_ROUTES, ...POLICY_ROUTES];

function pollOperation(e: Engine, c: Call): Reply {
  const status = e.poll(c.names[1]!);
  if (!status) return E.operationNotFound(c.names[1]!);
  // The Location URL of a delete (monitor=true) answers 202 until done, as Compute's does.
  if (c.query.get('monitor') === 'true') return status['status'] === 'InProgress' ? { status: 202, headers: { 'retry-after': '0' } } : { status: 200 };
  return { status: 200, body: status };
}

const isReply = (x: unknown): x is Reply => typeof x === 'object' && x !== null && 'status' in x;

function takeFault<R extends ArmFaultRule>(rules: R[], action: string, path: string): R | undefined {
  const r = rules.find((f) => (f.action === '*' || key(f.action) === key(action)) && (!f.scope || key(path).startsWith(key(f.scope))) && (f.count === undefined || f.count > 0));
  if (r?.count !== undefined) r.count--;
  return r;
}

export class FakeArm implements Engine {
  readonly faults: ArmFaults = { forbidden: [], conflict: [], throttle: [] };
  /** Polls of an operation answered InProgress before it may end. */
  pollsBeforeDone = 1;
  /** Retry-After (seconds) on the answers to writes, which the SDK waits between polls: 0 keeps tests fast. */
  retryAfterSeconds = 0;
  /** Decides how an extension write ends (the guest's handler, in effect); default: it succeeds. */
  onExtensionPut: ExtensionPutHook | undefined;
  /** Runs a run command's script (the lab: in its guest); default: it exits 0 and prints nothing. */
  onRunCommandPut: RunCommandHook | undefined;
  readonly store: ArmStore;
  private readonly ops = new Operations();
  private readonly tokens: TokenStore;
  private readonly log: RequestLog;
  constructor(tokens: TokenStore, log: RequestLog, tenantId: string) {
    this.tokens = tokens;
    this.log = log;
    this.store = new ArmStore(tenantId);
  }

  resetFaults(): void { Object.assign(this.faults, { forbidden: [], conflict: [], throttle: [] }); }

  addResourceGroup(sub: string, rg: string, location?: string): string { return this.store.addGroup(sub, rg, location); }

  /** Seeds a VM (and its group); returns its id. */
  addVm(sub: string, rg: string, name: string, seed: VmSeed = {}): string {
    this.store.addGroup(sub, rg, seed.location);
    const m = seedVm(sub, rg, name, seed);
    this.store.machines.set(key(m.id), m);
    seedDisks(this.store, m);
    return m.id;
  }

  addScaleSet(sub: string, rg: string, name: string, seed: ScaleSetSeed = {}): string {
    this.store.addGroup(sub, rg, seed.location);
    const set = seedScaleSet(sub, rg, name, seed);
    this.store.scaleSets.set(key(set.id), set);
    return set.id;
  }

  addVault(sub: string, rg: string, name: string, seed: VaultSeed = {}): string {
    this.store.addGroup(sub, rg, seed.location);
    const vault = seedVault(sub, rg, name, seed, this.store.tenants.get(key(sub))!);
    this.store.vaults.set(key(String(vault['id'])), vault);
    return String(vault['id']);
  }

  /**
   * Lets a VM's (or scale set's) system-assigned identity use a vault as the extension does, with an access policy:
   * secrets get/set, keys get/wrapKey/unwrapKey (`az keyvault set-policy`). Returns the principal id.
   */
  allowVault(vaultId: string, resourceId: string): string {
    const r = this.store.machine(resourceId)?.body ?? this.store.scaleSets.get(key(resourceId))?.body;
    const principalId = (r?.['identity'] as Json | undefined)?.['principalId'];
    const vault = this.store.vaults.get(key(vaultId));
    if (typeof principalId !== 'string' || !vault) throw new Error(`fake ARM: no system-assigned identity on ${resourceId}, or no vault ${vaultId}`);
    const p = vault['properties'] as Json;
    p['accessPolicies'] = [...((p['accessPolicies'] ?? []) as Json[]), { tenantId: p['tenantId'], objectId: principalId, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'], secrets: ['get', 'set'] } }];
    return principalId;
  }

  /** The VM (or scale-set instance) as a GET returns it now. */
  vm(id: string): Json | undefined {
    const m = this.store.machine(id);
    return m && machineBody(m, false);
  }

  /** A managed disk as a GET returns it now (encryptionSettingsCollection once a client wrote one). */
  disk(id: string): Json | undefined {
    const d = this.store.disks.get(key(id));
    return d && structuredClone(d);
  }

  scaleSet(id: string): (Json & { protectedSettings: Record<string, unknown> }) | undefined {
    const set = this.store.scaleSets.get(key(id));
    return set && { ...structuredClone(set.body), protectedSettings: Object.fromEntries(set.protectedSettings) };
  }

  /** The extension as stored: its body, the protectedSettings ARM never returns, its instance view. */
  extension(vmId: string, name: string): { body: Json; protectedSettings?: unknown; instanceView: Json } | undefined {
    const m = this.store.machine(vmId);
    const x = m?.extensions.get(key(name));
    return m && x && { body: structuredClone(x.body), protectedSettings: structuredClone(x.protectedSettings), instanceView: extensionView(m, x) };
  }

  /** Plays the guest agent: what the extension's handler reported (statuses, substatuses), until its next write. */
  setExtensionInstanceView(vmId: string, name: string, view: ExtensionInstanceView): void {
    const m = this.store.machine(vmId);
    if (!m) throw new Error(`fake ARM: no VM ${vmId}`);
    m.reported.set(key(name), { name: m.extensions.get(key(name))?.body['name'] as string | undefined ?? name, ...structuredClone(view) });
  }

  /** Plays the guest agent for a disk: its encryptionSettings and statuses (e.g. EncryptionState/encrypted). */
  setDiskInstanceView(vmId: string, diskName: string, view: DiskInstanceView): void {
    const m = this.store.machine(vmId);
    if (!m) throw new Error(`fake ARM: no VM ${vmId}`);
    m.disks.set(key(diskName), structuredClone(view));
  }

  requests(): RecordedRequest[] { return this.log.of('arm'); }

  /** Plays Azure Policy for an assignment now: compliance per VM in scope; DeployIfNotExists deploys to the non-compliant. */
  remediate(assignmentId: string): Promise<ComplianceResult[]> { return remediate(this, assignmentId); }

  /** A Microsoft.Resources/deployments resource as GET returns it. */
  deployment(id: string): Json | undefined { return deploymentOf(this.store, id); }

  // The Engine the route handlers use.
  operation(c: Call, location: string, decision: Decision | Promise<Decision>, finish: (s: Settled) => Failure | undefined, withLocation = false) {
    const { id, url } = this.ops.start({ host: c.host, sub: c.sub, location, apiVersion: c.apiVersion, polls: this.pollsBeforeDone, decision, finish });
    const headers: Record<string, string> = { 'azure-asyncoperation': url, 'retry-after': String(this.retryAfterSeconds) };
    if (withLocation) headers['location'] = url.replace('?', '?monitor=true&');
    return { id, headers };
  }
  running(opId: string | undefined): boolean { return this.ops.running(opId); }
  cancel(opId: string, error: Failure): void { this.ops.cancel(opId, error); }
  poll(opId: string): Json | undefined { return this.ops.poll(opId); }
  extensionDecision(vmId: string, extension: Json): Decision | Promise<Decision> {
    return this.onExtensionPut?.(vmId, extension as unknown as ExtensionPut);
  }
  runCommandDecision(vmId: string, name: string, properties: Json): Promise<ScriptRun> {
    return this.onRunCommandPut?.(vmId, name, properties) ?? Promise.resolve({ exitCode: 0, output: '', error: '' });
  }

  async handle(req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
    const url = new URL(req.url ?? '/', `https://${host}`);
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const parsed = parsePath(url.pathname, method, ROUTES);
    const rec = this.log.add({
      kind: 'arm', host, method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, headers: flatHeaders(req),
      ...(parsed?.route ? { permission: parsed.action } : {}),
    });
    const r = this.answer(req, host, url, body, parsed);
    sendJson(res, rec, r.status, r.body, r.headers);
  }

  private answer(req: IncomingMessage, host: string, url: URL, raw: string, parsed: Parsed | undefined): Reply {
    const method = req.method ?? 'GET';
    const who = this.authenticate(host, req.headers.authorization);
    if (isReply(who)) return who;
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) return E.missingApiVersion();
    const handler = parsed?.route?.methods[method];
    if (!parsed?.route || !handler) return parsed?.route ? { status: 405, body: { error: { code: 'MethodNotAllowed', message: `The requested resource does not support http method '${method}'.` } } } : E.noRoute(method, url.pathname);
    const tenant = this.store.tenants.get(key(parsed.sub));
    if (tenant === undefined) return E.subscriptionNotFound(parsed.sub);
    if (who.tenantId !== tenant) return E.wrongTenant(who.tenantId, tenant);
    const fault = this.fault(parsed.action, url.pathname, verbOf(method), parsed.sub, who);
    if (fault) return fault;
    let body: Json;
    try { body = raw ? (JSON.parse(raw) as Json) : {}; } catch (e) {
      return { status: 400, body: { error: { code: 'InvalidRequestContent', message: `The request content was invalid and could not be deserialized: '${(e as Error).message}'.` } } };
    }
    const c: Call = { method, host, path: url.pathname, query: url.searchParams, apiVersion, sub: parsed.sub, rg: parsed.rg, names: parsed.names, body, verb: verbOf(method) };
    return handler(this, c);
  }

  private authenticate(host: string, authorization: string | undefined): Principal | Reply {
    if (!authorization) return E.missingToken();
    const issued = this.tokens.lookup(authorization.replace(/^Bearer\s+/i, ''));
    if (!issued) return E.invalidToken();
    const audiences = ARM_HOSTS[host] ?? [];
    if (!audiences.includes(issued.resource)) return E.wrongAudience(issued.resource, audiences);
    return issued.principal;
  }

  /** ARM's order: throttling at the front door, then RBAC, then the resource provider's conflicts. */
  private fault(action: string, path: string, verb: string, sub: string, who: Principal): Reply | undefined {
    const t = takeFault(this.faults.throttle, action, path);
    if (t) return E.throttled(verb, sub, who.objectId, t.retryAfter ?? '0');
    if (takeFault(this.faults.forbidden, action, path)) return E.authorizationFailed(who.appId, who.objectId, action, path);
    const c = takeFault(this.faults.conflict, action, path);
    if (c) return E.conflict(c.message);
    return undefined;
  }
}
