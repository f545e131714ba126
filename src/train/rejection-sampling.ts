// Rejection sampling (DeepSeek-R1 stage 3): sample k completions per prompt from a policy, keep the
// correct and well-formed ones (optionally only the shortest correct one per prompt), and write them as a
// JSONL SFT dataset.
import type { ChatMessage, Tokenizer } from '../io/tokenizers/types.js';
import { encodePrompt, type Prompt } from '../io/tokenizers/conversation.js';
import { stopTokenIds, withoutStopToken } from '../generate/stop-tokens.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { KVCacheDtype } from '../nn/kv-cache.js';
import type { LlamaForCausalLM } from '../nn/llama.js';
import type { Device, Float32MatmulPrecision } from '../backend/backend.js';
import { resolveDevice } from '../backend/registry.js';
import { generate } from '../generate/generate.js';
import type { RandomGenerator } from '../ops/creation.js';
import { MAX_SAMPLES_PER_PROBLEM } from '../eval/evaluate.js';

export interface RejectionSampleOptions {
  /** Samples per prompt. Default 4. */
  k?: number;
  temperature?: number;
  topP?: number;
  maxNewTokens: number;
  /** Whether a completion (its text) solves the row (e.g. its extracted answer equals row.answer). */
  isCorrect: (completion: string, row: { prompt: Prompt; [column: string]: unknown }) => boolean;
  isWellFormed?: (completion: string) => boolean;
  /** Keep only the shortest accepted completion of each prompt. Default false. */
  shortestOnly?: boolean;
  /** Sequences generated at once. Default 512. */
  batchSize?: number;
  /** Seed of the draws (batch i of the calls uses seed + i); give seed or generator. */
  seed?: number;
  /** The generator the draws come from, advanced by them. Default: the process-wide one (see GenerateOptions.generator). */
  generator?: RandomGenerator;
  /** KV-cache storage while sampling (see GenerateOptions.kvCacheDtype). Default 'float32'. */
  kvCacheDtype?: KVCacheDtype;
  /** Precision of the model's matrix products (see GenerateOptions.matmulPrecision). Default: the process default. */
  matmulPrecision?: Float32MatmulPrecision;
  /**
   * Runs the model there, moving it in place first (as the trainers' `device`): 'auto' (a usable GPU, else the
   * CPU), 'cpu' or 'cuda'. Default: where the model is.
   */
  device?: 'auto' | Device;
  /** Write the kept examples here as JSONL lines {prompt, completion} (atomically). */
  outputFile?: string;
}

/**
 * A kept sample as an SFT example: text for a text prompt; for a conversational prompt (a message list, rendered
 * with the chat template) the prompt's messages and `[{ role: 'assistant', content }]`, TRL's conversational
 * prompt-completion format.
 */
export type SampledExample<P extends Prompt = Prompt> = P extends string
  ? { prompt: string; completion: string }
  : { prompt: ChatMessage[]; completion: ChatMessage[] };

export interface RejectionSampleResult<P extends Prompt = Prompt> {
  examples: SampledExample<P>[];
  sampled: number;
  accepted: number;
}

/**
 * Samples k completions of each row's prompt (text, or a conversation rendered with the chat template's
 * generation prompt) until the model's stop tokens (stopTokenIds), and keeps the accepted ones.
 */
export function rejectionSample<R extends { prompt: Prompt; [column: string]: unknown }>(model: LlamaForCausalLM, tokenizer: Tokenizer, rows: readonly R[],
  options: RejectionSampleOptions): RejectionSampleResult<R['prompt']> {
  const k = options.k ?? 4;
  if (!Number.isInteger(k) || k < 1 || k > MAX_SAMPLES_PER_PROBLEM) throw new RangeError(`rejectionSample: k must be an integer in [1, ${MAX_SAMPLES_PER_PROBLEM}], got ${k}`);
  if (options.seed !== undefined && options.generator !== undefined) throw new RangeError('rejectionSample: give seed or generator, not both');
  const batch = options.batchSize ?? 512;
  for (const [name, v] of [['batchSize', batch], ['maxNewTokens', options.maxNewTokens]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`rejectionSample: ${name} must be an integer >= 1, got ${String(v)}`);
  }
  if (options.device !== undefined) model.to(resolveDevice(options.device));
  const stops = stopTokenIds(model, tokenizer);
  const prompts = rows.flatMap((r) => Array.from({ length: k }, () => r));
  const examples: SampledExample[] = [];
  let accepted = 0;
  const kept = new Map<number, string[]>();
  for (let i = 0; i < prompts.length; i += batch) {
    const chunk = prompts.slice(i, i + batch);
    const out = generate(model, chunk.map((r, j) => encodePrompt(tokenizer, r.prompt, `rejectionSample: row ${Math.floor((i + j) / k)}: prompt`)), {
      maxNewTokens: options.maxNewTokens, temperature: options.temperature ?? 1, topP: options.topP ?? 1, eosTokenId: stops,
      seed: options.seed === undefined ? undefined : options.seed + i, generator: options.generator, kvCacheDtype: options.kvCacheDtype,
      matmulPrecision: options.matmulPrecision,
    });
    out.completionIds.forEach((ids, j) => {
      const used = ids.slice(0, out.completionLengths[j]);
      const text = tokenizer.decode(withoutStopToken(used, stops));
      const row = chunk[j];
      if (out.truncated[j] || !options.isCorrect(text, row) || (options.isWellFormed && !options.isWellFormed(text))) return;
      accepted++;
      const index = Math.floor((i + j) / k);
      if (!kept.has(index)) kept.set(index, []);
      kept.get(index)!.push(text);
    });
  }
  for (const [index, texts] of [...kept.entries()].sort((a, b) => a[0] - b[0])) {
    const chosen = options.shortestOnly ? [texts.reduce((a, b) => (b.length < a.length ? b : a))] : texts;
    const prompt = rows[index].prompt;
    for (const completion of chosen) {
      examples.push(typeof prompt === 'string' ? { prompt, completion } : { prompt, completion: [{ role: 'assistant', content: completion }] });
    }
  }
  if (options.outputFile) writeFileAtomic(options.outputFile, examples.map((e) => JSON.stringify(e)).join('\n') + (examples.length ? '\n' : ''));
  return { examples: examples as SampledExample<R['prompt']>[], sampled: prompts.length, accepted };
}
