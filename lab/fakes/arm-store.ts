// What the fake ARM knows: subscriptions (and their tenant), resource groups, VMs with their extensions and
// what their guest agent reported, their managed disks, scale sets with their instances, and key vaults. Keys are lower-case ids,
// because ARM ids are case-insensitive; bodies keep the casing they were created with, as ARM does.

export type Json = Record<string, unknown>;

export interface InstanceViewStatus { code: string; level?: 'Info' | 'Warning' | 'Error'; displayStatus?: string; message?: string; time?: string }
/** What the guest agent reports for one extension (the handler's status file, turned into ARM's shape). */
export interface ExtensionInstanceView { statuses?: InstanceViewStatus[]; substatuses?: InstanceViewStatus[] }
export interface DiskInstanceView { encryptionSettings?: Json[]; statuses?: InstanceViewStatus[] }
export interface Failure { code: string; message: string }

export interface ExtensionState {
  /** The resource as GET returns it: never protectedSettings, never the instance view. */
  body: Json;
  protectedSettings?: unknown;
  /** The handler's failure from the last operation (its code and message, as the agent reported them). */
  failure?: Failure;
  /** The operation still running on it, if any. */
  activeOp?: string;
}

/** A VM, or one instance of a scale set: both have extensions, an agent and disks. */
export interface Machine {
  id: string;
  body: Json;
  extensions: Map<string, ExtensionState>;
  reported: Map<string, ExtensionInstanceView & { name: string }>;
  disks: Map<string, DiskInstanceView>;
  powerState: string;
  /** The last operation on it failed: ARM then shows the VM itself as failed, not only the extension. */
  failure?: Failure;
}

/** How a run command's script ended, as the test (or the lab's guest) ran it. */
export interface ScriptRun { exitCode: number; output: string; error: string }
/** A Managed Run Command: its resource and, once its script ended, how. */
export interface RunCommandState { body: Json; startTime: string; result?: ScriptRun }

export interface ScaleSet { id: string; body: Json; protectedSettings: Map<string, unknown>; instances: Machine[] }

export const props = (body: Json): Json => {
  if (typeof body['properties'] !== 'object' || body['properties'] === null) body['properties'] = {};
  return body['properties'] as Json;
};
export const groupId = (sub: string, rg: string) => `/subscriptions/${sub}/resourceGroups/${rg}`;
export const providerId = (sub: string, rg: string, type: string, name: string) => `${groupId(sub, rg)}/providers/${type}/${name}`;
export const key = (id: string) => id.toLowerCase();

/** JSON merge patch as ARM applies PATCH (and this fake also PUT) bodies: objects merge, arrays replace, null removes. */
export function deepMerge(target: Json, patch: Json): Json {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isObject(v) && isObject(target[k])) deepMerge(target[k] as Json, v);
    else if (v !== undefined) target[k] = structuredClone(v);
  }
  return target;
}
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export class ArmStore {
  /** Lower-case subscription id → the tenant that owns it. */
  readonly tenants = new Map<string, string>();
  readonly groups = new Map<string, { name: string; location: string }>();
  readonly machines = new Map<string, Machine>();
  readonly scaleSets = new Map<string, ScaleSet>();
  readonly vaults = new Map<string, Json>();
  /** Managed disks by id (Microsoft.Compute/disks). */
  readonly disks = new Map<string, Json>();
  /** Managed Run Commands by id (…/virtualMachines/<vm>/runCommands/<name>). */
  readonly runCommands = new Map<string, RunCommandState>();
  private readonly tenantId: string;
  constructor(tenantId: string) { this.tenantId = tenantId; }

  addGroup(sub: string, rg: string, location = 'eastus'): string {
    if (!this.tenants.has(key(sub))) this.tenants.set(key(sub), this.tenantId);
    const id = groupId(sub, rg);
    if (!this.groups.has(key(id))) this.groups.set(key(id), { name: rg, location });
    return id;
  }

  /** The resource group's name as it was created (ARM echoes that casing in its errors). */
  groupName(sub: string, rg: string): string | undefined { return this.groups.get(key(groupId(sub, rg)))?.name; }

  /** A VM or a scale-set instance, by id. */
  machine(id: string): Machine | undefined {
    const m = this.machines.get(key(id));
    if (m) return m;
    const at = key(id).lastIndexOf('/virtualmachines/');
    const set = at < 0 ? undefined : this.scaleSets.get(key(id).slice(0, at));
    return set?.instances.find((i) => key(i.id) === key(id));
  }
}

export function newMachine(id: string, body: Json, powerState = 'running'): Machine {
  return { id, body, extensions: new Map(), reported: new Map(), disks: new Map(), powerState };
}
