// A trained reward model (LlamaForSequenceClassification) as a GRPO reward function: completions are scored in
// batches without gradients, optionally normalized, and the model sees either the final answer only (R1's
// helpfulness model) or the whole completion with its reasoning (R1's harmlessness model).
import { noGrad } from '../../autograd/grad-mode.js';
import type { Device } from '../../backend/backend.js';
import { tidy } from '../../autograd/tidy.js';
import type { ChatMessage, Tokenizer } from '../../io/tokenizers/types.js';
import { checkMessages, conversationText, type Completion, type Prompt } from '../../io/tokenizers/conversation.js';
import type { LlamaForSequenceClassification } from '../../nn/sequence-classification.js';
import { tensor } from '../../ops/creation.js';
import type { Tensor } from '../../tensor.js';
import { checkArgs, named, type RewardArgs, type RewardFunction } from './types.js';

export interface RewardModelOptions {
  /** The name in logs (`rewards/<name>/mean`). Default 'reward_model'. */
  name?: string;
  /**
   * What the model reads after the prompt: 'answer' = the completion without its <think>...</think> block
   * (an unclosed think block leaves an empty answer), 'completion' = everything. Default 'answer'.
   */
  input?: 'answer' | 'completion';
  /** Sequences per forward. Default 64. */
  batchSize?: number;
  /**
   * (score - mean) / std with fixed statistics (e.g. the reward model's scores on a reference set, see
   * rewardModelStats), or 'batch' to standardize within each call. Default none (raw scores).
   */
  normalize?: { mean: number; std: number } | 'batch' | null;
  /** Clip the (normalized) score to [-clip, clip]. Default none. */
  clip?: number | null;
  /** Must match how the model was trained (RewardTrainer's appendEos, maxLength). Defaults true, null. */
  appendEos?: boolean;
  maxLength?: number | null;
}

function checkBatchSize(op: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`rewards.${op}: batchSize must be an integer >= 1, got ${String(v)}`);
  return v;
}

/** The part of a completion a reward model reads with input 'answer': what follows the last </think>. */
export function answerPart(completion: string): string {
  const close = completion.lastIndexOf('</think>');
  if (close >= 0) return completion.slice(close + '</think>'.length).replace(/^\n+/, '');
  return completion.includes('<think>') ? '' : completion;
}

/**
 * The token ids a reward model scores for (prompt, response), cut to the last maxLength tokens. Text: encode(prompt)
 * (with the tokenizer's BOS rule) + response + EOS (when appendEos). Conversational (TRL's RewardTrainer): the
 * prompt's messages followed by the response's (a text response is one assistant message), rendered whole with
 * the chat template, which ends the turn itself (no EOS added).
 */
export function rewardModelInput(tokenizer: Tokenizer, prompt: Prompt, response: Completion, appendEos = true, maxLength: number | null = null): number[] {
  if (maxLength !== null && !(Number.isInteger(maxLength) && maxLength >= 1)) throw new RangeError(`rewardModelInput: maxLength must be an integer >= 1 or null, got ${maxLength}`);
  let ids: number[];
  if (typeof prompt === 'string' && typeof response === 'string') {
    ids = [...tokenizer.encode(prompt), ...tokenizer.encode(response, { addSpecialTokens: false })];
    const eos = tokenizer.eosTokenId;
    if (appendEos && eos !== null) ids.push(eos);
  } else {
    if (typeof prompt === 'string' && prompt !== '') throw new TypeError('rewardModelInput: a conversational response needs its prompt as messages too (or an empty prompt)');
    const messages: ChatMessage[] = [
      ...(typeof prompt === 'string' ? [] : checkMessages('rewardModelInput: prompt', prompt)),
      ...(typeof response === 'string' ? [{ role: 'assistant', content: response }] : checkMessages('rewardModelInput: response', response)),
    ];
    ids = tokenizer.encode(conversationText(tokenizer, messages), { addSpecialTokens: false });
  }
  if (ids.length === 0) throw new RangeError('rewardModelInput: prompt and response are both empty (nothing to score)');
  return maxLength !== null && ids.length > maxLength ? ids.slice(ids.length - maxLength) : ids;
}

/** Right-pads token lists into int32 (B, T) with their lengths (for LlamaForSequenceClassification's `lengths`). */
export function padRight(seqs: readonly number[][], padId: number, device: Device = 'cpu'): { ids: Tensor; lengths: number[] } {
  const T = Math.max(1, ...seqs.map((s) => s.length));
  const flat = new Int32Array(seqs.length * T).fill(padId);
  seqs.forEach((s, b) => flat.set(s, b * T));
  return { ids: tensor(flat, [seqs.length, T], { dtype: 'int32', device }), lengths: seqs.map((s) => s.length) };
}

/**
 * Raw scores (one per prompt/response pair) of a one-label reward model, in batches, without gradients; prompts
 * and responses as rewardModelInput takes them (text, or conversations).
 */
export function scoreWithRewardModel(model: LlamaForSequenceClassification, tokenizer: Tokenizer, prompts: readonly Prompt[], responses: readonly Completion[],
  options: { batchSize?: number; appendEos?: boolean; maxLength?: number | null } = {}): number[] {
  if (prompts.length !== responses.length) throw new RangeError(`scoreWithRewardModel: ${prompts.length} prompts for ${responses.length} responses`);
  const bs = checkBatchSize('scoreWithRewardModel', options.batchSize ?? 64);
  const seqs = prompts.map((p, i) => rewardModelInput(tokenizer, p, responses[i], options.appendEos ?? true, options.maxLength ?? null));
  const out = new Array<number>(seqs.length);
  // Sort by length so each batch pads little; scores go back to their places.
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].length - seqs[b].length);
  const pad = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
  noGrad(() => {
    for (let s = 0; s < order.length; s += bs) {
      const part = order.slice(s, s + bs);
      tidy(() => {
        const { ids, lengths } = padRight(part.map((i) => seqs[i]), pad, model.device);
        const r = model.scores(ids, { lengths }).data();
        part.forEach((i, k) => { out[i] = r[k]; });
      });
    }
  });
  return out;
}

/** Mean and std of the model's scores on (prompt, response) pairs: the statistics for `normalize`. */
export function rewardModelStats(model: LlamaForSequenceClassification, tokenizer: Tokenizer, prompts: readonly Prompt[], responses: readonly Completion[],
  options: { batchSize?: number; appendEos?: boolean; maxLength?: number | null } = {}): { mean: number; std: number } {
  const s = scoreWithRewardModel(model, tokenizer, prompts, responses, options);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  const std = Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, s.length - 1));
  return { mean, std };
}

/**
 * A GRPO reward function scoring each completion with `model` (a one-label LlamaForSequenceClassification,
 * e.g. from RewardTrainer). Never returns null: use routeRewards to apply it to some rows only.
 */
export function rewardModel(model: LlamaForSequenceClassification, tokenizer: Tokenizer, options: RewardModelOptions = {}): RewardFunction {
  const name = options.name ?? 'reward_model';
  if (model.numLabels !== 1) throw new RangeError(`rewards.rewardModel: the model has ${model.numLabels} labels; a reward model has 1`);
  checkBatchSize('rewardModel', options.batchSize ?? 64);
  const input = options.input ?? 'answer';
  if (input !== 'answer' && input !== 'completion') throw new RangeError(`rewards.rewardModel: input must be 'answer' or 'completion', got ${String(input)}`);
  const norm = options.normalize ?? null;
  if (norm !== null && norm !== 'batch' && !(typeof norm === 'object' && Number.isFinite(norm.mean) && norm.std > 0))
    throw new RangeError(`rewards.rewardModel: normalize must be {mean, std > 0}, 'batch' or null, got ${JSON.stringify(norm)}`);
  const clip = options.clip ?? null;
  if (clip !== null && !(clip > 0)) throw new RangeError(`rewards.rewardModel: clip must be positive, got ${clip}`);
  return named(name, (args: RewardArgs) => {
    const completions = checkArgs(name, args);
    if (completions.length === 0) return [];
    const prompts = Array.isArray(args.prompts) ? args.prompts : [];
    if (prompts.length !== completions.length) throw new RangeError(`rewards.${name}: ${prompts.length} prompts for ${completions.length} completions`);
    const responses = input === 'answer' ? completions.map(answerPart) : completions;
    let s = scoreWithRewardModel(model, tokenizer, prompts, responses, options);
    if (norm === 'batch') {
      const m = s.reduce((a, b) => a + b, 0) / s.length;
      const sd = Math.sqrt(s.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, s.length - 1));
      s = s.map((v) => (v - m) / (sd + 1e-6));
    } else if (norm) {
      s = s.map((v) => (v - norm.mean) / norm.std);
    }
    if (clip !== null) s = s.map((v) => Math.max(-clip, Math.min(clip, v)));
    return s;
  });
}
