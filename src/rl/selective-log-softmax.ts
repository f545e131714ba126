// Selective log-softmax: the log-probability of each chosen token (and optionally the entropy) straight
// from logits [..., V], one fused pass per row; the N x V log-softmax is never materialized.
import { record } from '../autograd/function.js';
import { formatShape, shapeNumel, Tensor } from '../tensor.js';
import { zeros } from '../ops/creation.js';
import { hasBf16, withFloat32Inputs } from '../ops/float32-compute.js';
import { copyContiguous } from '../ops/raw.js';
import { sameDevice } from '../tensor-util.js';

export interface SelectiveLogSoftmaxOptions {
  /** Sampling temperature T: log-probs of logits / T. Default 1. */
  temperature?: number;
  /**
   * Write d(logits) into the logits' own storage in backward (saves an N x V buffer). Only when nothing
   * else reads these logits after this op, and backward runs once. Not with entropy.
   */
  inplaceBackward?: boolean;
}

function checkTensor(op: string, name: string, t: unknown, dtype: 'float32' | 'int32' | 'float32 or bfloat16'): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  const ok = dtype === 'float32 or bfloat16' ? t.dtype === 'float32' || t.dtype === 'bfloat16' : t.dtype === dtype;
  if (!ok) throw new TypeError(`${op}: ${name} must be ${dtype}, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  return t;
}

/** @internal A contiguous offset-0 tensor with t's values: t itself or a copy the caller frees. */
export function flatOf(t: Tensor): Tensor {
  return t.isContiguous() && t.offset === 0 ? t : copyContiguous(t);
}
/** @internal Frees `tmp` unless it is `orig`. */
export function release(tmp: Tensor | null, orig: Tensor | null): void {
  if (tmp && tmp !== orig) tmp.dispose();
}

// The uniform stride between rows of a [..., V] view with unit stride along V, or -1 when the leading dims
// do not collapse to one (then the kernels need a copy).
function rowStrideOf(x: Tensor): number {
  const nd = x.ndim;
  const V = x.shape[nd - 1];
  if (V > 1 && x.strides[nd - 1] !== 1) return -1;
  let stride = -1;
  let expect = -1;
  for (let d = nd - 2; d >= 0; d--) {
    if (x.shape[d] === 1) continue;
    if (stride < 0) {
      stride = x.strides[d];
      expect = stride * x.shape[d];
    } else {
      if (x.strides[d] !== expect) return -1;
      expect *= x.shape[d];
    }
  }
  if (stride < 0) return V;  // a single row
  return stride >= V ? stride : -1;
}

function run(op: string, logits: Tensor, ids: Tensor, options: SelectiveLogSoftmaxOptions, withEntropy: boolean): { lp: Tensor; ent: Tensor | null } {
  // bfloat16 logits: read by the kernels where the backend can (no float32 copy kept for backward), else through
  // a float32 copy; log-probs and entropies are float32 either way.
  if (hasBf16(logits) && !logits.backend.capabilities.bf16Logits) {
    return withFloat32Inputs(run, (r) => (r.ent ? [r.lp, r.ent] : [r.lp]), op, logits, ids, options, withEntropy);
  }
  checkTensor(op, 'logits', logits, 'float32 or bfloat16');
  checkTensor(op, 'ids', ids, 'int32');
  const T = options.temperature ?? 1;
  if (typeof T !== 'number' || !(T > 0) || !Number.isFinite(T)) throw new RangeError(`${op}: temperature must be a finite number > 0, got ${T}`);
  const inplace = options.inplaceBackward ?? false;
  if (inplace && withEntropy) throw new RangeError(`${op}: inplaceBackward cannot be combined with entropy (two backward passes read the logits)`);
  if (logits.ndim < 1) throw new RangeError(`${op}: logits must have a vocabulary dim, got shape ${formatShape(logits.shape)}`);
  const rowShape = logits.shape.slice(0, -1);
  if (ids.ndim !== rowShape.length || ids.shape.some((s, i) => s !== rowShape[i]))
    throw new RangeError(`${op}: ids ${formatShape(ids.shape)} must be ${formatShape(rowShape)} for logits ${formatShape(logits.shape)}`);
  const V = logits.shape[logits.ndim - 1];
  const N = shapeNumel(rowShape);
  if (V === 0) throw new RangeError(`${op}: logits ${formatShape(logits.shape)} have an empty vocabulary`);
  sameDevice(op, logits, ids);
  const backend = logits.backend;
  let ld = rowStrideOf(logits);
  const lc = ld < 0 ? copyContiguous(logits) : logits;
  if (ld < 0) ld = V;
  const ic = flatOf(ids);
  const lp = Tensor.empty(rowShape, 'float32', logits.device);
  const lse = Tensor.empty(rowShape, 'float32', logits.device);
  const ent = withEntropy ? Tensor.empty(rowShape, 'float32', logits.device) : null;
  if (N > 0) {
    try {
      backend.selectiveLogSoftmaxForward(lp, lse, ent, lc, ld, ic, N, V, T);
    } catch (e) {
      for (const t of [lp, lse, ent]) t?.dispose();
      release(lc, logits);
      release(ic, ids);
      throw e;
    }
  }
  const saved = [lse, ic, ...(lc !== logits ? [lc] : []), ...(ent ? [ent] : [])];
  // d logits[n, v] = g[n] (1[v = id] - softmax(z)_v) / T
  const backwardFor = (which: 'lp' | 'entropy') => (g: Tensor): (Tensor | null)[] => {
    if (!logits.requiresGrad) return [null];
    const gc = flatOf(g);
    let dl: Tensor;
    let dld = V;
    if (inplace) {
      dl = lc.makeView(logits.shape, lc === logits ? logits.strides : lc.strides, lc.offset);
      dld = ld;
    } else {
      dl = Tensor.empty(logits.shape, logits.dtype, logits.device);
    }
    if (N > 0) {
      const zero = which === 'entropy' ? zeros(rowShape, { device: logits.device }) : null;
      try {
        backend.selectiveLogSoftmaxBackward(dl, dld, lc, ld, ic, lse, which === 'lp' ? gc : zero!,
          which === 'entropy' ? gc : null, which === 'entropy' ? ent : null, N, V, T);
      } finally {
        zero?.dispose();
        release(gc, g);
      }
    } else {
      release(gc, g);
    }
    if (dl.dtype === 'float32') return [dl];
    // The kernels write a bfloat16 gradient for bfloat16 logits; gradients flow on in float32 (see Tensor.grad).
    const widened = dl.newEmpty(dl.shape, 'float32');
    if (dl.numel > 0) backend.copy(widened, dl);
    dl.dispose();
    return [widened];
  };
  const outLp = record(op, [logits], lp, backwardFor('lp'), saved);
  const outEnt = ent ? record(`${op}Entropy`, [logits], ent, backwardFor('entropy'), saved) : null;
  if (!outLp.gradFn) {
    lse.dispose();
    release(lc, logits);
    release(ic, ids);
  }
  return { lp: outLp, ent: outEnt };
}

/**
 * Log-probability of the chosen token of each row: `logits[..., ids] / T - logsumexp(logits / T)`, fused
 * (one pass per row, float32 log-sum-exp). logits float32 or bfloat16 [..., V], ids int32 [...] in [0, V). Differentiable
 * w.r.t. logits: d logits = g (onehot(ids) - softmax(logits / T)) / T. NaN/Inf logits throw.
 */
export function selectiveLogSoftmax(logits: Tensor, ids: Tensor, options: SelectiveLogSoftmaxOptions = {}): Tensor {
  return run('selectiveLogSoftmax', logits, ids, options, false).lp;
}

/**
 * {@link selectiveLogSoftmax} plus the entropy `-sum p log p` of each row's distribution softmax(logits / T),
 * from the same pass. Both outputs are differentiable w.r.t. logits.
 */
export function selectiveLogSoftmaxWithEntropy(logits: Tensor, ids: Tensor, options: Omit<SelectiveLogSoftmaxOptions, 'inplaceBackward'> = {}): { logps: Tensor; entropy: Tensor } {
  const r = run('selectiveLogSoftmaxWithEntropy', logits, ids, options, true);
  return { logps: r.lp, entropy: r.ent! };
}
