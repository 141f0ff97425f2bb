// How the fake ARM reads a request path: /subscriptions/<sub>[/resourceGroups/<rg>]/providers/<namespace>/
// <type>/<name>[/<type>/<name>...], matched case-insensitively (as ARM does) against the resource types it
// serves. The route also names the RBAC action the request needs, e.g. Microsoft.Compute/virtualMachines/
// extensions/write, which is what the fault switches and the 403 message speak of.
import type { ArmError } from './arm-errors.ts';
import type { Decision, Settled } from './arm-ops.ts';
import type { ArmStore, Failure, Json, ScriptRun } from './arm-store.ts';

export interface Call {
  method: string;
  host: string;
  path: string;
  query: URLSearchParams;
  apiVersion: string;
  sub: string;
  rg: string;
  /** The resource names in the path, outermost first (vm, extension; scale set, instance id; ...). */
  names: string[];
  body: Json;
  /** The RBAC verb: read, write or delete. */
  verb: string;
}

export interface Answer { status: number; body?: unknown; headers?: Record<string, string> }
export type Reply = Answer | ArmError;

/** What the handlers need from the fake: its state and its long-running operations. */
export interface Engine {
  readonly store: ArmStore;
  /** Starts the operation a write begins; returns its id and the headers ARM puts on the write's answer. */
  operation(c: Call, location: string, decision: Decision | Promise<Decision>, finish: (s: Settled) => Failure | undefined, withLocation?: boolean): { id: string; headers: Record<string, string> };
  running(opId: string | undefined): boolean;
  /** The answer to a poll of an operation's URL, or undefined for an unknown one. */
  poll(opId: string): Json | undefined;
  cancel(opId: string, error: Failure): void;
  /** The test's verdict on an extension write (onExtensionPut), default success. */
  extensionDecision(vmId: string, extension: Json): Decision | Promise<Decision>;
  /** Runs a run command's script the test's way (onRunCommandPut); default: it exits 0 and prints nothing. */
  runCommandDecision(vmId: string, name: string, properties: Json): Promise<ScriptRun>;
}

export type Handler = (e: Engine, c: Call) => Reply;

export interface Route {
  /** The resource type as ARM spells it in actions, e.g. Microsoft.Compute/virtualMachines/extensions. */
  type: string;
  /** Whether the path is under a resource group. */
  inGroup: boolean;
  /** How many names the path carries (a collection has one fewer than its items). */
  names: number;
  methods: Partial<Record<string, Handler>>;
}

export interface Parsed { sub: string; rg: string; route: Route | undefined; names: string[]; action: string }

const VERBS: Record<string, string> = { GET: 'read', HEAD: 'read', PUT: 'write', PATCH: 'write', POST: 'action', DELETE: 'delete' };
export const verbOf = (method: string) => VERBS[method] ?? 'read';

/** Splits a path into subscription, group, the types and names; finds the route serving them. */
export function parsePath(path: string, method: string, routes: readonly Route[]): Parsed | undefined {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (seg[0]?.toLowerCase() !== 'subscriptions' || !seg[1]) return undefined;
  const inGroup = seg[2]?.toLowerCase() === 'resourcegroups';
  const rg = inGroup ? seg[3] ?? '' : '';
  const rest = seg.slice(inGroup ? 4 : 2);
  const types: string[] = [];
  const names: string[] = [];
  if (rest.length > 0) {
    if (rest[0]?.toLowerCase() !== 'providers' || !rest[1]) return undefined;
    types.push(rest[1]);
    rest.slice(2).forEach((s, i) => (i % 2 === 0 ? types : names).push(s));
  }
  const wanted = types.join('/').toLowerCase();
  const route = routes.find((r) => r.inGroup === inGroup && r.names === names.length && r.type.toLowerCase() === wanted);
  const action = `${route?.type ?? types.join('/')}/${verbOf(method)}`;
  return { sub: seg[1], rg, route, names, action };
}
