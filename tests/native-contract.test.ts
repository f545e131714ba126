// The contract between the TypeScript layer and the addons: the op and dtype codes of src/backend/codes.ts
// against the C++ enums they mirror (parsed from the headers), and every export of the CPU addon and of the
// CUDA addon (the real build and the emulated one, where built) against the one list of entry points in
// src/native-entry-points.ts: the same names, the same number of arguments, and bad calls throw a TypeError
// naming the entry point while the process lives.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BinaryOp, CudaDTypeCode, DTypeCode, RandomKind, ReduceOp, UnaryOp } from '../src/backend/codes.js';
import { native } from '../src/native.js';
import { cpuEntryPoints, cudaEntryPoints, type EntryPoint } from '../src/native-entry-points.js';

const root = resolve(import.meta.dirname, '..');

/** The enumerators of C++ enum `name` in `file` with their values (implicit ones count up from the last). */
function cppEnum(file: string, name: string): Map<string, number> {
  const text = readFileSync(join(root, file), 'utf8').replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const m = new RegExp(`enum\\s+(?:class\\s+)?${name}\\s*(?::\\s*\\w+\\s*)?\\{([^}]*)\\}`).exec(text);
  if (!m) throw new Error(`enum ${name} not found in ${file}`);
  const out = new Map<string, number>();
  let next = 0;
  for (const part of m[1].split(',').map((p) => p.trim()).filter(Boolean)) {
    const [id, value] = part.split('=').map((p) => p.trim());
    const v = value === undefined ? next : Number(value);
    out.set(id, v);
    next = v + 1;
  }
  return out;
}

// TS names are the C++ enumerators in camelCase (LogSumExp -> logsumexp is the one spelled differently).
function expectSameCodes(ts: Record<string, number>, cpp: Map<string, number>, rename: (cppName: string) => string): void {
  const fromCpp = Object.fromEntries([...cpp].filter(([id]) => id !== 'Count').map(([id, v]) => [rename(id), v]));
  expect(ts).toEqual(fromCpp);
  if (cpp.has('Count')) expect(cpp.get('Count')).toBe(Object.keys(ts).length);
}
const lower = (id: string) => id.toLowerCase();
const lowerKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));

describe('op and dtype codes match the C++ enums', () => {
  it('UnaryOp, BinaryOp (native/ops/elementwise.h)', () => {
    expectSameCodes(lowerKeys(UnaryOp), cppEnum('native/ops/elementwise.h', 'UnaryOp'), lower);
    expectSameCodes(lowerKeys(BinaryOp), cppEnum('native/ops/elementwise.h', 'BinaryOp'), lower);
  });

  it('ReduceOp (native/ops/reduce.h)', () => {
    expectSameCodes(lowerKeys(ReduceOp), cppEnum('native/ops/reduce.h', 'ReduceOp'), lower);
  });

  it('DType (native/core/dtype.h) and the CUDA addon\'s DevDType (cuda/buffers.h)', () => {
    expectSameCodes(DTypeCode, cppEnum('native/core/dtype.h', 'DType'), lower);
    const cuda = { kF32: 'float32', kI32: 'int32', kBF16: 'bfloat16' } as Record<string, string>;
    expectSameCodes(CudaDTypeCode, cppEnum('cuda/buffers.h', 'DevDType'), (id) => cuda[id] ?? id);
  });

  it('the codes mean what their names say on the engine', () => {
    // Positional enums can agree in names and still be misread; a few probes of behaviour per table.
    const x = native.alloc(3, DTypeCode.float32);
    const out = native.alloc(3, DTypeCode.float32);
    const idx = native.alloc(1, DTypeCode.int32);
    const read = (id: number, n = 3) => {
      const a = new Float32Array(n);
      native.read(id, 0, a);
      return Array.from(a);
    };
    try {
      native.write(x, 0, Float32Array.from([-2, 0.5, 4]));
      native.unary(UnaryOp.neg, out, x, 0, [3], [1], 0, 0);
      expect(read(out)).toEqual([2, -0.5, -4]);
      native.unary(UnaryOp.affine, out, x, 0, [3], [1], 2, 1);
      expect(read(out)).toEqual([-3, 2, 9]);
      native.binary(BinaryOp.maximum, out, x, 0, [1], x, 0, [0], [3]);
      expect(read(out)).toEqual([-2, 0.5, 4]);
      native.binary(BinaryOp.sub, out, x, 0, [1], x, 2, [0], [3]);
      expect(read(out)).toEqual([-6, -3.5, 0]);
      native.reduceRows(ReduceOp.max, out, x, 0, 1, 3);
      expect(read(out, 1)).toEqual([4]);
      native.reduceRows(ReduceOp.argmin, idx, x, 0, 1, 3);
      const i = new Int32Array(1);
      native.read(idx, 0, i);
      expect(i[0]).toBe(0);
      native.randomFill(out, 3, RandomKind.uniform, 1, 0, 5, 6);
      expect(read(out).every((v) => v >= 5 && v < 6)).toBe(true);
      expect(() => native.randomFill(out, 3, 2, 1, 0, 0, 1)).toThrow(/kind must be 0 \(uniform\) or 1 \(normal\)/);
    } finally {
      for (const id of [x, out, idx]) native.free(id);
    }
  });
});

const require = createRequire(import.meta.url);
type Addon = Record<string, (...args: unknown[]) => unknown>;

// Each export against its entry point: present, a function, and rejecting bad calls with a TypeError that names it.
function checkAddon(addon: Addon, list: Record<string, EntryPoint>, opPrefix: string): void {
  it('exports exactly the listed entry points, as functions', () => {
    expect(Object.keys(addon).sort()).toEqual(Object.keys(list).sort());
    for (const name of Object.keys(list)) expect(typeof addon[name], name).toBe('function');
  });

  it('each takes the listed number of arguments: one more is a TypeError naming it', () => {
    const wrong: string[] = [];
    for (const [name, e] of Object.entries(list)) {
      const n = e.args.length;
      const tooMany = new RegExp(`^thinkgrad\\.${opPrefix}${name}: takes at most ${n} arguments, got ${n + 1}$`);
      let message = '';
      try {
        addon[name](...Array.from({ length: n + 1 }, () => Symbol('bad')));
      } catch (err) {
        message = err instanceof TypeError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
      }
      if (!tooMany.test(message)) wrong.push(`${name} with ${n + 1} arguments: ${message || 'no error'}`);
      // With the listed number of arguments, the arity check passes and the first argument's check fails.
      if (n > 0) {
        try {
          addon[name](...Array.from({ length: n }, () => Symbol('bad')));
          wrong.push(`${name} accepted ${n} bad arguments`);
        } catch (err) {
          const m = (err as Error).message;
          if (!(err instanceof TypeError) || !m.startsWith(`thinkgrad.${opPrefix}${name}: `) || /takes at most/.test(m))
            wrong.push(`${name} with ${n} bad arguments: ${(err as Error).name}: ${m}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a call without its required arguments throws a TypeError naming the entry point', () => {
    for (const [name, e] of Object.entries(list)) {
      if (e.args.length === 0 || e.args[0].includes('?:')) continue;
      expect(() => addon[name](), name).toThrow(TypeError);
      expect(() => addon[name](), name).toThrow(new RegExp(`^thinkgrad\\.${opPrefix}${name}: `));
    }
  });
}

describe('the CPU addon against the list of entry points', () => {
  checkAddon(native as unknown as Addon, cpuEntryPoints, '');
});

// The CUDA addon loads without a device (deviceInfo says why), so its exports are checked wherever it is built.
const cudaBuilds = [
  ['the CUDA addon', process.env.THINKGRAD_CUDA_PATH ?? join(root, 'build-cuda', 'Release', 'thinkgrad_cuda.node')],
  ['the emulated CUDA addon', join(root, 'cuda', 'emulator', 'build', 'Release', 'thinkgrad_cuda_emulated.node')],
] as const;
for (const [what, path] of cudaBuilds) {
  const built = existsSync(path);
  if (!built) console.log(`native-contract: ${what} is not built (${path}); its exports are not checked`);
  describe.skipIf(!built)(`${what} against the list of entry points`, () => {
    checkAddon(built ? require(path) as Addon : {}, cudaEntryPoints, 'cuda.');
  });
}
