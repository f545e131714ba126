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

function problem(a: number, b: number): AdditionProblem {
  return { a, b, prompt: `${a}+${b}=`, answer: String(a + b) };
}

// Draws problems from the generator in order (duplicates included).
function* draws(seed: number): Generator<AdditionProblem> {
  const random = seededRandom(seed);
  for (;;) yield problem(randomInt(random, 100, 999), randomInt(random, 100, 999));
}

const key = (p: AdditionProblem) => `${p.a}+${p.b}`;

/** The held-out evaluation problems: the first `count` distinct problems of the generator with `seed`. */
export function additionHeldOut(count = ADDITION_HELD_OUT_SIZE, seed = ADDITION_DEFAULT_SEED): AdditionProblem[] {
  const out: AdditionProblem[] = [];
  const seen = new Set<string>();
  for (const p of draws(seed)) {
    if (out.length >= count) break;
    if (!seen.has(key(p))) {
      seen.add(key(p));
      out.push(p);
    }
  }
  return out;
}

/**
 * `count` training problems from a generator seeded with `trainSeed`, excluding the held-out problems of
 * `heldOutSeed` (repeats among training problems are allowed, as in any sampled dataset).
 */
export function additionTrainProblems(count: number, trainSeed: number, heldOutSeed = ADDITION_DEFAULT_SEED): AdditionProblem[] {
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

/** Training examples with worked completions; `noise` is the per-step corruption probability. */
export function additionExamples(count: number, options: { seed: number; noise?: number; heldOutSeed?: number }): AdditionExample[] {
  const random = seededRandom(options.seed ^ 0x9e3779b9);
  return additionTrainProblems(count, options.seed, options.heldOutSeed).map((p) => ({
    ...p,
    completion: additionSolution(p.a, p.b, options.noise ?? 0, random),
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
