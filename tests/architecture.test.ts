// The layering of src/ as docs/ARCHITECTURE.md states it, checked on the import graph (parsed with the TypeScript
// compiler): run-time imports form no cycle, the backend layer imports nothing above it (not even types), only
// src/backend/ reaches the addons, nothing above it compares a device with a name, and nothing patches classes or
// augments modules at import.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

interface Module {
  file: string;
  text: string;
  /** Resolved src/ files it imports or re-exports, with whether the import survives compilation. */
  imports: { target: string; runtime: boolean }[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name)).sort();
}

// A declaration is type-only when it says so (`import type`, `export type`) or every named binding is `type X`;
// everything else counts as run-time (even an import the compiler would elide), so the check errs on the strict side.
function parse(file: string): Module {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false);
  const imports: Module['imports'] = [];
  for (const st of sf.statements) {
    let spec: string | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      const c = st.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      const named = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements : null;
      typeOnly = st.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly));
    }
    if (spec?.startsWith('.')) imports.push({ target: resolve(dirname(file), spec.replace(/\.js$/, '.ts')), runtime: !typeOnly });
  }
  return { file, text, imports };
}

const modules = sourceFiles(src).map(parse);
const name = (file: string) => relative(src, file);
const inBackend = (file: string) => name(file).startsWith('backend/');
const isNative = (file: string) => /^native(-entry-points)?\.ts$/.test(name(file));

// Strongly connected components of the graph over the given edges (Tarjan), those with a cycle.
function cycles(edges: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(name(w));
      } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the layering of src/', () => {
  it('finds the modules and their imports', () => {
    expect(modules.length).toBeGreaterThan(50);
    const tensor = modules.find((m) => name(m.file) === 'tensor.ts')!;
    expect(tensor.imports.some((i) => name(i.target) === 'ops/elementwise.ts' && i.runtime)).toBe(true);
  });

  it('has no run-time import cycle (type-only imports are erased and may point up)', () => {
    const runtime = new Map(modules.map((m) => [m.file, m.imports.filter((i) => i.runtime).map((i) => i.target)]));
    expect(cycles(runtime)).toEqual([]);
  });

  it('src/backend/ and src/native*.ts import nothing above them, types included', () => {
    const upward = modules.filter((m) => inBackend(m.file) || isNative(m.file))
      .flatMap((m) => m.imports.filter((i) => !inBackend(i.target) && !isNative(i.target)).map((i) => `${name(m.file)} -> ${name(i.target)}`));
    expect(upward).toEqual([]);
  });

  it('only src/backend/ reaches the addons', () => {
    const outside = modules.filter((m) => !inBackend(m.file) && !isNative(m.file))
      .flatMap((m) => m.imports.filter((i) => isNative(i.target) && i.runtime).map((i) => `${name(m.file)} -> ${name(i.target)}`));
    expect(outside).toEqual([]);
    const loaders = modules.filter((m) => /thinkgrad_(?:native|cuda)|node-gyp-build|\.node['"`]/.test(m.text)).map((m) => name(m.file));
    expect(loaders).toContain('native.ts');
    expect(loaders.every((f) => f.startsWith('backend/') || f === 'native.ts'), loaders.join(', ')).toBe(true);
  });

  it('nothing above src/backend/ compares a device with a device name', () => {
    const pattern = /\bdevice\s*[!=]==?\s*['"`]|['"`](?:cpu|cuda)['"`]\s*[!=]==?\s*[\w.]*device\b/;
    const tests = modules.filter((m) => !inBackend(m.file))
      .flatMap((m) => m.text.split('\n').map((line, i) => [line, i] as const)
        .filter(([line]) => pattern.test(line)).map(([line, i]) => `${name(m.file)}:${i + 1}: ${line.trim()}`));
    expect(tests).toEqual([]);
  });

  it('nothing augments a module or patches a prototype of ours at import', () => {
    const patches = modules.flatMap((m) => {
      const found: string[] = [];
      if (/^\s*declare module ['"]\./m.test(m.text)) found.push(`${name(m.file)}: declare module`);
      if (/^import ['"]\./m.test(m.text)) found.push(`${name(m.file)}: an import for its side effects`);
      if (/\b(Tensor|Module|Backend)\.prototype\b/.test(m.text)) found.push(`${name(m.file)}: prototype`);
      if (/Object\.assign\(\s*\w*[bB]ackend\b/.test(m.text)) found.push(`${name(m.file)}: Object.assign onto a backend`);
      return found;
    });
    expect(patches).toEqual([]);
  });
});
