// Evaluation of a policy on problems with verifiable answers: k samples per problem at T = 0.6 / top-p
// 0.95 (DeepSeek-R1's protocol) give pass@1 as the mean correctness and cons@k by majority vote, plus
// greedy accuracy, the share of well-formed completions and the mean completion length.
import type { Tokenizer } from '../io/tokenizers/types.js';
import { encodePrompt, type Prompt } from '../io/tokenizers/conversation.js';
import { stopTokenIds, withoutStopToken } from '../generate/stop-tokens.js';
import type { KVCacheDtype } from '../nn/kv-cache.js';
import type { LlamaForCausalLM } from '../nn/llama.js';
import type { Device, Float32MatmulPrecision } from '../backend/backend.js';
import { resolveDevice } from '../backend/registry.js';
import { generate } from '../generate/generate.js';
import type { RandomGenerator } from '../ops/creation.js';
import { answersEqual } from '../rl/rewards/math-answer.js';
import { majorityVote } from './metrics.js';

export interface EvalProblem {
  /** Text, or a list of {role, content} messages rendered with the chat template's generation prompt. */
  prompt: Prompt;
  answer: string;
}

export interface EvaluateOptions {
  /** Samples per problem. Default 8. */
  k?: number;
  temperature?: number;
  topP?: number;
  maxNewTokens: number;
  /** The answer a completion gives (null when it gives none). */
  extractAnswer: (completion: string) => string | null;
  /** Whether an extracted answer matches the reference. Default: answersEqual (numbers by value, LaTeX normalized). */
  isCorrect?: (answer: string | null, reference: string) => boolean;
  /** Whether a completion follows the required format. */
  isWellFormed?: (completion: string) => boolean;
  /** Also decode greedily once per problem. Default true. */
  greedy?: boolean;
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
}

export interface EvaluateResult {
  /** Mean over problems of the fraction of correct samples. */
  passAt1: number;
  /** Majority-vote accuracy over the k samples (answers grouped by value, see majorityVote). */
  consAtK: number;
  greedyAccuracy: number | null;
  formatRate: number | null;
  meanLength: number;
  k: number;
  /** Per problem: the k sampled completions and their correctness. */
  samples: { prompt: Prompt; completions: string[]; correct: boolean[] }[];
}

function completionsOf(model: LlamaForCausalLM, tokenizer: Tokenizer, prompts: number[][], options: EvaluateOptions, sampled: boolean): { texts: string[]; lengths: number[] } {
  const texts: string[] = [];
  const lengths: number[] = [];
  const batch = options.batchSize ?? 512;
  const stops = stopTokenIds(model, tokenizer);
  for (let i = 0; i < prompts.length; i += batch) {
    const out = generate(model, prompts.slice(i, i + batch), {
      maxNewTokens: options.maxNewTokens, eosTokenId: stops,
      ...(sampled ? { temperature: options.temperature ?? 0.6, topP: options.topP ?? 0.95 } : { greedy: true }),
      seed: options.seed === undefined ? undefined : options.seed + i, generator: options.generator, kvCacheDtype: options.kvCacheDtype,
      matmulPrecision: options.matmulPrecision,
    });
    out.completionIds.forEach((ids, j) => {
      const used = ids.slice(0, out.completionLengths[j]);
      texts.push(tokenizer.decode(withoutStopToken(used, stops)));
      lengths.push(out.completionLengths[j]);
    });
  }
  return { texts, lengths };
}

/** The most completions per problem evaluatePolicy and rejectionSample draw. */
export const MAX_SAMPLES_PER_PROBLEM = 1_000_000;

/**
 * Samples k completions per problem (and one greedy) until the model's stop tokens (stopTokenIds) and scores
 * them; k is at most 1,000,000.
 */
export function evaluatePolicy(model: LlamaForCausalLM, tokenizer: Tokenizer, problems: readonly EvalProblem[], options: EvaluateOptions): EvaluateResult {
  const k = options.k ?? 8;
  if (!Number.isInteger(k) || k < 1 || k > MAX_SAMPLES_PER_PROBLEM) throw new RangeError(`evaluatePolicy: k must be an integer in [1, ${MAX_SAMPLES_PER_PROBLEM}], got ${k}`);
  if (options.seed !== undefined && options.generator !== undefined) throw new RangeError('evaluatePolicy: give seed or generator, not both');
  if (problems.length === 0) throw new RangeError('evaluatePolicy: no problems');
  for (const [name, v] of [['batchSize', options.batchSize ?? 512], ['maxNewTokens', options.maxNewTokens]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`evaluatePolicy: ${name} must be an integer >= 1, got ${String(v)}`);
  }
  if (options.device !== undefined) model.to(resolveDevice(options.device));
  const isCorrect = options.isCorrect ?? ((a: string | null, ref: string) => answersEqual(a, ref));
  const encoded = problems.map((p, i) => encodePrompt(tokenizer, p.prompt, `evaluatePolicy: problem ${i}: prompt`));
  const sampled = completionsOf(model, tokenizer, encoded.flatMap((ids) => Array.from({ length: k }, () => ids)), options, true);
  const samples = problems.map((p, i) => {
    const completions = sampled.texts.slice(i * k, (i + 1) * k);
    return { prompt: p.prompt, completions, correct: completions.map((c) => isCorrect(options.extractAnswer(c), p.answer)) };
  });
  const passAt1 = samples.reduce((a, s) => a + s.correct.filter(Boolean).length / k, 0) / problems.length;
  const consAtK = samples.reduce((a, s, i) => a + (isCorrect(majorityVote(s.completions.map(options.extractAnswer)), problems[i].answer) ? 1 : 0), 0) / problems.length;
  let greedyAccuracy: number | null = null;
  if (options.greedy ?? true) {
    const greedy = completionsOf(model, tokenizer, encoded, options, false);
    greedyAccuracy = greedy.texts.filter((c, i) => isCorrect(options.extractAnswer(c), problems[i].answer)).length / problems.length;
  }
  const formatRate = options.isWellFormed ? sampled.texts.filter(options.isWellFormed).length / sampled.texts.length : null;
  const meanLength = sampled.lengths.reduce((a, b) => a + b, 0) / sampled.lengths.length;
  return { passAt1, consAtK, greedyAccuracy, formatRate, meanLength, k, samples };
}
