// Language consistency, cosine-scaled length, DAPO's soft overlong punishment and the n-gram repetition
// penalty, each against values worked out by hand from the published formulas.
import { describe, expect, it } from 'vitest';
import { rewards } from '../src/index.js';

const batch = (completions: string[], extra: Record<string, unknown> = {}) => ({ prompts: completions.map(() => 'p'), completions, ...extra });

describe('rewards.languageConsistency', () => {
  const lc = (c: string, options: rewards.LanguageConsistencyOptions = { language: 'en' }) =>
    (rewards.languageConsistency(options)(batch([c])) as (number | null)[])[0];

  it('is the share of chain-of-thought words in the target script', () => {
    expect(lc('<think>let us add the numbers</think><answer>5</answer>')).toBe(1);
    expect(lc('<think>let us 计算 it</think><answer>5</answer>')).toBe(3 / 5); // 计 and 算 are a word each
    expect(lc('<think>давайте посчитаем it</think><answer>5</answer>')).toBeCloseTo(1 / 3, 12);
    expect(lc('<think>我们来计算</think><answer>5</answer>', { language: 'zh' })).toBe(1);
    expect(lc('<think>我们 compute</think>', { language: 'zh' })).toBe(2 / 3);
    expect(lc('<think>حسنا let</think>', { language: 'ar' })).toBe(1 / 2);
    expect(lc('<think>ひらがな and 漢字</think>', { language: 'ja' })).toBe(6 / 7);
  });

  it('ignores digits, symbols and the answer; only the think block counts', () => {
    expect(lc('<think>8+4=12, 9+8=17</think><answer>Ответ</answer>')).toBe(1); // no words: 1 by default
    expect(lc('<think>8+4=12</think>', { language: 'en', whenNoWords: null })).toBeNull();
    expect(lc('<think>ok</think><answer>Ответ</answer>', { language: 'en', wholeCompletion: true })).toBe(1 / 2);
    expect(lc('no tags here, всё')).toBe(3 / 4); // no think block: the whole completion
  });

  it('takes the target per row from a column, or a script name', async () => {
    const out = await rewards.languageConsistency()(batch(['<think>hello</think>', '<think>hello</think>', '<think>hello</think>'], { language: ['en', 'ru', 'Latin'] }));
    expect(out).toEqual([1, 0, 1]);
    expect(() => rewards.languageConsistency({ language: 'Klingon' })).toThrow(/unknown language/);
  });
});

describe('rewards.cosineScaledLength', () => {
  // open-r1: lo + (hi - lo) * (1 + cos(pi * L / maxLength)) / 2.
  const ref = (len: number, correct: boolean, max = 100) => {
    const [hi, lo] = correct ? [1.0, 0.5] : [-1.0, -0.5];
    return lo + 0.5 * (hi - lo) * (1 + Math.cos(Math.PI * Math.min(len / max, 1)));
  };

  it('rewards short correct answers most and short wrong answers least', async () => {
    const reward = rewards.cosineScaledLength({ maxLength: 100 });
    const lengths = [0, 25, 50, 100, 150];
    const ids = lengths.map((n) => new Array<number>(n).fill(1));
    const right = await reward(batch(lengths.map(() => '<answer>7</answer>'), { answer: '7', completionIds: ids }));
    const wrong = await reward(batch(lengths.map(() => '<answer>8</answer>'), { answer: '7', completionIds: ids }));
    lengths.forEach((n, i) => {
      expect(right[i]).toBeCloseTo(ref(n, true), 12);
      expect(wrong[i]).toBeCloseTo(ref(n, false), 12);
    });
    expect(right[0]).toBeCloseTo(1, 12);
    expect(right[3]).toBeCloseTo(0.5, 12);
    expect(wrong[0]).toBeCloseTo(-1, 12);
    expect(wrong[3]).toBeCloseTo(-0.5, 12);
  });

  it('passes null through for unparsable references and needs token ids (or chars)', async () => {
    const out = await rewards.cosineScaledLength({ maxLength: 10, lengthUnit: 'chars' })(batch(['<answer>7</answer>'], { answer: '(' }));
    expect(out).toEqual([null]);
    await expect(async () => rewards.cosineScaledLength()(batch(['x'], { answer: '1' }))).rejects.toThrow(/completionIds/);
  });
});

describe('rewards.softOverlongPunishment', () => {
  it('is 0 before the cache window, linear to -1 inside it, -1 beyond', async () => {
    const reward = rewards.softOverlongPunishment({ maxLength: 20, cache: 8 });
    const lengths = [0, 12, 13, 16, 20, 21, 40];
    const out = await reward(batch(lengths.map(() => ''), { completionIds: lengths.map((n) => new Array<number>(n).fill(0)) }));
    expect(out).toEqual([0, 0, -1 / 8, -4 / 8, -1, -1, -1]);
    expect(() => rewards.softOverlongPunishment({ maxLength: 10, cache: 11 })).toThrow(/cache/);
    expect(() => rewards.softOverlongPunishment(undefined as never)).toThrow(/maxLength/);
  });
});

describe('rewards.repetitionPenalty', () => {
  // Brute force: count n-grams and distinct n-grams directly.
  const ref = (text: string, n: number, maxPenalty: number) => {
    const w = text.toLowerCase().split(/\s+/).filter(Boolean);
    if (w.length < n) return 0;
    const grams = Array.from({ length: w.length - n + 1 }, (_, i) => w.slice(i, i + n).join(' '));
    return (1 - new Set(grams).size / grams.length) * maxPenalty;
  };

  it('matches open-r1 on repeated and fresh text', async () => {
    const texts = ['', 'too short', 'the cat sat on the mat', 'a b c a b c a b c a b c', 'Go go GO go go go go', 'x '.repeat(50)];
    const out = await rewards.repetitionPenalty({ ngramSize: 3, maxPenalty: -0.5 })(batch(texts));
    texts.forEach((t, i) => expect(out[i]).toBeCloseTo(ref(t, 3, -0.5), 12));
    expect(out[2]).toBe(0);
    expect(out[3]).toBeCloseTo(-0.5 * (1 - 3 / 10), 12);
    expect(out[5]).toBeCloseTo(-0.5 * (1 - 1 / 48), 12);
    expect(() => rewards.repetitionPenalty({ maxPenalty: 1 })).toThrow(/<= 0/);
  });
});
