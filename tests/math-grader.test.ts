// The math answer grader as a table: [gold, predicted, verdict, reason] cases modelled on what math-verify and the
// MATH/Minerva graders accept and reject, with many near-misses that must be rejected (a false positive is a
// reward to hack), plus extraction from whole completions and hostile answers that must fail fast.
import { describe, expect, it } from 'vitest';
import { rewards } from '../src/index.js';

const { answersEqual, scoreAnswer } = rewards;

type Case = [gold: string, predicted: string, accept: boolean, reason: string];

const ACCEPT = true;
const REJECT = false;

/** The issue's five named pairs (the rest of its 24 are spread over the table). */
const ISSUE_PAIRS: Case[] = [
  ['[1,2]', '(1,2)', REJECT, 'open interval is not the closed one (was a false positive)'],
  ['3', '3\\text{ cm}', ACCEPT, 'a unit on one side only is ignored'],
  ['\\{1,2\\}', '\\{2,1\\}', ACCEPT, 'sets are unordered'],
  ['(0,1)', 'x\\in(0,1)', ACCEPT, 'membership prefix dropped'],
  ['(1,2)', '[1,2]', REJECT, 'closed interval is not the open one'],
];

const CASES: Case[] = [
  // Integers, decimals, fractions.
  ['5', '5', ACCEPT, 'same integer'],
  ['5', '5.0', ACCEPT, 'trailing zero'],
  ['5', '05', ACCEPT, 'leading zero'],
  ['5', '6', REJECT, 'different integer'],
  ['-3', '-3', ACCEPT, 'negative'],
  ['-3', '3', REJECT, 'sign matters'],
  ['0.5', '.5', ACCEPT, 'no leading zero'],
  ['0.5', '\\frac{1}{2}', ACCEPT, 'decimal equals fraction'],
  ['\\frac{1}{2}', '\\dfrac{1}{2}', ACCEPT, '\\dfrac'],
  ['\\frac{1}{2}', '\\tfrac12', ACCEPT, 'compact \\tfrac12'],
  ['\\frac{1}{2}', '1/2', ACCEPT, 'slash fraction'],
  ['\\frac{1}{2}', '\\frac{2}{4}', ACCEPT, 'unreduced fraction'],
  ['\\frac{1}{2}', '\\frac{1}{3}', REJECT, 'different fraction'],
  ['\\frac{1}{2}', '\\frac{2}{1}', REJECT, 'inverted fraction'],
  ['\\frac{1}{3}', '0.333', REJECT, 'rounded decimal outside rtol 1e-6'],
  ['\\frac{1}{3}', '0.3333333', ACCEPT, 'decimal within rtol 1e-6'],
  ['\\frac{1}{3}', '0.33', REJECT, 'two-digit rounding'],
  ['\\frac{2}{3}', '0.67', REJECT, 'rounded up'],
  ['-\\frac{10}{9}', '-10/9', ACCEPT, 'negative fraction'],
  ['-\\frac{10}{9}', '\\frac{10}{9}', REJECT, 'lost sign'],
  ['\\frac{-1}{2}', '-\\frac{1}{2}', ACCEPT, 'sign inside or outside'],
  ['1000000', '10^6', ACCEPT, 'power of ten'],
  ['1000001', '10^6', REJECT, 'integers compare exactly'],
  ['123456789012345678', '123456789012345679', REJECT, 'big integers exactly'],
  ['2^{100}', '1267650600228229401496703205376', ACCEPT, 'exact big power'],
  ['2^{100}', '2^{100}+1', REJECT, 'beyond 2^53 exactly, not as doubles'],
  // Mixed numbers.
  ['2\\frac{1}{2}', '\\frac{5}{2}', ACCEPT, 'mixed number'],
  ['2\\frac{1}{2}', '2.5', ACCEPT, 'mixed number as decimal'],
  ['2\\frac{1}{2}', '1', REJECT, 'not the product 2 * 1/2'],
  ['-1\\frac{1}{4}', '-1.25', ACCEPT, 'negative mixed number'],
  ['3\\frac{3}{4}', '3.5', REJECT, 'wrong mixed number'],
  ['\\frac{2\\pi}{3}', '2\\frac{\\pi}{3}', ACCEPT, 'a product, not a mixed number'],
  // Thousands separators, scientific notation.
  ['1000', '1,000', ACCEPT, 'comma thousands'],
  ['14916', '14{,}916', ACCEPT, 'LaTeX {,} thousands'],
  ['1000', '1\\,000', ACCEPT, 'thin space thousands'],
  ['1000', '1,001', REJECT, 'different thousands'],
  ['12345678.5', '12,345,678.5', ACCEPT, 'groups and decimals'],
  ['1500', '1.5\\times10^{3}', ACCEPT, 'scientific notation'],
  ['1500', '1.5 \\cdot 10^3', ACCEPT, 'scientific with cdot'],
  ['1500', '1.5e3', ACCEPT, 'e notation'],
  ['15000', '1.5\\times10^{3}', REJECT, 'wrong exponent'],
  ['0.0015', '1.5\\times 10^{-3}', ACCEPT, 'negative exponent'],
  ['0.0015', '1.5\\times 10^{-4}', REJECT, 'wrong negative exponent'],
  ['6.02\\times10^{23}', '6.02 \\times 10^{23}', ACCEPT, 'large scientific'],
  ['6.02\\times10^{23}', '6.03\\times10^{23}', REJECT, 'mantissa differs'],
  // Percentages: x% is x/100, and the sign may be dropped on one side (MATH answers write both).
  ['50\\%', '50', ACCEPT, 'percent sign dropped'],
  ['50\\%', '0.5', ACCEPT, 'percent as fraction'],
  ['50', '50\\%', ACCEPT, 'percent sign added'],
  ['0.5', '50%', ACCEPT, 'value of the percentage'],
  ['28\\%', '28 percent', ACCEPT, 'percent spelled out'],
  ['50\\%', '5\\%', REJECT, 'different percent'],
  ['50\\%', '0.05', REJECT, 'percent scaled twice'],
  ['0.5', '50', REJECT, 'no percent sign, no scaling'],
  ['12.5\\%', '\\frac{1}{8}', ACCEPT, 'percent vs fraction'],
  ['12.5\\%', '\\frac{1}{4}', REJECT, 'percent vs wrong fraction'],
  // Units.
  ['15', '15\\mbox{ cm}^2', ACCEPT, 'area unit ignored'],
  ['15\\text{ cm}^2', '15', ACCEPT, 'unit only in gold'],
  ['3\\text{ cm}', '3\\text{ cm}', ACCEPT, 'same unit'],
  ['3\\text{ cm}', '30\\text{ mm}', ACCEPT, 'converted unit'],
  ['3\\text{ cm}', '3\\text{ m}', REJECT, 'units differ in value'],
  ['3\\text{ cm}', '3\\text{ kg}', REJECT, 'different dimension'],
  ['3\\text{ cm}^2', '3\\text{ cm}', REJECT, 'area vs length'],
  ['3\\text{ cm}', '4\\text{ cm}', REJECT, 'same unit, wrong value'],
  ['2', '2 \\text{ hours}', ACCEPT, 'time unit'],
  ['2 \\text{ hours}', '120 \\text{ minutes}', ACCEPT, 'hours to minutes'],
  ['2 \\text{ hours}', '2 \\text{ minutes}', REJECT, 'hours vs minutes'],
  ['5', '\\$5', ACCEPT, 'dollar sign'],
  ['5', '5 \\text{ dollars}', ACCEPT, 'dollars word'],
  ['1.50', '\\$1.5', ACCEPT, 'money decimals'],
  ['865', '865 \\mbox{ inches}^2', ACCEPT, 'square inches'],
  ['12', '12 \\text{ square units}', ACCEPT, 'square units'],
  ['90^\\circ', '90', ACCEPT, 'degree sign'],
  ['90', '90 \\text{ degrees}', ACCEPT, 'degrees word'],
  ['90^\\circ', '45^\\circ', REJECT, 'wrong angle'],
  ['5', '5x', REJECT, 'a variable is not a unit'],
  // Expressions, roots, pi, variables.
  ['\\frac{\\sqrt{3}}{2}', '\\frac{\\sqrt3}{2}', ACCEPT, 'malformed sqrt'],
  ['\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}', ACCEPT, 'rationalized'],
  ['3\\sqrt{13}', '\\sqrt{117}', ACCEPT, 'simplified root'],
  ['3\\sqrt{13}', '\\sqrt{118}', REJECT, 'different root'],
  ['\\sqrt[3]{8}', '2', ACCEPT, 'cube root'],
  ['2\\pi', '\\pi \\cdot 2', ACCEPT, 'commuted product'],
  ['2\\pi', '6.283185', ACCEPT, 'pi to 7 digits'],
  ['2\\pi', '6.28', REJECT, 'pi to 3 digits'],
  ['\\pi', '3.14', REJECT, 'pi approximated'],
  ['(x+1)^2', 'x^2+2x+1', ACCEPT, 'expanded polynomial'],
  ['(x+1)^2', 'x^2+1', REJECT, 'wrong expansion'],
  ['2-2p', '-2p+2', ACCEPT, 'reordered'],
  ['2-2p', '2-2q', REJECT, 'different variable'],
  ['\\frac{x^2-1}{x-1}', 'x+1', ACCEPT, 'cancelled factor'],
  ['\\infty', '\\infty', ACCEPT, 'infinity'],
  ['\\infty', '-\\infty', REJECT, 'minus infinity'],
  ['\\text{Evelyn}', 'Evelyn', ACCEPT, 'text answer'],
  ['\\text{Monday}', 'monday', ACCEPT, 'case-insensitive text'],
  ['\\text{Monday}', '\\text{Tuesday}', REJECT, 'different text'],
  ['\\text{(C)}', 'C', ACCEPT, 'choice letter'],
  ['\\text{(C)}', 'D', REJECT, 'wrong choice'],
  ['\\sqrt{2}', '1.414', REJECT, 'root to 4 digits'],
  ['\\sqrt{2}', '1.41421356', ACCEPT, 'root to 9 digits'],
  ['1', '0.999', REJECT, 'close is not equal'],
  ['x^2', 'x^{2}', ACCEPT, 'braced exponent'],
  ['x^2', 'x^{3}', REJECT, 'different power'],
  ['e', '2.718281828', ACCEPT, 'Euler number'],
  ['-1', 'i^2', ACCEPT, 'imaginary unit squared'],
  ['i', '-i', REJECT, 'conjugate'],
  ['0', '0 \\cdot \\infty', REJECT, 'undefined product'],
  ['10^{400}', '10^{400} + 1', REJECT, 'beyond the double range only text can match'],
  ['\\text{even}', '\\text{odd}', REJECT, 'different word'],
  ['A', 'B', REJECT, 'different letter'],
  ['5', '\\text{5 or 6}', REJECT, 'hedge inside text'],
  ['5\\text{ m}', '500\\text{ cm}', ACCEPT, 'metres to centimetres'],
  ['5\\text{ m}', '50\\text{ cm}', REJECT, 'wrong conversion'],
  // Equations and named answers.
  ['3', 'x = 3', ACCEPT, 'assignment vs value'],
  ['x = 3', '3', ACCEPT, 'value vs assignment'],
  ['x = 3', 'x=3', ACCEPT, 'spacing'],
  ['x = 3', '3 = x', ACCEPT, 'sides swapped'],
  ['x = 3', 'y = 3', REJECT, 'different variable named'],
  ['x = 3', 'x = 4', REJECT, 'different value'],
  ['\\frac{1}{3}', 'k = \\frac{1}{3}', ACCEPT, 'named constant'],
  ['y = 2x + 1', 'y = 1 + 2x', ACCEPT, 'same line'],
  ['y = 2x + 1', '2x - y + 1 = 0', ACCEPT, 'line in general form'],
  ['y = 2x + 1', 'y = 2x + 2', REJECT, 'parallel line'],
  ['y = 2x + 1', '2x + 1', ACCEPT, 'right-hand side only'],
  ['2x + 3y = 6', '4x + 6y = 12', ACCEPT, 'scaled equation'],
  ['2x + 3y = 6', '2x + 3y = 7', REJECT, 'different constant'],
  ['f(x) = x^2', 'x^2', ACCEPT, 'function value'],
  ['3', '\\frac{6}{2} = 3', ACCEPT, 'true chain'],
  ['3', '1 + 1 = 3', REJECT, 'false chain'],
  ['2', '1 = 2', REJECT, 'false equation'],
  ['(1, 2)', '(x, y) = (1, 2)', ACCEPT, 'named point'],
  // Intervals and inequalities.
  ['[0,1)', '[0,1)', ACCEPT, 'same half-open interval'],
  ['[0,9)', '[0,1)', REJECT, 'different end'],
  ['(0,9)', '[0,9)', REJECT, 'open vs half-open'],
  ['(1,2]', '(1,2)', REJECT, 'closed end missing'],
  ['(1,2)', '(1, 2)', ACCEPT, 'spacing'],
  ['(1,2)', '\\left(1, 2\\right)', ACCEPT, '\\left( \\right)'],
  ['(0,\\infty)', '(0, \\infty)', ACCEPT, 'to infinity'],
  ['(0,\\infty)', '[0, \\infty)', REJECT, 'closed at zero'],
  ['(-\\infty, 3]', 'x \\le 3', ACCEPT, 'inequality as interval'],
  ['(-\\infty, 3]', 'x < 3', REJECT, 'strict inequality'],
  ['(3, \\infty)', 'x > 3', ACCEPT, 'greater than'],
  ['[3, \\infty)', '3 \\leq x', ACCEPT, 'variable on the right'],
  ['(1, 2]', '1 < x \\le 2', ACCEPT, 'double inequality'],
  ['(1, 2)', '1 \\le x < 2', REJECT, 'double inequality, closed end'],
  ['(-\\infty, -2) \\cup (2, \\infty)', '(2, \\infty) \\cup (-\\infty, -2)', ACCEPT, 'union in any order'],
  ['(-\\infty, -2) \\cup (2, \\infty)', '(-\\infty, -2] \\cup (2, \\infty)', REJECT, 'union with a closed end'],
  ['(-\\infty, -2) \\cup (2, \\infty)', '(2, \\infty)', REJECT, 'union missing a part'],
  ['(3, \\infty)', '3', REJECT, 'interval vs its end'],
  // Points and tuples (an open interval and a point are both written (a, b); they compare alike).
  ['(3, \\frac{\\pi}{2})', '\\left( 3, \\frac{\\pi}{2} \\right)', ACCEPT, 'polar point'],
  ['(1, 2)', '(2, 1)', REJECT, 'tuples are ordered'],
  ['(1, 2, 3)', '(1, 2, 3)', ACCEPT, 'triple'],
  ['(1, 2, 3)', '(1, 2)', REJECT, 'missing coordinate'],
  ['(1, 2)', '1, 2', REJECT, 'a point is not two answers'],
  // Sets and multiple answers.
  ['\\{1,2\\}', '\\{1,2,3\\}', REJECT, 'extra element'],
  ['\\{1,2,3\\}', '\\{1,2\\}', REJECT, 'missing element'],
  ['\\{1,2\\}', '\\{1,2,2\\}', ACCEPT, 'repeated element of a set'],
  ['\\{1,2\\}', '1, 2', ACCEPT, 'set vs list'],
  ['\\{1,2\\}', '(1,2)', REJECT, 'set vs tuple'],
  ['\\{-1, \\frac{1}{2}\\}', '\\{0.5, -1\\}', ACCEPT, 'set of values'],
  ['-2,1', '1,-2', ACCEPT, 'roots in any order'],
  ['-2,1', '-2', REJECT, 'missing root'],
  ['-2,1', '-2, 1, 3', REJECT, 'extra root'],
  ['1, 2', '1 \\text{ or } 2', ACCEPT, 'or as separator'],
  ['1, 2', '1 \\text{ and } 2', ACCEPT, 'and as separator'],
  ['1', '1 or 2', REJECT, 'hedged answer'],
  ['1', '1, 2', REJECT, 'two answers for one'],
  ['1, 1, 2', '1, 2', REJECT, 'lists keep multiplicity'],
  ['x = 1, x = 2', '1, 2', ACCEPT, 'named roots'],
  ['3, -3', 'x = 3, -3', ACCEPT, 'partly named roots'],
  ['1 \\pm \\sqrt{2}', '1 + \\sqrt{2}, 1 - \\sqrt{2}', ACCEPT, 'plus-minus'],
  ['1 \\pm \\sqrt{2}', '1 + \\sqrt{2}', REJECT, 'half of plus-minus'],
  ['12\\text{ and }13', '12, 13', ACCEPT, 'between two integers'],
  ['2', '\\pm 2', REJECT, 'plus-minus is two answers'],
  ['-2, 2', '\\pm 2', ACCEPT, 'plus-minus as two answers'],
  ['3', '3, 3', REJECT, 'answer repeated as a list'],
  ['x = 2', 'x = 2 \\text{ or } x = 3', REJECT, 'extra solution'],
  ['\\{3\\}', '\\{3, 4\\}', REJECT, 'extra element in a singleton set'],
  // Matrices and vectors.
  ['\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}', '\\begin{pmatrix}0&3\\\\0&-1\\end{pmatrix}', ACCEPT, 'same matrix'],
  ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}', ACCEPT, 'bracket style'],
  ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}', REJECT, 'one entry differs'],
  ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}', REJECT, 'transposed'],
  ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '1, 2, 3, 4', REJECT, 'flattened'],
  ['\\begin{pmatrix} \\frac{1}{2} \\\\ 1 \\end{pmatrix}', '\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}', ACCEPT, 'entries by value'],
  ['\\begin{pmatrix} 3 \\\\ 2 \\\\ -6 \\end{pmatrix}', '(3, 2, -6)', ACCEPT, 'column vector as tuple'],
  ['\\begin{pmatrix} 3 \\\\ 2 \\\\ -6 \\end{pmatrix}', '(3, -6, 2)', REJECT, 'vector reordered'],
  ['\\begin{pmatrix} 1 & 2 \\end{pmatrix}', '\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}', REJECT, 'row vs column'],
  ['5', '\\begin{vmatrix} 1 & 2 \\\\ 3 & 4 \\end{vmatrix}', REJECT, 'determinant is not evaluated'],
  // Boxes left in the answer, delimiters.
  ['3', '\\boxed{3}', ACCEPT, 'boxed inside the answer'],
  ['3', '\\boxed{\\boxed{3}}', ACCEPT, 'box in a box'],
  ['3', '$3$', ACCEPT, 'dollar delimiters'],
  ['3', '\\(3\\)', ACCEPT, 'paren delimiters'],
  ['3', '3.', ACCEPT, 'trailing period'],
  ['1', '\\boxed{1}\\boxed{2}', REJECT, 'two boxes are two answers'],
  ['2', '\\boxed{1, \\boxed{2}}', REJECT, 'inner box is part of the outer answer'],
];

describe('math answers compared as a grader would', () => {
  const all = [...ISSUE_PAIRS, ...CASES];

  it('has a large table, balanced between accept and reject', () => {
    const accepted = all.filter((c) => c[2]).length;
    expect(all.length).toBeGreaterThanOrEqual(150);
    expect(accepted / all.length).toBeGreaterThan(0.4);
    expect(accepted / all.length).toBeLessThan(0.6);
  });

  it.each(all)('gold %s, predicted %s -> %s (%s)', (gold, predicted, accept) => {
    expect(answersEqual(predicted, gold)).toBe(accept);
  });

  it('every verdict stands with the sides swapped (the comparison is symmetric)', () => {
    for (const [gold, predicted, accept] of all) expect(answersEqual(gold, predicted), `${gold} | ${predicted}`).toBe(accept);
  });
});

describe('answers extracted from whole completions', () => {
  const COMPLETIONS: Case[] = [
    ['2', 'First \\boxed{5} was wrong; redoing it gives \\boxed{2}.', ACCEPT, 'last box after a retraction'],
    ['2', '\\boxed{1}\\boxed{2}', REJECT, 'hedge: adjacent boxes are one list'],
    ['1', '\\boxed{1} or \\boxed{2}', REJECT, 'hedge with or'],
    ['1, 2', 'The roots are \\boxed{1} and \\boxed{2}.', ACCEPT, 'two roots in two boxes'],
    ['2', 'so \\boxed{2}\n\n\\boxed{2}', ACCEPT, 'the same box twice'],
    ['2', 'The answer is \\boxed{\\boxed{2}}.', ACCEPT, 'nested box'],
    ['2', 'The answer is \\boxed{1 \\text{ or } \\boxed{2}}.', REJECT, 'nested box inside a hedge'],
    ['2', '<think>x</think><answer>\\boxed{1}\\boxed{2}</answer>', REJECT, 'hedge inside answer tags'],
    ['\\frac{14}{3}', '$=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}$', ACCEPT, 'box at the end of a derivation'],
    ['15\\mbox{ cm}^2', '$$\\frac{1}{2}\\times 3 \\times 10 = \\boxed{15\\mbox{ cm}^2}.$$', ACCEPT, 'boxed with unit'],
    ['-2,1', 'the only integer roots are $\\boxed{-2,1}.$', ACCEPT, 'boxed list'],
    ['1', 'no box at all: 1', REJECT, 'nothing extracted'],
  ];
  it.each(COMPLETIONS)('gold %s, completion %s -> %s (%s)', (gold, completion, accept) => {
    expect(scoreAnswer(completion, gold)).toBe(accept ? 1 : 0);
  });
});

describe('hostile answers are rejected quickly', () => {
  const HOSTILE: [gold: string, predicted: string][] = [
    ['\\infty', '10^{10^{10}}'],
    ['\\infty', '9^{9^{9^{9}}}'],
    ['\\infty', '\\frac{1}{0}'],
    ['1', '(10^{10})!'],
    ['1', '10^{10^{10}} - 10^{10^{10}} + 1'],
    ['1', 'import({}, {override: true})'],
    ['1', 'f(1)'],
    ['1', 'createUnit("foo")'],
    ['1', 'evaluate("1")'],
    ['4', 'f(x) := x^2; f(2)'],
    ['1', '[1]'],
    ['1', `${'('.repeat(200)}1${')'.repeat(200)} + 1`],
    ['1', '\\frac{'.repeat(200)],
    ['1', `${'\\sqrt{'.repeat(100)}2${'}'.repeat(100)}`],
    ['2', `${'1+'.repeat(240)}1`],
    ['1', `x${' '.repeat(400)}!`],
    ['1', `${'a '.repeat(240)}b cm`],
    ['1', '\\boxed{'.repeat(300)],
    ['1', `${'\\boxed{'.repeat(50_000)}1${'}'.repeat(50_000)}`],
    ['1', `${'\\frac{1}{'.repeat(20_000)}1${'}'.repeat(20_000)}`],
    ['1', `${'{'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['1', `0.${'9'.repeat(100_000)}`],
  ];
  it.each(HOSTILE)('gold %s vs a hostile answer is rejected in bounded time', (gold, predicted) => {
    answersEqual('0', '0'); // math.js is loaded before the clock starts
    const start = performance.now();
    expect(answersEqual(predicted, gold)).toBe(false);
    expect(scoreAnswer(`<answer>${predicted}</answer>`, gold)).toBe(0);
    expect(performance.now() - start).toBeLessThan(500); // ~30 ms on a loaded 2-core machine; blow-ups take seconds
  });
});
