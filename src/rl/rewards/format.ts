// Format rewards of the R1 recipe: the anchored `<think>...</think><answer>...</answer>` pattern (1 or 0) and
// open-r1's tag count (0.25 for each of the four tags that appears exactly once).
import { checkArgs, checkOptions, named, type RewardArgs, type RewardFunction } from './types.js';

/**
 * The R1 format: the whole completion is a think block then an answer block, each tag optionally followed or
 * preceded by one newline, nothing before `<think>` or after `</answer>` (not even whitespace).
 */
export const FORMAT_PATTERN = /^<think>\n?([\s\S]*?)\n?<\/think>\n?<answer>\n?([\s\S]*?)\n?<\/answer>$/;

const TAGS = ['<think>', '</think>', '<answer>', '</answer>'] as const;

function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

export interface FormatOptions {
  /** Accept an empty (whitespace-only) think block (default false). The answer must never be empty. */
  allowEmptyThink?: boolean;
}

/** Whether `completion` has the R1 format (see `rewards.format`). */
export function hasR1Format(completion: string, options: FormatOptions = {}): boolean {
  const m = FORMAT_PATTERN.exec(completion);
  if (!m) return false;
  if (TAGS.some((tag) => count(completion, tag) !== 1)) return false;
  if (!options.allowEmptyThink && m[1].trim() === '') return false;
  return m[2].trim() !== '';
}

/**
 * `rewards.format(options)`: 1 when the completion matches
 * `/^<think>\n?([\s\S]*?)\n?<\/think>\n?<answer>\n?([\s\S]*?)\n?<\/answer>$/` (`FORMAT_PATTERN`, no flags, so `$`
 * is the end of the text) with exactly one of each of the four tags, a non-empty answer and (unless
 * `allowEmptyThink`) a non-empty think block; else 0. Repeated tags, tags out of order, text outside the
 * tags and an `<answer>` inside `<think>` all score 0.
 */
export function format(options: FormatOptions = {}): RewardFunction {
  checkOptions('format', options);
  return named('format', (args: RewardArgs) => checkArgs('format', args).map((c) => (hasR1Format(c, options) ? 1 : 0)));
}

export interface TagCountOptions {
  /**
   * Count open-r1's exact strings `<think>\n`, `\n</think>\n`, `\n<answer>\n`, `\n</answer>` (true), or the bare
   * tags (false, default: the embedded task writes no newlines around its tags).
   */
  newlines?: boolean;
}

/**
 * `rewards.tagCount(options)`: 0.25 for each of `<think>`, `</think>`, `<answer>`, `</answer>` that occurs exactly
 * once (open-r1's count_tags), so a partial format earns partial credit; a repeated tag earns nothing for that
 * tag. Order is not checked (that is `format`'s job).
 */
export function tagCount(options: TagCountOptions = {}): RewardFunction {
  checkOptions('tagCount', options);
  const needles = options.newlines ? ['<think>\n', '\n</think>\n', '\n<answer>\n', '\n</answer>'] : [...TAGS];
  return named('tagCount', (args: RewardArgs) =>
    checkArgs('tagCount', args).map((c) => needles.reduce((s, needle) => s + (count(c, needle) === 1 ? 0.25 : 0), 0)));
}
