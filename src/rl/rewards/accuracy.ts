// Accuracy reward: 1 when the completion's final answer is equivalent to the reference, 0 when it is not (or
// has no answer), null when the reference itself cannot be parsed (as TRL's accuracy_reward).
import { answersEqual, extractAnswer, parseAnswer, referenceAnswer } from './math-answer.js';
import { checkArgs, checkOptions, column, named, type RewardArgs, type RewardFunction } from './types.js';

export interface AccuracyOptions {
  /** The reference column; default `answer` when the batch has it, else `solution`. */
  column?: string;
  /** Relative tolerance for non-integer values (default 1e-6). */
  rtol?: number;
}

/** Scores one completion against one reference: 1, 0, or null when the reference cannot be parsed. */
export function scoreAnswer(completion: string, reference: unknown, options: { rtol?: number } = {}): number | null {
  const ref = referenceAnswer(reference);
  if (ref === null || parseAnswer(ref) === null) return null;
  return answersEqual(extractAnswer(completion), ref, options) ? 1 : 0;
}

/**
 * `rewards.accuracy(options)`: the final answer is the last `<answer>...</answer>` (or the last `\boxed{}` in
 * it), else the last `\boxed{...}` of the completion; it is compared as the MATH and math-verify graders do
 * (`answersEqual`): numbers by value (integers exactly, others within 1e-9 + rtol * |x|), expressions with
 * variables at seeded random points, intervals with their brackets, sets in any order, units converted or
 * ignored when one side has none, `x = 3` as 3 but not as `y = 3`, and doubtful cases rejected. The rules are
 * listed in docs/rewards.md.
 */
export function accuracy(options: AccuracyOptions = {}): RewardFunction {
  checkOptions('accuracy', options);
  return named('accuracy', (args: RewardArgs) => {
    const completions = checkArgs('accuracy', args);
    const name = options.column ?? (args.answer !== undefined || args.solution === undefined ? 'answer' : 'solution');
    const refs = column('accuracy', args, name)!;
    return completions.map((c, i) => scoreAnswer(c, refs[i], options));
  });
}
