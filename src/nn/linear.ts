// Linear layer y = x W^T + b with PyTorch's weight layout (out, in); the transpose is a view the GEMM
// reads with a transpose flag, never a copy, and the weight gradient is computed in (out, in) layout.
import { zeros } from '../ops/creation.js';
import { initNormal } from './init.js';
import { add } from '../ops/elementwise.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { linear, linearPacked, PackedLinearWeight, resolveMatmulPrecision } from '../ops/matmul.js';
import { formatShape, type Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface LinearOptions {
  /** Add a bias vector (out). Default true, as in torch. */
  bias?: boolean;
  /** Standard deviation of the normal weight init. Default 1/sqrt(in). Biases start at 0. */
  std?: number;
}

/** y (..., out) = x (..., in) @ weight^T + bias; weight is (out, in). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** The weight packed for products without gradients, while `withPackedLinears` runs. */
  private packed: PackedLinearWeight | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    for (const n of [inFeatures, outFeatures]) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`Linear: feature sizes must be positive integers, got (${inFeatures}, ${outFeatures})`);
    }
    this.weight = this.registerParameter('weight', initNormal([outFeatures, inFeatures], options.std ?? 1 / Math.sqrt(inFeatures)));
    this.bias = (options.bias ?? true) ? this.registerParameter('bias', zeros([outFeatures])) : null;
  }

  /** `precision`: of the product and its gradients (default: the process default, see setFloat32MatmulPrecision). */
  forward(x: Tensor, precision?: Float32MatmulPrecision): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new RangeError(`Linear: input ${formatShape(x.shape)} must end in ${this.inFeatures} features (weight ${formatShape(this.weight.shape)})`);
    }
    const p = resolveMatmulPrecision('Linear', precision);
    // Packed panels take float32 inputs; a bfloat16 input (a LoRA adapter inside a bf16 model) reads the weight as it is.
    const usePacked = this.packed !== null && this.packed.precision === p && this.packed.isCurrent && !isGradEnabled() && x.dtype === 'float32';
    const y = usePacked ? linearPacked(x, this.packed!) : linear(x, this.weight, { precision: p });
    if (!this.bias) return y;
    return add(y, this.bias);
  }

  /** @internal Packs the weight for withPackedLinears; returns false when it stays unpacked (its backend has no packed products). */
  pack(precision: Float32MatmulPrecision): boolean {
    // A bfloat16 weight stays unpacked: its float32 panels would double the memory it saves.
    if (!this.weight.backend.capabilities.packedMatmul || this.packed !== null || this.weight.dtype !== 'float32') return false;
    this.packed = new PackedLinearWeight(this.weight, { precision });
    return true;
  }

  /** @internal */
  unpack(): void {
    this.packed?.dispose();
    this.packed = null;
  }
}

/** @internal A module whose products can read a pre-packed weight: Linear, and a causal LM's tied head. */
interface Packable {
  pack(precision: Float32MatmulPrecision): boolean;
  unpack(): void;
}

function packablesOf(module: Module, out: Packable[] = []): Packable[] {
  const m = module as Module & Partial<Packable>;
  if (typeof m.pack === 'function' && typeof m.unpack === 'function') out.push(m as Packable);
  for (const [, child] of module.children()) packablesOf(child, out);
  return out;
}

/**
 * Runs `fn` with the weight of every `Linear` in `module` (and a causal LM's tied head) whose backend has packed
 * products (the CPU's) packed once for the GEMM kernel of `precision` (default: the process default; see
 * `PackedLinearWeight`), used by forwards without gradients at that precision; unpacks afterwards, also on a
 * throw. For loops of inference forwards
 * with fixed weights, such as generation, where repacking each weight per product is a large share of the
 * time; every row then takes the same packed path whatever the batch size. The weights must not change while
 * `fn` runs.
 */
export function withPackedLinears<T>(module: Module, fn: () => T, precision?: Float32MatmulPrecision): T {
  const p = resolveMatmulPrecision('withPackedLinears', precision);
  const packed: Packable[] = [];
  try {
    for (const m of packablesOf(module)) if (m.pack(p)) packed.push(m);
    return fn();
  } finally {
    for (const m of packed) m.unpack();
  }
}
