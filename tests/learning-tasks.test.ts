// The learning benchmark's tasks: clean solutions are right and well-formed, noisy ones follow their chain,
// training problems never meet the held-out set, and the patterns read what the rewards read.
import { describe, expect, it } from 'vitest';
import { LEARNING_TASKS } from '../bench/learning-tasks.js';
import { learningArgs } from '../bench/learning.js';

describe.each(Object.values(LEARNING_TASKS))('learning task $name', (task) => {
  const answer = new RegExp(task.answerPattern);
  const wellFormed = new RegExp(task.formatPattern);

  it('keeps 128 distinct held-out problems out of the training problems', () => {
    const held = new Set(task.heldOut.map((p) => p.prompt));
    expect(held.size).toBe(128);
    const train = task.trainProblems(5000, 7);
    expect(train).toHaveLength(5000);
    expect(train.filter((p) => held.has(p.prompt))).toEqual([]);
  });

  it('writes well-formed cold-start completions that fit the token budget, a noisy share of them wrong', () => {
    const examples = task.coldStart(2000, 3);
    for (const e of examples) {
      expect(e.completion).toMatch(wellFormed);
      expect(task.tokenizer.encode(e.completion, { addSpecialTokens: false }).length + 1).toBeLessThanOrEqual(task.maxNewTokens);
      expect(task.tokenizer.decode(task.tokenizer.encode(e.prompt + e.completion, { addSpecialTokens: false }))).toBe(e.prompt + e.completion);
    }
    const right = examples.filter((e) => answer.exec(e.completion)?.[1] === e.answer).length / examples.length;
    expect(right).toBeGreaterThan(0.05);
    expect(right).toBeLessThan(0.6);
    expect(task.coldStart(50, 3)).toEqual(examples.slice(0, 50));
  });

  it('computes the reference answers', () => {
    for (const p of task.heldOut) {
      const question = p.prompt.slice(0, -1);
      const binary = /^(\d+)([+*])(\d+)$/.exec(question);
      const expected = binary ? (binary[2] === '+' ? Number(binary[1]) + Number(binary[3]) : Number(binary[1]) * Number(binary[3]))
        : [...question].reduce((a, d) => a + Number(d), 0);
      expect(p.answer).toBe(String(expected));
    }
  });
});

describe('learning benchmark flags', () => {
  it('parses the suite flags and refuses nonsense', () => {
    expect(learningArgs(['--tasks', 'addition,digit-sum', '--seeds', '1,2', '--grpo-steps', '80', '--json', 'r.json'])).toEqual({
      options: expect.objectContaining({ tasks: ['addition', 'digit-sum'], seeds: [1, 2], grpoSteps: 80, sftSteps: undefined }),
      json: 'r.json',
    });
    expect(() => learningArgs(['--sft-steps', '1.5'])).toThrow(/--sft-steps must be a positive integer/);
    expect(learningArgs(['--grpo-lr', '1e-4', '--adam-beta2', '0.99']).options).toMatchObject({ grpoLearningRate: 1e-4, adamBeta2: 0.99 });
    expect(() => learningArgs(['--adam-beta2', '1'])).toThrow(/--adam-beta2 must be a number in \(0, 1\)/);
    expect(() => learningArgs(['--bogus'])).toThrow();
  });
});
