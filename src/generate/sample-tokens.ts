// One token per logits row on the logits' device (the backend's sampleRows: float64 on the CPU, float32 on CUDA),
// so a decode step sends only the sampled ids to the host. generate() samples through it on every device.
import type { SampleRowsOptions } from '../backend/backend.js';
import { copyContiguous } from '../ops/raw.js';
import { formatShape, Tensor } from '../tensor.js';
import { sameDevice } from '../tensor-util.js';
import { resolveSampling, type SamplingOptions } from './sampling.js';

export interface SampledTokens {
  /** (rows) int32: the sampled token of each row; -1 for a row holding NaN or +inf, or only -inf. */
  ids: Tensor;
  /** (rows) log p of each token under the distribution it was drawn from (after truncation; 0 when greedy). */
  logprobs: Tensor;
  /** (rows) log softmax(logits / temperature) of each token before truncation (temperature 1 when greedy at 0). */
  policyLogprobs: Tensor;
}

function checkFloat32(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  return t;
}

/**
 * @internal Samples one token per row of `logits` (rows, V), float32, on their device: temperature, top-k, top-p,
 * min-p (Hugging Face's order, src/generate/sampling.ts), then the inverse CDF in token order at `uniforms[r]`
 * (float32 (rows) in [0, 1) on the same device; null when greedy). The log-probs go to `out` when given
 * (contiguous float32 (rows) views on the same device, e.g. one step's slice of a whole generation's buffer).
 * The caller owns the results.
 */
export function sampleTokens(logits: Tensor, uniforms: Tensor | null, options: SamplingOptions,
  out?: { logprobs: Tensor; policyLogprobs: Tensor }): SampledTokens {
  const op = 'sampleTokens';
  checkFloat32(op, 'logits', logits);
  if (logits.ndim !== 2) throw new RangeError(`${op}: logits must be (rows, V), got shape ${formatShape(logits.shape)}`);
  const [rows, V] = logits.shape;
  if (rows === 0 || V === 0) throw new RangeError(`${op}: logits ${formatShape(logits.shape)} are empty`);
  const o = resolveSampling(options, op);
  if (uniforms === null) {
    if (!o.greedy) throw new TypeError(`${op}: uniforms are required unless greedy`);
  } else {
    checkFloat32(op, 'uniforms', uniforms);
    if (uniforms.ndim !== 1 || uniforms.shape[0] !== rows)
      throw new RangeError(`${op}: uniforms ${formatShape(uniforms.shape)} must be [${rows}] for logits ${formatShape(logits.shape)}`);
    sameDevice(op, logits, uniforms);
  }
  if (out !== undefined) {
    for (const [name, t] of [['out.logprobs', out.logprobs], ['out.policyLogprobs', out.policyLogprobs]] as const) {
      checkFloat32(op, name, t);
      if (t.ndim !== 1 || t.shape[0] !== rows || !t.isContiguous())
        throw new RangeError(`${op}: ${name} must be a contiguous [${rows}] tensor, got shape ${formatShape(t.shape)}`);
      sameDevice(op, logits, t);
    }
  }
  // The kernels read rows with unit column stride and a row stride >= V; anything else is copied first.
  const rowStride = rows === 1 ? V : logits.strides[0];
  const direct = (V === 1 || logits.strides[1] === 1) && rowStride >= V;
  const lc = direct ? logits : copyContiguous(logits);
  const uc = uniforms === null || uniforms.isContiguous() ? uniforms : copyContiguous(uniforms);
  const ids = logits.newEmpty([rows], 'int32');
  const logprobs = out?.logprobs ?? logits.newEmpty([rows]);
  const policyLogprobs = out?.policyLogprobs ?? logits.newEmpty([rows]);
  const kernelOptions: SampleRowsOptions = { temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, greedy: o.greedy };
  try {
    logits.backend.sampleRows(ids, logprobs, policyLogprobs, lc, direct ? rowStride : V, rows, V, uc, kernelOptions);
  } catch (e) {
    ids.dispose();
    if (out === undefined) for (const t of [logprobs, policyLogprobs]) t.dispose();
    throw e;
  } finally {
    if (lc !== logits) lc.dispose();
    if (uc !== uniforms) uc?.dispose();
  }
  return { ids, logprobs, policyLogprobs };
}
