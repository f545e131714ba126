// Elementwise math with NumPy broadcasting and autograd. Binary ops broadcast through stride-0 views
// (no copies); a number operand becomes a scalar op. Each backward formula is in the comment beside it.
import { record } from '../autograd/function.js';
import type { BinaryOpName, UnaryOpName } from '../backend/codes.js';
import type { Tensor } from '../tensor.js';
import { formatShape, isTensor, sameDevice } from '../tensor-util.js';
import { hasBf16, inFloat32 } from './float32-compute.js';
import { sumToShape } from './raw.js';
import { broadcastShapes, broadcastView, cast } from './shape.js';

export type TensorLike = Tensor | number;

function checkInput(op: string, x: unknown): Tensor {
  if (!isTensor(x)) throw new TypeError(`${op}: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  x.assertLive(op);
  if (x.dtype === 'int32') throw new TypeError(`${op}: expects float32 or bfloat16 tensors, got ${x.dtype} of shape ${formatShape(x.shape)}`);
  return x;
}

function checkNumber(op: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${op}: expected a number, got ${typeof v}`);
  return v;
}

/** @internal Runs a unary kernel into a fresh tensor (no autograd). */
export function unaryRaw(op: UnaryOpName, x: Tensor, p0 = 0, p1 = 0): Tensor {
  const out = x.newEmpty(x.shape, 'float32');
  if (out.numel > 0) x.backend.unary(op, out, x, p0, p1);
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** @internal Runs a binary kernel with broadcasting into a fresh tensor (no autograd). */
export function binaryRaw(op: BinaryOpName, a: Tensor, b: Tensor, name: string = op): Tensor {
  if (a.device !== b.device) throw new TypeError(`${name}: tensors on different devices (${a.device}, ${b.device})`);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = a.newEmpty(shape, 'float32');
  if (out.numel > 0) {
    // An operand of the output's shape is read as it is (strides and all): no view to make and dispose.
    const av = sameShape(a.shape, shape) ? a : broadcastView(a, shape);
    const bv = sameShape(b.shape, shape) ? b : broadcastView(b, shape);
    a.backend.binary(op, out, av, bv);
    if (av !== a) av.dispose();
    if (bv !== b) bv.dispose();
  }
  return out;
}

function unary(name: string, op: UnaryOpName, x: Tensor, backward: (g: Tensor, x: Tensor, y: Tensor) => Tensor,
  p0 = 0, p1 = 0, savesOutput = false): Tensor {
  checkInput(name, x);
  if (x.dtype === 'bfloat16') return inFloat32((x32: Tensor) => unary(name, op, x32, backward, p0, p1, savesOutput), x);
  const y = unaryRaw(op, x, p0, p1);
  return record(name, [x], y, (g) => [backward(g, x, y)], savesOutput ? [y] : []);
}

export const neg = (x: Tensor) => unary('neg', 'neg', x, (g) => unaryRaw('neg', g)); // dx = -g
export const exp = (x: Tensor) => unary('exp', 'exp', x, (g, _x, y) => binaryRaw('mul', g, y), 0, 0, true); // dx = g*y
export const log = (x: Tensor) => unary('log', 'log', x, (g, x) => binaryRaw('div', g, x)); // dx = g/x
export const sqrt = (x: Tensor) => // dx = g*0.5/y
  unary('sqrt', 'sqrt', x, (g, _x, y) => tmp(binaryRaw('div', g, y), (q) => unaryRaw('mulScalar', q, 0.5)), 0, 0, true);
export const rsqrt = (x: Tensor) => // dx = -0.5*g*y^3
  unary('rsqrt', 'rsqrt', x, (g, _x, y) => tmp(unaryRaw('powScalar', y, 3), (y3) => tmp(binaryRaw('mul', g, y3), (p) => unaryRaw('mulScalar', p, -0.5))), 0, 0, true);
export const abs = (x: Tensor) => unary('abs', 'abs', x, (g, x) => tmp(unaryRaw('sign', x), (s) => binaryRaw('mul', g, s))); // dx = g*sign(x)
export const tanh = (x: Tensor) => unary('tanh', 'tanh', x, (g, _x, y) => binaryRaw('tanhBackward', y, g), 0, 0, true); // dx = g*(1-y^2)
export const sigmoid = (x: Tensor) => unary('sigmoid', 'sigmoid', x, (g, _x, y) => binaryRaw('sigmoidBackward', y, g), 0, 0, true); // dx = g*y*(1-y)
export const silu = (x: Tensor) => unary('silu', 'silu', x, (g, x) => binaryRaw('siluBackward', x, g)); // dx = g*(s + x*s*(1-s))
export const gelu = (x: Tensor) => unary('gelu', 'gelu', x, (g, x) => binaryRaw('geluBackward', x, g)); // dx = g*gelu'(x), tanh form
export const relu = (x: Tensor) => unary('relu', 'relu', x, (g, x) => binaryRaw('reluBackward', x, g)); // dx = g*[x>0]
export const square = (x: Tensor) => unary('square', 'square', x, (g, x) => tmp(binaryRaw('mul', g, x), (p) => unaryRaw('mulScalar', p, 2))); // dx = 2*g*x
export const reciprocal = (x: Tensor) => // dx = -g*y^2
  unary('reciprocal', 'reciprocal', x, (g, _x, y) => tmp(unaryRaw('square', y), (y2) => tmp(binaryRaw('mul', g, y2), (p) => unaryRaw('neg', p))), 0, 0, true);
export const sin = (x: Tensor) => unary('sin', 'sin', x, (g, x) => tmp(unaryRaw('cos', x), (c) => binaryRaw('mul', g, c))); // dx = g*cos(x)
export const cos = (x: Tensor) => unary('cos', 'cos', x, (g, x) => tmp(unaryRaw('sin', x), (s) => tmp(binaryRaw('mul', g, s), (p) => unaryRaw('neg', p)))); // dx = -g*sin(x)
export const log1p = (x: Tensor) => unary('log1p', 'log1p', x, (g, x) => tmp(unaryRaw('addScalar', x, 1), (d) => binaryRaw('div', g, d))); // dx = g/(1+x)
export const expm1 = (x: Tensor) => unary('expm1', 'expm1', x, (g, _x, y) => tmp(unaryRaw('addScalar', y, 1), (e) => binaryRaw('mul', g, e)), 0, 0, true); // dx = g*(y+1)

/** min(max(x, low), high); the gradient passes where low <= x <= high. */
export function clamp(x: Tensor, low = -Infinity, high = Infinity): Tensor {
  checkNumber('clamp', low);
  checkNumber('clamp', high);
  if (low > high) throw new RangeError(`clamp: low ${low} > high ${high}`);
  // dx = g * [low <= x <= high]
  return unary('clamp', 'clamp', x, (g, x) => {
    const lo = unaryRaw('geScalar', x, low);
    const hi = unaryRaw('leScalar', x, high);
    const inside = binaryRaw('mul', lo, hi);
    lo.dispose();
    hi.dispose();
    return tmp(inside, (m) => binaryRaw('mul', g, m));
  }, low, high);
}

// Applies f to a temporary and frees the temporary.
function tmp(t: Tensor, f: (t: Tensor) => Tensor): Tensor {
  const out = f(t);
  t.dispose();
  return out;
}

function binary(name: string, op: BinaryOpName, a: Tensor, b: Tensor,
  backward: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null], savesOutput = false): Tensor {
  checkInput(name, a);
  checkInput(name, b);
  if (hasBf16(a, b)) return inFloat32((a32: Tensor, b32: Tensor) => binary(name, op, a32, b32, backward, savesOutput), a, b);
  const out = binaryRaw(op, a, b, name);
  return record(name, [a, b], out, (g) => {
    const [ga, gb] = backward(g, a, b, out);
    // A backward may hand back g itself (the engine aliases it); only fresh temporaries are freed here.
    const finish = (gx: Tensor | null, x: Tensor): Tensor | null => {
      if (!gx) return null;
      if (!x.requiresGrad) {
        if (gx !== g) gx.dispose();
        return null;
      }
      const r = sumToShape(gx, x.shape);
      if (r !== gx && gx !== g) gx.dispose();
      return r;
    };
    return [finish(ga, a), finish(gb, b)];
  }, savesOutput ? [out] : []);
}

function reduceTo(g: Tensor, x: Tensor): Tensor {
  const r = sumToShape(g, x.shape);
  if (r !== g) g.dispose();
  return r;
}

function scalarOp(name: string, x: Tensor, op: UnaryOpName, p0: number, p1: number, backward: (g: Tensor, x: Tensor, y: Tensor) => Tensor,
  savesOutput = false): Tensor {
  return unary(name, op, x, backward, p0, p1, savesOutput);
}

/** a + b */
export function add(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number') return scalarOp('add', checkInput('add', a), 'addScalar', b, 0, (g) => g); // dx = g
  if (typeof a === 'number') return add(b, a);
  // da = g, db = g (summed over broadcast dims)
  return binary('add', 'add', a, b, (g) => [g, g]);
}

/** a - b */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number') return scalarOp('sub', checkInput('sub', a), 'addScalar', -b, 0, (g) => g); // dx = g
  if (typeof a === 'number') return scalarOp('sub', checkInput('sub', b), 'affine', -1, a, (g) => unaryRaw('neg', g)); // dx = -g
  // da = g, db = -g
  return binary('sub', 'sub', a, b, (g, _a, b) => [g, b.requiresGrad ? unaryRaw('neg', g) : null]);
}

/** a * b */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number') return scalarOp('mul', checkInput('mul', a), 'mulScalar', b, 0, (g) => unaryRaw('mulScalar', g, b)); // dx = g*b
  if (typeof a === 'number') return mul(b, a);
  // da = g*b, db = g*a
  return binary('mul', 'mul', a, b, (g, a, b) => [a.requiresGrad ? binaryRaw('mul', g, b) : null, b.requiresGrad ? binaryRaw('mul', g, a) : null]);
}

/** a / b */
export function div(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number') return scalarOp('div', checkInput('div', a), 'mulScalar', 1 / b, 0, (g) => unaryRaw('mulScalar', g, 1 / b)); // dx = g/b
  if (typeof a === 'number') {
    // d(a/x) = -g*a/x^2 = -g*y/x
    return scalarOp('div', checkInput('div', b), 'rdivScalar', a, 0, (g, x, y) => tmp(binaryRaw('mul', g, y), (p) => tmp(binaryRaw('div', p, x), (q) => unaryRaw('neg', q))), true);
  }
  // da = g/b, db = -g*out/b
  return binary('div', 'div', a, b, (g, a, b, out) => [
    a.requiresGrad ? binaryRaw('div', g, b) : null,
    b.requiresGrad ? tmp(binaryRaw('mul', g, out), (p) => tmp(binaryRaw('div', p, b), (q) => unaryRaw('neg', q))) : null,
  ], true);
}

/** a ** b */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number') {
    // dx = g * b * x^(b-1)
    return scalarOp('pow', checkInput('pow', a), 'powScalar', b, 0, (g, x) =>
      b === 0 ? unaryRaw('mulScalar', g, 0) : tmp(unaryRaw('powScalar', x, b - 1), (p) => tmp(binaryRaw('mul', g, p), (q) => unaryRaw('mulScalar', q, b))));
  }
  if (typeof a === 'number') {
    // dx = g * y * ln(a)
    return scalarOp('pow', checkInput('pow', b), 'rpowScalar', a, 0, (g, _x, y) => tmp(binaryRaw('mul', g, y), (p) => unaryRaw('mulScalar', p, Math.log(a))), true);
  }
  // da = g*b*a^(b-1), db = g*out*ln(a)
  return binary('pow', 'pow', a, b, (g, a, b, out) => [
    a.requiresGrad ? tmp(unaryRaw('addScalar', b, -1), (bm1) => tmp(binaryRaw('pow', a, bm1), (p) => tmp(binaryRaw('mul', p, b), (q) => binaryRaw('mul', g, q)))) : null,
    b.requiresGrad ? tmp(unaryRaw('log', a), (la) => tmp(binaryRaw('mul', out, la), (q) => binaryRaw('mul', g, q))) : null,
  ], true);
}

function extremum(name: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const ta = typeof a === 'number' ? null : checkInput(name, a);
  const tb = typeof b === 'number' ? null : checkInput(name, b);
  if (!ta && !tb) throw new TypeError(`${name}: at least one argument must be a Tensor`);
  if (!ta || !tb) {
    const x = (ta ?? tb)!;
    const s = (typeof a === 'number' ? a : b) as number;
    const low = name === 'maximum' ? s : -Infinity;
    const high = name === 'maximum' ? Infinity : s;
    return clamp(x, low, high);
  }
  // da = g*([a wins] + 0.5*[a == b]), db = g*([b wins] + 0.5*[a == b])
  return binary(name, name, ta, tb, (g, a, b) => {
    const wins = binaryRaw(name === 'maximum' ? 'gt' : 'lt', a, b);
    const ties = binaryRaw('eq', a, b);
    const halfTies = unaryRaw('mulScalar', ties, 0.5);
    ties.dispose();
    const wa = binaryRaw('add', wins, halfTies);
    const wb = unaryRaw('affine', wa, -1, 1);
    wins.dispose();
    halfTies.dispose();
    const ga = binaryRaw('mul', g, wa);
    const gb = binaryRaw('mul', g, wb);
    wa.dispose();
    wb.dispose();
    return [ga, gb];
  });
}

export const maximum = (a: TensorLike, b: TensorLike) => extremum('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => extremum('minimum', a, b);

/** cond ? a : b elementwise (cond is nonzero-true), broadcast together. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (!isTensor(cond)) throw new TypeError('where: cond must be a Tensor');
  cond.assertLive('where');
  const ta = typeof a === 'number' ? null : checkInput('where', a);
  const tb = typeof b === 'number' ? null : checkInput('where', b);
  if (hasBf16(ta, tb)) return inFloat32((x: TensorLike, y: TensorLike) => where(cond, x, y), a, b);
  const c = cond.dtype === 'float32' ? cond : cast(cond, 'float32');
  const av = ta ?? constant(a as number, c);
  const bv = tb ?? constant(b as number, c);
  sameDevice('where', c, av, bv);
  const shape = broadcastShapes('where', broadcastShapes('where', c.shape, av.shape), bv.shape);
  const out = c.newEmpty(shape, 'float32');
  if (out.numel > 0) {
    const [cv, x, y] = [broadcastView(c, shape), broadcastView(av, shape), broadcastView(bv, shape)];
    out.backend.where(out, cv, x, y);
    cv.dispose();
    x.dispose();
    y.dispose();
  }
  if (!ta) av.dispose();
  if (!tb) bv.dispose();
  const inputs = [ta, tb].filter((t): t is Tensor => t !== null);
  // da = g*[cond], db = g*[!cond]
  const result = record('where', inputs, out, (g) => {
    const zero = constant(0, c);
    const grads = inputs.map((t) => {
      if (!t.requiresGrad) return null;
      const full = c.newEmpty(g.shape, 'float32');
      const [cv, gv, zv] = [broadcastView(c, g.shape), g, broadcastView(zero, g.shape)];
      if (t === ta) full.backend.where(full, cv, gv, zv);
      else full.backend.where(full, cv, zv, gv);
      cv.dispose();
      zv.dispose();
      return reduceTo(full, t);
    });
    zero.dispose();
    return grads;
  }, c === cond ? [cond] : [c]);
  return result;
}

// A 0-d float32 tensor holding v on like's device.
function constant(v: number, like: Tensor): Tensor {
  return like.newFull([], v, 'float32');
}

type Comparison = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

function compare(op: Comparison, a: TensorLike, b: TensorLike): Tensor {
  const asFloat = (x: Tensor) => {
    if (!isTensor(x)) throw new TypeError(`${op}: expected a Tensor or number`);
    x.assertLive(op);
    return x.dtype === 'float32' ? x : cast(x, 'float32');
  };
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${op}: at least one argument must be a Tensor`);
  if (typeof b === 'number' || typeof a === 'number') {
    const flipped: Record<Comparison, Comparison> = { eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' };
    const [t, s, o] = typeof b === 'number' ? [a as Tensor, b, op] : [b as Tensor, a as number, flipped[op]];
    const x = asFloat(t);
    const out = unaryRaw(`${o}Scalar` as UnaryOpName, x, s);
    if (x !== t) x.dispose();
    return out;
  }
  const x = asFloat(a);
  const y = asFloat(b);
  const out = binaryRaw(op, x, y, op);
  if (x !== a) x.dispose();
  if (y !== b) y.dispose();
  return out;
}

/** Comparisons return float32 masks of 1 and 0 (int32 inputs are compared exactly as floats below 2^24). */
export const eq = (a: TensorLike, b: TensorLike) => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike) => compare('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike) => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike) => compare('le', a, b);
export const gt = (a: TensorLike, b: TensorLike) => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike) => compare('ge', a, b);

/** 1 where x is NaN, else 0 (a float32 mask, as comparisons give). */
export function isNan(x: Tensor): Tensor {
  checkInput('isNan', x);
  if (x.dtype === 'float32') return unaryRaw('isNan', x);
  const x32 = cast(x, 'float32');
  const out = unaryRaw('isNan', x32);
  x32.dispose();
  return out;
}

