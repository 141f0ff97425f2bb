// The layout's promises, checked from the source itself: folders import one way (src/README.md), only
// src/system/ starts processes, no source file over 300 lines and no function over 60.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** What each folder may import (besides itself and node:/npm packages), bottom first. */
export const MAY_IMPORT: Record<string, readonly string[]> = {
  shared: [],
  parsers: ['shared'],
  system: ['shared', 'parsers'],
  keys: ['shared', 'parsers', 'system'],
  encryption: ['shared', 'parsers', 'system', 'keys'],
  protocol: ['shared', 'parsers', 'system', 'keys', 'encryption'],
  commands: ['shared', 'parsers', 'system', 'keys', 'encryption', 'protocol'],
  // the operator CLI runs on the operator's machine, never on the VM: it shares only the error table and report types
  operator: ['shared'],
  '.': ['shared', 'parsers', 'system', 'keys', 'encryption', 'protocol', 'commands'],
};
/** The core receives the system adapters as parameters: from system/ it imports types and constants only. */
const CORE = new Set(['keys', 'encryption']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
}
const folderOf = (file: string) => relative(SRC, file).split('/').slice(0, -1)[0] ?? '.';

interface Import { from: string; spec: string; typeOnly: boolean; names: string[] }

function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const bindings = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : [];
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && bindings.length > 0 && bindings.every((b) => b.isTypeOnly)));
      out.push({ from: file, spec: n.moduleSpecifier.text, typeOnly, names: bindings.filter((b) => !b.isTypeOnly).map((b) => b.name.text).concat(c?.name ? [c.name.text] : []) });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push({ from: file, spec: n.moduleSpecifier.text, typeOnly: n.isTypeOnly, names: [] });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push({ from: file, spec: n.arguments[0].text, typeOnly: false, names: ['*'] });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Every rule an import breaks, as a line naming the file, the import and the rule. */
export function importViolations(file: string, text: string): string[] {
  const out: string[] = [];
  const from = folderOf(file);
  for (const i of importsOf(file, text)) {
    if (!i.spec.startsWith('.')) {
      if ((i.spec === 'node:child_process' || i.spec === 'execa') && from !== 'system') out.push(`${relative(SRC, file)}: imports ${i.spec}; only src/system/ starts processes`);
      continue;
    }
    const target = resolve(dirname(file), i.spec);
    if (relative(SRC, target).startsWith('..')) continue; // data from outside src/ (package.json)
    const to = folderOf(target);
    if (to === from) continue;
    if (!(MAY_IMPORT[from] ?? []).includes(to)) out.push(`${relative(SRC, file)}: imports ${i.spec}; ${from}/ may import only ${(MAY_IMPORT[from] ?? []).join(', ') || 'nothing of ours'}`);
    else if (CORE.has(from) && to === 'system' && !i.typeOnly && i.names.some((n) => !/^[A-Z][A-Z0-9_]*$/.test(n))) {
      out.push(`${relative(SRC, file)}: imports ${i.names.join(', ')} from ${i.spec}; the core receives adapters as parameters (types and constants only)`);
    }
  }
  return out;
}

/** Functions (declarations, methods, arrows, expressions) longer than `max` lines, as `file:line name (N lines)`. */
export function longFunctions(file: string, text: string, max: number): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n)) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const name = (n as { name?: ts.Node }).name?.getText(sf) ?? (ts.isVariableDeclaration(n.parent) ? n.parent.name.getText(sf) : ts.isPropertyAssignment(n.parent) ? n.parent.name.getText(sf) : '(anonymous)');
      if (end - start + 1 > max) out.push(`${relative(SRC, file)}:${start + 1} ${name} (${end - start + 1} lines)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('layout', () => {
  const files = sources(SRC).map((f) => ({ f, text: readFileSync(f, 'utf8') }));

  it('every folder of src/ is in the import rule', () => {
    const folders = new Set(files.map(({ f }) => folderOf(f)));
    expect([...folders].filter((d) => !(d in MAY_IMPORT))).toEqual([]);
  });

  it('imports point one way, and only src/system/ starts processes', () => {
    expect(files.flatMap(({ f, text }) => importViolations(f, text))).toEqual([]);
  });

  it('the rule catches an import that points the wrong way', () => {
    const at = (p: string) => join(SRC, p);
    expect(importViolations(at('system/x.ts'), "import { classifyVolumes } from '../encryption/discovery.ts';")).toHaveLength(1);
    expect(importViolations(at('shared/x.ts'), "import type { Report } from '../protocol/status.ts';")).toHaveLength(1);
    expect(importViolations(at('encryption/x.ts'), "import { cryptsetup } from '../system/cryptsetup.ts';")).toHaveLength(1);
    expect(importViolations(at('keys/x.ts'), "const m = await import('../commands/machine.ts');")).toHaveLength(1);
    expect(importViolations(at('encryption/x.ts'), "import { execa } from 'execa';")).toHaveLength(1);
    expect(importViolations(at('encryption/x.ts'), "import { REDUCE_DEVICE_BYTES, type Cryptsetup } from '../system/cryptsetup.ts';\nimport type { Tools } from './steps.ts';")).toEqual([]);
    expect(importViolations(at('commands/x.ts'), "import { cryptsetup } from '../system/cryptsetup.ts';")).toEqual([]);
  });

  it('no source file is over 300 lines', () => {
    expect(files.filter(({ text }) => text.split('\n').length > 300).map(({ f, text }) => `${relative(SRC, f)} (${text.split('\n').length})`)).toEqual([]);
  });

  it('no function is over 60 lines', () => {
    expect(files.flatMap(({ f, text }) => longFunctions(f, text, 60))).toEqual([]);
    expect(longFunctions('x.ts', `function f() {\n${'  g();\n'.repeat(60)}}\n`, 60)).toEqual(['../x.ts:1 f (62 lines)']);
  });
});
