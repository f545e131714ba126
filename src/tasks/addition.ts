// The embedded default task: 3-digit + 3-digit addition with the column sums written right to left inside
// the think block, e.g. `988+804=<think>8+4=12,8+0+1=9,9+8=17</think><answer>1792</answer>`. The held-out
// set is the first 128 distinct problems of the seeded generator; training problems never include them.
import { CharTokenizer } from '../io/tokenizers/char.js';
import { randomInt, type Random, seededRandom } from './seeded-random.js';

export interface AdditionProblem {
  a: number;
  b: number;
  /** What the model is given, e.g. `988+804=`. */
  prompt: string;
  /** The correct sum as a string, e.g. `1792`. */
  answer: string;
}

export interface AdditionExample extends AdditionProblem {
  /** A worked completion: `<think>steps</think><answer>sum</answer>` (possibly with noisy steps). */
  completion: string;
}

export const ADDITION_HELD_OUT_SIZE = 128;
export const ADDITION_DEFAULT_SEED = 1234;
/** Distinct problems there are: 900 x 900 pairs of 3-digit numbers. */
export const ADDITION_DISTINCT_PROBLEMS = 900 * 900;
/** The most problems or examples one call makes (a bound on the work and memory a typo can start). */
export const ADDITION_MAX_COUNT = 10_000_000;

function checkCount(op: string, name: string, v: unknown, max: number, why: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be an integer >= 0, got ${String(v)}`);
  if (v > max) throw new RangeError(`${op}: ${name} is at most ${max.toLocaleString('en-US')} (${why}), got ${v.toLocaleString('en-US')}`);
  return v;
}

function checkSeed(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeError(`${op}: ${name} must be an integer, got ${String(v)}`);
  return v;
}

function problem(a: number, b: number): AdditionProblem {
  return { a, b, prompt: `${a}+${b}=`, answer: String(a + b) };
}

// Draws problems from the generator in order (duplicates included).
function* draws(seed: number): Generator<AdditionProblem> {
  const random = seededRandom(seed);
  for (;;) yield problem(randomInt(random, 100, 999), randomInt(random, 100, 999));
}

const key = (p: AdditionProblem) => p.a * 1000 + p.b;

/**
 * The held-out evaluation problems: the first `count` distinct problems of the generator with `seed`.
 * `count` is at most 810,000, the number of distinct problems.
 */
export function additionHeldOut(count = ADDITION_HELD_OUT_SIZE, seed = ADDITION_DEFAULT_SEED): AdditionProblem[] {
  checkCount('additionHeldOut', 'count', count, ADDITION_DISTINCT_PROBLEMS, 'the number of distinct problems');
  checkSeed('additionHeldOut', 'seed', seed);
  const out: AdditionProblem[] = [];
  // Draws the generator's pairs directly: the last of 810,000 distinct problems takes ~10M draws.
  const seen = new Uint8Array(1000 * 1000);
  const random = seededRandom(seed);
  while (out.length < count) {
    const a = randomInt(random, 100, 999);
    const b = randomInt(random, 100, 999);
    if (seen[a * 1000 + b] === 0) {
      seen[a * 1000 + b] = 1;
      out.push(problem(a, b));
    }
  }
  return out;
}

/**
 * `count` training problems from a generator seeded with `trainSeed`, excluding the held-out problems of
 * `heldOutSeed` (repeats among training problems are allowed, as in any sampled dataset). `count` is at most
 * 10,000,000.
 */
export function additionTrainProblems(count: number, trainSeed: number, heldOutSeed = ADDITION_DEFAULT_SEED): AdditionProblem[] {
  checkCount('additionTrainProblems', 'count', count, ADDITION_MAX_COUNT, 'per call');
  checkSeed('additionTrainProblems', 'trainSeed', trainSeed);
  checkSeed('additionTrainProblems', 'heldOutSeed', heldOutSeed);
  const heldOut = new Set(additionHeldOut(ADDITION_HELD_OUT_SIZE, heldOutSeed).map(key));
  const out: AdditionProblem[] = [];
  for (const p of draws(trainSeed)) {
    if (out.length >= count) break;
    if (!heldOut.has(key(p))) out.push(p);
  }
  return out;
}

/**
 * The worked solution of a + b: one `x+y(+1)=s` step per column from the right. With `noise` > 0 each
 * column sum is off by +-1 with that probability, and the rest of the chain (carries, digits, the answer)
 * follows the corrupted value, as in a cold-start set of imperfect demonstrations.
 */
export function additionSolution(a: number, b: number, noise = 0, random: Random = Math.random): string {
  for (const [name, v] of [['a', a], ['b', b]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`additionSolution: ${name} must be an integer >= 0, got ${v}`);
  }
  if (!(noise >= 0 && noise <= 1)) throw new RangeError(`additionSolution: noise must be a probability in [0, 1], got ${noise}`);
  if (typeof random !== 'function') throw new TypeError('additionSolution: random must be a function returning numbers in [0, 1)');
  const da = String(a).split('').reverse().map(Number);
  const db = String(b).split('').reverse().map(Number);
  const columns = Math.max(da.length, db.length);
  const steps: string[] = [];
  const digits: string[] = [];
  let carry = 0;
  for (let i = 0; i < columns; i++) {
    const x = da[i] ?? 0;
    const y = db[i] ?? 0;
    let sum = x + y + carry;
    if (noise > 0 && random() < noise) sum = sum === 0 ? 1 : sum + (random() < 0.5 ? -1 : 1);
    steps.push(`${x}+${y}${carry ? `+${carry}` : ''}=${sum}`);
    digits.push(i === columns - 1 ? String(sum) : String(sum % 10));
    carry = i === columns - 1 ? 0 : Math.floor(sum / 10);
  }
  const answer = digits.reverse().join('').replace(/^0+(?=\d)/, '');
  return `<think>${steps.join(',')}</think><answer>${answer}</answer>`;
}

/**
 * Training examples with worked completions; `noise` is the per-step corruption probability. `count` is at
 * most 10,000,000.
 */
export function additionExamples(count: number, options: { seed: number; noise?: number; heldOutSeed?: number }): AdditionExample[] {
  checkCount('additionExamples', 'count', count, ADDITION_MAX_COUNT, 'per call');
  if (!options || typeof options !== 'object') throw new TypeError('additionExamples: options must be an object with a seed');
  checkSeed('additionExamples', 'options.seed', options.seed);
  const noise = options.noise ?? 0;
  if (!(noise >= 0 && noise <= 1)) throw new RangeError(`additionExamples: options.noise must be a probability in [0, 1], got ${noise}`);
  const random = seededRandom(options.seed ^ 0x9e3779b9);
  return additionTrainProblems(count, options.seed, options.heldOutSeed).map((p) => ({
    ...p,
    completion: additionSolution(p.a, p.b, noise, random),
  }));
}

/** Single-character tokens for digits, '+', '=' and ',', with the four tags as single tokens. */
export function additionTokenizer(): CharTokenizer {
  return new CharTokenizer({ chars: '0123456789+=,' });
}

/** The answer a completion commits to: the digits of its final `<answer>...</answer>`, else null. */
export function additionAnswer(completion: string): string | null {
  return /<answer>(\d+)<\/answer>$/.exec(completion)?.[1] ?? null;
}

/** The R1 format for this task: one think block of steps, then one answer, nothing else. */
export function additionWellFormed(completion: string): boolean {
  return /^<think>[^<]*<\/think><answer>\d+<\/answer>$/.test(completion);
}
