// A character tokenizer for small embedded tasks: each Unicode code point of its alphabet is one id, and
// special tokens (<think>, </think>, <answer>, </answer>, bos/eos/pad/unk) are single ids matched in text.
import * as fs from 'node:fs';
import { writeFileAtomic } from '../atomic.js';
import { renderChatTemplate } from './chat-template.js';
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ['<pad>', '<bos>', '<eos>', '<unk>', '<think>', '</think>', '<answer>', '</answer>'];

export interface CharTokenizerOptions {
  /** The alphabet: a string (each code point is one token) or a list of single code points; duplicates are dropped. */
  chars: string | Iterable<string>;
  /** Multi-character tokens matched before characters; ids 0.. in this order. Default DEFAULT_SPECIAL_TOKENS. */
  specialTokens?: readonly string[];
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  /** Unknown characters map here; null makes them an error. */
  unkToken?: string | null;
  /** encode() prepends BOS unless called with addSpecialTokens: false. Default false. */
  addBosToken?: boolean;
  chatTemplate?: string | null;
}

const FORMAT = 'thinkgrad-char-tokenizer';

export class CharTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly chatTemplate: string | null;
  readonly addBosToken: boolean;
  private readonly tokens: string[];
  private readonly charIds = new Map<string, number>();
  // First character of each special token -> the specials starting with it, longest first.
  private readonly specialsByFirst = new Map<string, string[]>();
  private readonly options: Required<Omit<CharTokenizerOptions, 'chars'>> & { chars: string[] };

  constructor(options: CharTokenizerOptions) {
    if (!options || (typeof options.chars !== 'string' && !(Symbol.iterator in Object(options.chars)))) {
      throw new TypeError('CharTokenizer: options.chars must be a string or a list of characters');
    }
    const pick = (v: string | null | undefined, d: string) => (v === undefined ? d : v);
    const bos = pick(options.bosToken, '<bos>');
    const eos = pick(options.eosToken, '<eos>');
    const pad = pick(options.padToken, '<pad>');
    const unk = pick(options.unkToken, '<unk>');
    const specials = [...(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
    for (const s of specials) if (typeof s !== 'string' || s.length === 0) throw new TypeError(`CharTokenizer: invalid special token ${JSON.stringify(s)}`);
    for (const s of [bos, eos, pad, unk]) if (s !== null && !specials.includes(s)) specials.push(s);
    if (new Set(specials).size !== specials.length) throw new RangeError('CharTokenizer: duplicate special tokens');
    const chars: string[] = [];
    const seen = new Set<string>();
    for (const c of typeof options.chars === 'string' ? Array.from(options.chars) : options.chars) {
      if (typeof c !== 'string' || Array.from(c).length !== 1) throw new TypeError(`CharTokenizer: alphabet entries must be single characters, got ${JSON.stringify(c)}`);
      if (specials.includes(c)) throw new RangeError(`CharTokenizer: character ${JSON.stringify(c)} is also a special token`);
      if (!seen.has(c)) chars.push(c);
      seen.add(c);
    }
    this.tokens = [...specials, ...chars];
    this.vocabSize = this.tokens.length;
    const specialMap = new Map<string, number>();
    specials.forEach((s, i) => specialMap.set(s, i));
    chars.forEach((c, i) => this.charIds.set(c, specials.length + i));
    for (const s of [...specials].sort((a, b) => b.length - a.length)) {
      const first = Array.from(s)[0];
      if (!this.specialsByFirst.has(first)) this.specialsByFirst.set(first, []);
      this.specialsByFirst.get(first)!.push(s);
    }
    this.specialTokens = specialMap;
    const idOf = (s: string | null) => (s === null ? null : specialMap.get(s)!);
    this.bosTokenId = idOf(bos);
    this.eosTokenId = idOf(eos);
    this.padTokenId = idOf(pad);
    this.unkTokenId = idOf(unk);
    this.addBosToken = options.addBosToken ?? false;
    if (this.addBosToken && this.bosTokenId === null) throw new RangeError('CharTokenizer: addBosToken needs a bosToken');
    this.chatTemplate = options.chatTemplate ?? null;
    this.options = { chars, specialTokens: specials, bosToken: bos, eosToken: eos, padToken: pad, unkToken: unk,
      addBosToken: this.addBosToken, chatTemplate: this.chatTemplate };
  }

  /** A tokenizer whose alphabet is every distinct code point of `texts`, sorted by code point. */
  static fromText(texts: string | readonly string[], options: Omit<CharTokenizerOptions, 'chars'> = {}): CharTokenizer {
    const set = new Set<string>();
    for (const t of typeof texts === 'string' ? [texts] : texts) for (const c of t) set.add(c);
    const specials = new Set(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS);
    const chars = [...set].filter((c) => !specials.has(c)).sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer({ ...options, chars });
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`CharTokenizer.encode: expected a string, got ${typeof text}`);
    const ids: number[] = [];
    if (this.addBosToken && (options.addSpecialTokens ?? true)) ids.push(this.bosTokenId!);
    this.scan(text, ids, null);
    return ids;
  }

  /**
   * The characters of `texts` outside the alphabet (and not part of a special token), each with how often it
   * occurs: what encode() turns into `<unk>` (or rejects when there is no unk token).
   */
  unknownCharacters(texts: string | Iterable<string>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const text of typeof texts === 'string' ? [texts] : texts) {
      if (typeof text !== 'string') throw new TypeError(`CharTokenizer.unknownCharacters: expected strings, got ${typeof text}`);
      this.scan(text, null, counts);
    }
    return counts;
  }

  // Splits text into special tokens and characters, appending ids to `ids` and counting unknown characters in `unknown`.
  private scan(text: string, ids: number[] | null, unknown: Map<string, number> | null): void {
    let i = 0;
    outer: while (i < text.length) {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      const candidates = this.specialsByFirst.get(ch);
      if (candidates) {
        for (const s of candidates) {
          if (text.startsWith(s, i)) {
            ids?.push(this.specialTokens.get(s)!);
            i += s.length;
            continue outer;
          }
        }
      }
      const id = this.charIds.get(ch);
      if (id === undefined && unknown) unknown.set(ch, (unknown.get(ch) ?? 0) + 1);
      else if (id !== undefined) ids?.push(id);
      else if (this.unkTokenId !== null) ids?.push(this.unkTokenId);
      else throw new RangeError(`CharTokenizer.encode: character ${JSON.stringify(ch)} (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) is not in the vocabulary`);
      i += ch.length;
    }
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const tok = Number.isInteger(id) ? this.tokens[id] : undefined;
      if (tok === undefined) throw new RangeError(`CharTokenizer.decode: id ${id} at position ${i} is outside the vocabulary of ${this.vocabSize}`);
      if (options.skipSpecialTokens && id < this.specialTokens.size) continue;
      out += tok;
    }
    return out;
  }

  tokenToId(token: string): number | undefined {
    return this.specialTokens.get(token) ?? this.charIds.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) throw new Error('CharTokenizer: no chat template (pass chatTemplate, or use r1ZeroPrompt)');
    return renderChatTemplate(this.chatTemplate, messages, { ...options, specialTokens: {
      bos_token: this.options.bosToken, eos_token: this.options.eosToken, pad_token: this.options.padToken, unk_token: this.options.unkToken,
    } });
  }

  toJSON(): Record<string, unknown> {
    return { type: FORMAT, version: 1, ...this.options };
  }

  /** Writes the tokenizer as JSON (atomically). */
  save(file: string): void {
    writeFileAtomic(file, `${JSON.stringify(this.toJSON(), null, 1)}\n`);
  }

  /** Rebuilds a tokenizer from `toJSON()` output. */
  static fromJSON(json: unknown, source = '<json>'): CharTokenizer {
    if (!json || typeof json !== 'object' || (json as { type?: unknown }).type !== FORMAT) {
      throw new Error(`CharTokenizer: ${source} is not a ${FORMAT} file`);
    }
    const j = json as Record<string, unknown>;
    if (j.version !== 1) throw new Error(`CharTokenizer: ${source} has unsupported version ${JSON.stringify(j.version)}`);
    if (!Array.isArray(j.chars) || !Array.isArray(j.specialTokens)) throw new Error(`CharTokenizer: ${source} lacks chars/specialTokens lists`);
    const str = (k: string) => {
      const v = j[k];
      if (v !== null && typeof v !== 'string') throw new Error(`CharTokenizer: ${source}: ${k} must be a string or null`);
      return v as string | null;
    };
    return new CharTokenizer({ chars: j.chars as string[], specialTokens: j.specialTokens as string[], bosToken: str('bosToken'),
      eosToken: str('eosToken'), padToken: str('padToken'), unkToken: str('unkToken'), addBosToken: j.addBosToken === true,
      chatTemplate: str('chatTemplate') });
  }

  static load(file: string): CharTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`CharTokenizer: cannot load ${file}: ${(err as Error).message}`);
    }
    return CharTokenizer.fromJSON(json, file);
  }

  static isCharTokenizerJSON(json: unknown): boolean {
    return !!json && typeof json === 'object' && (json as { type?: unknown }).type === FORMAT;
  }
}
