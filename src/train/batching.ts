// Turning (prompt, completion) token lists into right-padded (B, T) id and label tensors for a causal LM.
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

export const IGNORE_INDEX = -100;

export interface TokenizedExample {
  promptIds: number[];
  completionIds: number[];
}

export interface CausalBatch {
  /** int32 (B, T), right-padded with padId. */
  ids: Tensor;
  /** int32 (B, T): the token to predict at each position's *next* step is labels[:, t+1]; IGNORE_INDEX
   * where no loss is taken (padding, and the prompt when completionOnly). */
  labels: Tensor;
  /** Tokens that carry loss. */
  lossTokens: number;
}

/** Pads a batch of examples to its longest sequence (capped at maxLength, keeping the start). */
export function causalBatch(examples: readonly TokenizedExample[], padId: number, options: { completionOnly: boolean; maxLength?: number }): CausalBatch {
  const seqs = examples.map((e) => {
    const ids = [...e.promptIds, ...e.completionIds];
    const labels = ids.map((id, i) => (options.completionOnly && i < e.promptIds.length ? IGNORE_INDEX : id));
    const cut = options.maxLength ?? ids.length;
    return { ids: ids.slice(0, cut), labels: labels.slice(0, cut) };
  });
  const T = Math.max(2, ...seqs.map((s) => s.ids.length));
  const B = seqs.length;
  const ids = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  let lossTokens = 0;
  seqs.forEach((s, b) => {
    ids.set(s.ids, b * T);
    labels.set(s.labels, b * T);
    // Position 0 is never a target (it has no previous token).
    for (let t = 1; t < s.labels.length; t++) if (s.labels[t] !== IGNORE_INDEX) lossTokens++;
  });
  return { ids: tensor(ids, [B, T], { dtype: 'int32' }), labels: tensor(labels, [B, T], { dtype: 'int32' }), lossTokens };
}
