// Batched sampling with a KV cache: one prefill forward over the (left-padded) prompts, then one (B, 1)
// forward per new token; only the last position's logits are computed, and they are sampled on the model's device
// (sampleTokens), so each step copies just the sampled ids to the host.
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { empty, rand, RandomGenerator, resolveGenerator, tensor } from '../ops/creation.js';
import { resolveMatmulPrecision } from '../ops/matmul.js';
import { withPackedLinears } from '../nn/linear.js';
import type { KVCacheDtype } from '../nn/kv-cache.js';
import type { LlamaForCausalLM } from '../nn/llama.js';
import type { Tensor } from '../tensor.js';
import { sampleTokens } from './sample-tokens.js';
import { resolveSampling, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate per sequence. Required. */
  maxNewTokens: number;
  /**
   * End-of-sequence id(s): a sequence finishes after sampling one (it is kept). Default the model's
   * generationConfig.eosTokenId (generation_config.json), else config.eosTokenId.
   */
  eosTokenId?: number | number[] | null;
  /** A sequence finishes once its decoded completion contains one of these (the token completing it is kept). */
  stopStrings?: string[];
  /** Token ids -> text; required with stopStrings. */
  decode?: (ids: number[]) => string;
  /** Fills completionIds after a sequence's end. Default config.padTokenId, else the first EOS id, else 0. */
  padTokenId?: number;
  /**
   * Storage of the KV cache: 'bfloat16' halves the bytes each decode step streams (faster once the cache
   * outgrows the CPU caches) at the cost of rounding keys and values to bfloat16 (~3 significant digits).
   * Default 'float32'.
   */
  kvCacheDtype?: KVCacheDtype;
  /**
   * Seed for this call's draws: they come from a fresh RandomGenerator(seed), and no other generator is read
   * or advanced. Give either seed or generator.
   */
  seed?: number;
  /**
   * The generator this call's draws come from, advanced by them (like torch's `generator=`): a trainer owns
   * one so that its sampling does not depend on what else runs in the process. Default: the process-wide
   * generator (tg.manualSeed).
   */
  generator?: RandomGenerator;
  /**
   * Precision of the model's matrix products during this call (see setFloat32MatmulPrecision). Default: the
   * process default when the call starts.
   */
  matmulPrecision?: Float32MatmulPrecision;
}

export type StopReason = 'eos' | 'stop' | 'length';

export interface GenerateResult {
  /** Prompt followed by the completion, unpadded. */
  sequences: number[][];
  /** (B, L) completions, L the longest; positions after a sequence's end hold padTokenId. */
  completionIds: number[][];
  /** (B, L) 1 for generated tokens (the EOS included), 0 for padding. */
  completionMask: number[][];
  completionLengths: number[];
  /** True when a sequence stopped at maxNewTokens without EOS or a stop string. */
  truncated: boolean[];
  stopReasons: StopReason[];
  /** (B, L) log-probability of each sampled token under the distribution it was drawn from (after
   * temperature, top-k, top-p, min-p; 0 for greedy); 0 at padding. */
  logprobs: number[][];
  /** (B, L) log softmax(logits / temperature) of each sampled token before any truncation (temperature 1
   * when greedy): the policy's log-prob that RL losses use as the old log-prob; 0 at padding. */
  policyLogprobs: number[][];
}

/**
 * Samples completions of `promptIds` (lists of token ids, any lengths) with `model`, all sequences at once.
 *
 * Prompts of different lengths are left-padded to a common length and padding keys are masked out of
 * attention (positions count from each sequence's first real token), so each sequence gets the tokens it
 * would get alone. Unpadded batches take the fused attention kernel; padded ones a masked composition.
 *
 * Randomness: each step draws one uniform per sequence (all B of them, finished or not, in batch order)
 * with tg.rand from the call's generator (`generator`, a fresh one for `seed`, else the process-wide one),
 * then picks the token by inverse CDF over the sampling distribution in token order. The same seed (or
 * generator state), prompts and options replay the same tokens.
 */
export function generate(model: LlamaForCausalLM, promptIds: number[][], options: GenerateOptions): GenerateResult {
  const cfg = model.config;
  const V = cfg.vocabSize;
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new TypeError('generate: promptIds must be a non-empty array of token-id arrays');
  promptIds.forEach((p, b) => {
    if (!Array.isArray(p) || p.length === 0) throw new RangeError(`generate: prompt ${b} is empty`);
    for (const t of p) if (!Number.isInteger(t) || t < 0 || t >= V) throw new RangeError(`generate: prompt ${b} has token ${t} outside [0, ${V})`);
  });
  const maxNew = options.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new RangeError(`generate: maxNewTokens must be an integer >= 1, got ${maxNew}`);
  const sampling = resolveSampling(options);
  const eosRaw = options.eosTokenId === undefined ? model.generationConfig.eosTokenId ?? cfg.eosTokenId : options.eosTokenId;
  const eos = new Set<number>(eosRaw === null ? [] : Array.isArray(eosRaw) ? eosRaw : [eosRaw]);
  for (const id of eos) if (!Number.isInteger(id)) throw new TypeError(`generate: eosTokenId must be an integer or a list of integers, got ${JSON.stringify(eosRaw)}`);
  const stops = options.stopStrings ?? [];
  if (stops.length > 0 && typeof options.decode !== 'function') throw new TypeError('generate: stopStrings need a decode function');
  if (stops.some((s) => typeof s !== 'string' || s.length === 0)) throw new TypeError('generate: stopStrings must be non-empty strings');
  const padId = options.padTokenId ?? cfg.padTokenId ?? [...eos][0] ?? 0;
  if (!Number.isInteger(padId)) throw new TypeError(`generate: padTokenId must be an integer, got ${padId}`);
  // What padding slots feed the model: masked out of attention, so any valid id will do.
  const inputPad = padId >= 0 && padId < V ? padId : 0;

  const B = promptIds.length;
  const P = Math.max(...promptIds.map((p) => p.length));
  const pads = promptIds.map((p) => P - p.length);
  const padded = pads.some((n) => n > 0);
  const maxLen = P + maxNew;
  // Key mask (1 = real token) for every slot of the cache; generated slots are all real.
  const mask = padded ? pads.map((n) => Uint8Array.from({ length: maxLen }, (_, j) => (j < n ? 0 : 1))) : null;

  const completions: number[][] = promptIds.map(() => []);
  const logprobs: number[][] = promptIds.map(() => []);
  const policyLogprobs: number[][] = promptIds.map(() => []);
  const finished = new Array<boolean>(B).fill(false);
  const reasons: StopReason[] = new Array<StopReason>(B).fill('length');
  const textSearchFrom = new Array<number>(B).fill(0);
  const maxStop = Math.max(0, ...stops.map((s) => s.length));

  if (options.seed !== undefined && options.generator !== undefined) throw new RangeError('generate: give seed or generator, not both');
  const generator = options.seed !== undefined ? new RandomGenerator(options.seed) : resolveGenerator('generate', options.generator);
  const precision = resolveMatmulPrecision('generate', options.matmulPrecision);
  const cache = model.createCache(B, maxLen, options.kvCacheDtype ?? 'float32');
  const device = model.device;
  // Every step's log-probs stay on the device, (step, row) in one buffer each, read once at the end; rowsAt[step]
  // maps that step's rows to sequences.
  const stepLogprobs = empty([maxNew * B], { device });
  const stepPolicyLogprobs = empty([maxNew * B], { device });
  const rowsAt: number[][] = [];
  let logits: Tensor | null = null;
  let sampled: Tensor | null = null;
  let rowIndex: Tensor | null = null;
  try {
    noGrad(() => withPackedLinears(model, () => {
      const flat = new Int32Array(B * P);
      promptIds.forEach((p, b) => {
        flat.fill(inputPad, b * P, b * P + pads[b]);
        flat.set(p, b * P + pads[b]);
      });
      logits = tidy(() => model.forward(tensor(flat, [B, P], { dtype: 'int32', device }), {
        cache, attentionMask: mask ? mask.map((row) => row.subarray(0, P)) : undefined, logitsToKeep: 1, matmulPrecision: precision,
      }));
      // Batch row r holds sequence rows[r]; finished sequences leave the batch (see below). rowIndex: rows on the
      // device, once the batch is compacted, to pick the rows' uniforms.
      let rows = Array.from({ length: B }, (_, b) => b);
      for (let step = 0; step < maxNew; step++) {
        const R = rows.length;
        const at = step * B;
        sampled = tidy(() => {
          const u = rand([B], { generator, device });
          // A bfloat16 model's logits are sampled in float32, as transformers upcasts them.
          const rowLogits = logits!.view([R, V]);
          return sampleTokens(rowLogits.dtype === 'float32' ? rowLogits : rowLogits.to('float32'), rowIndex ? u.indexSelect(0, rowIndex) : u, sampling, {
            logprobs: stepLogprobs.narrow(0, at, R), policyLogprobs: stepPolicyLogprobs.narrow(0, at, R),
          }).ids;
        });
        logits!.dispose();
        logits = null;
        rowsAt.push(rows);
        const ids = sampled.data() as Int32Array; // the one copy to the host per step: R ids
        let active = 0;
        let badFinished = false;
        for (let r = 0; r < R; r++) {
          const b = rows[r];
          if (finished[b]) { // keeps being fed until it leaves the batch; its outputs are never read
            badFinished ||= ids[r] < 0;
            continue;
          }
          const tok = ids[r];
          if (tok < 0) throw new RangeError(`generate: the logits of sequence ${b} at new token ${step} hold NaN or +Inf (or only -Inf); check the model's outputs`);
          completions[b].push(tok);
          if (eos.has(tok)) {
            finished[b] = true;
            reasons[b] = 'eos';
          } else if (stops.length > 0) {
            const text = options.decode!(completions[b]);
            const from = Math.max(0, textSearchFrom[b] - maxStop);
            if (stops.some((s) => text.indexOf(s, from) >= 0)) {
              finished[b] = true;
              reasons[b] = 'stop';
            }
            textSearchFrom[b] = text.length;
          }
          if (!finished[b]) active++;
        }
        if (active === 0 || step === maxNew - 1) break;
        // The sampled ids are the next step's input where they are (a finished row's token is never read; one
        // that came out -1 is replaced by a valid id from the host).
        let next: Tensor = badFinished ? tensor(ids.map((t) => (t < 0 ? inputPad : t)), [R], { dtype: 'int32', device }) : sampled;
        if (next !== sampled) sampled.dispose();
        sampled = null;
        // Once a quarter of the batch has finished, the finished rows leave it (their cached keys and values
        // too): later steps compute only live sequences.
        if (R - active >= Math.max(1, R / 4)) {
          const keep = rows.flatMap((b, r) => (finished[b] ? [] : [r]));
          cache.keepRows(keep);
          rows = keep.map((r) => rows[r]);
          const kept = tidy(() => next.indexSelect(0, tensor(Int32Array.from(keep), [keep.length], { dtype: 'int32', device })));
          next.dispose();
          next = kept;
          rowIndex?.dispose();
          rowIndex = tensor(Int32Array.from(rows), [rows.length], { dtype: 'int32', device });
        }
        const input = next;
        const keyMask = mask ? rows.map((b) => mask[b].subarray(0, P + step + 1)) : undefined;
        try {
          logits = tidy(() => model.forward(input.view([rows.length, 1]), { cache, attentionMask: keyMask, matmulPrecision: precision }));
        } finally {
          input.dispose();
        }
      }
    }, precision));
    const lp = tidy(() => stepLogprobs.narrow(0, 0, rowsAt.length * B).data());
    const policyLp = tidy(() => stepPolicyLogprobs.narrow(0, 0, rowsAt.length * B).data());
    rowsAt.forEach((rows, step) => rows.forEach((b, r) => {
      if (step < completions[b].length) {
        logprobs[b].push(lp[step * B + r]);
        policyLogprobs[b].push(policyLp[step * B + r]);
      }
    }));
  } finally {
    for (const t of [logits as Tensor | null, sampled as Tensor | null, rowIndex as Tensor | null, stepLogprobs, stepPolicyLogprobs]) t?.dispose();
    cache.dispose();
  }

  const L = Math.max(...completions.map((c) => c.length));
  const padRow = <T>(row: T[], fill: T) => [...row, ...new Array<T>(L - row.length).fill(fill)];
  return {
    sequences: promptIds.map((p, b) => [...p, ...completions[b]]),
    completionIds: completions.map((c) => padRow(c, padId)),
    completionMask: completions.map((c) => padRow(c.map(() => 1), 0)),
    completionLengths: completions.map((c) => c.length),
    truncated: reasons.map((r) => r === 'length'),
    stopReasons: reasons,
    logprobs: logprobs.map((l) => padRow(l, 0)),
    policyLogprobs: policyLogprobs.map((l) => padRow(l, 0)),
  };
}
