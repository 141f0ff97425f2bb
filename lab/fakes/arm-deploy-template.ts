// A deployment's template as ARM reads it before deploying: the parameters (each given, else its default; none
// extra; the declared type; allowedValues, compared exactly), the variables, the resources and their names, and
// the outputs after the deployment. ARM validates every expression before deploying but reads the resources
// reference() names only while deploying; so a first pass checks all with reference() deferred, a second
// evaluates, and what only it finds fails the deployment, not the PUT. Errors are ARM's InvalidTemplate; quoted
// from real responses in public issues: the missing parameter, the extra parameter, the disallowed value, the
// template function that is not valid, the property that does not exist, the parse failure and "Unable to
// process template language expressions"; recalled: the JToken type, resourceId's arity, the segment lengths.
// ARM gives a line and column in the template as sent; clients send it on one line, so the column here is where
// the item starts in the template serialised on one line (the exact spot ARM names may differ).
import { randomUUID } from 'node:crypto';
import * as E from './arm-errors.ts';
import { DEFERRED, ExpressionError, type Functions, PURE, arity, evaluateDeep } from './arm-deploy-expr.ts';
import { machineBody } from './arm-views.ts';
import { type ArmStore, type Json, groupId, key } from './arm-store.ts';

export interface TemplateError { code: string; message: string; additionalInfo?: Json[]; details?: TemplateError[] }
export interface TemplateScope { store: ArmStore; sub: string; rg: string; template: Json; given: Json }
export interface Plan {
  parameters: Record<string, { type: string; value: unknown }>;
  resources: Json[];
  /** Set when the template is valid but deploying it fails (reference() to a missing resource). */
  runtime?: TemplateError;
  outputs(): Json;
}

const FORMAT_DOC = 'Please see https://aka.ms/arm-template-expressions for usage details.';
const validation = (inner: string, path?: string, col?: number): TemplateError => ({
  code: 'InvalidTemplate', message: `Deployment template validation failed: '${inner}'.`,
  ...(path ? { additionalInfo: [{ type: 'TemplateViolation', info: { lineNumber: 1, linePosition: col ?? 0, path } }] } : {}),
});
const parseFailure = (e: ExpressionError): TemplateError => ({ code: 'InvalidTemplate', message: `Deployment template language expression evaluation failed: '${e.message}'. ${FORMAT_DOC}` });

class Invalid extends Error {
  readonly error: TemplateError;
  constructor(error: TemplateError) { super(error.message); this.error = error; }
}

/** Where `fragment` starts in the template on one line (1-based), 0 when it cannot be found. */
const columnOf = (template: Json, fragment: unknown) => JSON.stringify(template).indexOf(JSON.stringify(fragment)) + 1;

/** resourceId([subscriptionId], [resourceGroupName], type, name1, [name2 ...]). */
function resourceId(sub: string, rg: string, args: unknown[]): string {
  arity('resourceId', args, 2, 5);
  const at = args.findIndex((a) => typeof a === 'string' && a.includes('/'));
  if (at < 0 || at > 2) throw new ExpressionError("Unable to evaluate template language function 'resourceId': the resource type is not valid.");
  const [s, g] = at === 2 ? [String(args[0]), String(args[1])] : at === 1 ? [sub, String(args[0])] : [sub, rg];
  const [ns, ...types] = String(args[at]).split('/');
  const names = args.slice(at + 1).map(String);
  if (names.length !== types.length) throw new ExpressionError(`Unable to evaluate template language function 'resourceId': the type '${String(args[at])}' requires '${types.length}' resource name argument(s).`);
  return `${groupId(s, g)}/providers/${ns!}/${types.map((t, i) => `${t}/${names[i]!}`).join('/')}`;
}

/** reference(): the resource's properties (or, with 'Full', all of it) from the fake's store; vaults and VMs. */
function reference(store: ArmStore, args: unknown[]): unknown {
  arity('reference', args, 1, 3);
  const id = String(args[0]);
  const found = store.vaults.get(key(id)) ?? (store.machine(id) ? machineBody(store.machine(id)!, false) : undefined);
  if (!found) {
    const m = /\/resourceGroups\/([^/]+)\/providers\/(.+)$/i.exec(id);
    throw new ExpressionError(E.resourceNotFound(m?.[2] ?? id, m?.[1] ?? '').body.error.message, 'runtime');
  }
  const full = typeof args[2] === 'string' && args[2].toLowerCase() === 'full';
  return structuredClone(full ? found : found['properties']);
}

/** `checking`: the first pass, which validates every expression; reference() then reads nothing. */
interface Context { scope: TemplateScope; rgLocation: string; checking: boolean; params: Map<string, unknown>; vars: Map<string, unknown> }

function functions(cx: Context, inDefault: boolean, param: (n: string) => unknown, variable: (n: string) => unknown): Functions {
  const { store, sub, rg } = cx.scope;
  return {
    ...PURE,
    parameters: (a) => { arity('parameters', a, 1, 1); return param(String(a[0])); },
    variables: (a) => { arity('variables', a, 1, 1); return variable(String(a[0])); },
    resourcegroup: () => ({ id: groupId(sub, rg), name: rg, type: 'Microsoft.Resources/resourceGroups', location: cx.rgLocation, properties: { provisioningState: 'Succeeded' } }),
    subscription: () => ({ id: `/subscriptions/${sub}`, subscriptionId: sub, tenantId: store.tenants.get(key(sub)), displayName: 'fake subscription' }),
    resourceid: (a) => resourceId(sub, rg, a),
    reference: (a) => (cx.checking ? (arity('reference', a, 1, 3), DEFERRED) : reference(store, a)),
    newguid: () => {
      // Quoted up to "location."; the second sentence is recalled.
      if (!inDefault) throw new ExpressionError("The template function 'newGuid' is not expected at this location. The function can only be used with parameter default value.");
      return randomUUID();
    },
  };
}

const TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string', securestring: (v) => typeof v === 'string', int: (v) => Number.isInteger(v), bool: (v) => typeof v === 'boolean',
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v), secureobject: (v) => typeof v === 'object' && v !== null && !Array.isArray(v), array: Array.isArray,
};
const JTOKEN: Record<string, string> = { string: 'String, Uri', securestring: 'String, Uri', int: 'Integer', bool: 'Boolean', object: 'Object', secureobject: 'Object', array: 'Array' };
const jtokenOf = (v: unknown) => (typeof v === 'string' ? 'String' : Number.isInteger(v) ? 'Integer' : typeof v === 'boolean' ? 'Boolean' : Array.isArray(v) ? 'Array' : v === null ? 'Null' : typeof v === 'object' ? 'Object' : 'Float');

/** The value of one declared parameter, checked as ARM checks it. */
function parameterValue(cx: Context, name: string, fns: Functions): unknown {
  const { template, given } = cx.scope;
  const decl = ((template['parameters'] ?? {}) as Record<string, Json>)[name]!;
  const path = `properties.template.parameters.${name}`;
  const col = columnOf(template, decl);
  const provided = Object.entries(given).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] as Json | undefined;
  let value: unknown;
  if (provided && 'value' in provided) value = provided['value'];
  else if ('defaultValue' in decl) {
    try { value = evaluateDeep(decl['defaultValue'], fns); } catch (e) {
      if (e instanceof ExpressionError && e.kind === 'invalid') throw new Invalid(validation(`The template parameter '${name}' at line '1' and column '${col}' is not valid: ${e.message} ${FORMAT_DOC}`, path, col));
      throw e;
    }
  } else throw new Invalid(validation(`The value for the template parameter '${name}' at line '1' and column '${col}' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details.`, path, col));
  const type = String(decl['type'] ?? '').toLowerCase();
  if (TYPES[type] && !TYPES[type](value)) throw new Invalid(validation(`Template parameter JToken type is not valid. Expected '${JTOKEN[type]!}'. Actual '${jtokenOf(value)}'. Please see https://aka.ms/arm-create-parameter-file for usage details.`, path, col));
  const allowed = decl['allowedValues'];
  if (Array.isArray(allowed) && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(value))) {
    throw new Invalid(validation(`The provided value '${String(value)}' for the template parameter '${name}' at line '1' and column '${col}' is not valid. The parameter value is not part of the allowed value(s): '${allowed.join(',')}'.`, path, col));
  }
  return value;
}

/** Parameters and variables resolve lazily, so that one may refer to another in any order, as in ARM. */
function resolvers(cx: Context) {
  const declared = (cx.scope.template['parameters'] ?? {}) as Record<string, Json>;
  const variables = (cx.scope.template['variables'] ?? {}) as Json;
  const find = (o: object, n: string) => Object.keys(o).find((k) => k.toLowerCase() === n.toLowerCase());
  const param = (n: string): unknown => {
    const name = find(declared, n);
    if (name === undefined) throw new ExpressionError(`The template parameter '${n}' is not found. Please see https://aka.ms/arm-syntax-parameters for usage details.`);
    if (!cx.params.has(name)) cx.params.set(name, parameterValue(cx, name, functions(cx, true, param, variable)));
    return cx.params.get(name);
  };
  const variable = (n: string): unknown => {
    const name = find(variables, n);
    if (name === undefined) throw new ExpressionError(`The template variable '${n}' is not found. Please see https://aka.ms/arm-syntax-variables for usage details.`);
    if (!cx.vars.has(name)) {
      try { cx.vars.set(name, evaluateDeep(variables[name], functions(cx, false, param, variable))); } catch (e) {
        if (e instanceof ExpressionError && e.kind === 'invalid') throw new Invalid(validation(`The template variable '${name}' is not valid: ${e.message} ${FORMAT_DOC}`));
        throw e;
      }
    }
    return cx.vars.get(name);
  };
  return { param, variable, declared, variables, fns: functions(cx, false, param, variable) };
}

function checkParameterNames(scope: TemplateScope, declared: Record<string, Json>): void {
  const names = Object.keys(declared).map((k) => k.toLowerCase());
  const extra = Object.keys(scope.given).filter((k) => !names.includes(k.toLowerCase()));
  if (extra.length > 0) {
    throw new Invalid(validation(`The template parameters '${extra.join(', ')}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '${Object.keys(declared).join(', ')}'. Please see https://aka.ms/arm-deploy/#parameter-file for usage details.`));
  }
}

/** One resource evaluated; an expression that fails names the resource as ARM does. */
function resource(cx: Context, raw: Json, fns: Functions): Json {
  try {
    const r = evaluateDeep(raw, fns) as Json;
    const names = String(r['name']).split('/');
    const types = String(r['type']).split('/').length - 1;
    // Recalled wording.
    if (names.length !== types) throw new ExpressionError(`The template resource '${String(r['name'])}' for type '${String(r['type'])}' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name.`);
    return r;
  } catch (e) {
    if (!(e instanceof ExpressionError) || e.kind !== 'invalid' || !cx.checking) throw e;
    const col = columnOf(cx.scope.template, raw);
    throw new Invalid(validation(`The template resource '${String(raw['name'])}' at line '1' and column '${col}' is not valid: ${e.message} ${FORMAT_DOC}`, 'properties.template.resources', col));
  }
}

/** Evaluates the parameters and resources; throws Invalid or ExpressionError. */
function evaluateAll(scope: TemplateScope, checking: boolean) {
  const rgLocation = scope.store.groups.get(key(groupId(scope.sub, scope.rg)))?.location ?? 'eastus';
  const cx: Context = { scope, rgLocation, checking, params: new Map(), vars: new Map() };
  const { param, variable, declared, variables, fns } = resolvers(cx);
  const raws = (Array.isArray(scope.template['resources']) ? scope.template['resources'] : []) as Json[];
  const resources: Json[] = [];
  checkParameterNames(scope, declared);
  for (const name of Object.keys(declared)) param(name);
  // Which resource failed, for the message of a failure while deploying.
  const at = () => raws[resources.length];
  try { for (const raw of raws) resources.push(resource(cx, raw, fns)); } catch (e) { throw Object.assign(e as Error, { at: at() }); }
  // ARM validates what nothing refers to as well.
  if (checking) for (const v of Object.keys(variables)) variable(v);
  if (checking) outputsOf(scope, fns, true);
  return { cx, declared, fns, resources };
}

/** The outputs' values; while checking, an invalid one is InvalidTemplate, after deploying an error naming it. */
function outputsOf(scope: TemplateScope, fns: Functions, checking: boolean): Json {
  const out: Json = {};
  for (const [n, o] of Object.entries((scope.template['outputs'] ?? {}) as Record<string, Json>)) {
    try { out[n] = { type: String(o['type'] ?? 'String'), value: evaluateDeep(o['value'], fns) }; } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      if (checking && e.kind === 'invalid') throw new Invalid(validation(`The template output '${n}' is not valid: ${e.message} ${FORMAT_DOC}`));
      throw Object.assign(e, { output: n });
    }
  }
  return out;
}

/** The template checked (every expression, as ARM validates before deploying), then evaluated: an InvalidTemplate
 *  error, or what to deploy (with the error the deployment will end in, when only deploying can find it). */
export function plan(scope: TemplateScope): Plan | { invalid: TemplateError } {
  try { evaluateAll(scope, true); } catch (e) {
    if (e instanceof Invalid) return { invalid: e.error };
    if (!(e instanceof ExpressionError)) throw e;
    return { invalid: e.kind === 'parse' ? parseFailure(e) : validation(`${e.message} ${FORMAT_DOC}`) };
  }
  try {
    const { cx, declared, fns, resources } = evaluateAll(scope, false);
    const parameters = Object.fromEntries(Object.entries(declared).map(([n, d]) => [n, { type: String(d['type'] ?? 'String'), value: cx.params.get(n) }]));
    return { parameters, resources, outputs: () => outputsOf(scope, fns, false) };
  } catch (e) {
    if (!(e instanceof ExpressionError || e instanceof Invalid)) throw e;
    const raw = (e as { at?: Json }).at;
    const where = raw ? ` for resource '${String(raw['name'])}' at line '1' and column '${columnOf(scope.template, raw)}'` : '';
    const runtime = { code: 'InvalidTemplate', message: `Unable to process template language expressions${where}. '${e.message}'` };
    return { parameters: {}, resources: [], runtime, outputs: () => ({}) };
  }
}
