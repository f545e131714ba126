// The one tokenizer interface that trainers, generation and rewards use, whatever implements it
// (CharTokenizer for small embedded tasks, HFTokenizer for Hugging Face tokenizer.json files).

export interface EncodeOptions {
  /** Add the tokenizer's own special tokens (e.g. a BOS the post-processor prepends). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens (<eos>, <pad>, ...) out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the assistant turn's opening so the model writes the reply. Default true. */
  addGenerationPrompt?: boolean;
  /** Extra variables for the template (tools, documents, enable_thinking, ...). */
  variables?: Record<string, unknown>;
}

export interface Tokenizer {
  /** Number of embedding rows needed: the largest token id + 1. */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** Special token text -> id (including <think>-style tags where the vocabulary has them). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The Jinja chat template, when the tokenizer has one. */
  readonly chatTemplate: string | null;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Renders `messages` with the chat template; throws when there is none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}

/** DeepSeek-R1-Zero's prompt (paper, Table 1); `{prompt}` is replaced by the question. */
export const R1_ZERO_TEMPLATE =
  'A conversation between User and Assistant. The user asks a question, and the Assistant solves it. ' +
  'The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. ' +
  'The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, ' +
  'i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:';

/** The R1-Zero prompt for one question. */
export function r1ZeroPrompt(question: string): string {
  if (typeof question !== 'string') throw new TypeError(`r1ZeroPrompt: question must be a string, got ${typeof question}`);
  return R1_ZERO_TEMPLATE.replace('{prompt}', () => question);
}
