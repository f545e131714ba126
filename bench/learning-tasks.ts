// The tasks of `npm run bench learning`: the demo's addition and two more worked-steps tasks, each with a
// noisy cold-start set whose chain (and answer) follows every corrupted step, GRPO prompts, and a held-out
// set (the first 128 distinct problems of a fixed seed, never among the training problems). The answer and
// format patterns are plain regular expressions both sides compile (JavaScript here, Python's re there).
import { CharTokenizer } from '../src/io/tokenizers/char.js';
import { additionExamples, additionHeldOut, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { randomInt, type Random, seededRandom } from '../src/tasks/seeded-random.js';

export interface TaskProblem {
  prompt: string;
  answer: string;
}

export interface TaskExample extends TaskProblem {
  /** A worked solution; noisy in a cold-start set, so its answer may differ from `answer`. */
  completion: string;
}

export interface LearningTask {
  name: string;
  /** One line for the report: what the model sees and how noisy its cold start is. */
  description: string;
  tokenizer: CharTokenizer;
  coldStart(count: number, seed: number): TaskExample[];
  trainProblems(count: number, seed: number): TaskProblem[];
  heldOut: TaskProblem[];
  /** Group 1 is the answer of a completion (the `<answer>` digits at its very end). */
  answerPattern: string;
  /** A well-formed completion: one think block, then one answer, nothing else. */
  formatPattern: string;
  maxNewTokens: number;
}

const ANSWER_PATTERN = '<answer>(\\d+)</answer>$';
const FORMAT_PATTERN = '^<think>[^<]*</think><answer>\\d+</answer>$';
const HELD_OUT_SEED = 1234;
const HELD_OUT_SIZE = 128;

/** A problem generator's first `count` distinct problems, and `count` training problems that avoid a held-out set. */
function problemSets(draw: (random: Random) => TaskProblem) {
  const distinct = (seed: number, count: number) => {
    const random = seededRandom(seed);
    const seen = new Set<string>();
    const out: TaskProblem[] = [];
    while (out.length < count) {
      const p = draw(random);
      if (!seen.has(p.prompt)) {
        seen.add(p.prompt);
        out.push(p);
      }
    }
    return out;
  };
  const heldOut = distinct(HELD_OUT_SEED, HELD_OUT_SIZE);
  const excluded = new Set(heldOut.map((p) => p.prompt));
  const train = (count: number, seed: number) => {
    const random = seededRandom(seed);
    const out: TaskProblem[] = [];
    while (out.length < count) {
      const p = draw(random);
      if (!excluded.has(p.prompt)) out.push(p);
    }
    return out;
  };
  return { heldOut, train };
}

/**
 * A task from a problem generator and a worked-solution writer: held-out and training problems from
 * problemSets, and cold-start completions with each step corrupted with probability `noise` (drawn from a
 * stream of its own, `seed ^ salt`, so the corruption does not follow the problems' draws).
 */
function workedStepsTask(spec: {
  name: string; description: string; chars: string; maxNewTokens: number; noise: number; salt: number;
  draw: (random: Random) => TaskProblem; solve: (prompt: string, noise: number, random: Random) => string;
}): LearningTask {
  const sets = problemSets(spec.draw);
  return {
    name: spec.name,
    description: spec.description,
    tokenizer: new CharTokenizer({ chars: spec.chars }),
    coldStart: (count, seed) => {
      const random = seededRandom(seed ^ spec.salt);
      return sets.train(count, seed).map((p) => ({ ...p, completion: spec.solve(p.prompt, spec.noise, random) }));
    },
    trainProblems: sets.train,
    heldOut: sets.heldOut,
    answerPattern: ANSWER_PATTERN,
    formatPattern: FORMAT_PATTERN,
    maxNewTokens: spec.maxNewTokens,
  };
}

/** A step's value off by one (never below zero) with probability `noise`. */
function corrupt(value: number, noise: number, random: Random): number {
  if (random() >= noise) return value;
  return value === 0 ? 1 : value + (random() < 0.5 ? -1 : 1);
}

/** The demo's task: 3-digit + 3-digit addition, column sums right to left, each off by one with p = 0.5. */
export const additionTask: LearningTask = {
  name: 'addition',
  description: 'demo task: 3-digit + 3-digit, column sums right to left; cold start: each column sum off by 1 with p 0.5',
  tokenizer: additionTokenizer(),
  coldStart: (count, seed) => additionExamples(count, { seed, noise: 0.5 }).map(({ prompt, completion, answer }) => ({ prompt, completion, answer })),
  trainProblems: (count, seed) => additionTrainProblems(count, seed).map(({ prompt, answer }) => ({ prompt, answer })),
  heldOut: additionHeldOut().map(({ prompt, answer }) => ({ prompt, answer })),
  answerPattern: ANSWER_PATTERN,
  formatPattern: FORMAT_PATTERN,
  maxNewTokens: 40,
};

// Digit sums of 3- to 6-digit numbers: prompts of different lengths (left padding in every GRPO batch) and
// chains of 2 to 5 running sums; the answer is the chain's last total, so it is wrong wherever a step is.
function digitSumSolution(prompt: string, noise: number, random: Random): string {
  const d = [...prompt.slice(0, -1)].map(Number);
  const steps: string[] = [];
  let total = d[0];
  for (const x of d.slice(1)) {
    const next = corrupt(total + x, noise, random);
    steps.push(`${total}+${x}=${next}`);
    total = next;
  }
  return `<think>${steps.join(',')}</think><answer>${total}</answer>`;
}

export const digitSumTask = workedStepsTask({
  name: 'digit-sum',
  description: 'digit sum of a 3- to 6-digit number as running totals (prompts of 4 to 7 tokens); cold start: each total off by 1 with p 0.35, later totals follow',
  chars: '0123456789+=,', maxNewTokens: 48, noise: 0.35, salt: 0x5bd1e995,
  draw: (random) => {
    const digits = randomInt(random, 3, 6);
    const n = String(randomInt(random, 10 ** (digits - 1), 10 ** digits - 1));
    return { prompt: `${n}=`, answer: String([...n].reduce((a, d) => a + Number(d), 0)) };
  },
  solve: digitSumSolution,
});

// 3-digit x 1-digit multiplication, digit by digit from the right with the carry added: one multiplication
// fact and one addition per step, the carries and the answer following a corrupted step.
function multiplicationSolution(prompt: string, noise: number, random: Random): string {
  const [a, b] = prompt.slice(0, -1).split('*');
  const digits = [...a].reverse().map(Number);
  const y = Number(b);
  const steps: string[] = [];
  const out: string[] = [];
  let carry = 0;
  digits.forEach((x, i) => {
    const value = corrupt(x * y + carry, noise, random);
    steps.push(`${x}*${y}${carry ? `+${carry}` : ''}=${value}`);
    out.push(i === digits.length - 1 ? String(value) : String(value % 10));
    carry = Math.floor(value / 10);
  });
  return `<think>${steps.join(',')}</think><answer>${out.reverse().join('').replace(/^0+(?=\d)/, '')}</answer>`;
}

export const multiplicationTask = workedStepsTask({
  name: 'multiplication',
  description: '3-digit x 1-digit, one product plus carry per digit right to left; cold start: each step off by 1 with p 0.5',
  chars: '0123456789+*=,', maxNewTokens: 40, noise: 0.5, salt: 0x27d4eb2f,
  draw: (random) => {
    const a = randomInt(random, 100, 999);
    const b = randomInt(random, 2, 9);
    return { prompt: `${a}*${b}=`, answer: String(a * b) };
  },
  solve: multiplicationSolution,
});

export const LEARNING_TASKS: Record<string, LearningTask> = {
  addition: additionTask, 'digit-sum': digitSumTask, multiplication: multiplicationTask,
};
