// The accuracy reward and answer equivalence: extraction (<answer>, nested \boxed), normalization of numbers,
// fractions, percentages, separators and simple LaTeX, symbolic equivalence, and null for unparsable references.
import { describe, expect, it } from 'vitest';
import { rewards } from '../src/index.js';
import { additionSolution } from '../src/tasks/addition.js';

const { accuracy, answersEqual, extractAnswer, lastBoxed, normalizeAnswer, scoreAnswer } = rewards;
const eq = (a: string, b: string) => answersEqual(a, b);

describe('answer extraction', () => {
  it('takes the last <answer> block, or the last \\boxed with nested braces', () => {
    expect(extractAnswer('<think>try <b></think><answer>1</answer> then <answer> 2 </answer>')).toBe('2');
    expect(extractAnswer('so the area is $\\boxed{\\frac{\\sqrt{3}}{2}}$.')).toBe('\\frac{\\sqrt{3}}{2}');
    expect(extractAnswer('\\boxed{1} and finally \\boxed{\\left\\{ 2 \\right\\}}')).toBe('\\left\\{ 2 \\right\\}');
    expect(extractAnswer('<answer>The answer is \\boxed{7}.</answer>')).toBe('7');
    expect(extractAnswer('\\boxed 5 done')).toBe('5');
    expect(lastBoxed('\\boxed{unclosed {')).toBeNull();
  });

  it('finds no answer in empty or missing tags', () => {
    expect(extractAnswer('<answer></answer>')).toBeNull();
    expect(extractAnswer('<answer>   </answer>')).toBeNull();
    expect(extractAnswer('no tags at all 42')).toBeNull();
    expect(extractAnswer('<answer>42')).toBeNull(); // truncated
  });
});

describe('answer equivalence', () => {
  it('fractions, decimals and LaTeX', () => {
    for (const x of ['1/2', '\\frac{1}{2}', '\\dfrac{1}{2}', '\\tfrac12', '$0.5$', '0.50', '\\left(\\frac{1}{2}\\right)', '2/4', '\\(\\frac{2}{4}\\)']) {
      expect(eq(x, '0.5'), x).toBe(true);
    }
    expect(eq('\\frac{\\sqrt{2}}{2}', '1/\\sqrt{2}')).toBe(true);
    expect(eq('\\sqrt[3]{8}', '2')).toBe(true);
    expect(eq('2\\pi', '\\pi \\cdot 2')).toBe(true);
    expect(eq('3 \\times 4', '12')).toBe(true);
    expect(eq('\\text{12 }', '12')).toBe(true);
    expect(eq('x = 3', '3')).toBe(true);
    expect(eq('90^\\circ', '90')).toBe(true);
    expect(eq('0.5', '0.6')).toBe(false);
    expect(eq('1/3', '0.33')).toBe(false);
  });

  it('thousands separators and large integers compare exactly', () => {
    expect(eq('1,000', '1000')).toBe(true);
    expect(eq('1{,}000', '1000')).toBe(true);
    expect(eq('1\\,000', '1000')).toBe(true);
    expect(eq('12,345,678.5', '12345678.5')).toBe(true);
    expect(eq('1000001', '10^6')).toBe(false);
    expect(eq('1000000', '10^6')).toBe(true);
    expect(eq('123456789012345678', '123456789012345679')).toBe(false);
  });

  it('percentages: 50% is 0.5, and also matches a bare 50', () => {
    expect(eq('50%', '0.5')).toBe(true);
    expect(eq('50\\%', '50')).toBe(true);
    expect(eq('50%', '50%')).toBe(true);
    expect(eq('0.5', '50%')).toBe(true);
    expect(eq('50%', '5%')).toBe(false);
    expect(eq('50%', '0.05')).toBe(false);
  });

  it('expressions with variables are compared at random points', () => {
    expect(eq('(x+1)^2', 'x^2 + 2x + 1')).toBe(true);
    expect(eq('\\frac{x^2-1}{x-1}', 'x+1')).toBe(true);
    expect(eq('2x', 'x + x')).toBe(true);
    expect(eq('(x+1)^2', 'x^2 + 1')).toBe(false);
    expect(eq('x + y', 'x + z')).toBe(false);
  });

  it('lists: unordered for bare lists, ordered for tuples', () => {
    expect(eq('1, 2', '2, 1')).toBe(true);
    expect(eq('(1, 2)', '(1, 2)')).toBe(true);
    expect(eq('(1, 2)', '(2, 1)')).toBe(false);
    expect(eq('1, 2', '1, 3')).toBe(false);
    expect(eq('1, 2', '1')).toBe(false);
  });

  it('text answers compare case- and space-insensitively', () => {
    expect(eq('\\text{Monday}', 'monday')).toBe(true);
    expect(eq('Monday', 'Tuesday')).toBe(false);
    expect(normalizeAnswer(' $\\frac{1}{2}$. ')).toBe('((1)/(2))');
  });

  it('refuses to evaluate anything but arithmetic', () => {
    expect(eq('import({}, {override: true})', 'import({}, {override: true})')).toBe(true); // text equality only
    expect(eq('f(x)', 'g(x)')).toBe(false);
    expect(eq('x == 1', 'true')).toBe(false);
  });
});

describe('rewards.accuracy', () => {
  it('scores 1/0 per completion from the answer column, null for an unparsable reference', async () => {
    const reward = accuracy();
    expect(reward.name).toBe('accuracy');
    const completions = ['<think>..</think><answer>\\frac{1}{2}</answer>', '<think>..</think><answer>0.4</answer>', 'no answer', 'x', '<answer>3</answer>'];
    const out = await reward({ prompts: completions.map(() => 'p'), completions, answer: ['0.5', '0.5', '0.5', '\\frac{1}{', '3'] });
    expect(out).toEqual([1, 0, 0, null, 1]);
  });

  it('reads a TRL-style solution column with \\boxed, and a scalar broadcast', async () => {
    const out = await accuracy()({ prompts: ['p', 'p'], completions: ['\\boxed{1,000}', '<answer>999</answer>'], solution: 'So we get $\\boxed{1000}$.' });
    expect(out).toEqual([1, 0]);
    expect(scoreAnswer('<answer>1</answer>', '')).toBeNull();
    expect(scoreAnswer('<answer>1</answer>', 'the answer is (A) because')).toBeNull();
  });

  it('works on the embedded addition task', async () => {
    const c = additionSolution(988, 804);
    const out = await accuracy()({ prompts: ['988+804='], completions: [c, c.replace('1792', '1793')], answer: ['1792', '1792'] });
    expect(out).toEqual([1, 0]);
  });

  it('explains misuse', async () => {
    expect(() => accuracy({ prompts: [], completions: [] } as never)).toThrow(/factory/);
    await expect(async () => accuracy()({ prompts: ['p'], completions: ['x'] })).rejects.toThrow(/no column 'answer'/);
    await expect(async () => accuracy()({ prompts: ['p'], completions: ['x'], answer: ['1', '2'] })).rejects.toThrow(/2 entries for 1/);
  });
});
