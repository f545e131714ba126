// Evaluation metrics of the R1 recipe: the unbiased pass@k estimator, pass@1 as mean correctness over k
// samples, and cons@k (majority voting over normalized answers).
import { answersEqual, canonicalAnswer, type EquivalenceOptions } from '../rl/rewards/math-answer.js';

/** The most samples per problem passAtK takes. */
export const PASS_AT_K_MAX_SAMPLES = 10_000_000;

function checkCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
}

/**
 * The unbiased pass@k estimator (Chen et al. 2021) from n samples of which c are correct:
 * 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i) (no large binomials). numSamples is
 * at most 10,000,000.
 */
export function passAtK(numSamples: number, numCorrect: number, k: number): number {
  const op = 'passAtK';
  checkCount(op, 'numSamples', numSamples);
  checkCount(op, 'numCorrect', numCorrect);
  checkCount(op, 'k', k);
  if (numCorrect > numSamples) throw new RangeError(`${op}: numCorrect (${numCorrect}) exceeds numSamples (${numSamples})`);
  if (k < 1 || k > numSamples) throw new RangeError(`${op}: k must be in [1, numSamples = ${numSamples}], got ${k}`);
  // The product below has numCorrect factors; no evaluation draws anywhere near this many samples.
  if (numSamples > PASS_AT_K_MAX_SAMPLES) throw new RangeError(`${op}: numSamples is at most ${PASS_AT_K_MAX_SAMPLES.toLocaleString('en-US')}, got ${numSamples}`);
  if (numSamples - numCorrect < k) return 1;
  let fail = 1;
  for (let i = numSamples - numCorrect + 1; i <= numSamples; i++) fail *= 1 - k / i;
  return 1 - fail;
}

/** pass@k averaged over problems, from each problem's per-sample correctness (all rows need >= k samples). */
export function meanPassAtK(correctness: readonly (readonly boolean[])[], k: number): number {
  if (!Array.isArray(correctness) || correctness.length === 0) throw new RangeError('meanPassAtK: needs at least one problem');
  let total = 0;
  for (const row of correctness) total += passAtK(row.length, row.filter(Boolean).length, k);
  return total / correctness.length;
}

/** pass@1 as the mean correctness over each problem's k samples, averaged over problems (DeepSeek-R1's pass@1). */
export function meanPassAt1(correctness: readonly (readonly boolean[])[]): number {
  if (!Array.isArray(correctness) || correctness.length === 0) throw new RangeError('meanPassAt1: needs at least one problem');
  let total = 0;
  correctness.forEach((row, i) => {
    if (!Array.isArray(row) || row.length === 0) throw new RangeError(`meanPassAt1: problem ${i} has no samples`);
    total += row.filter(Boolean).length / row.length;
  });
  return total / correctness.length;
}

/**
 * The most common answer after normalization (`canonicalAnswer`: numbers by value, so `0.5`, `\frac12` and `50%`
 * vote together; other answers by their text normal form: LaTeX, spacing, separators, case); ties go to the
 * answer seen first; nulls (no answer) are ignored. Returns the first original spelling of the winner, or null.
 */
export function majorityVote(answers: readonly (string | null)[], normalize: (a: string) => string = canonicalAnswer): string | null {
  const counts = new Map<string, { count: number; first: number; answer: string }>();
  answers.forEach((a, i) => {
    if (a === null || a === undefined) return;
    const key = normalize(a);
    if (key === '') return;
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { count: 1, first: i, answer: a });
  });
  let best: { count: number; first: number; answer: string } | null = null;
  for (const e of counts.values()) if (!best || e.count > best.count || (e.count === best.count && e.first < best.first)) best = e;
  return best ? best.answer : null;
}

export interface ConsAtKOptions extends EquivalenceOptions {
  /** Vote over the first k answers of each problem (default all). */
  k?: number;
  /** Decides whether the voted answer matches the reference (default `answersEqual`). */
  equal?: (answer: string, reference: string) => boolean;
}

/**
 * cons@k: the fraction of problems whose majority-vote answer over k samples (see `majorityVote`) equals the
 * reference. `answers[p]` are problem p's extracted answers (null = none).
 */
export function consAtK(answers: readonly (readonly (string | null)[])[], references: readonly string[], options: ConsAtKOptions = {}): number {
  const op = 'consAtK';
  if (!Array.isArray(answers) || answers.length === 0) throw new RangeError(`${op}: needs at least one problem`);
  if (!Array.isArray(references) || references.length !== answers.length) {
    throw new RangeError(`${op}: ${references?.length} references for ${answers.length} problems`);
  }
  const equal = options.equal ?? ((a: string, b: string) => answersEqual(a, b, options));
  let correct = 0;
  answers.forEach((row, p) => {
    const k = options.k ?? row.length;
    if (!Number.isInteger(k) || k < 1 || k > row.length) throw new RangeError(`${op}: k = ${k} but problem ${p} has ${row.length} answers`);
    const voted = majorityVote(row.slice(0, k));
    if (voted !== null && equal(voted, references[p])) correct++;
  });
  return correct / answers.length;
}
