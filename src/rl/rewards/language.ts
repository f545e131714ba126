// DeepSeek-R1's language-consistency reward: the share of the chain of thought's words written in the target
// language, decided by Unicode script (Latin, Han, Cyrillic, Arabic, ...).
import { checkArgs, checkOptions, column, named, type RewardArgs, type RewardFunction } from './types.js';

/** Scripts of common language codes (ISO 639-1). A script name (`Latin`, `Cyrillic`, ...) is accepted too. */
export const LANGUAGE_SCRIPTS: Record<string, readonly string[]> = {
  en: ['Latin'], fr: ['Latin'], de: ['Latin'], es: ['Latin'], it: ['Latin'], pt: ['Latin'], nl: ['Latin'], pl: ['Latin'],
  tr: ['Latin'], vi: ['Latin'], id: ['Latin'], sv: ['Latin'], cs: ['Latin'], ro: ['Latin'], hu: ['Latin'], fi: ['Latin'],
  zh: ['Han'], ja: ['Han', 'Hiragana', 'Katakana'], ko: ['Hangul', 'Han'],
  ru: ['Cyrillic'], uk: ['Cyrillic'], bg: ['Cyrillic'], sr: ['Cyrillic'], kk: ['Cyrillic'],
  ar: ['Arabic'], fa: ['Arabic'], ur: ['Arabic'], he: ['Hebrew'], el: ['Greek'],
  hi: ['Devanagari'], mr: ['Devanagari'], ne: ['Devanagari'], bn: ['Bengali'], ta: ['Tamil'], te: ['Telugu'],
  th: ['Thai'], ka: ['Georgian'], hy: ['Armenian'],
};

// Scripts written without spaces between words: each character counts as one word.
const UNSPACED = new Set(['Han', 'Hiragana', 'Katakana', 'Thai', 'Lao', 'Khmer', 'Myanmar']);
const SCRIPTS = [...new Set([...Object.values(LANGUAGE_SCRIPTS).flat(), 'Lao', 'Khmer', 'Myanmar'])];
const SCRIPT_RE = new Map(SCRIPTS.map((s) => [s, new RegExp(`^\\p{Script=${s}}`, 'u')]));

function scriptsOf(reward: string, target: unknown): readonly string[] {
  if (typeof target !== 'string' || target === '') throw new TypeError(`rewards.${reward}: the target language must be a language code or script name, got ${String(target)}`);
  const known = LANGUAGE_SCRIPTS[target.toLowerCase()] ?? LANGUAGE_SCRIPTS[target.toLowerCase().split(/[-_]/)[0]];
  if (known) return known;
  try {
    new RegExp(`\\p{Script=${target}}`, 'u');
  } catch {
    throw new RangeError(`rewards.${reward}: unknown language or Unicode script '${target}' (use e.g. 'en', 'zh', 'ru' or 'Latin')`);
  }
  if (!SCRIPT_RE.has(target)) SCRIPT_RE.set(target, new RegExp(`^\\p{Script=${target}}`, 'u'));
  return [target];
}

function scriptOf(ch: string): string | null {
  for (const [name, re] of SCRIPT_RE) if (re.test(ch)) return name;
  return 'Other';
}

/**
 * The words of `text` with the script of each: a run of letters (and combining marks) is one word, except that
 * every character of an unspaced script (Han, kana, Thai, ...) is a word of its own. Digits, symbols and
 * punctuation are not words. A word's script is that of its first letter.
 */
export function scriptWords(text: string): { word: string; script: string }[] {
  const out: { word: string; script: string }[] = [];
  for (const m of text.matchAll(/[\p{L}\p{M}]+/gu)) {
    let run = '';
    let runScript = '';
    const flush = () => {
      if (run) out.push({ word: run, script: runScript });
      run = '';
    };
    for (const ch of m[0]) {
      const script = /\p{M}/u.test(ch) ? runScript || 'Other' : scriptOf(ch)!;
      if (UNSPACED.has(script)) {
        flush();
        out.push({ word: ch, script });
      } else if (run && script !== runScript && !/\p{M}/u.test(ch)) {
        flush();
        run = ch;
        runScript = script;
      } else {
        if (!run) runScript = script;
        run += ch;
      }
    }
    flush();
  }
  return out;
}

/** The chain of thought: the content of the first `<think>...</think>` (an unclosed one runs to the end), else the whole completion. */
export function chainOfThought(completion: string): string {
  const open = completion.indexOf('<think>');
  if (open < 0) return completion;
  const close = completion.indexOf('</think>', open);
  return completion.slice(open + 7, close < 0 ? undefined : close);
}

export interface LanguageConsistencyOptions {
  /** Target language code (`en`, `zh`, ...) or Unicode script name; overrides the column. */
  language?: string;
  /** Per-row target column, used when `language` is not given (default `language`). */
  column?: string;
  /** Score when the chain of thought has no words at all (default 1: nothing in another language). */
  whenNoWords?: number | null;
  /** Score the whole completion instead of the think block (default false). */
  wholeCompletion?: boolean;
}

/**
 * `rewards.languageConsistency(options)`: the fraction of the chain of thought's words whose script belongs to
 * the target language (DeepSeek-R1's language-consistency reward). NOTE: languages sharing a script (English and
 * French) cannot be told apart this way.
 */
export function languageConsistency(options: LanguageConsistencyOptions = {}): RewardFunction {
  checkOptions('languageConsistency', options);
  const fixed = options.language === undefined ? null : scriptsOf('languageConsistency', options.language);
  const empty = options.whenNoWords === undefined ? 1 : options.whenNoWords;
  return named('languageConsistency', (args: RewardArgs) => {
    const completions = checkArgs('languageConsistency', args);
    const targets = fixed ? null : column('languageConsistency', args, options.column ?? 'language')!;
    return completions.map((c, i) => {
      const scripts = fixed ?? scriptsOf('languageConsistency', targets![i]);
      const text = (options.wholeCompletion ? c : chainOfThought(c)).replace(/<\/?(?:think|answer)>/g, ' ');
      const words = scriptWords(text);
      if (words.length === 0) return empty;
      return words.filter((w) => scripts.includes(w.script)).length / words.length;
    });
  });
}
