// What Azure Policy does with an assignment, played on demand by a test (Azure runs it on its own schedule): for
// each VM in the assignment's scope (not in its notScopes) that the rule's `if` matches, find its related
// resources (details.type: the VM's extensions, or only details.name), and the VM is compliant when one of them
// meets the existenceCondition. For DeployIfNotExists, each non-compliant VM gets details.deployment run through
// the deployments endpoint's own path, in the VM's resource group, its parameters evaluated by the policy first
// (field() reads the VM, parameters() the assignment), as Microsoft's docs on the effect describe. The
// deployment's name is recalled ("PolicyDeployment_" and digits), not quoted.
import { randomInt } from 'node:crypto';
import { evaluate, evaluateDeep } from './arm-deploy-expr.ts';
import { awaitDeployment, startDeployment } from './arm-deploy.ts';
import { type PolicyContext, holds, policyFunctions } from './arm-policy-eval.ts';
import { parameterValues, policyState } from './arm-policy.ts';
import type { Engine } from './arm-routes.ts';
import { type Json, type Machine, groupId, key } from './arm-store.ts';
import { extensionBody, machineBody } from './arm-views.ts';

export interface ComplianceResult {
  resourceId: string;
  complianceState: 'Compliant' | 'NonCompliant';
  /** For DeployIfNotExists on a non-compliant VM: the deployment remediation ran, as GET returns it at its end. */
  deployment?: Json;
}

interface Assigned { rule: Json; params: Record<string, unknown> }

function assigned(e: Engine, assignmentId: string): Assigned & { scope: string; notScopes: string[] } {
  const { definitions, assignments } = policyState(e.store);
  const a = assignments.get(key(assignmentId));
  if (!a) throw new Error(`fake ARM: no policy assignment ${assignmentId}`);
  const p = a['properties'] as Json;
  const def = definitions.get(key(String(p['policyDefinitionId'])));
  if (!def) throw new Error(`fake ARM: the definition of ${assignmentId} is gone`);
  const given = parameterValues(String(a['name']), def, p['parameters']);
  if ('error' in given) throw new Error(`fake ARM: ${JSON.stringify(given.error.body)}`);
  return {
    rule: (def['properties'] as Json)['policyRule'] as Json, params: given.values,
    scope: key(String(p['scope'])), notScopes: ((p['notScopes'] ?? []) as string[]).map(key),
  };
}

function contextOf(e: Engine, m: Machine, params: Record<string, unknown>): PolicyContext {
  const [, , sub, , rgName] = m.id.split('/');
  const group = e.store.groups.get(key(groupId(sub!, rgName!)));
  const vm = machineBody(m, false);
  return { resource: vm, fullName: String(vm['name']), primary: vm, params, sub: sub!, rg: { id: groupId(sub!, group?.name ?? rgName!), name: group?.name ?? rgName!, location: group?.location ?? '' } };
}

/** The related resources meet the existenceCondition: the VM is compliant. */
function compliant(m: Machine, cx: PolicyContext, details: Json): boolean {
  if (key(String(details['type'])) !== 'microsoft.compute/virtualmachines/extensions') throw new Error(`fake ARM: related resources of type ${String(details['type'])} are not modelled`);
  const fns = policyFunctions(cx);
  const name = details['name'] === undefined ? undefined : key(String(evaluate(String(details['name']), fns)));
  const related = [...m.extensions.values()].filter((x) => name === undefined || key(String(x.body['name'])) === name).map((x) => extensionBody(m, x, false));
  const condition = details['existenceCondition'] as Json | undefined;
  return related.some((x) => !condition || holds(condition, { ...cx, resource: x, fullName: `${cx.fullName}/${String(x['name'])}` }));
}

async function remediateOne(e: Engine, m: Machine, cx: PolicyContext, details: Json): Promise<Json> {
  if (details['deploymentScope'] !== undefined && key(String(details['deploymentScope'])) !== 'resourcegroup') throw new Error('fake ARM: subscription-scope remediation deployments are not modelled');
  const props = structuredClone(((details['deployment'] as Json)['properties'] ?? {}) as Json);
  props['parameters'] = evaluateDeep(props['parameters'] ?? {}, policyFunctions(cx));
  const name = `PolicyDeployment_${String(randomInt(1e9, 1e10 - 1))}${String(randomInt(1e9, 1e10 - 1))}`;
  const started = startDeployment(e, cx.sub, cx.rg.name, name, props);
  if (started.reply.status >= 400) return { name, properties: { provisioningState: 'Failed', error: (started.reply.body as Json)['error'] } };
  return (await awaitDeployment(e, started.id))!;
}

/** Evaluates the assignment over the VMs in its scope; for DeployIfNotExists, deploys to the non-compliant ones. */
export async function remediate(e: Engine, assignmentId: string): Promise<ComplianceResult[]> {
  const { rule, params, scope, notScopes } = assigned(e, assignmentId);
  const then = rule['then'] as Json;
  const results: ComplianceResult[] = [];
  for (const m of [...e.store.machines.values()]) {
    const id = key(m.id);
    if (!id.startsWith(`${scope}/`) || notScopes.some((n) => id === n || id.startsWith(`${n}/`))) continue;
    const cx = contextOf(e, m, params);
    if (!holds(rule['if'] as Json, cx)) continue;
    const effect = String(evaluate(String(then['effect']), policyFunctions(cx))).toLowerCase();
    if (effect === 'disabled') continue;
    if (effect !== 'auditifnotexists' && effect !== 'deployifnotexists') throw new Error(`fake ARM: remediate evaluates AuditIfNotExists and DeployIfNotExists only, not ${effect}`);
    const ok = compliant(m, cx, then['details'] as Json);
    const r: ComplianceResult = { resourceId: m.id, complianceState: ok ? 'Compliant' : 'NonCompliant' };
    if (!ok && effect === 'deployifnotexists') r.deployment = await remediateOne(e, m, cx, then['details'] as Json);
    results.push(r);
  }
  return results;
}
