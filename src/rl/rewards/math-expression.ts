// Single math expressions for answer grading: math.js parses them (loaded on first use), a whitelist keeps them to
// arithmetic, and two expressions are equal by value (integers exactly, beyond 2^53 too) or, with variables, at
// seeded random points. Nothing outside the whitelist is ever evaluated, so hostile answers cost one parse.
import { createRequire } from 'node:module';
import type { MathNode } from 'mathjs';

type MathJs = typeof import('mathjs');
let mathjs: MathJs | undefined;
// NOTE: math.js takes ~0.5 s to load, so it is required lazily (synchronously) the first time an answer is parsed.
function math(): MathJs {
  mathjs ??= createRequire(import.meta.url)('mathjs') as MathJs;
  return mathjs;
}

/** A parsed expression: `text` is its math.js source without spaces, lower case; `percent` a trailing `%`. */
export interface ExpressionAnswer {
  kind: 'expr';
  text: string;
  node: MathNode;
  symbols: string[];
  percent: boolean;
}

const FUNCTIONS = new Set(['sqrt', 'nthRoot', 'log', 'exp', 'sin', 'cos', 'tan', 'abs']);
const CONSTANTS = new Set(['pi', 'e', 'i', 'Infinity']);
const OPERATORS = new Set(['+', '-', '*', '/', '^', '!']);

// Only arithmetic is evaluated: numbers, variables, + - * / ^ !, parentheses and a few functions.
function safeSymbols(node: MathNode): string[] | null {
  const symbols = new Set<string>();
  let ok = true;
  node.traverse((n, _path, parent) => {
    if (!ok) return;
    switch (n.type) {
      case 'ConstantNode':
        if (typeof (n as unknown as { value: unknown }).value !== 'number') ok = false;
        break;
      case 'ParenthesisNode':
        break;
      case 'OperatorNode':
        if (!OPERATORS.has((n as unknown as { op: string }).op)) ok = false;
        break;
      case 'FunctionNode':
        if (!FUNCTIONS.has((n as unknown as { fn: { name: string } }).fn.name)) ok = false;
        break;
      case 'SymbolNode': {
        const name = (n as unknown as { name: string }).name;
        const isFn = parent?.type === 'FunctionNode' && (parent as unknown as { fn: MathNode }).fn === n;
        if (!isFn && !CONSTANTS.has(name)) symbols.add(name);
        break;
      }
      default:
        ok = false;
    }
  });
  return ok ? [...symbols].sort() : null;
}

/** Parses one expression in math.js syntax (an optional trailing `%`); null when it is empty or not plain arithmetic. */
export function parseExpression(source: string): ExpressionAnswer | null {
  let expr = source.trim();
  const text = expr.replace(/\s+/g, '').toLowerCase();
  let percent = false;
  if (expr.endsWith('%')) {
    percent = true;
    expr = expr.slice(0, -1).trim();
  }
  if (expr === '' || expr.includes('%')) return null;
  let node: MathNode;
  try {
    node = math().parse(expr);
  } catch {
    return null;
  }
  const symbols = safeSymbols(node);
  if (symbols === null) return null;
  return { kind: 'expr', text, node, symbols, percent };
}

type Value = { re: number; im: number };

function mentionsInfinity(node: MathNode): boolean {
  return node.filter((n) => n.type === 'SymbolNode' && (n as unknown as { name: string }).name === 'Infinity').length > 0;
}

// An infinite result counts only when the answer says infinity: `10^{10^{10}}` overflows and must not equal `\infty`.
function evaluate(node: MathNode, scope: Map<string, number>): Value | null {
  let v: unknown;
  try {
    v = node.compile().evaluate(scope) as unknown;
  } catch {
    return null;
  }
  let value: Value;
  if (typeof v === 'number') value = { re: v, im: 0 };
  else if (v && typeof v === 'object' && 're' in v && 'im' in v) value = { re: (v as Value).re, im: (v as Value).im };
  else return null;
  if (Number.isNaN(value.re) || Number.isNaN(value.im)) return null;
  if ((!Number.isFinite(value.re) || !Number.isFinite(value.im)) && !mentionsInfinity(node)) return null;
  return value;
}

/** The value of an expression without variables (a percentage divided by 100); null when it has none or is complex. */
export function expressionValue(e: ExpressionAnswer): number | null {
  if (e.symbols.length > 0) return null;
  const v = evaluate(e.node, new Map());
  if (!v || v.im !== 0) return null;
  return e.percent ? v.re / 100 : v.re;
}

const nearInteger = (x: number) => Number.isFinite(x) && Math.abs(x - Math.round(x)) <= 1e-9 * Math.max(1, Math.abs(x));

// Integers compare exactly (so 1000001 != 10^6); other values within atol 1e-9 + rtol * max(|a|, |b|).
function close(a: number, b: number, rtol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  if (nearInteger(a) && nearInteger(b)) return Math.round(a) === Math.round(b);
  return Math.abs(a - b) <= 1e-9 + rtol * Math.max(Math.abs(a), Math.abs(b));
}

const closeValue = (a: Value, b: Value, rtol: number) => close(a.re, b.re, rtol) && close(a.im, b.im, rtol);

/** Integers above this are not exact as doubles; they are compared as BigInt or not at all. */
const EXACT_LIMIT = 2 ** 53;
/** The largest exact integer computed (in bits), so `9^{9^{9}}` costs nothing. */
const MAX_EXACT_BITS = 4096;

// The exact value of an integer expression (literals, + - *, non-negative integer powers, parentheses); null otherwise.
function exactInteger(node: MathNode): bigint | null {
  const n = node as unknown as { type: string; value?: unknown; op?: string; args?: MathNode[]; content?: MathNode };
  if (n.type === 'ConstantNode') return typeof n.value === 'number' && Number.isSafeInteger(n.value) ? BigInt(n.value) : null;
  if (n.type === 'ParenthesisNode') return exactInteger(n.content!);
  if (n.type !== 'OperatorNode') return null;
  const args = n.args!.map(exactInteger);
  if (args.some((a) => a === null)) return null;
  const [a, b] = args as bigint[];
  if (args.length === 1) return n.op === '-' ? -a : n.op === '+' ? a : null;
  if (n.op === '+') return a + b;
  if (n.op === '-') return a - b;
  if (n.op === '*') return bitLength(a) + bitLength(b) > MAX_EXACT_BITS ? null : a * b;
  if (n.op === '^') {
    if (b < 0n) return null;
    return BigInt(bitLength(a)) * b > BigInt(MAX_EXACT_BITS) ? null : a ** b;
  }
  return null;
}

const bitLength = (x: bigint) => (x < 0n ? -x : x).toString(2).length;

function exactOf(e: ExpressionAnswer): bigint | null {
  if (/^[-+]?\d+$/.test(e.text)) return BigInt(e.text);
  return exactInteger(e.node);
}

// Seeded points in [0.5, 2.5] for the variables (positive, away from 0, so sqrt/log stay real).
function samplePoints(symbols: string[], count: number): Map<string, number>[] {
  let state = 0x2545f491;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => new Map(symbols.map((s) => [s, 0.5 + 2 * next()] as const)));
}

// Constant values: integers beyond 2^53 must agree exactly (as BigInt), so 2^{100} != 2^{100}+1.
function constantsEqual(a: ExpressionAnswer, va: Value, b: ExpressionAnswer, vb: Value, rtol: number): boolean {
  const huge = Math.max(Math.abs(va.re), Math.abs(vb.re)) >= EXACT_LIMIT;
  if (huge && va.im === 0 && vb.im === 0 && nearInteger(va.re) && nearInteger(vb.re)) {
    const x = exactOf(a);
    const y = exactOf(b);
    return x !== null && y !== null && x === y;
  }
  return closeValue(va, vb, rtol);
}

/**
 * Whether two expressions are equal: constants by value (see `close`), percentages as their value / 100 or, when only
 * one side has the sign, also as the bare number (`50%` ~ `0.5` and `50`); with variables (the same set on both
 * sides), at 8 seeded random points, of which at least 3 must be defined.
 */
export function expressionsEqual(a: ExpressionAnswer, b: ExpressionAnswer, rtol: number): boolean {
  if (a.text === b.text) return true;
  if (a.symbols.join() !== b.symbols.join()) return false;
  if (a.symbols.length === 0) {
    const va = evaluate(a.node, new Map());
    const vb = evaluate(b.node, new Map());
    if (!va || !vb) return false;
    if (a.percent === b.percent) return constantsEqual(a, va, b, vb, rtol);
    const [withSign, vs, bare, vbare] = a.percent ? [a, va, b, vb] : [b, vb, a, va];
    return constantsEqual(withSign, vs, bare, vbare, rtol) || closeValue({ re: vs.re / 100, im: vs.im / 100 }, vbare, rtol);
  }
  if (a.percent !== b.percent) return false;
  let compared = 0;
  for (const scope of samplePoints(a.symbols, 8)) {
    const va = evaluate(a.node, scope);
    const vb = evaluate(b.node, scope);
    if (!va || !vb || !Number.isFinite(va.re) || !Number.isFinite(vb.re)) continue;
    if (!closeValue(va, vb, Math.max(rtol, 1e-9))) return false;
    compared++;
  }
  return compared >= 3;
}

/**
 * Whether two equations `l1 = r1` and `l2 = r2` have the same solutions, tested as `l1 - r1` being a constant
 * non-zero multiple of `l2 - r2` at seeded random points (so `y = 2x + 1` ~ `2x - y + 1 = 0`, `x = 3` !~ `y = 3`).
 */
export function equationsEqual(l1: ExpressionAnswer, r1: ExpressionAnswer, l2: ExpressionAnswer, r2: ExpressionAnswer, rtol: number): boolean {
  const symbols = [...new Set([...l1.symbols, ...r1.symbols])].sort();
  const others = [...new Set([...l2.symbols, ...r2.symbols])].sort();
  if (symbols.join() !== others.join() || l1.percent || r1.percent || l2.percent || r2.percent) return false;
  const difference = (l: ExpressionAnswer, r: ExpressionAnswer, scope: Map<string, number>) => {
    const lv = evaluate(l.node, scope);
    const rv = evaluate(r.node, scope);
    return lv && rv && lv.im === 0 && rv.im === 0 && Number.isFinite(lv.re) && Number.isFinite(rv.re) ? lv.re - rv.re : null;
  };
  let ratio: number | null = null;
  let compared = 0;
  for (const scope of samplePoints(symbols, 8)) {
    const da = difference(l1, r1, scope);
    const db = difference(l2, r2, scope);
    if (da === null || db === null) continue;
    // An identity (0 = 0 at every point) says nothing; a zero on one side only is a different equation.
    if (Math.abs(da) <= 1e-12 || Math.abs(db) <= 1e-12) {
      if (Math.abs(da) <= 1e-12 && Math.abs(db) <= 1e-12) continue;
      return false;
    }
    const r = da / db;
    ratio ??= r;
    if (Math.abs(r - ratio) > Math.max(rtol, 1e-9) * Math.abs(ratio)) return false;
    compared++;
  }
  return compared >= 3;
}
