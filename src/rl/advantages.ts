// Group-relative advantages (GRPO): several reward functions per completion, weighted and summed, then
// normalized within each group of G completions of the same prompt.
import type { Device } from '../backend/backend.js';
import { Tensor } from '../tensor.js';

export interface GroupAdvantagesOptions {
  /** Completions per prompt, G; must divide the number of completions. */
  groupSize: number;
  /** One weight per reward function (default all 1). */
  weights?: readonly number[];
  /** Divide by the group's std ('group', default), the batch's std ('batch'), or not at all ('none'). */
  scaleRewards?: 'group' | 'batch' | 'none';
}

export interface GroupAdvantagesResult {
  /** A_i = (r_i - mean_group) / (std + 1e-4) (unbiased std), per completion. */
  advantages: Float32Array;
  /** The weighted reward sum per completion (null = not scored = 0, as torch.nansum). */
  rewards: Float32Array;
  /** TRL's names: mean and std of the rewards, fraction of completions in zero-std groups. */
  metrics: { reward: number; reward_std: number; frac_reward_zero_std: number; zero_std_groups: number };
}

/**
 * Advantages of N = numPrompts * G completions from `rewards`: one number per completion, or one row of
 * R reward-function scores per completion ([N][R]); null (or NaN) = not scored by that function.
 * Groups whose rewards are all equal get advantage 0 and are counted in `frac_reward_zero_std`.
 */
export function groupAdvantages(rewards: readonly (number | null)[] | readonly (readonly (number | null)[])[],
  options: GroupAdvantagesOptions): GroupAdvantagesResult {
  // The kernel writes (N) buffers: host rewards in, host arrays out, on the CPU backend.
  const r = run('groupAdvantages', rewards, options, 'cpu', true);
  try {
    return { advantages: r.advantages.data() as Float32Array, rewards: r.totals!.data() as Float32Array, metrics: r.metrics };
  } finally {
    r.advantages.dispose();
    r.totals!.dispose();
  }
}

/**
 * @internal {@link groupAdvantages} computed on `device`: the host rewards go there once and the advantages (N)
 * stay there for the loss (the caller owns them); the reward totals are not kept.
 */
export function groupAdvantagesOn(device: Device, rewards: readonly (readonly (number | null)[])[],
  options: GroupAdvantagesOptions): { advantages: Tensor; metrics: GroupAdvantagesResult['metrics'] } {
  const r = run('groupAdvantages', rewards, options, device, false);
  return { advantages: r.advantages, metrics: r.metrics };
}

function run(op: string, rewards: readonly (number | null)[] | readonly (readonly (number | null)[])[], options: GroupAdvantagesOptions,
  device: Device, withTotals: boolean): { advantages: Tensor; totals: Tensor | null; metrics: GroupAdvantagesResult['metrics'] } {
  if (!Array.isArray(rewards)) throw new TypeError(`${op}: rewards must be an array (one number or one row per completion)`);
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object with groupSize`);
  const G = options.groupSize;
  if (!Number.isInteger(G) || G < 1) throw new RangeError(`${op}: groupSize must be a positive integer, got ${G}`);
  const N = rewards.length;
  const rows = rewards.map((r) => (Array.isArray(r) ? r : [r])) as (number | null)[][];
  const R = N > 0 ? rows[0].length : options.weights?.length ?? 1;
  if (R < 1) throw new RangeError(`${op}: each completion needs at least one reward`);
  const flat = new Float32Array(N * R);
  rows.forEach((row, i) => {
    if (row.length !== R) throw new RangeError(`${op}: completion ${i} has ${row.length} rewards, expected ${R} (like completion 0)`);
    row.forEach((v, j) => {
      if (v !== null && typeof v !== 'number') throw new TypeError(`${op}: rewards[${i}][${j}] must be a number or null`);
      flat[i * R + j] = v === null ? NaN : v;
    });
  });
  const weights = options.weights ?? new Array<number>(R).fill(1);
  if (weights.length !== R) throw new RangeError(`${op}: ${weights.length} weights for ${R} reward functions`);
  const advantages = Tensor.empty([N], 'float32', device);
  const totals = withTotals ? Tensor.empty([N], 'float32', device) : null;
  try {
    const r = advantages.backend.groupAdvantages(advantages, totals, flat, Float32Array.from(weights), N, R, G,
      options.scaleRewards ?? 'group');
    return { advantages, totals, metrics: { reward: r.mean, reward_std: r.std, frac_reward_zero_std: r.fracZeroStd, zero_std_groups: r.zeroStdGroups } };
  } catch (e) {
    advantages.dispose();
    totals?.dispose();
    throw e;
  }
}
