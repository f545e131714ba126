// Evaluation metrics against brute force: pass@k by enumerating every k-subset of n samples, pass@1 as mean
// correctness, majority voting over normalized answers and cons@k.
import { describe, expect, it } from 'vitest';
import { consAtK, majorityVote, meanPassAt1, meanPassAtK, passAtK } from '../src/index.js';
import { rng } from './helpers/reference.js';

// The fraction of k-subsets of n samples (c of them correct) containing at least one correct sample.
function bruteForcePassAtK(n: number, c: number, k: number): number {
  let hit = 0;
  let total = 0;
  const visit = (start: number, left: number, anyCorrect: boolean) => {
    if (left === 0) {
      total++;
      if (anyCorrect) hit++;
      return;
    }
    for (let i = start; i <= n - left; i++) visit(i + 1, left - 1, anyCorrect || i < c);
  };
  visit(0, k, false);
  return hit / total;
}

describe('passAtK', () => {
  it('equals the subset enumeration for every n <= 10', () => {
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) expect(passAtK(n, c, k), `n=${n} c=${c} k=${k}`).toBeCloseTo(bruteForcePassAtK(n, c, k), 12);
      }
    }
  });

  it('worked examples and stability for large n', () => {
    expect(passAtK(10, 0, 5)).toBe(0);
    expect(passAtK(10, 6, 5)).toBe(1);
    expect(passAtK(2, 1, 1)).toBe(0.5);
    expect(passAtK(8, 2, 1)).toBeCloseTo(0.25, 15);
    // 1 - C(4000, 100)/C(5000, 100): the binomials overflow float64; the product form does not.
    let logRatio = 0;
    for (let i = 0; i < 100; i++) logRatio += Math.log(4000 - i) - Math.log(5000 - i);
    expect(passAtK(5000, 1000, 100)).toBeCloseTo(1 - Math.exp(logRatio), 12);
    expect(passAtK(100000, 1, 1)).toBeCloseTo(1e-5, 15);
  });

  it('rejects impossible counts', () => {
    expect(() => passAtK(5, 6, 1)).toThrow(/exceeds/);
    expect(() => passAtK(5, 2, 6)).toThrow(/k must be/);
    expect(() => passAtK(5, 2, 0)).toThrow(/k must be/);
    expect(() => passAtK(5.5, 2, 1)).toThrow(/integer/);
  });
});

describe('meanPassAt1 / meanPassAtK', () => {
  it('is the mean correctness per problem averaged over problems, and pass@k with k = 1', () => {
    const r = rng(5);
    const rows = Array.from({ length: 20 }, () => Array.from({ length: 8 }, () => r() < 0.4));
    const expected = rows.reduce((s, row) => s + row.filter(Boolean).length / 8, 0) / 20;
    expect(meanPassAt1(rows)).toBeCloseTo(expected, 15);
    expect(meanPassAtK(rows, 1)).toBeCloseTo(expected, 15);
    expect(meanPassAt1([[true, false], [true, true, true, false]])).toBeCloseTo((0.5 + 0.75) / 2, 15);
    expect(meanPassAtK([[true, false, false, false]], 2)).toBeCloseTo(0.5, 15);
    expect(() => meanPassAt1([])).toThrow(/at least one/);
    expect(() => meanPassAt1([[]])).toThrow(/no samples/);
  });
});

describe('majorityVote / consAtK', () => {
  it('votes over normalized answers, ignores nulls, breaks ties by first occurrence', () => {
    expect(majorityVote(['\\frac{1}{2}', '3', ' \\frac{1}{2} ', '$\\frac{1}{2}$', '3'])).toBe('\\frac{1}{2}');
    expect(majorityVote(['1,000', '7', '1000'])).toBe('1,000');
    expect(majorityVote(['3', '0.5', '3', '\\dfrac{1}{2}', '50%'])).toBe('0.5'); // equal values vote together
    expect(majorityVote(['x+1', '2', '1+x', '2'])).toBe('2'); // expressions with variables group by text only
    expect(majorityVote(['Paris', 'paris', 'Rome'])).toBe('Paris');
    expect(majorityVote([null, '4', null, null, '5', '5'])).toBe('5');
    expect(majorityVote(['4', '5'])).toBe('4');
    expect(majorityVote(['5', '4', '4', '5'])).toBe('5');
    expect(majorityVote([null, null])).toBeNull();
    expect(majorityVote([])).toBeNull();
  });

  it('matches a brute-force vote on random answers', () => {
    const r = rng(9);
    for (let t = 0; t < 200; t++) {
      const answers = Array.from({ length: 1 + Math.floor(r() * 9) }, () => (r() < 0.2 ? null : String(Math.floor(r() * 4))));
      let best: string | null = null;
      let bestCount = 0;
      for (const a of answers) {
        if (a === null) continue;
        const count = answers.filter((b) => b === a).length;
        if (count > bestCount) [best, bestCount] = [a, count]; // first to reach the top count wins ties
      }
      expect(majorityVote(answers)).toBe(best);
    }
  });

  it('cons@k is the accuracy of the majority answer over the first k samples', () => {
    const answers = [['1', '2', '2', '1', '1'], ['3', '0.5', '\\frac12', null, null], [null, null, null, '9', '9']];
    expect(consAtK(answers, ['1', '1/2', '9'])).toBeCloseTo(1, 15);
    expect(consAtK(answers, ['1', '1/2', '9'], { k: 3 })).toBeCloseTo(1 / 3, 15); // '2' wins p0, no answer in p2
    expect(consAtK(answers, ['2', '3', '8'])).toBe(0);
    expect(() => consAtK(answers, ['1'])).toThrow(/references/);
    expect(() => consAtK(answers, ['1', '2', '3'], { k: 6 })).toThrow(/k = 6/);
  });
});
