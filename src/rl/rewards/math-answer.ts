// Final answers of math completions and their comparison as a MATH/math-verify style grader does: extraction of the
// last <answer> or \boxed{}, LaTeX cleanup, then structure (intervals, sets, tuples, matrices, equations, units,
// several answers) around single expressions compared by value (math-expression.ts). Doubtful cases are rejected:
// a reward that accepts a wrong answer can be hacked. docs/rewards.md lists the rules.
import {
  equationsEqual, expressionsEqual, expressionValue, parseExpression, type ExpressionAnswer,
} from './math-expression.js';

/** Answers longer than this (after cleanup) are not parsed: they are compared as text only. */
const MAX_ANSWER_CHARS = 500;
/** Answers longer than this are not even cleaned up (nested boxes and fractions cost time and stack): compared verbatim. */
const MAX_CLEANUP_CHARS = 4 * MAX_ANSWER_CHARS;

interface BoxSpan {
  start: number;
  content: string;
  /** Index just past the box; -1 when its brace is never closed. */
  end: number;
}

// The outermost `\boxed{...}` / `\fbox{...}` of a text, in order; one left unclosed ends the list.
function boxSpans(text: string): BoxSpan[] {
  const spans: BoxSpan[] = [];
  const re = /\\(?:boxed|fbox)\s*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const open = m.index + m[0].length;
    if (text[open] !== '{') {
      // `\boxed 5`: up to the next whitespace or `$`.
      const word = /^[^\s$]+/.exec(text.slice(open));
      if (word) spans.push({ start: m.index, content: word[0], end: open + word[0].length });
      continue;
    }
    const close = matchBrace(text, open);
    spans.push({ start: m.index, content: close < 0 ? '' : text.slice(open + 1, close), end: close < 0 ? -1 : close + 1 });
    if (close < 0) break;
    re.lastIndex = close + 1; // boxes nested inside this one belong to its content
  }
  return spans;
}

/** The content of the last outermost `\boxed{...}` (or `\fbox{...}`), braces matched; null if none or unbalanced. */
export function lastBoxed(text: string): string | null {
  const spans = boxSpans(text);
  const last = spans[spans.length - 1];
  return last && last.end >= 0 ? last.content : null;
}

// What may stand between boxes that together give one answer: `\boxed{1}, \boxed{2}`, `\boxed{1} or \boxed{2}`.
const BOX_GAP = /^(?:\s|\$|[,;.&]|\\[,;:! ]|\\q?quad|\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b)*$/i;

// The answer of the last run of adjacent boxes: one box, or `a, b` when several different ones end the text (a
// hedge like `\boxed{1}\boxed{2}` is then a two-answer list, equal to neither 1 nor 2).
function finalBoxed(text: string): string | null {
  const spans = boxSpans(text);
  if (spans.length === 0 || spans[spans.length - 1].end < 0) return null;
  let first = spans.length - 1;
  while (first > 0 && BOX_GAP.test(text.slice(spans[first - 1].end, spans[first].start))) first--;
  const contents = [...new Set(spans.slice(first).map((s) => s.content.trim()))];
  return contents.join(', ');
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
 * The final answer of a completion: the content of the last `<answer>...</answer>` (and, inside it, of its last
 * `\boxed{}` if any), else the content of the last `\boxed{...}`; null when there is none or it is empty. Boxes
 * nested in the last one are part of its content; several different boxes that end the text together (only
 * spaces, punctuation, "and"/"or" between them) give them all, comma-separated.
 */
export function extractAnswer(text: string): string | null {
  const tags = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
  if (tags.length > 0) {
    const inner = tags[tags.length - 1][1];
    const answer = (finalBoxed(inner) ?? inner).trim();
    return answer === '' ? null : answer;
  }
  const boxed = finalBoxed(text)?.trim();
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

// `\boxed{x}` inside an answer stands for x.
function unwrapBoxes(s: string): string {
  for (let m = /\\(?:boxed|fbox)\s*\{/.exec(s); m; m = /\\(?:boxed|fbox)\s*\{/.exec(s)) {
    const open = m.index + m[0].length - 1;
    const close = matchBrace(s, open);
    if (close < 0) return s;
    s = s.slice(0, m.index) + s.slice(open + 1, close) + s.slice(close + 1);
  }
  return s;
}

const UNICODE: Record<string, string> = {
  '−': '-', '–': '-', '×': '\\times ', '·': '\\cdot ', '÷': '\\div ', '≤': '\\le ', '≥': '\\ge ', '∞': '\\infty ',
  '∪': '\\cup ', 'π': '\\pi ', '√': '\\sqrt ', '∈': '\\in ',
};

/**
 * An answer in clean LaTeX: math delimiters, nested `\boxed{}`, `\left`/`\right`, size and style commands, `\$` and
 * degree signs dropped; `\dfrac`/`\tfrac`/`\cfrac` -> `\frac`, `\frac12` -> `\frac{1}{2}`, mixed numbers
 * `2\frac{1}{2}` -> `(2+\frac{1}{2})`, `\leq` -> `\le`, `\%` and "percent" -> `%`, `\text{ or }` -> ` or `;
 * thousands separators removed (`1{,}000`, `1\,000`, and `1,000` when it is the whole answer); trailing period removed.
 * An answer of more than 2000 characters is only trimmed.
 */
export function cleanLatex(answer: string): string {
  if (answer.length > MAX_CLEANUP_CHARS) return answer.trim();
  let s = unwrapBoxes(answer);
  s = s.replace(/[−–×·÷≤≥∞∪π√∈]/g, (c) => UNICODE[c]);
  s = s.replace(/\\\$|\\textdollar\b/g, '');
  s = s.replace(/\\\(|\\\)|\\\[|\\\]|\$/g, ' ');
  s = s.replace(/\\(?:displaystyle|textstyle|scriptstyle|!)/g, '');
  s = s.replace(/\\(?:left|right|[bB]igg?[lr]?)(?![a-zA-Z])\s*\.?/g, '');
  s = s.replace(/\\langle(?![a-zA-Z])/g, '(').replace(/\\rangle(?![a-zA-Z])/g, ')');
  s = s.replace(/\\[dtc]frac(?![a-zA-Z])/g, '\\frac').replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b/g, '');
  s = s.replace(/\\(?:leq|leqslant|leqq)(?![a-zA-Z])/g, '\\le').replace(/\\(?:geq|geqslant|geqq)(?![a-zA-Z])/g, '\\ge');
  s = s.replace(/<=/g, '\\le ').replace(/>=/g, '\\ge ').replace(/\\lt(?![a-zA-Z])/g, '<').replace(/\\gt(?![a-zA-Z])/g, '>');
  s = s.replace(/\\(?:text|mbox|textrm|mathrm)\s*\{\s*(or|and)\s*\}/g, ' $1 ');
  s = s.replace(/\\%/g, '%').replace(/\s*\b(?:percent|pct)\b\.?/g, '%');
  s = s.replace(/~/g, ' ');
  s = s.replace(/(\d)\{,\}(?=\d{3})/g, '$1').replace(/(\d)\\[,;: ](?=\d{3}(?!\d))/g, '$1');
  // A whole number written just before a fraction of two whole numbers is a mixed number, not a product.
  s = s.replace(/(^|[^\d.}\w\\^_])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}/g, '$1($2+\\frac{$3}{$4})');
  s = s.replace(/\s+/g, ' ').trim().replace(/\s*\.$/, '');
  const grouped = /^([-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\d,])([^,]*)$/.exec(s) ?? /^([-+]?\d{1,3}(?: \d{3})+)(?![\d.])([^,]*)$/.exec(s);
  if (grouped) s = grouped[1].replace(/[, ]/g, '') + grouped[2];
  return s;
}

/**
 * An answer in math.js syntax: `cleanLatex`, then `latexToMath`, whitespace collapsed and an `x =` prefix removed.
 * Used for text comparison and majority voting, not for grading (where `x = 3` and `y = 3` differ).
 */
export function normalizeMath(answer: string): string {
  if (answer.length > MAX_CLEANUP_CHARS) return answer.replace(/\s+/g, ' ').trim();
  let s = latexToMath(cleanLatex(answer)).replace(/\s+/g, ' ').trim();
  const eq = /^[a-zA-Z][a-zA-Z0-9_]*\s*=\s*([^=]+)$/.exec(s);
  if (eq) s = eq[1].trim();
  return s;
}

/** The normal form used to compare answers as text and to group them in majority voting: `normalizeMath` without whitespace, lower case. */
export function normalizeAnswer(answer: string): string {
  return normalizeMath(answer).replace(/\s+/g, '').toLowerCase();
}

/** A unit after a number: `3\text{ cm}`, `15\mbox{ cm}^2`, `5 dollars`; `factor` converts to the dimension's base. */
export interface AnswerUnit {
  name: string;
  dimension: string;
  factor: number;
  power: number;
}

const UNIT_TABLE: [dimension: string, factor: number, names: string][] = [
  ['length', 0.001, 'mm millimeter millimeters millimetre millimetres'],
  ['length', 0.01, 'cm centimeter centimeters centimetre centimetres'],
  ['length', 1, 'm meter meters metre metres'],
  ['length', 1000, 'km kilometer kilometers kilometre kilometres'],
  ['length', 0.0254, 'in inch inches'],
  ['length', 0.3048, 'ft foot feet'],
  ['length', 0.9144, 'yd yard yards'],
  ['length', 1609.344, 'mi mile miles'],
  ['mass', 0.001, 'mg milligram milligrams'],
  ['mass', 1, 'g gram grams'],
  ['mass', 1000, 'kg kilogram kilograms'],
  ['mass', 453.59237, 'lb lbs pound pounds'],
  ['mass', 28.349523125, 'oz ounce ounces'],
  ['time', 1, 's sec secs second seconds'],
  ['time', 60, 'min mins minute minutes'],
  ['time', 3600, 'h hr hrs hour hours'],
  ['time', 86400, 'day days'],
  ['time', 604800, 'week weeks'],
  ['volume', 0.001, 'ml milliliter milliliters millilitre millilitres'],
  ['volume', 1, 'l liter liters litre litres'],
  ['money', 100, 'dollar dollars'],
  ['money', 1, 'cent cents'],
  ['angle', 1, 'degree degrees'],
  ['speed', 1, 'mph'],
  ['unit', 1, 'unit units'],
];
const UNITS = new Map<string, Omit<AnswerUnit, 'power'>>(
  UNIT_TABLE.flatMap(([dimension, factor, names]) => names.split(' ').map((name) => [name, { name, dimension, factor }] as const)),
);

// Unit words that are also variable names or words of a sentence only count inside \text{}.
const AMBIGUOUS_UNITS = new Set(['m', 's', 'g', 'h', 'l', 'in', 'min', 'mi', 'day']);

function lookupUnit(words: string, power: number, bare: boolean): AnswerUnit | null {
  let w = words.trim().toLowerCase().replace(/\s+/g, ' ');
  const prefix = /^(square|sq\.?|cubic)\s+/.exec(w);
  if (prefix) {
    power = prefix[1] === 'cubic' ? 3 : 2;
    w = w.slice(prefix[0].length);
  }
  const unit = UNITS.get(w);
  if (!unit || (bare && AMBIGUOUS_UNITS.has(w))) return null;
  return { ...unit, power };
}

// Splits a trailing unit off an answer; the unit is null when there is none (or it is not a known one).
function splitUnit(s: string): { value: string; unit: AnswerUnit | null } {
  const power = (p: string | undefined) => (p ? Number(p) : 1);
  const wrapped = /\\(?:text|mbox|mathrm|textrm|textnormal|operatorname)\s*\{\s*([a-zA-Z. ]+?)\s*\}\s*(?:\^\s*\{?\s*([23])\s*\}?)?$/.exec(s);
  if (wrapped) {
    const unit = lookupUnit(wrapped[1].replace(/\.$/, ''), power(wrapped[2]), false);
    if (unit && wrapped.index > 0) return { value: s.slice(0, wrapped.index).trim(), unit };
  }
  const bare = /(?<![a-zA-Z\\])((?:square|sq|cubic)\s+)?([a-zA-Z]+)\s*(?:\^\s*\{?\s*([23])\s*\}?)?$/.exec(s);
  if (bare) {
    const unit = lookupUnit((bare[1] ?? '') + bare[2], power(bare[3]), true);
    const value = s.slice(0, bare.index).trim();
    if (unit && /[\d})]$/.test(value)) return { value, unit };
  }
  return { value: s, unit: null };
}

/**
 * A parsed answer. `expr`: one expression (`unit` when it has a known one); `list`: several answers in any order
 * (`1, 2`, `1 or 2`); `set`: `\{...\}`; `tuple`: a point or an interval, with its brackets (`(1, 2)`, `[1, 2)`);
 * `union`: intervals joined by `\cup`; `matrix`: rows of entries; `equation`: `lhs = rhs` that is not an assignment;
 * `labeled`: a named answer (`x = 3`, `f(x) = x^2`, `(x, y) = (1, 2)`).
 */
export type ParsedAnswer =
  | (ExpressionAnswer & { unit?: AnswerUnit })
  | { kind: 'list'; items: ParsedAnswer[] }
  | { kind: 'set'; items: ParsedAnswer[] }
  | { kind: 'tuple'; open: '(' | '['; close: ')' | ']'; items: ParsedAnswer[] }
  | { kind: 'union'; items: ParsedAnswer[] }
  | { kind: 'matrix'; rows: ParsedAnswer[][] }
  | { kind: 'equation'; lhs: ExpressionAnswer; rhs: ExpressionAnswer }
  | { kind: 'labeled'; label: string; value: ParsedAnswer };

const OPENERS = '([{';
const CLOSERS = ')]}';

// Splits `s` where `separator(s, i)` (the separator's length, or 0) matches outside brackets of any kind.
function splitTopLevel(s: string, separator: (s: string, i: number) => number): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i])) depth--;
    else if (depth === 0) {
      const n = separator(s, i);
      if (n > 0) {
        parts.push(s.slice(start, i));
        start = i + n;
        i += n - 1;
      }
    }
  }
  parts.push(s.slice(start));
  return parts;
}

const keyword = (w: string) => (s: string, i: number) => (s.startsWith(w, i) && !/[a-zA-Z]/.test(s[i + w.length] ?? '') ? w.length : 0);
const listSeparator = (s: string, i: number) =>
  s[i] === ',' || s[i] === ';' ? 1 : /^ (?:or|and) /.test(s.slice(i, i + 5)) ? (s[i + 1] === 'o' ? 4 : 5) : 0;

// Index of the bracket closing the one at 0 (any bracket kind closes any), or -1.
function closingBracket(s: string): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i]) && --depth === 0) return i;
  }
  return -1;
}

// What may name an answer on the left of `=`: `x`, `area`, `a_1`, `f(x)`, `(x, y)`.
const LABEL = /^(?:[a-zA-Z]+|[a-zA-Z]_\{?[a-zA-Z0-9]+\}?|[a-zA-Z]\s*\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\)|\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])+\s*\))'*$/;

// One expression in LaTeX, with an optional trailing unit.
function parseExpressionLatex(s: string): ParsedAnswer | null {
  const { value, unit } = splitUnit(s);
  const e = parseExpression(latexToMath(value).replace(/\s+/g, ' '));
  if (!e) return null;
  return unit ? { ...e, unit } : e;
}

// Interval ends of one-sided inequalities.
const INFINITY = () => parseExpression('Infinity')!;
const MINUS_INFINITY = () => parseExpression('-Infinity')!;

// `x > 3`, `x \le 3`, `1 < x \le 2` (one variable) as the interval they describe.
function parseInequality(s: string): ParsedAnswer | null {
  const marked = s.replace(/\\le(?![a-zA-Z])/g, '≤').replace(/\\ge(?![a-zA-Z])/g, '≥');
  const ops: string[] = [];
  const parts = splitTopLevel(marked, (t, i) => ('<>≤≥'.includes(t[i]) ? (ops.push(t[i]), 1) : 0)).map((p) => p.trim());
  if (parts.length < 2 || parts.length > 3) return null;
  const isVar = (p: string) => /^[a-zA-Z]$/.test(p);
  const bound = (p: string) => {
    const e = parseExpressionLatex(p);
    return e?.kind === 'expr' && e.symbols.length === 0 ? e : null;
  };
  const less = (op: string) => op === '<' || op === '≤';
  const strict = (op: string) => op === '<' || op === '>';
  const interval = (lo: ParsedAnswer | null, loStrict: boolean, hi: ParsedAnswer | null, hiStrict: boolean): ParsedAnswer | null =>
    lo && hi ? { kind: 'tuple', open: loStrict ? '(' : '[', close: hiStrict ? ')' : ']', items: [lo, hi] } : null;
  if (parts.length === 2) {
    const [left, right] = parts;
    const [op] = ops;
    if (isVar(left) === isVar(right)) return null;
    // Read as `x op bound`.
    const flipped = isVar(right);
    const b = bound(flipped ? left : right);
    const upper = less(op) !== flipped; // x < b, or b > x
    return upper ? interval(MINUS_INFINITY(), true, b, strict(op)) : interval(b, strict(op), INFINITY(), true);
  }
  const [a, x, c] = parts;
  if (!isVar(x) || less(ops[0]) !== less(ops[1])) return null;
  return less(ops[0])
    ? interval(bound(a), strict(ops[0]), bound(c), strict(ops[1]))
    : interval(bound(c), strict(ops[1]), bound(a), strict(ops[0]));
}

// `name = value` (a labeled answer), an equation with variables, or a chain of constants `6/2 = 3` (see parseChain).
function parseEquation(parts: string[]): ParsedAnswer | null {
  const first = parts[0].trim();
  if (LABEL.test(first)) {
    const value = parseChain(parts.slice(1));
    return value && { kind: 'labeled', label: first.replace(/[\s{}]/g, ''), value };
  }
  if (parts.length === 2) {
    const lhs = parseExpressionLatex(first);
    const rhs = parseExpressionLatex(parts[1]);
    if (lhs?.kind === 'expr' && rhs?.kind === 'expr' && !lhs.unit && !rhs.unit && (lhs.symbols.length > 0 || rhs.symbols.length > 0)) {
      return { kind: 'equation', lhs, rhs };
    }
  }
  return parseChain(parts);
}

// `2 + 1 = 3` is worth its last side, only when every side has the same value (`1 = 2` is no answer).
function parseChain(parts: string[]): ParsedAnswer | null {
  const items = parts.map((p) => parseItem(p));
  if (items.some((p) => p === null)) return null;
  if (items.length === 1) return items[0];
  const exprs = items as ParsedAnswer[];
  const constant = exprs.every((e) => e.kind === 'expr' && e.symbols.length === 0);
  if (!constant || !exprs.every((e) => parsedEqual(e, exprs[0]))) return null;
  return exprs[exprs.length - 1];
}

function parseMatrix(s: string): ParsedAnswer | null {
  const m = /^\\begin\{([pbBvV]?matrix|array)\}([\s\S]*)\\end\{\1\}$/.exec(s);
  if (!m || m[1] === 'vmatrix' || m[1] === 'Vmatrix') return null; // determinants and norms are numbers, not matrices
  const body = m[1] === 'array' ? m[2].replace(/^\s*\{[^}]*\}/, '') : m[2];
  const rows = body.split(/\\\\/).map((r) => r.trim()).filter((r) => r !== '').map((r) => r.split('&').map((c) => parseItem(c)));
  if (rows.length === 0 || rows.some((r) => r.length !== rows[0].length || r.some((c) => c === null))) return null;
  return { kind: 'matrix', rows: rows as ParsedAnswer[][] };
}

// One answer (no top-level list separators left).
function parseItem(raw: string): ParsedAnswer | null {
  let s = raw.trim();
  if (s === '') return null;
  const member = /^[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?\s*\\in(?![a-zA-Z])\s*/.exec(s);
  if (member) s = s.slice(member[0].length);
  const pm = s.split(/\\pm(?![a-zA-Z])/);
  if (pm.length === 2) {
    const items = [parseItem(`${pm[0]}+${pm[1]}`), parseItem(`${pm[0]}-${pm[1]}`)];
    return items[0] && items[1] ? { kind: 'list', items: items as ParsedAnswer[] } : null;
  }
  if (s.startsWith('\\begin')) return parseMatrix(s);
  const union = splitTopLevel(s, keyword('\\cup'));
  if (union.length > 1) {
    const items = union.map((p) => parseItem(p));
    const ok = items.every((p) => p?.kind === 'set' || (p?.kind === 'tuple' && p.items.length === 2));
    return ok ? { kind: 'union', items: items as ParsedAnswer[] } : null;
  }
  if (/[<>]|\\[lg]e(?![a-zA-Z])/.test(s)) return parseInequality(s);
  const sides = splitTopLevel(s, (t, i) => (t[i] === '=' ? 1 : 0));
  if (sides.length > 1) return parseEquation(sides);
  if (s.startsWith('\\{') && s.endsWith('\\}') && closingBracket(s.slice(1)) === s.length - 2) {
    const items = splitTopLevel(s.slice(2, -2), listSeparator).filter((p) => p.trim() !== '').map((p) => parseItem(p));
    return items.every((p) => p !== null) ? { kind: 'set', items: items as ParsedAnswer[] } : null;
  }
  if ('(['.includes(s[0]) && ')]'.includes(s[s.length - 1]) && closingBracket(s) === s.length - 1) {
    const inner = splitTopLevel(s.slice(1, -1), (t, i) => (t[i] === ',' ? 1 : 0));
    if (inner.length > 1) {
      const items = inner.map((p) => parseItem(p));
      if (items.some((p) => p === null)) return null;
      return { kind: 'tuple', open: s[0] as '(' | '[', close: s[s.length - 1] as ')' | ']', items: items as ParsedAnswer[] };
    }
  }
  return parseExpressionLatex(s);
}

/** Parses an extracted answer (see `ParsedAnswer`); null when it is empty, too long or not something this grader reads. */
export function parseAnswer(answer: string): ParsedAnswer | null {
  const s = cleanLatex(answer);
  if (s === '' || s.length > MAX_ANSWER_CHARS) return null;
  const parts = splitTopLevel(s, listSeparator).filter((p) => p.trim() !== '');
  if (parts.length === 0) return null;
  if (parts.length === 1) return parseItem(parts[0]);
  const items = parts.map((p) => parseItem(p));
  return items.every((p) => p !== null) ? { kind: 'list', items: items as ParsedAnswer[] } : null;
}

export interface EquivalenceOptions {
  /** Relative tolerance for non-integer values (default 1e-6); absolute tolerance is 1e-9. */
  rtol?: number;
}

// Values with units: both units given must measure the same dimension (then values are converted); one alone is ignored.
function unitExpressionsEqual(a: ExpressionAnswer & { unit?: AnswerUnit }, b: ExpressionAnswer & { unit?: AnswerUnit }, rtol: number): boolean {
  if (!a.unit || !b.unit || (a.unit.name === b.unit.name && a.unit.power === b.unit.power)) return expressionsEqual(a, b, rtol);
  if (a.unit.dimension !== b.unit.dimension || a.unit.power !== b.unit.power) return false;
  const va = expressionValue(a);
  const vb = expressionValue(b);
  if (va === null || vb === null) return false;
  const x = va * a.unit.factor ** a.unit.power;
  const y = vb * b.unit.factor ** b.unit.power;
  return Math.abs(x - y) <= 1e-9 + rtol * Math.max(Math.abs(x), Math.abs(y));
}

// Every item of `a` matched by a different item of `b`, and the same count (greedy: answer equality is transitive enough).
function sameMultiset(a: ParsedAnswer[], b: ParsedAnswer[], options: EquivalenceOptions): boolean {
  if (a.length !== b.length) return false;
  const used = new Array<boolean>(b.length).fill(false);
  return a.every((x) => {
    const j = b.findIndex((y, k) => !used[k] && parsedEqual(x, y, options));
    if (j < 0) return false;
    used[j] = true;
    return true;
  });
}

const sameSet = (a: ParsedAnswer[], b: ParsedAnswer[], options: EquivalenceOptions) =>
  a.every((x) => b.some((y) => parsedEqual(x, y, options))) && b.every((y) => a.some((x) => parsedEqual(x, y, options)));

// `y = 2x + 1` as an equation, when its label is a plain variable and its value an expression.
function asEquation(p: ParsedAnswer): { lhs: ExpressionAnswer; rhs: ExpressionAnswer } | null {
  if (p.kind === 'equation') return p;
  if (p.kind !== 'labeled' || p.value.kind !== 'expr' || !/^[a-zA-Z]+(?:_[a-zA-Z0-9]+)?$/.test(p.label)) return null;
  const lhs = parseExpression(p.label);
  return lhs && { lhs, rhs: p.value };
}

/**
 * Whether two parsed answers are equivalent. Expressions: by value or at random points (units converted when both
 * have one); lists: same items in any order; sets: same elements (a list compared with a set is read as one);
 * tuples and intervals: same brackets and items in order; unions: same members; matrices: same shape and entries
 * (a one-row or one-column matrix also equals a `(...)` tuple); labeled answers: the same label (or, for
 * `var = expr`, the same equation) and value, and the value alone against an unlabeled answer; equations: the same
 * solutions (see `equationsEqual`).
 */
export function parsedEqual(a: ParsedAnswer, b: ParsedAnswer, options: EquivalenceOptions = {}): boolean {
  const rtol = options.rtol ?? 1e-6;
  if (a.kind === 'labeled' && b.kind === 'labeled') {
    if (a.label === b.label) return parsedEqual(a.value, b.value, options);
  }
  if (a.kind === 'equation' || b.kind === 'equation' || (a.kind === 'labeled' && b.kind === 'labeled')) {
    const ea = asEquation(a);
    const eb = asEquation(b);
    return ea !== null && eb !== null && equationsEqual(ea.lhs, ea.rhs, eb.lhs, eb.rhs, rtol);
  }
  if (a.kind === 'labeled') return parsedEqual(a.value, b, options);
  if (b.kind === 'labeled') return parsedEqual(a, b.value, options);
  if (a.kind === 'expr' && b.kind === 'expr') return unitExpressionsEqual(a, b, rtol);
  if (a.kind === 'list' && b.kind === 'list') return sameMultiset(a.items, b.items, options);
  if ((a.kind === 'set' || a.kind === 'list') && (b.kind === 'set' || b.kind === 'list')) return sameSet(a.items, b.items, options);
  if (a.kind === 'tuple' && b.kind === 'tuple') {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length && a.items.every((x, i) => parsedEqual(x, b.items[i], options));
  }
  if (a.kind === 'union' && b.kind === 'union') return sameMultiset(a.items, b.items, options);
  if (a.kind === 'matrix' && b.kind === 'matrix') {
    return a.rows.length === b.rows.length && a.rows[0].length === b.rows[0].length &&
      a.rows.every((row, i) => row.every((x, j) => parsedEqual(x, b.rows[i][j], options)));
  }
  const [matrix, tuple] = a.kind === 'matrix' ? [a, b] : [b, a];
  if (matrix.kind === 'matrix' && tuple.kind === 'tuple' && tuple.open === '(' && tuple.close === ')') {
    const vector = matrix.rows.length === 1 ? matrix.rows[0] : matrix.rows[0].length === 1 ? matrix.rows.map((r) => r[0]) : null;
    return vector !== null && vector.length === tuple.items.length && vector.every((x, i) => parsedEqual(x, tuple.items[i], options));
  }
  return false;
}

/**
 * Whether answer `a` is equivalent to reference `b` (both already extracted): equal as parsed answers (see
 * `parsedEqual`); when one does not parse, or both are single expressions, also equal as text (`cleanLatex` then
 * `latexToMath`, without spaces, case-insensitive).
 */
export function answersEqual(a: string | null, b: string | null, options: EquivalenceOptions = {}): boolean {
  if (a === null || b === null) return false;
  const pa = parseAnswer(a);
  const pb = parseAnswer(b);
  if (pa !== null && pb !== null) {
    if (parsedEqual(pa, pb, options)) return true;
    // Structure decides structured answers; text only rescues words read as variables (`Monday` ~ `monday`).
    if (pa.kind !== 'expr' || pb.kind !== 'expr') return false;
  }
  const ta = textForm(a);
  return ta !== '' && ta === textForm(b);
}

// Set braces stay distinct from parentheses, so `\{1,2\}` and `(1,2)` never meet as text.
const textForm = (answer: string) => {
  if (answer.length > MAX_CLEANUP_CHARS) return answer.replace(/\s+/g, '');
  return latexToMath(cleanLatex(answer).replace(/\\\{/g, '⦃').replace(/\\\}/g, '⦄')).replace(/\s+/g, '').toLowerCase();
};

/**
 * A key under which equivalent answers coincide, for majority voting: the value (12 significant digits) of an
 * answer that is a plain number or constant expression (`0.5`, `\frac{1}{2}` and `50%` share a key), else the
 * text normal form (`normalizeAnswer`).
 */
export function canonicalAnswer(answer: string): string {
  const text = normalizeAnswer(answer);
  const parsed = text === '' ? null : parseAnswer(answer);
  if (parsed?.kind === 'expr') {
    const x = expressionValue(parsed);
    if (x !== null && Number.isFinite(x)) return `=${Number(x.toPrecision(12))}`;
  }
  return text;
}
