// Final-answer extraction and equivalence for math rewards: the last <answer>...</answer> or \boxed{...},
// simple LaTeX rewritten into math.js syntax, then numeric comparison with tolerance and, for expressions with
// variables, evaluation at seeded random points (math.js parses and evaluates; it is loaded on first use).
import { createRequire } from 'node:module';
import type { MathNode } from 'mathjs';

type MathJs = typeof import('mathjs');
let mathjs: MathJs | undefined;
// NOTE: math.js takes ~0.5 s to load, so it is required lazily (synchronously) the first time an answer is parsed.
function math(): MathJs {
  mathjs ??= createRequire(import.meta.url)('mathjs') as MathJs;
  return mathjs;
}

/** Answers longer than this are not parsed (they are compared as text only). */
const MAX_ANSWER_CHARS = 500;

/** The content of the last `\boxed{...}` (or `\fbox{...}`), braces matched; null if none or unbalanced. */
export function lastBoxed(text: string): string | null {
  const re = /\\(?:boxed|fbox)\s*/g;
  let start = -1;
  let end = -1;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    start = m.index;
    end = m.index + m[0].length;
  }
  if (start < 0) return null;
  if (text[end] !== '{') {
    // `\boxed 5`: up to the next whitespace or `$`.
    const m = /^[^\s$]+/.exec(text.slice(end));
    return m ? m[0] : null;
  }
  const close = matchBrace(text, end);
  return close < 0 ? null : text.slice(end + 1, close);
}

// Index of the `}` closing the `{` at `open`, or -1.
function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '\\') {
      i++; // `\{` and `\}` are escaped braces, not groups.
      continue;
    }
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * The final answer of a completion: the content of the last `<answer>...</answer>` (and, inside it, of its
 * last `\boxed{}` if any), else the content of the last `\boxed{...}`; null when there is none or it is empty.
 */
export function extractAnswer(text: string): string | null {
  const tags = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
  if (tags.length > 0) {
    const inner = tags[tags.length - 1][1];
    const answer = (lastBoxed(inner) ?? inner).trim();
    return answer === '' ? null : answer;
  }
  const boxed = lastBoxed(text)?.trim();
  return boxed ? boxed : null;
}

/** The answer of a reference (`answer`/`solution` column): extracted like a completion's if it has tags or \boxed, else the whole text. */
export function referenceAnswer(reference: unknown): string | null {
  if (typeof reference === 'number' || typeof reference === 'bigint') return String(reference);
  if (typeof reference !== 'string') return null;
  if (/<answer>|\\boxed|\\fbox/.test(reference)) return extractAnswer(reference);
  const t = reference.trim();
  return t === '' ? null : t;
}

const TEXT_COMMANDS = new Set(['text', 'textbf', 'textit', 'textrm', 'textnormal', 'mathrm', 'mathbf', 'mathit', 'mathsf', 'mbox', 'operatorname', 'emph']);
const DROPPED_COMMANDS = new Set(['left', 'right', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr', 'displaystyle', 'textstyle', 'limits', '!']);
const SPACE_COMMANDS = new Set([',', ';', ':', ' ', 'quad', 'qquad', 'enspace', 'thinspace']);
const SYMBOL_COMMANDS: Record<string, string> = {
  pi: ' pi ', cdot: '*', times: '*', ast: '*', div: '/', infty: ' Infinity ', infin: ' Infinity ', '%': '%', '{': '(', '}': ')',
  '$': '', circ: '', degree: '', ln: 'log', log: 'log', exp: 'exp', sin: 'sin', cos: 'cos', tan: 'tan',
};

/**
 * Rewrites simple LaTeX into math.js syntax: `\frac{a}{b}` (and `\dfrac`, `\tfrac`, `\frac12`) -> ((a)/(b)),
 * `\sqrt{a}` -> sqrt(a), `\sqrt[n]{a}` -> nthRoot((a),(n)), `\pi`, `\cdot`, `\times`, `\div`, `\infty`; `\text{}`-like
 * wrappers keep their content; `\left`/`\right`, spacing commands and `$` delimiters are dropped; braces become
 * parentheses. Unknown commands are kept (so the result does not parse).
 */
export function latexToMath(s: string): string {
  let out = '';
  let i = 0;
  const arg = (): string => {
    while (s[i] === ' ') i++;
    if (s[i] === '{') {
      const close = matchBrace(s, i);
      if (close < 0) {
        const rest = s.slice(i + 1);
        i = s.length;
        return rest;
      }
      const inner = s.slice(i + 1, close);
      i = close + 1;
      return inner;
    }
    if (s[i] === '\\') {
      const m = /^\\([a-zA-Z]+|.)/.exec(s.slice(i))!;
      i += m[0].length;
      return m[0];
    }
    return s[i++] ?? '';
  };
  while (i < s.length) {
    const ch = s[i];
    if (ch === '\\') {
      const m = /^\\([a-zA-Z]+|.?)/.exec(s.slice(i))!;
      const name = m[1];
      i += m[0].length;
      if (name === 'frac' || name === 'dfrac' || name === 'tfrac' || name === 'cfrac') {
        const a = arg();
        const b = arg();
        out += `((${latexToMath(a)})/(${latexToMath(b)}))`;
      } else if (name === 'sqrt') {
        let n: string | null = null;
        while (s[i] === ' ') i++;
        if (s[i] === '[') {
          const close = s.indexOf(']', i);
          if (close > 0) {
            n = s.slice(i + 1, close);
            i = close + 1;
          }
        }
        const a = latexToMath(arg());
        out += n === null ? `sqrt(${a})` : `nthRoot((${a}),(${latexToMath(n)}))`;
      } else if (TEXT_COMMANDS.has(name)) {
        out += ` ${latexToMath(arg())} `;
      } else if (DROPPED_COMMANDS.has(name)) {
        // nothing: `\left(` keeps its `(`
      } else if (SPACE_COMMANDS.has(name)) {
        out += ' ';
      } else if (name in SYMBOL_COMMANDS) {
        out += SYMBOL_COMMANDS[name];
      } else {
        out += m[0];
      }
    } else if (ch === '{') {
      out += '(';
      i++;
    } else if (ch === '}') {
      out += ')';
      i++;
    } else if (ch === '$') {
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/**
 * An answer in math.js syntax: math delimiters, degree signs, thousands separators (`1,000`, `1\\,000`), an
 * `x =` prefix and a trailing period removed, LaTeX rewritten (see `latexToMath`), whitespace collapsed.
 */
export function normalizeMath(answer: string): string {
  let s = answer.trim();
  s = s.replace(/\\\(|\\\)|\\\[|\\\]/g, ' ');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree/g, '');
  s = s.replace(/\{,\}/g, ','); // 1{,}000
  s = s.replace(/(\d)\\[,;: ](?=\d{3}(?!\d))/g, '$1'); // 1\,000
  s = s.replace(/\\%/g, '%');
  s = latexToMath(s);
  s = s.replace(/\s+/g, ' ').trim();
  s = s.replace(/\.$/, '').trim();
  // `x = 5` -> `5` (a single assignment to a plain variable).
  const eq = /^[a-zA-Z][a-zA-Z0-9_]*\s*=\s*([^=]+)$/.exec(s);
  if (eq) s = eq[1].trim();
  // Thousands separators: 1,000 and 12,345,678.9 (a comma followed by exactly three digits).
  s = s.replace(/(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)/g, (m) => m.replace(/,/g, ''));
  s = s.replace(/(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.])/g, (m) => m.replace(/ /g, ''));
  return s;
}

/** The normal form used to compare answers as text and to group them in majority voting: `normalizeMath` without whitespace, lower case. */
export function normalizeAnswer(answer: string): string {
  return normalizeMath(answer).replace(/\s+/g, '').toLowerCase();
}

/** A parsed answer: a math.js expression (with an optional trailing percent sign) or a list of them. */
export type ParsedAnswer =
  | { kind: 'expr'; text: string; node: MathNode; symbols: string[]; percent: boolean }
  | { kind: 'list'; text: string; items: ParsedAnswer[]; ordered: boolean };

const FUNCTIONS = new Set(['sqrt', 'nthRoot', 'log', 'exp', 'sin', 'cos', 'tan', 'abs']);
const CONSTANTS = new Set(['pi', 'e', 'i', 'Infinity']);
const OPERATORS = new Set(['+', '-', '*', '/', '^', '!']);

// Splits at commas outside brackets.
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

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

/** Parses an extracted answer (see `normalizeAnswer`); null when it is empty or not simple math. */
export function parseAnswer(answer: string): ParsedAnswer | null {
  const s = normalizeMath(answer);
  if (s === '' || s.length > MAX_ANSWER_CHARS) return null;
  return parseNormalized(s);
}

function parseNormalized(s: string): ParsedAnswer | null {
  let body = s.trim();
  const text = body.replace(/\s+/g, '').toLowerCase();
  let ordered = false;
  // (1,2) and [1,2] are ordered tuples; a bare 1,2 is an unordered list (e.g. the roots of an equation).
  if (/^[([][\s\S]*[)\]]$/.test(body) && splitTopLevel(body.slice(1, -1)).length > 1 && splitTopLevel(body).length === 1) {
    body = body.slice(1, -1);
    ordered = true;
  }
  const parts = splitTopLevel(body);
  if (parts.length > 1) {
    const items = parts.map(parseNormalized);
    if (items.some((p) => p === null)) return null;
    return { kind: 'list', text, items: items as ParsedAnswer[], ordered };
  }
  let expr = body.trim();
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

export interface EquivalenceOptions {
  /** Relative tolerance for non-integer values (default 1e-6); absolute tolerance is 1e-9. */
  rtol?: number;
}

type Value = { re: number; im: number };

function evaluate(node: MathNode, scope: Map<string, number>): Value | null {
  try {
    const v = node.compile().evaluate(scope) as unknown;
    if (typeof v === 'number') return Number.isNaN(v) ? null : { re: v, im: 0 };
    if (v && typeof v === 'object' && 're' in v && 'im' in v) {
      const c = v as Value;
      return Number.isNaN(c.re) || Number.isNaN(c.im) ? null : { re: c.re, im: c.im };
    }
    return null;
  } catch {
    return null;
  }
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

function exprEqual(a: Extract<ParsedAnswer, { kind: 'expr' }>, b: Extract<ParsedAnswer, { kind: 'expr' }>, rtol: number): boolean {
  if (a.text === b.text) return true;
  // Integer literals compare exactly, beyond 2^53 too.
  const int = /^-?\d+%?$/;
  if (int.test(a.text) && int.test(b.text) && a.percent === b.percent) return BigInt(a.text.replace('%', '')) === BigInt(b.text.replace('%', ''));
  if (a.symbols.join() !== b.symbols.join()) return false;
  if (a.symbols.length === 0) {
    const va = evaluate(a.node, new Map());
    const vb = evaluate(b.node, new Map());
    if (!va || !vb) return false;
    // 50% is 0.5; when only one side has a percent sign, its bare number also matches (50% ~ 50).
    const candidates = (v: Value, percent: boolean, otherPercent: boolean): Value[] =>
      percent && !otherPercent ? [{ re: v.re / 100, im: v.im / 100 }, v] : [v];
    for (const x of candidates(va, a.percent, b.percent)) {
      for (const y of candidates(vb, b.percent, a.percent)) if (closeValue(x, y, rtol)) return true;
    }
    return false;
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

/** Whether two parsed answers are equivalent (numerically, by random-point evaluation, or as lists). */
export function parsedEqual(a: ParsedAnswer, b: ParsedAnswer, options: EquivalenceOptions = {}): boolean {
  const rtol = options.rtol ?? 1e-6;
  if (a.kind === 'expr' && b.kind === 'expr') return exprEqual(a, b, rtol);
  if (a.kind !== 'list' || b.kind !== 'list' || a.items.length !== b.items.length) return false;
  if (a.ordered || b.ordered) {
    return a.ordered === b.ordered && a.items.every((x, i) => parsedEqual(x, b.items[i], options));
  }
  // Unordered lists: a multiset match (greedy is exact here because equivalence is transitive enough for answers).
  const used = new Array<boolean>(b.items.length).fill(false);
  return a.items.every((x) => {
    const j = b.items.findIndex((y, k) => !used[k] && parsedEqual(x, y, options));
    if (j < 0) return false;
    used[j] = true;
    return true;
  });
}

/**
 * Whether answer `a` is equivalent to reference `b` (both already extracted): equal normal forms, or equal
 * as math (see `parsedEqual`). False when either is missing or cannot be parsed and the texts differ.
 */
export function answersEqual(a: string | null, b: string | null, options: EquivalenceOptions = {}): boolean {
  if (a === null || b === null) return false;
  const na = normalizeAnswer(a);
  const nb = normalizeAnswer(b);
  if (na === '' || nb === '') return false;
  if (na === nb) return true;
  const pa = parseAnswer(a);
  const pb = parseAnswer(b);
  return pa !== null && pb !== null && parsedEqual(pa, pb, options);
}

/**
 * A key under which equivalent answers coincide, for majority voting: the value (12 significant digits) of an
 * answer that is a plain number or constant expression (`0.5`, `\frac{1}{2}` and `50%` share a key), else the
 * text normal form (`normalizeAnswer`).
 */
export function canonicalAnswer(answer: string): string {
  const text = normalizeAnswer(answer);
  const parsed = text === '' ? null : parseAnswer(answer);
  if (parsed?.kind === 'expr' && parsed.symbols.length === 0) {
    const v = evaluate(parsed.node, new Map());
    if (v && v.im === 0 && Number.isFinite(v.re)) {
      const x = parsed.percent ? v.re / 100 : v.re;
      return `=${Number(x.toPrecision(12))}`;
    }
  }
  return text;
}
