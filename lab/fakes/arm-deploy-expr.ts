// ARM's template language, as far as the templates and policies of this project use it: a string '[...]' is an
// expression (function calls, 'string' literals with '' for a quote, integers, .property and [index] access), a
// string '[[...' is the literal '[...'. Templates and Azure Policy rules share the language but not the
// functions (a policy has field(), a template reference() and newGuid()), so each caller passes its own table;
// the pure ones are here. A function this fake does not know is ARM's "The template function 'x' is not valid",
// not a guess at what it would return. Function and property names are case-insensitive, as in ARM.

/** `invalid`: the template is wrong (ARM refuses it before deploying); `parse`: an expression does not parse;
 *  `runtime`: only the deployment finds out (reference() to a resource that is not there). */
export type ExpressionErrorKind = 'invalid' | 'parse' | 'runtime';
export class ExpressionError extends Error {
  readonly kind: ExpressionErrorKind;
  constructor(message: string, kind: ExpressionErrorKind = 'invalid') {
    super(message);
    this.kind = kind;
  }
}

export type Fn = (args: unknown[]) => unknown;
/** Keys lower-case. */
export type Functions = Readonly<Record<string, Fn>>;

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'call'; name: string; args: Node[] }
  | { k: 'prop'; of: Node; name: string }
  | { k: 'index'; of: Node; at: Node };

function parseError(src: string, i: number, token: string): ExpressionError {
  const actual = i >= src.length ? 'EndOfData' : src[i] === "'" ? 'Literal' : /\w/.test(src[i]!) ? 'Identifier' : `'${src[i]!}'`;
  return new ExpressionError(`Unable to parse language expression '${src}': expected token '${token}' and actual '${actual}'.`, 'parse');
}

/** The 'string' literal opening at src[at] ('' is a quote); its value and where it ends. */
function literal(src: string, at: number): { v: string; end: number } {
  let out = '';
  for (let i = at + 1; i < src.length; i++) {
    if (src[i] === "'") { if (src[i + 1] !== "'") return { v: out, end: i + 1 }; i++; }
    out += src[i];
  }
  throw parseError(src, src.length, 'Literal');
}

/** Recursive descent over one expression; the messages follow ARM's "expected token 'X' and actual 'Y'". */
function parse(src: string): Node {
  let i = 0;
  const ws = () => { while (/\s/.test(src[i] ?? '')) i++; };
  const fail = (token: string): never => { throw parseError(src, i, token); };
  const call = (name: string): Node => {
    ws();
    if (src[i] !== '(') fail('LeftParenthesis');
    i++;
    const args: Node[] = [];
    ws();
    if (src[i] === ')') { i++; return { k: 'call', name, args }; }
    for (;;) {
      args.push(expr());
      ws();
      if (src[i] === ',') { i++; continue; }
      if (src[i] === ')') { i++; return { k: 'call', name, args }; }
      fail('RightParenthesis');
    }
  };
  const primary = (): Node => {
    ws();
    if (src[i] === "'") { const l = literal(src, i); i = l.end; return { k: 'lit', v: l.v }; }
    const num = /^-?\d+/.exec(src.slice(i));
    if (num) { i += num[0].length; return { k: 'lit', v: Number(num[0]) }; }
    const id = /^[A-Za-z_]\w*/.exec(src.slice(i));
    if (!id) return fail('Identifier');
    i += id[0].length;
    return call(id[0]);
  };
  const expr = (): Node => {
    let n = primary();
    for (;;) {
      ws();
      if (src[i] === '.') {
        i++;
        const id = /^[A-Za-z_$][\w$-]*/.exec(src.slice(i));
        if (!id) return fail('Identifier');
        i += id[0].length;
        n = { k: 'prop', of: n, name: id[0] };
      } else if (src[i] === '[') {
        i++;
        const at = expr();
        ws();
        if (src[i] !== ']') fail('RightSquareBracket');
        i++;
        n = { k: 'index', of: n, at };
      } else return n;
    }
  };
  const root = expr();
  ws();
  if (i < src.length) fail('EndOfData');
  return root;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What reference() gives while a template is only being checked: ARM validates every expression before the
 *  deployment, but reads the referenced resources only while deploying. Any property of it is itself. */
export const DEFERRED: Readonly<Record<string, never>> = Object.freeze({});

function property(of: unknown, name: string): unknown {
  if (of === DEFERRED) return DEFERRED;
  if (!isObject(of)) throw new ExpressionError(`The language expression property '${name}' can't be evaluated, property name must be a string.`);
  const k = Object.keys(of).find((x) => x.toLowerCase() === name.toLowerCase());
  if (k === undefined) throw new ExpressionError(`The language expression property '${name}' doesn't exist, available properties are '${Object.keys(of).join(', ')}'.`);
  return of[k];
}

function index(of: unknown, at: unknown): unknown {
  if (of === DEFERRED) return DEFERRED;
  if (Array.isArray(of) && typeof at === 'number') {
    if (at < 0 || at >= of.length) throw new ExpressionError(`The language expression property array index '${at}' is out of bounds.`);
    return of[at];
  }
  return property(of, String(at));
}

function run(n: Node, fns: Functions): unknown {
  switch (n.k) {
    case 'lit': return n.v;
    case 'prop': return property(run(n.of, fns), n.name);
    case 'index': return index(run(n.of, fns), run(n.at, fns));
    case 'call': {
      const name = n.name.toLowerCase();
      // ARM evaluates only the branch if() takes, so a branch that would fail is harmless when not taken.
      if (name === 'if') {
        arity('if', n.args, 3, 3);
        const cond = run(n.args[0]!, fns);
        if (cond === DEFERRED) { run(n.args[1]!, fns); run(n.args[2]!, fns); return DEFERRED; }
        if (typeof cond !== 'boolean') throw new ExpressionError("The template language function 'if' expects its first parameter to be of type 'Boolean'.");
        return run(n.args[cond ? 1 : 2]!, fns);
      }
      const f = fns[name];
      if (!f) throw new ExpressionError(`The template function '${n.name}' is not valid.`);
      return f(n.args.map((a) => run(a, fns)));
    }
  }
}

/** Recalled wording; ARM words each function's arity error a little differently. */
export function arity(name: string, args: readonly unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new ExpressionError(`The template language function '${name}' must have ${want} parameter(s), it has ${args.length}.`);
  }
}

export const isExpression = (s: string): boolean => s.startsWith('[') && !s.startsWith('[[') && s.endsWith(']');

/** A string as ARM reads it: '[...]' evaluated, '[[...' the literal without its first '[', anything else itself. */
export function evaluate(s: string, fns: Functions): unknown {
  if (s.startsWith('[[')) return s.slice(1);
  if (!isExpression(s)) return s;
  return run(parse(s.slice(1, -1)), fns);
}

/** Every string in a JSON value evaluated, objects and arrays walked (property names are left as written). */
export function evaluateDeep(v: unknown, fns: Functions): unknown {
  if (typeof v === 'string') return evaluate(v, fns);
  if (Array.isArray(v)) return v.map((x) => evaluateDeep(x, fns));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, evaluateDeep(x, fns)]));
  return v;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** .NET composite formatting as format() does it, for plain {n} items and {{ }} escapes. */
function format(args: unknown[]): string {
  arity('format', args, 1, Infinity);
  return String(args[0]).replace(/\{\{|\}\}|\{(\d+)\}/g, (m, n: string | undefined) => {
    if (n === undefined) return m[0]!;
    if (Number(n) + 1 >= args.length) throw new ExpressionError(`The template language function 'format' failed: index '${n}' is out of range.`);
    return str(args[Number(n) + 1]);
  });
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) return Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => deepEqual(a[k], b[k]));
  return a === b;
}

export const isEmpty = (x: unknown): boolean =>
  x === null || x === undefined || x === '' || (Array.isArray(x) ? x.length === 0 : isObject(x) && Object.keys(x).length === 0);

/** The functions that need no context. equals() compares strings exactly (inferred: ARM documents no case rule). */
export const PURE: Functions = {
  concat: (a) => (a.length > 0 && a.every(Array.isArray) ? (a as unknown[][]).flat(1) : a.map(str).join('')),
  format,
  empty: (a) => { arity('empty', a, 1, 1); return isEmpty(a[0]); },
  equals: (a) => { arity('equals', a, 2, 2); return deepEqual(a[0], a[1]); },
  tolower: (a) => { arity('toLower', a, 1, 1); return str(a[0]).toLowerCase(); },
};
