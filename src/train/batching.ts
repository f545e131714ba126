// Turning (prompt, completion) token lists into right-padded (B, T) id and label tensors for a causal LM,
// optionally packed into fixed-length rows.
import type { Device } from '../backend/backend.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

export const IGNORE_INDEX = -100;

export interface TokenizedExample {
  promptIds: number[];
  completionIds: number[];
}

/** Token ids and, per position, the label it is trained to be (IGNORE_INDEX where no loss is taken). */
export interface LabeledSequence {
  ids: number[];
  labels: number[];
}

export interface CausalBatch {
  /** int32 (B, T), right-padded with padId. */
  ids: Tensor;
  /** int32 (B, T): position t is predicted from positions < t (causalLMLoss shifts); IGNORE_INDEX where no loss. */
  labels: Tensor;
  /** Tokens that carry loss. */
  lossTokens: number;
}

/** The example as one sequence; the prompt is unlabeled when completionOnly, and so is the first token. */
export function labeledSequence(e: TokenizedExample, completionOnly: boolean): LabeledSequence {
  const ids = [...e.promptIds, ...e.completionIds];
  const labels = ids.map((id, i) => (i === 0 || (completionOnly && i < e.promptIds.length) ? IGNORE_INDEX : id));
  return { ids, labels };
}

/**
 * Concatenates sequences and cuts the stream into rows of exactly `length` tokens (the last row may be
 * shorter). The first token of each sequence stays unlabeled, so no loss crosses an example boundary.
 * NOTE: attention is still causal over the whole row, so later examples can attend to earlier ones in the
 * same row (as in TRL's constant-length packing); keep examples self-delimiting (e.g. with EOS).
 */
export function packSequences(seqs: readonly LabeledSequence[], length: number): LabeledSequence[] {
  const ids = seqs.flatMap((s) => s.ids);
  const labels = seqs.flatMap((s) => s.labels);
  const rows: LabeledSequence[] = [];
  for (let start = 0; start < ids.length; start += length) {
    rows.push({ ids: ids.slice(start, start + length), labels: labels.slice(start, start + length) });
  }
  return rows;
}

/** Pads a batch of sequences to its longest (capped at maxLength, keeping the start), as tensors on `device`. */
export function causalBatch(seqs: readonly LabeledSequence[], padId: number, maxLength?: number, device: Device = 'cpu'): CausalBatch {
  const cut = seqs.map((s) => ({ ids: s.ids.slice(0, maxLength ?? s.ids.length), labels: s.labels.slice(0, maxLength ?? s.labels.length) }));
  const T = Math.max(2, ...cut.map((s) => s.ids.length));
  const B = cut.length;
  const ids = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  let lossTokens = 0;
  cut.forEach((s, b) => {
    ids.set(s.ids, b * T);
    labels.set(s.labels, b * T);
    for (let t = 1; t < s.labels.length; t++) if (s.labels[t] !== IGNORE_INDEX) lossTokens++;
  });
  return { ids: tensor(ids, [B, T], { dtype: 'int32', device }), labels: tensor(labels, [B, T], { dtype: 'int32', device }), lossTokens };
}
