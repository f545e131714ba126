// The bfloat16 rule of the ops whose kernels are float32 (elementwise, reductions, norms, softmax, RoPE, attention,
// SwiGLU, cross-entropy, GRPO): bfloat16 tensor arguments are cast to float32 (a recorded cast, so gradients flow
// back, as float32), the op computes in float32, and a floating result is rounded back to bfloat16 when every
// floating tensor argument was bfloat16 (PyTorch's promotion: a float32 argument makes it float32). Matmul, linear
// and embedding read bfloat16 themselves (ops/matmul.ts, ops/index.ts). See docs/ARCHITECTURE.md.
import type { Tensor } from '../tensor.js';
import { isTensor } from '../tensor-util.js';
import { cast } from './shape.js';

/** @internal Whether any argument is a bfloat16 tensor. */
export function hasBf16(...args: unknown[]): boolean {
  for (const a of args) if (isTensor(a) && a.dtype === 'bfloat16') return true;
  return false;
}

// The float32 copies of bfloat16 tensor arguments (other arguments as they are) and a function freeing the copies
// no result shares storage with and no graph needs. NOTE: a copy that needs no gradient (a frozen bf16 weight) is
// still read by the backward of a result that requires one (d x of RMSNorm reads the weight), so it stays too.
function upcast<A extends unknown[]>(args: A): { floats: A; release: (results: Tensor[]) => void; allBf16: boolean } {
  const copies: Tensor[] = [];
  let allBf16 = true;
  const floats = args.map((a) => {
    if (!isTensor(a)) return a;
    if (a.dtype === 'float32') allBf16 = false;
    if (a.dtype !== 'bfloat16') return a;
    const c = cast(a, 'float32');
    copies.push(c);
    return c;
  }) as A;
  const release = (results: Tensor[]) => {
    for (const c of copies) {
      if (c.requiresGrad || results.some((r) => r.requiresGrad || r.storage === c.storage)) continue;
      c.dispose();
    }
  };
  return { floats, release, allBf16 };
}

/**
 * @internal `op(...args)` with bfloat16 tensor arguments computed in float32; the result is bfloat16 when every
 * floating tensor argument was (an int32 result, e.g. argmax, stays int32).
 */
export function inFloat32<A extends unknown[]>(op: (...args: A) => Tensor, ...args: A): Tensor {
  const { floats, release, allBf16 } = upcast(args);
  let out: Tensor | null = null;
  try {
    out = op(...floats);
  } finally {
    release(out ? [out] : []);
  }
  if (!allBf16 || out.dtype !== 'float32') return out;
  const rounded = cast(out, 'bfloat16');
  if (!out.requiresGrad) out.dispose();
  return rounded;
}

/**
 * @internal `op(...args)` with bfloat16 tensor arguments computed in float32 and its results kept float32: for ops
 * whose results are losses, log-probabilities and statistics (crossEntropy, the GRPO kernels).
 */
export function withFloat32Inputs<A extends unknown[], R>(op: (...args: A) => R, results: (r: R) => Tensor[], ...args: A): R {
  const { floats, release } = upcast(args);
  let out: R | undefined;
  try {
    out = op(...floats);
  } finally {
    release(out === undefined ? [] : results(out));
  }
  return out;
}
