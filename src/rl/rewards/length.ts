// Length-shaping rewards: open-r1's cosine-scaled length reward (short correct answers best, short wrong answers
// worst) and DAPO's soft overlong punishment (a linear penalty in the last `cache` tokens before the limit).
import { accuracy } from './accuracy.js';
import { checkArgs, checkNumber, checkOptions, completionLengths, named, type RewardArgs, type RewardFunction } from './types.js';

export interface CosineScaledLengthOptions {
  /** The length at which the cosine reaches its end (open-r1's max_len; default 1000). Longer is clamped. */
  maxLength?: number;
  /** Reward of a correct completion of length 0 (default 1.0) and of length maxLength (default 0.5). */
  maxValueCorrect?: number;
  minValueCorrect?: number;
  /** Reward of a wrong completion of length 0 (default -1.0) and of length maxLength (default -0.5). */
  minValueWrong?: number;
  maxValueWrong?: number;
  /** Decides correctness (default `rewards.accuracy()`): a score of 1 is correct, null is passed through. */
  correctness?: RewardFunction;
  /** Measure lengths in tokens (from completionIds, default) or characters. */
  lengthUnit?: 'tokens' | 'chars';
}

/**
 * `rewards.cosineScaledLength(options)`: with p = min(length / maxLength, 1) and c = cos(pi p),
 * reward = lo + (hi - lo)(1 + c)/2, where (hi, lo) = (maxValueCorrect, minValueCorrect) for correct completions
 * and (minValueWrong, maxValueWrong) for wrong ones: correct answers earn more when short, wrong ones are
 * punished less when long (open-r1's get_cosine_scaled_reward). Null when correctness is null.
 */
export function cosineScaledLength(options: CosineScaledLengthOptions = {}): RewardFunction {
  checkOptions('cosineScaledLength', options);
  const r = 'cosineScaledLength';
  const maxLength = checkNumber(r, 'maxLength', options.maxLength ?? 1000, (x) => x > 0, 'a positive number');
  const maxCorrect = checkNumber(r, 'maxValueCorrect', options.maxValueCorrect ?? 1.0, () => true, 'a number');
  const minCorrect = checkNumber(r, 'minValueCorrect', options.minValueCorrect ?? 0.5, () => true, 'a number');
  const minWrong = checkNumber(r, 'minValueWrong', options.minValueWrong ?? -1.0, () => true, 'a number');
  const maxWrong = checkNumber(r, 'maxValueWrong', options.maxValueWrong ?? -0.5, () => true, 'a number');
  const correctness = options.correctness ?? accuracy();
  const unit = options.lengthUnit ?? 'tokens';
  return named(r, async (args: RewardArgs) => {
    checkArgs(r, args);
    const lengths = completionLengths(r, args, unit);
    const correct = await correctness(args);
    return lengths.map((len, i) => {
      if (correct[i] === null) return null;
      const cosine = Math.cos(Math.PI * Math.min(len / maxLength, 1));
      const [hi, lo] = correct[i] === 1 ? [maxCorrect, minCorrect] : [minWrong, maxWrong];
      return lo + 0.5 * (hi - lo) * (1 + cosine);
    });
  });
}

export interface SoftOverlongPunishmentOptions {
  /** The maximum completion length L_max (tokens by default). */
  maxLength: number;
  /** The soft punishment window L_cache before maxLength. */
  cache: number;
  lengthUnit?: 'tokens' | 'chars';
}

/**
 * `rewards.softOverlongPunishment({ maxLength, cache })` (DAPO): 0 for length <= maxLength - cache,
 * (maxLength - cache - length) / cache inside the window (down to -1 at maxLength), -1 beyond maxLength.
 */
export function softOverlongPunishment(options: SoftOverlongPunishmentOptions): RewardFunction {
  const r = 'softOverlongPunishment';
  checkOptions(r, options);
  if (options === undefined) throw new TypeError(`rewards.${r}: needs { maxLength, cache }`);
  const maxLength = checkNumber(r, 'maxLength', options.maxLength, (x) => x > 0, 'a positive number');
  const cache = checkNumber(r, 'cache', options.cache, (x) => x > 0 && x <= maxLength, `in (0, maxLength = ${maxLength}]`);
  const unit = options.lengthUnit ?? 'tokens';
  return named(r, (args: RewardArgs) => {
    checkArgs(r, args);
    return completionLengths(r, args, unit).map((len) => {
      if (len <= maxLength - cache) return 0;
      if (len <= maxLength) return (maxLength - cache - len) / cache;
      return -1;
    });
  });
}
