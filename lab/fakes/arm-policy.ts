// Microsoft.Authorization policy definitions (at a subscription) and assignments (at a subscription or a resource
// group): PUT and GET, checked as Azure checks them where its answers are known, then stored for
// FakeArm.remediate. Quoted from real responses in public issues: InvalidPolicyRuleEffect, the 'details'
// message of InvalidPolicyRuleEffectDetails, ResourceIdentityRequired (quoted for 'Modify'; the same sentence
// for 'DeployIfNotExists' is inferred), the "allowed values" sentence, and the request-content message for a
// parameter without a type. Recalled: the parse message for a rule without 'if' or 'then', PolicyDefinitionNotFound,
// UndefinedPolicyParameter, MissingPolicyParameter, and LocationRequired for an identity without a location.
// What the fake cannot evaluate (other aliases, operators, count) is refused as not modelled.
import { randomUUID } from 'node:crypto';
import * as E from './arm-errors.ts';
import { type Functions, evaluate, isExpression } from './arm-deploy-expr.ts';
import { policyFunctions, unmodelled } from './arm-policy-eval.ts';
import type { Call, Engine, Reply, Route } from './arm-routes.ts';
import { type ArmStore, type Json, groupId, key } from './arm-store.ts';
import { notModelled } from './arm-deploy.ts';

const DEFINITIONS = 'Microsoft.Authorization/policyDefinitions';
const ASSIGNMENTS = 'Microsoft.Authorization/policyAssignments';
const EFFECTS = ['deny', 'audit', 'modify', 'denyaction', 'append', 'auditifnotexists', 'deployifnotexists', 'disabled', 'manual'];

export interface PolicyState { definitions: Map<string, Json>; assignments: Map<string, Json> }
const byStore = new WeakMap<ArmStore, PolicyState>();
export function policyState(store: ArmStore): PolicyState {
  let s = byStore.get(store);
  if (!s) byStore.set(store, (s = { definitions: new Map(), assignments: new Map() }));
  return s;
}

const err = (status: number, code: string, message: string): Reply => ({ status, body: { error: { code, message } } });
const ruleInvalid = (name: string, what: string) => `The policy definition '${name}' rule is invalid. ${what}`;
const entry = (o: Json, k: string): unknown => Object.entries(o).find(([x]) => x.toLowerCase() === k.toLowerCase())?.[1];
const asObject = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);

/** The effects the rule's effect may take: a literal, or the allowed values of the parameter it names. */
function effectsOf(name: string, effect: unknown, params: Record<string, Json>): string[] | Reply {
  const s = String(effect ?? '');
  if (!isExpression(s)) {
    if (!EFFECTS.includes(s.toLowerCase())) return err(400, 'InvalidPolicyRuleEffect', ruleInvalid(name, `The policy 'effect' property value cannot be '${s}'.`));
    return [s.toLowerCase()];
  }
  const p = /^\[parameters\('([^']+)'\)\]$/i.exec(s)?.[1];
  const decl = p === undefined ? undefined : asObject(entry(params, p));
  if (!decl) return notModelled(`an effect expression other than [parameters('<a declared parameter>')] (${s})`);
  const allowed = (decl['allowedValues'] ?? [decl['defaultValue']]) as unknown[];
  const bad = allowed.find((a) => !EFFECTS.includes(String(a).toLowerCase()));
  if (bad !== undefined) return err(400, 'InvalidPolicyRuleEffect', ruleInvalid(name, `The policy 'effect' property value cannot be '${String(bad)}'.`));
  return allowed.map((a) => String(a).toLowerCase());
}

/** The 'details' an IfNotExists effect needs: a type; for DINE also roleDefinitionIds and a deployment. */
function checkDetails(name: string, then: Json, effects: string[]): Reply | undefined {
  const ifNotExists = effects.some((x) => x === 'auditifnotexists' || x === 'deployifnotexists');
  if (!ifNotExists) return undefined;
  const details = asObject(entry(then, 'details'));
  const deploy = effects.includes('deployifnotexists');
  const roles = details?.['roleDefinitionIds'];
  const template = asObject(asObject(asObject(details?.['deployment'])?.['properties'])?.['template']);
  const ok = typeof details?.['type'] === 'string' && (!deploy || (Array.isArray(roles) && roles.length > 0 && template !== undefined));
  if (!ok) return err(400, 'InvalidPolicyRuleEffectDetails', ruleInvalid(name, "The policy effect 'details' property could not be parsed."));
  const exists = details!['existenceCondition'];
  const problem = exists === undefined ? undefined : unmodelled(exists);
  return problem ? notModelled(problem) : undefined;
}

/** Every parameters('x') in the rule outside the deployment's template (whose parameters are the template's). */
function undefinedParameter(rule: Json, params: Record<string, Json>): string | undefined {
  const copy = structuredClone(rule);
  const props = asObject(asObject(asObject(asObject(copy['then'])?.['details'])?.['deployment'])?.['properties']);
  if (props) delete props['template'];
  const used = [...JSON.stringify(copy).matchAll(/parameters\('([^']*)'\)/gi)].map((m) => m[1]!);
  return used.find((u) => entry(params, u) === undefined);
}

function checkDefinition(name: string, p: Json | undefined): Reply | undefined {
  const params = (asObject(p?.['parameters']) ?? {}) as Record<string, Json>;
  for (const [n, d] of Object.entries(params)) {
    if (typeof asObject(d)?.['type'] !== 'string') return err(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: 'Required property 'type' not found in JSON. Path 'properties.parameters.${n}'.'.`);
  }
  const rule = asObject(p?.['policyRule']);
  for (const k of ['if', 'then']) {
    if (!rule || entry(rule, k) === undefined) return err(400, 'InvalidPolicyRule', `Failed to parse policy rule: 'Required property '${k}' not found in JSON. Path '${rule ? '' : 'policyRule'}'.'.`);
  }
  const then = asObject(entry(rule!, 'then')) ?? {};
  const effects = effectsOf(name, entry(then, 'effect'), params);
  if (!Array.isArray(effects)) return effects;
  const problem = unmodelled(entry(rule!, 'if'));
  if (problem) return notModelled(problem);
  const missing = undefinedParameter(rule!, params);
  if (missing !== undefined) return err(400, 'UndefinedPolicyParameter', ruleInvalid(name, `The policy parameter '${missing}' is not defined in the policy definition parameters.`));
  return checkDetails(name, then, effects);
}

function putDefinition(e: Engine, c: Call): Reply {
  const name = c.names[0]!;
  const id = `/subscriptions/${c.sub}/providers/${DEFINITIONS}/${name}`;
  const p = asObject(c.body['properties']);
  const bad = checkDefinition(name, p);
  if (bad) return bad;
  const state = policyState(e.store);
  const existed = state.definitions.has(key(id));
  const body: Json = { properties: { policyType: 'Custom', mode: 'Indexed', parameters: {}, ...structuredClone(p) }, id, type: DEFINITIONS, name };
  state.definitions.set(key(id), body);
  return { status: existed ? 200 : 201, body: structuredClone(body) };
}

/** The assignment's parameter values (the definition's defaults for what it leaves out), or the error. */
export function parameterValues(assignment: string, def: Json, given: unknown): { values: Record<string, unknown> } | { error: Reply } {
  const declared = ((def['properties'] as Json)['parameters'] ?? {}) as Record<string, Json>;
  const values = (asObject(given) ?? {}) as Record<string, Json>;
  const defName = String(def['name']);
  const extra = Object.keys(values).find((k) => entry(declared, k) === undefined);
  if (extra) return { error: err(400, 'UndefinedPolicyParameter', `The policy assignment '${assignment}' has a parameter '${extra}' which is not defined in the policy definition '${defName}'.`) };
  const out: Record<string, unknown> = {};
  for (const [n, d] of Object.entries(declared)) {
    const v = asObject(entry(values, n));
    if (v === undefined && !('defaultValue' in d)) return { error: err(400, 'MissingPolicyParameter', `The policy assignment '${assignment}' has a missing parameter(s) '${n}' which is defined in the policy definition '${defName}'.`) };
    out[n] = v ? v['value'] : d['defaultValue'];
    const allowed = d['allowedValues'];
    if (Array.isArray(allowed) && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(out[n]))) {
      return { error: err(400, 'InvalidPolicyParameters', `The value '${String(out[n])}' is not allowed for policy parameter '${n}' in policy definition '${defName}'. The allowed values are '${allowed.join(', ')}'.`) };
    }
  }
  return { values: out };
}

function putAssignment(e: Engine, c: Call): Reply {
  const rg = c.rg ? e.store.groupName(c.sub, c.rg) : '';
  if (rg === undefined) return E.resourceGroupNotFound(c.rg);
  const scope = rg ? groupId(c.sub, rg) : `/subscriptions/${c.sub}`;
  const name = c.names[0]!;
  const id = `${scope}/providers/${ASSIGNMENTS}/${name}`;
  const p = asObject(c.body['properties']) ?? {};
  const state = policyState(e.store);
  const def = state.definitions.get(key(String(p['policyDefinitionId'] ?? '')));
  if (!def) return err(404, 'PolicyDefinitionNotFound', `The policy definition '${String(p['policyDefinitionId'] ?? '').split('/').pop()!}' could not be found.`);
  const given = parameterValues(name, def, p['parameters']);
  if ('error' in given) return given.error;
  const fns: Functions = policyFunctions({ params: given.values, sub: c.sub, rg: { id: scope, name: rg, location: '' } });
  const effect = String(evaluate(String(entry(asObject(((def['properties'] as Json)['policyRule'] as Json)['then'])!, 'effect')), fns)).toLowerCase();
  const identity = asObject(c.body['identity']);
  const hasIdentity = identity !== undefined && String(identity['type'] ?? 'None').toLowerCase() !== 'none';
  if ((effect === 'deployifnotexists' || effect === 'modify') && !hasIdentity) {
    return err(400, 'ResourceIdentityRequired', `The policy assignment '${name}' request is invalid. Policy assignments must include a resource identity when assigning '${effect === 'modify' ? 'Modify' : 'DeployIfNotExists'}' policy definitions.`);
  }
  if (hasIdentity && typeof c.body['location'] !== 'string') return err(400, 'LocationRequired', 'The location property is required for this definition.');
  const existed = state.assignments.has(key(id));
  const body: Json = {
    properties: { enforcementMode: 'Default', notScopes: [], ...structuredClone(p), scope },
    id, type: ASSIGNMENTS, name,
    ...(typeof c.body['location'] === 'string' ? { location: c.body['location'] } : {}),
    ...(hasIdentity ? { identity: { type: identity['type'], principalId: randomUUID(), tenantId: e.store.tenants.get(key(c.sub)) } } : {}),
  };
  state.assignments.set(key(id), body);
  return { status: existed ? 200 : 201, body: structuredClone(body) };
}

function getOne(map: (s: PolicyState) => Map<string, Json>, kind: string): (e: Engine, c: Call) => Reply {
  return (e, c) => {
    const scope = c.rg ? groupId(c.sub, c.rg) : `/subscriptions/${c.sub}`;
    const found = map(policyState(e.store)).get(key(`${scope}/providers/${kind}/${c.names[0]!}`));
    return found ? { status: 200, body: structuredClone(found) } : err(404, kind === DEFINITIONS ? 'PolicyDefinitionNotFound' : 'PolicyAssignmentNotFound', `The ${kind === DEFINITIONS ? 'policy definition' : 'policy assignment'} '${c.names[0]!}' could not be found.`);
  };
}

export const POLICY_ROUTES: Route[] = [
  { type: DEFINITIONS, inGroup: false, names: 1, methods: { PUT: putDefinition, GET: getOne((s) => s.definitions, DEFINITIONS) } },
  { type: ASSIGNMENTS, inGroup: false, names: 1, methods: { PUT: putAssignment, GET: getOne((s) => s.assignments, ASSIGNMENTS) } },
  { type: ASSIGNMENTS, inGroup: true, names: 1, methods: { PUT: putAssignment, GET: getOne((s) => s.assignments, ASSIGNMENTS) } },
];
