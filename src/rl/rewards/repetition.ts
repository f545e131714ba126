// open-r1's n-gram repetition penalty: the share of repeated n-grams of words, scaled by a negative maximum.
import { checkArgs, checkNumber, checkOptions, named, type RewardArgs, type RewardFunction } from './types.js';

export interface RepetitionPenaltyOptions {
  /** n of the n-grams (default 3). */
  ngramSize?: number;
  /** The penalty of a completion made of one repeated n-gram, <= 0 (default -1). */
  maxPenalty?: number;
  /** Splits a completion into words (default: lower case, split on whitespace, as open-r1 for English). */
  words?: (text: string) => string[];
}

/** The fraction of a word sequence's n-grams that repeat an earlier one: 1 - unique / total (0 if fewer than n words). */
export function repeatedNgramFraction(words: readonly string[], n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`rewards.repeatedNgramFraction: n must be a positive integer, got ${n}`);
  if (!Array.isArray(words)) throw new TypeError('rewards.repeatedNgramFraction: words must be an array of strings');
  if (words.length < n) return 0;
  const seen = new Set<string>();
  let total = 0;
  for (let i = 0; i + n <= words.length; i++) {
    seen.add(words.slice(i, i + n).join('\u0000'));
    total++;
  }
  return 1 - seen.size / total;
}

/**
 * `rewards.repetitionPenalty(options)`: maxPenalty * (1 - unique n-grams / n-grams), so 0 for no repetition and
 * maxPenalty as the text approaches one n-gram repeated; 0 for empty completions or fewer than n words.
 */
export function repetitionPenalty(options: RepetitionPenaltyOptions = {}): RewardFunction {
  const r = 'repetitionPenalty';
  checkOptions(r, options);
  const n = checkNumber(r, 'ngramSize', options.ngramSize ?? 3, (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  const maxPenalty = checkNumber(r, 'maxPenalty', options.maxPenalty ?? -1, (x) => x <= 0, '<= 0 (a penalty)');
  const split = options.words ?? ((text: string) => text.toLowerCase().split(/\s+/).filter((w) => w !== ''));
  return named(r, (args: RewardArgs) =>
    checkArgs(r, args).map((c) => {
      const p = repeatedNgramFraction(split(c), n) * maxPenalty;
      return p === 0 ? 0 : p; // no -0
    }));
}
