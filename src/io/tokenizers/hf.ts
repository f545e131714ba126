// Hugging Face tokenizers (tokenizer.json: BPE, byte-level, ...) through @huggingface/tokenizers (pure JS),
// with special token ids and the chat template taken from tokenizer_config.json the way transformers does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer as HfImpl } from '@huggingface/tokenizers';
import { writeFileAtomic } from '../atomic.js';
import { renderChatTemplate, selectChatTemplate } from './chat-template.js';
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

type Json = Record<string, unknown>;

// tokenizer_config.json stores special tokens as a string or as a serialized AddedToken {content, ...}.
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return null;
}

export interface HFTokenizerOptions {
  /**
   * The vocab_size of the model this tokenizer serves (its config.json's): token ids below it are accepted
   * however sparse. loadTokenizer(dir) passes the folder's config.json vocab_size when there is one.
   */
  modelVocabSize?: number;
}

// Ids may leave gaps (removed or reserved tokens), but not so many that the tokenizer's id space, and the
// embedding table a model built for it needs, dwarfs its real vocabulary.
const denseIdLimit = (tokens: number) => Math.max(2 * tokens, tokens + 1024);

// Every id tokenizer.json assigns (model vocabulary and added tokens), checked before the tokenizer is built:
// ids are non-negative integers, and the largest lies within denseIdLimit or the model's vocab_size.
function checkTokenIds(json: Json, modelVocabSize: number | undefined): void {
  const model = json.model as Json;
  const ids = new Map<number, string>();
  const take = (token: string, id: unknown, where: string) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new RangeError(`HFTokenizer: ${where} token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids are integers >= 0`);
    if (!ids.has(id)) ids.set(id, token);
  };
  if (Array.isArray(model.vocab)) {
    // Unigram: [piece, score] pairs whose ids are their positions.
    model.vocab.forEach((entry, i) => take(Array.isArray(entry) ? String(entry[0]) : String(entry), i, 'model.vocab'));
  } else if (model.vocab && typeof model.vocab === 'object') {
    for (const [token, id] of Object.entries(model.vocab as Json)) take(token, id, 'model.vocab');
  }
  const added = Array.isArray(json.added_tokens) ? json.added_tokens as Json[] : [];
  for (const t of added) take(String(t?.content), t?.id, 'added_tokens');
  let maxId = -1;
  for (const id of ids.keys()) if (id > maxId) maxId = id;
  const limit = Math.max(denseIdLimit(ids.size), modelVocabSize ?? 0);
  if (maxId >= limit) {
    const bytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
    throw new RangeError(`HFTokenizer: token ${JSON.stringify(ids.get(maxId))} has id ${maxId}, far beyond the ${ids.size} tokens of the vocabulary` +
      `${modelVocabSize === undefined ? '' : ` and the model's vocab_size ${modelVocabSize}`}: its id table would need ${maxId + 1} entries ` +
      `(${bytes(8 * (maxId + 1))} at 8 bytes each), and a model for it an embedding of ${maxId + 1} rows; ids must stay below ${limit}`);
  }
}

export class HFTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly chatTemplate: string | null;
  private readonly impl: HfImpl;
  private readonly tokenStrings: Record<string, string | null>;

  /**
   * @param tokenizerJson parsed tokenizer.json
   * @param config parsed tokenizer_config.json ({} when absent)
   * @param chatTemplate overrides config.chat_template (e.g. the contents of chat_template.jinja)
   * @param options.modelVocabSize the model's vocab_size: ids below it are accepted however sparse; others
   *   must stay below max(2 x tokens, tokens + 1024), so that a hostile file (one added token with id
   *   9,999,999) is refused, naming the token and the memory its ids would take
   */
  constructor(readonly tokenizerJson: Json, readonly config: Json = {}, chatTemplate?: string | null, options: HFTokenizerOptions = {}) {
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || !tokenizerJson.model || typeof tokenizerJson.model !== 'object') {
      throw new Error('HFTokenizer: tokenizer.json must be an object with a "model" section');
    }
    checkTokenIds(tokenizerJson, options.modelVocabSize);
    try {
      this.impl = new HfImpl(tokenizerJson, config ?? {});
    } catch (err) {
      throw new Error(`HFTokenizer: cannot build the tokenizer: ${(err as Error).message}`);
    }
    const vocab = this.impl.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const specials = new Map<string, number>();
    const added = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens as Json[] : [];
    for (const t of added) if (t.special === true && typeof t.content === 'string' && typeof t.id === 'number') specials.set(t.content, t.id);
    this.tokenStrings = {
      bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token),
      pad_token: tokenText(config.pad_token), unk_token: tokenText(config.unk_token),
    };
    const idOf = (key: string): number | null => {
      const text = this.tokenStrings[key];
      if (text === null) return null;
      const id = this.impl.token_to_id(text);
      if (id === undefined) throw new Error(`HFTokenizer: tokenizer_config ${key} '${text}' is not in the vocabulary`);
      specials.set(text, id);
      return id;
    };
    this.bosTokenId = idOf('bos_token');
    this.eosTokenId = idOf('eos_token');
    this.padTokenId = idOf('pad_token');
    this.unkTokenId = idOf('unk_token');
    this.specialTokens = specials;
    this.chatTemplate = chatTemplate ?? selectChatTemplate(config.chat_template);
  }

  /**
   * Loads `dir/tokenizer.json` with `dir/tokenizer_config.json` and `dir/chat_template.jinja` when present.
   */
  static fromFolder(dir: string, options: HFTokenizerOptions = {}): HFTokenizer {
    const read = (name: string, required: boolean): Json | null => {
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) {
        if (required) throw new Error(`HFTokenizer: ${file} not found`);
        return null;
      }
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      } catch (err) {
        throw new Error(`HFTokenizer: cannot parse ${file}: ${(err as Error).message}`);
      }
    };
    const tokenizerJson = read('tokenizer.json', true)!;
    const config = read('tokenizer_config.json', false) ?? {};
    const jinjaFile = path.join(dir, 'chat_template.jinja');
    const template = fs.existsSync(jinjaFile) ? fs.readFileSync(jinjaFile, 'utf8') : undefined;
    return new HFTokenizer(tokenizerJson, config, template, options);
  }

  /** Writes tokenizer.json and tokenizer_config.json (with the chat template) into `dir`, atomically per file. */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(this.tokenizerJson));
    const config = { ...this.config };
    if (this.chatTemplate !== null) config.chat_template = this.chatTemplate;
    writeFileAtomic(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`HFTokenizer.encode: expected a string, got ${typeof text}`);
    return this.impl.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = Array.from(ids);
    for (const [i, id] of list.entries()) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`HFTokenizer.decode: id ${id} at position ${i} is outside the vocabulary of ${this.vocabSize}`);
      }
    }
    // NOTE: @huggingface/tokenizers throws on an empty list; transformers (and a completion that was only EOS) gives "".
    if (list.length === 0) return '';
    return this.impl.decode(list, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.impl.id_to_token(id);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) throw new Error('HFTokenizer: this tokenizer has no chat_template (tokenizer_config.json or chat_template.jinja)');
    return renderChatTemplate(this.chatTemplate, messages, { ...options, specialTokens: this.tokenStrings });
  }
}
