// Azure Policy's rule language over the fake's resources, as far as this project's policies use it: allOf /
// anyOf / not; field and value conditions with equals, notEquals, in, notIn, like, notLike, contains,
// notContains, exists; the fields name, fullName, kind, type, location, id, identity.type, tags and tags['x'],
// and the aliases below. From Microsoft's docs (definition-structure-policy-rule.md): string comparisons
// ignore case (InvariantCultureIgnoreCase), like takes one '*' wildcard, locations compare without spaces,
// functions in a rule are the template functions plus field() and parameters() but not reference(),
// resourceId() or newGuid(). That a missing field is unequal to anything (so notEquals/notIn/notLike hold) is
// inferred from how built-in policies use them. Anything else is refused when the definition is created, as
// not modelled, rather than evaluated by guess.
import { ExpressionError, type Functions, PURE, arity, evaluate, evaluateDeep, isExpression } from './arm-deploy-expr.ts';
import type { Json } from './arm-store.ts';

/** The aliases this fake resolves, and where each reads in the resource (names from built-in policies in
 *  Azure/azure-policy: Compute/VMAntimalwareExtension_DINE.json, Compute/VMOMSExtensionUbuntu_DINE.json,
 *  Guest Configuration/GuestConfiguration_LinuxVMEncryption_AINE.json; the paths are inferred from the names). */
const ALIASES: Record<string, string[]> = {
  'microsoft.compute/virtualmachines/storageprofile.osdisk.ostype': ['properties', 'storageProfile', 'osDisk', 'osType'],
  'microsoft.compute/virtualmachines/osprofile.linuxconfiguration': ['properties', 'osProfile', 'linuxConfiguration'],
  'microsoft.compute/imagepublisher': ['properties', 'storageProfile', 'imageReference', 'publisher'],
  'microsoft.compute/imageoffer': ['properties', 'storageProfile', 'imageReference', 'offer'],
  'microsoft.compute/imagesku': ['properties', 'storageProfile', 'imageReference', 'sku'],
  'microsoft.compute/virtualmachines/extensions/publisher': ['properties', 'publisher'],
  'microsoft.compute/virtualmachines/extensions/type': ['properties', 'type'],
  'microsoft.compute/virtualmachines/extensions/typehandlerversion': ['properties', 'typeHandlerVersion'],
  'microsoft.compute/virtualmachines/extensions/provisioningstate': ['properties', 'provisioningState'],
};
const TOP = ['name', 'kind', 'type', 'location', 'id', 'tags'];
const TAG = /^tags(?:\['(.*)'\]|\[(.*)\]|\.(.*))$/s;
export const OPERATORS = ['equals', 'notEquals', 'in', 'notIn', 'like', 'notLike', 'contains', 'notContains', 'exists'];
export const KNOWN_ALIASES = Object.keys(ALIASES);

export const knownField = (f: string): boolean =>
  isExpression(f) || TOP.includes(f.toLowerCase()) || ['fullname', 'identity.type'].includes(f.toLowerCase()) || TAG.test(f) || f.toLowerCase() in ALIASES;

const lookup = (o: unknown, name: string): unknown => {
  if (typeof o !== 'object' || o === null) return undefined;
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : (o as Json)[k];
};

/** A field of a resource: a top-level property, a tag, or an alias. */
export function fieldOf(r: Json, f: string, fullName: string): unknown {
  const lower = f.toLowerCase();
  if (lower === 'fullname') return fullName;
  if (lower === 'identity.type') return lookup(r['identity'], 'type');
  const tag = TAG.exec(f);
  if (tag) return lookup(r['tags'] ?? {}, tag[1] !== undefined ? tag[1].replace(/''/g, "'") : (tag[2] ?? tag[3])!);
  if (TOP.includes(lower)) return lookup(r, lower);
  const path = ALIASES[lower];
  if (!path) throw new ExpressionError(`fake ARM: the policy field '${f}' is not modelled by this fake.`);
  return path.reduce<unknown>((o, p) => lookup(o, p), r);
}

export interface PolicyContext {
  /** What field conditions read: the evaluated resource, or in an existenceCondition the related one. */
  resource: Json;
  fullName: string;
  /** What field() reads: always the resource the `if` matched. */
  primary: Json;
  params: Record<string, unknown>;
  sub: string;
  rg: { id: string; name: string; location: string };
}

export function policyFunctions(cx: Omit<PolicyContext, 'resource' | 'fullName' | 'primary'> & { primary?: Json }): Functions {
  return {
    ...PURE,
    parameters: (a) => {
      arity('parameters', a, 1, 1);
      const k = Object.keys(cx.params).find((x) => x.toLowerCase() === String(a[0]).toLowerCase());
      if (k === undefined) throw new ExpressionError(`The policy parameter '${String(a[0])}' is not defined.`);
      return cx.params[k];
    },
    field: (a) => {
      arity('field', a, 1, 1);
      if (!cx.primary) throw new ExpressionError("The template function 'field' is not expected at this location.");
      return fieldOf(cx.primary, String(a[0]), String(cx.primary['name']));
    },
    resourcegroup: () => ({ ...cx.rg, type: 'Microsoft.Resources/resourceGroups' }),
    subscription: () => ({ id: `/subscriptions/${cx.sub}`, subscriptionId: cx.sub }),
  };
}

const norm = (v: unknown, location: boolean): string => {
  if (typeof v === 'string') return (location ? v.replace(/\s+/g, '') : v).toLowerCase();
  return typeof v === 'number' || typeof v === 'boolean' ? String(v).toLowerCase() : JSON.stringify(v);
};

function like(s: unknown, pattern: unknown): boolean {
  if (typeof s !== 'string') return false;
  const [head, tail] = String(pattern).toLowerCase().split('*', 2);
  const v = s.toLowerCase();
  return tail === undefined ? v === head : v.length >= head!.length + tail.length && v.startsWith(head!) && v.endsWith(tail);
}

function compare(op: string, s: unknown, want: unknown, location: boolean): boolean {
  const present = s !== undefined && s !== null;
  const eq = (a: unknown, b: unknown) => norm(a, location) === norm(b, location);
  switch (op) {
    case 'equals': return present && eq(s, want);
    case 'notequals': return !(present && eq(s, want));
    case 'in': return present && Array.isArray(want) && want.some((w) => eq(s, w));
    case 'notin': return !(present && Array.isArray(want) && want.some((w) => eq(s, w)));
    case 'like': return like(s, want);
    case 'notlike': return !like(s, want);
    case 'contains': return Array.isArray(s) ? s.some((x) => eq(x, want)) : typeof s === 'string' && s.toLowerCase().includes(String(want).toLowerCase());
    case 'notcontains': return !compare('contains', s, want, location);
    default: return present === (String(want).toLowerCase() === 'true'); // exists
  }
}

const operatorOf = (c: Json) => Object.keys(c).find((k) => OPERATORS.some((o) => o.toLowerCase() === k.toLowerCase()));

/** Whether a condition (or logical operator) holds for cx.resource. */
export function holds(c: Json, cx: PolicyContext): boolean {
  const key = (k: string) => Object.keys(c).find((x) => x.toLowerCase() === k.toLowerCase());
  const all = key('allOf'), any = key('anyOf'), not = key('not');
  if (all) return (c[all] as Json[]).every((x) => holds(x, cx));
  if (any) return (c[any] as Json[]).some((x) => holds(x, cx));
  if (not) return !holds(c[not] as Json, cx);
  const fns = policyFunctions(cx);
  const field = key('field');
  const name = field ? String(evaluate(String(c[field]), fns)) : '';
  const subject = field ? fieldOf(cx.resource, name, cx.fullName) : evaluateDeep(c[key('value')!], fns);
  const op = operatorOf(c)!;
  return compare(op.toLowerCase(), subject, evaluateDeep(c[op], fns), name.toLowerCase() === 'location');
}

/** What in a condition this fake cannot evaluate, or undefined; checked when a definition is created. */
export function unmodelled(c: unknown): string | undefined {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return 'a condition that is not an object';
  const o = c as Json;
  const keys = Object.keys(o).map((k) => k.toLowerCase());
  if (keys.includes('allof') || keys.includes('anyof')) {
    const list = Object.entries(o).find(([k]) => ['allof', 'anyof'].includes(k.toLowerCase()))![1];
    return Array.isArray(list) ? list.map(unmodelled).find((x) => x) : 'allOf/anyOf that is not an array';
  }
  if (keys.includes('not')) return unmodelled(Object.entries(o).find(([k]) => k.toLowerCase() === 'not')![1]);
  if (keys.includes('count')) return "a 'count' expression";
  const field = Object.entries(o).find(([k]) => k.toLowerCase() === 'field')?.[1];
  if (field === undefined && !keys.includes('value')) return `a condition without 'field' or 'value' (${JSON.stringify(c)})`;
  if (field !== undefined && !knownField(String(field))) return `the field '${String(field)}' (this fake resolves ${KNOWN_ALIASES.join(', ')})`;
  const ops = keys.filter((k) => k !== 'field' && k !== 'value');
  if (ops.length !== 1 || !operatorOf(o)) return `the condition operator(s) '${ops.join(', ')}' (this fake evaluates ${OPERATORS.join(', ')})`;
  return undefined;
}
