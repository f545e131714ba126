// Tokenizers: the common interface, the built-in CharTokenizer, Hugging Face tokenizer.json support, chat
// templates, and loading whichever a folder holds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CharTokenizer } from './char.js';
import { HFTokenizer } from './hf.js';
import type { Tokenizer } from './types.js';

export * from './types.js';
export { CharTokenizer, DEFAULT_SPECIAL_TOKENS, type CharTokenizerOptions } from './char.js';
export { HFTokenizer, type HFTokenizerOptions } from './hf.js';
export { renderChatTemplate, selectChatTemplate } from './chat-template.js';
export { checkMessages, completionText, conversationText, encodePrompt, isConversational, isMessageList, promptText, type Completion, type Prompt } from './conversation.js';

// The vocab_size of the model config.json beside the tokenizer, when there is a valid one (loadPretrained
// reports a broken config.json; the tokenizer then only has its own ids to go by).
function modelVocabSize(dir: string): number | undefined {
  try {
    const size = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { vocab_size?: unknown }).vocab_size;
    return typeof size === 'number' && Number.isSafeInteger(size) && size > 0 ? size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads the tokenizer in `dir/tokenizer.json`: a Hugging Face tokenizer (with tokenizer_config.json and
 * chat_template.jinja when present) or a CharTokenizer saved by `saveTokenizer`. A tokenizer with no EOS, in a
 * folder whose generation_config.json and config.json name none either, warns once per folder
 * (THINKGRAD_NO_EOS): completions would only end at their length limit.
 */
export function loadTokenizer(dir: string): Tokenizer {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new Error(`loadTokenizer: ${file} not found`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`loadTokenizer: cannot parse ${file}: ${(err as Error).message}`);
  }
  const tokenizer = CharTokenizer.isCharTokenizerJSON(json) ? CharTokenizer.fromJSON(json, file) : HFTokenizer.fromFolder(dir, { modelVocabSize: modelVocabSize(dir) });
  if (tokenizer.eosTokenId === null) warnNoEos(dir);
  return tokenizer;
}

const warnedNoEos = new Set<string>();

// A tokenizer without EOS in a folder whose generation_config.json and config.json name none either: every
// completion runs to its length limit. Said once per folder, the first time it is loaded.
function warnNoEos(dir: string): void {
  const folder = path.resolve(dir);
  if (warnedNoEos.has(folder)) return;
  const namesEos = (name: string) => {
    try {
      const id = (JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { eos_token_id?: unknown }).eos_token_id;
      return id !== undefined && id !== null;
    } catch {
      return false;
    }
  };
  if (namesEos('generation_config.json') || namesEos('config.json')) return;
  warnedNoEos.add(folder);
  process.emitWarning(`loadTokenizer(${dir}): the tokenizer has no EOS token (eos_token in tokenizer_config.json), and neither ` +
    'generation_config.json nor config.json names an eos_token_id: generation will stop only at its length limit (maxNewTokens, ' +
    'maxCompletionLength) or stop strings', { code: 'THINKGRAD_NO_EOS' });
}

/** Saves a tokenizer into `dir` so that `loadTokenizer(dir)` restores it (tokenizer.json, plus tokenizer_config.json for HF). */
export function saveTokenizer(tokenizer: Tokenizer, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  if (tokenizer instanceof CharTokenizer) tokenizer.save(path.join(dir, 'tokenizer.json'));
  else if (tokenizer instanceof HFTokenizer) tokenizer.save(dir);
  else throw new TypeError('saveTokenizer: only CharTokenizer and HFTokenizer can be saved');
}
