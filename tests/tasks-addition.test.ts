// The embedded addition task: worked solutions, noise that propagates through the chain, held-out
// separation, determinism under a seed, and single-token tags.
import { describe, expect, it } from 'vitest';
import { additionExamples, additionHeldOut, additionSolution, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { seededRandom } from '../src/tasks/seeded-random.js';

const answerOf = (completion: string) => /<answer>(\d+)<\/answer>/.exec(completion)![1];

describe('addition task', () => {
  it('writes the column sums right to left, with carries', () => {
    expect(additionSolution(988, 804)).toBe('<think>8+4=12,8+0+1=9,9+8=17</think><answer>1792</answer>');
    expect(additionSolution(105, 100)).toBe('<think>5+0=5,0+0=0,1+1=2</think><answer>205</answer>');
    expect(additionSolution(999, 999)).toBe('<think>9+9=18,9+9+1=19,9+9+1=19</think><answer>1998</answer>');
  });

  it('clean solutions are correct for every problem of a sample', () => {
    for (const p of additionTrainProblems(500, 7)) expect(answerOf(additionSolution(p.a, p.b))).toBe(p.answer);
  });

  it('noise corrupts steps and the answer follows the corrupted chain', () => {
    const random = seededRandom(3);
    let wrong = 0;
    for (const p of additionTrainProblems(400, 9)) {
      const s = additionSolution(p.a, p.b, 0.5, random);
      if (answerOf(s) !== p.answer) wrong++;
      // Re-deriving the answer from the written steps always agrees with the written answer.
      const sums = /<think>(.*)<\/think>/.exec(s)![1].split(',').map((step) => Number(step.split('=')[1]));
      const digits = sums.map((v, i) => (i === sums.length - 1 ? String(v) : String(v % 10)));
      expect(Number(digits.reverse().join(''))).toBe(Number(answerOf(s)));
    }
    // With 3 steps each corrupted with probability 0.5, 1/8 of the chains stay correct.
    expect(wrong / 400).toBeGreaterThan(0.8);
    expect(wrong / 400).toBeLessThan(0.95);
  });

  it('held-out problems are distinct, deterministic and never in training data', () => {
    const held = additionHeldOut();
    expect(held).toHaveLength(128);
    expect(new Set(held.map((p) => p.prompt)).size).toBe(128);
    expect(additionHeldOut()).toEqual(held);
    const heldSet = new Set(held.map((p) => p.prompt));
    const train = additionExamples(2000, { seed: 11, noise: 0.5 });
    expect(train.some((p) => heldSet.has(p.prompt))).toBe(false);
    expect(additionExamples(2000, { seed: 11, noise: 0.5 })).toEqual(train);
  });

  it('tokenizes the tags as single tokens and round-trips', () => {
    const tok = additionTokenizer();
    const text = '988+804=' + additionSolution(988, 804);
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length).toBe(8 + 29);
    expect(ids).toContain(tok.tokenToId('<think>'));
    expect(tok.vocabSize).toBeLessThan(32);
  });
});
