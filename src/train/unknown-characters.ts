// Characters a CharTokenizer cannot represent silently become <unk> in training data; trainers count them over
// their dataset once and warn (or throw, or stay quiet), naming the characters and how often each occurs.
import { CharTokenizer } from '../io/tokenizers/char.js';
import type { Tokenizer } from '../io/tokenizers/types.js';

/** What a trainer does when its data has characters outside a CharTokenizer's alphabet. */
export type UnknownCharactersPolicy = 'warn' | 'error' | 'ignore';

const SHOWN = 20;

/** Counts `texts`' unknown characters (CharTokenizer only) and warns or throws per `policy`; returns the counts. */
export function checkUnknownCharacters(owner: string, tokenizer: Tokenizer, texts: Iterable<string>, policy: UnknownCharactersPolicy): Map<string, number> {
  if (policy === 'ignore' || !(tokenizer instanceof CharTokenizer)) return new Map();
  const counts = tokenizer.unknownCharacters(texts);
  if (counts.size === 0) return counts;
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((a, [, n]) => a + n, 0);
  const listed = sorted.slice(0, SHOWN).map(([ch, n]) => `${JSON.stringify(ch)} x${n}`).join(', ');
  const more = sorted.length > SHOWN ? `, and ${sorted.length - SHOWN} more` : '';
  const target = tokenizer.unkTokenId === null ? 'cannot be encoded' : 'become <unk>';
  const message = `${owner}: ${total} character${total === 1 ? '' : 's'} of the data ${target} (outside the tokenizer's alphabet): ${listed}${more}. ` +
    "Add them to the alphabet, clean the data, or set unknownCharacters: 'ignore'";
  if (policy === 'error') throw new RangeError(message);
  process.emitWarning(message, { code: 'THINKGRAD_UNKNOWN_CHARACTERS' });
  return counts;
}
