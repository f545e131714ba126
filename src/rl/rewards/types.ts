// The reward-function contract shared by every rule reward and by the GRPO trainer: a plain (possibly async)
// function over a batch of completions, returning one score per completion, null meaning "not scored".
import { completionText, type Completion, type Prompt } from '../../io/tokenizers/conversation.js';

/**
 * What a reward function receives: the batch plus the dataset's columns, one entry per completion. For
 * conversational data (prompts given as message lists) prompts are those lists and each completion is
 * `[{ role: 'assistant', content }]`, as TRL passes them; otherwise both are text (`RewardArgs<string>`).
 */
export interface RewardArgs<C extends Completion = Completion> {
  /** The prompt of each completion (repeated G times for G completions of one prompt). */
  prompts: Prompt[];
  /** The decoded completions: text, or `[{ role: 'assistant', content }]` for conversational prompts. */
  completions: C[];
  /** The completions' token ids (needed by the length rewards). */
  completionIds?: number[][];
  /** Dataset columns (e.g. `answer`, `solution`, `testCases`, `language`), one entry per completion. */
  [column: string]: unknown;
}

/**
 * A reward function: one number (or null = not scored) per completion. `name` is what the trainer logs
 * (TRL's convention: `rewards/<name>/mean`). The built-in rewards take both forms of completion.
 */
export type RewardFunction<C extends Completion = Completion> =
  ((args: RewardArgs<C>) => (number | null)[] | Promise<(number | null)[]>) & { readonly name: string };

/** A reward function written for text datasets (`completions: string[]`), as most user rewards are. */
export type TextRewardFunction = RewardFunction<string>;

/** What the trainers accept: either kind (a text reward on conversational data receives message lists, as in TRL). */
export type AnyRewardFunction = RewardFunction | TextRewardFunction;

/** Gives `fn` a fixed `name` (function names are otherwise inferred from the variable they are assigned to). */
export function named<F extends (args: RewardArgs) => unknown>(name: string, fn: F): F & { readonly name: string } {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return fn as F & { readonly name: string };
}

/**
 * Checks the batch shape and returns each completion's text (a conversational completion's message contents);
 * every reward calls it first, so each accepts both forms.
 */
export function checkArgs(reward: string, args: RewardArgs): string[] {
  if (args === null || typeof args !== 'object' || !Array.isArray(args.completions)) {
    throw new TypeError(`rewards.${reward}: expected { prompts, completions, ... } with completions an array of strings or message lists`);
  }
  return args.completions.map((c, i) => {
    if (typeof c === 'string') return c;
    if (!Array.isArray(c) || c.some((m) => !m || typeof m !== 'object' || typeof m.content !== 'string')) {
      throw new TypeError(`rewards.${reward}: completions[${i}] must be a string or a list of {role, content} messages, got ${JSON.stringify(c)}`);
    }
    return completionText(c);
  });
}

/** Throws a clear error when a factory is handed a batch (`rewards.format` instead of `rewards.format()`). */
export function checkOptions(reward: string, options: unknown): void {
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new TypeError(`rewards.${reward}(options): options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  if (options && Array.isArray((options as RewardArgs).completions)) {
    throw new TypeError(`rewards.${reward} is a factory: pass rewards.${reward}() (its result) to the trainer, not rewards.${reward}`);
  }
}

/** The column `name` of the batch as one value per completion (a scalar is broadcast). */
export function column(reward: string, args: RewardArgs, name: string, required = true): unknown[] | undefined {
  const n = args.completions.length;
  const value = args[name];
  if (value === undefined) {
    if (!required) return undefined;
    const have = Object.keys(args).filter((k) => !['prompts', 'completions', 'completionIds'].includes(k));
    throw new RangeError(`rewards.${reward}: the batch has no column '${name}' (columns: ${have.join(', ') || 'none'})`);
  }
  if (!Array.isArray(value)) return new Array<unknown>(n).fill(value);
  if (value.length !== n) throw new RangeError(`rewards.${reward}: column '${name}' has ${value.length} entries for ${n} completions`);
  return value;
}

/** Completion lengths in tokens (from completionIds) or characters (code points). */
export function completionLengths(reward: string, args: RewardArgs, unit: 'tokens' | 'chars'): number[] {
  if (unit === 'chars') return checkArgs(reward, args).map((c) => [...c].length);
  const ids = args.completionIds;
  if (!Array.isArray(ids)) {
    throw new RangeError(`rewards.${reward}: needs completionIds to measure lengths in tokens (or pass { lengthUnit: 'chars' })`);
  }
  if (ids.length !== args.completions.length) {
    throw new RangeError(`rewards.${reward}: ${ids.length} completionIds for ${args.completions.length} completions`);
  }
  return ids.map((row, i) => {
    if (!Array.isArray(row) && !ArrayBuffer.isView(row)) throw new TypeError(`rewards.${reward}: completionIds[${i}] must be an array`);
    return (row as ArrayLike<number>).length;
  });
}

export function checkNumber(reward: string, name: string, v: unknown, test: (x: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !test(v)) throw new RangeError(`rewards.${reward}: ${name} must be ${what}, got ${String(v)}`);
  return v;
}
