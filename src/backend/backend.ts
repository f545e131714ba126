// The one seam that knows devices: the Backend interface, one method per native primitive on tensor views,
// implemented once per device (cpu.ts with its per-family cpu-*.ts, cuda.ts). Ops and autograd call
// `tensor.backend.<primitive>` and never test the device or reach an addon themselves.
import type { GroupAdvantageStats, GrpoLossKernelOptions, GrpoLossKernelResult } from '../native-entry-points.js';

export type { GroupAdvantageStats, GrpoLossKernelOptions, GrpoLossKernelResult } from '../native-entry-points.js';
export type { BinaryOpName, ReduceOpName, UnaryOpName } from './codes.js';
import type { BinaryOpName, ReduceOpName, UnaryOpName } from './codes.js';

export type Device = 'cpu' | 'cuda';
/**
 * Element types: float32, int32, and bfloat16 (2 bytes; storage only: ops compute in float32, see
 * docs/ARCHITECTURE.md "bfloat16 tensors").
 */
export type DType = 'float32' | 'int32' | 'bfloat16';

/** Precision of float32 matrix products on the CPU, as in PyTorch's `torch.set_float32_matmul_precision`. */
export type Float32MatmulPrecision = 'highest' | 'medium';

/**
 * What a backend reads of a tensor: its storage's buffer id and its strided view, in elements. src/tensor.ts's
 * Tensor is one; the backend layer needs nothing else of it.
 */
export interface TensorView {
  readonly storage: { readonly id: number };
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly numel: number;
}

/** Dims of an attention call; q/o are (B, Tq, Hq, D) views and k/v (B, Tk, Hkv, D). */
export interface AttentionDims {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale: number;
  causal: boolean;
  /** Of the block products, forward and backward alike. */
  precision: Float32MatmulPrecision;
  /**
   * Left padding (causal only): int32 (B), contiguous, batch row b's first real key in [0, Tk]. Query i at slot
   * i + Tk - Tq reads keys [keyStart[b], slot] when slot >= keyStart[b], else (a padding query) only its own key.
   */
  keyStart?: TensorView;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count for the bias corrections 1 - beta^step. */
  step: number;
}

/** What a backend runs beyond every backend's primitives; callers ask this, never which device it is. */
export interface BackendCapabilities {
  /** Pre-packed GEMM weights (`packedMatmulSize`, `packMatmulB`, `matmulPacked`). */
  readonly packedMatmul: boolean;
  /** bfloat16 KV caches (`kvCacheStore`, `kvCacheLoad`, `attentionDecodeBf16`). */
  readonly bf16KVCache: boolean;
  /**
   * The selective log-softmax kernels read bfloat16 logits themselves (and write their gradient in bfloat16);
   * without it bfloat16 logits are read through a float32 copy.
   */
  readonly bf16Logits: boolean;
}

/** A device allocator's counters. */
export interface MemoryStats {
  /** Bytes held by live buffers. */
  liveBytes: number;
  liveBuffers: number;
  /** Bytes of freed blocks kept for reuse. */
  cachedBytes: number;
  /** Highest liveBytes since the last resetPeakMemory(). */
  peakBytes: number;
}

/** Storage, memory accounting, fills, elementwise, copy/cast, reductions, index ops and the GEMM. */
export interface CorePrimitives {
  readonly device: Device;
  readonly capabilities: BackendCapabilities;
  alloc(numel: number, dtype: DType): number;
  free(id: number): boolean;
  /** Host data of the buffer's dtype; a bfloat16 buffer takes a Float32Array (rounded to nearest even) or a
   * Uint16Array (raw bits), and gives either the same way. */
  write(id: number, offset: number, data: Float32Array | Int32Array | Uint16Array): void;
  read(id: number, offset: number, out: Float32Array | Int32Array | Uint16Array): void;
  memoryStats(): MemoryStats;
  resetPeakMemory(): void;
  /** Returns cached blocks to the system. */
  emptyCache(): void;
  /** Waits until every queued kernel and copy of the device has finished (a no-op where calls are synchronous). */
  synchronize(): void;
  fill(out: TensorView, value: number): void;
  arange(out: TensorView, start: number, step: number): void;
  randomUniform(out: TensorView, seed: number, counter: number, low: number, high: number): void;
  randomNormal(out: TensorView, seed: number, counter: number, mean: number, std: number): void;
  /** out (contiguous, shape of x) = op(x). */
  unary(op: UnaryOpName, out: TensorView, x: TensorView, p0?: number, p1?: number): void;
  /** out (contiguous) = op(a, b); a and b are already broadcast to out's shape (stride-0 views). */
  binary(op: BinaryOpName, out: TensorView, a: TensorView, b: TensorView): void;
  where(out: TensorView, cond: TensorView, a: TensorView, b: TensorView): void;
  /** dst[view] = src[view] (same shape), converting dtype when they differ. */
  copy(dst: TensorView, src: TensorView): void;
  /** x contiguous (rows, cols) -> out (rows). */
  reduceRows(op: ReduceOpName, out: TensorView, x: TensorView, rows: number, cols: number): void;
  /** x contiguous (rows, cols) -> out (cols). */
  reduceCols(op: ReduceOpName, out: TensorView, x: TensorView, rows: number, cols: number): void;
  indexSelect(out: TensorView, x: TensorView, outer: number, dim: number, inner: number, index: TensorView, count: number): void;
  indexAdd(out: TensorView, src: TensorView, outer: number, dim: number, inner: number, index: TensorView, count: number): void;
  gather(out: TensorView, x: TensorView, outer: number, dim: number, inner: number, index: TensorView, k: number): void;
  scatterAdd(out: TensorView, src: TensorView, outer: number, dim: number, inner: number, index: TensorView, k: number): void;
  /**
   * out (batch, M, N) = alpha * op(A_b) @ op(B_b) + beta * out, operands at per-batch element offsets, at the
   * given float32 matmul precision (each call carries its own; see setFloat32MatmulPrecision).
   */
  matmul(out: TensorView, a: TensorView, aOffsets: Float64Array, lda: number, transA: boolean, b: TensorView,
    bOffsets: Float64Array, ldb: number, transB: boolean, M: number, N: number, K: number, batch: number,
    alpha: number, beta: number, precision: Float32MatmulPrecision): void;
  /** The GEMM kernel float32 products at `precision` run on (e.g. 'avx512', 'avx512-bf16'). */
  matmulKernel(precision: Float32MatmulPrecision): string;
  /** The precision of products whose call names none (direct native calls; ops always pass theirs). */
  defaultMatmulPrecision(): Float32MatmulPrecision;
  setDefaultMatmulPrecision(precision: Float32MatmulPrecision): void;
}

/** Pre-packed GEMM weights (where `capabilities.packedMatmul`): B packed once, read by many products. */
export interface PackedMatmulPrimitives {
  /** float32 elements of B (K, N) packed for the kernel of `precision`. */
  packedMatmulSize(K: number, N: number, precision: Float32MatmulPrecision): number;
  /** packed (contiguous, packedMatmulSize elements) = op(B) (K, N), B read with leading dim ldb. */
  packMatmulB(packed: TensorView, b: TensorView, ldb: number, transB: boolean, K: number, N: number,
    precision: Float32MatmulPrecision): void;
  /** out (M, N) contiguous = op(A) (M, K) @ packed B (K, N). */
  matmulPacked(out: TensorView, a: TensorView, lda: number, transA: boolean, packed: TensorView, M: number, N: number, K: number,
    precision: Float32MatmulPrecision): void;
}

/**
 * bfloat16 KV caches (where `capabilities.bf16KVCache`): a cache is a (B, Hkv, L, D) bfloat16 array held two
 * values to a float32 element of a contiguous buffer.
 */
export interface KVCachePrimitives {
  /** Rounds keys or values src (B, T, Hkv, D view) into positions [pos, pos + T) of the cache. */
  kvCacheStore(cache: TensorView, B: number, Hkv: number, L: number, D: number, pos: number, src: TensorView, T: number): void;
  /** dst (B, Hkv, Tk, D) contiguous float32 = positions [0, Tk) of the cache. */
  kvCacheLoad(dst: TensorView, cache: TensorView, B: number, Hkv: number, L: number, D: number, Tk: number): void;
  /**
   * o (B, Tq, Hq, D) = attention of q (B, Tq, Hq, D) over the caches' first Tk positions (the last Tq of them the
   * queries'), with an optional additive bias (B, 1, Tq, Tk) view.
   */
  attentionDecodeBf16(o: TensorView, q: TensorView, kCache: TensorView, vCache: TensorView, L: number, B: number, Tq: number,
    Tk: number, Hq: number, Hkv: number, D: number, scale: number, causal: boolean, bias: TensorView | null): void;
}

/** The fused kernels: softmax family, RMSNorm, RoPE, attention, cross-entropy, SwiGLU, AdamW. */
export interface FusedPrimitives {
  /** y (rows, cols) = softmax (or log-softmax) of x along cols; x, y contiguous, y may be x. */
  softmaxForward(y: TensorView, x: TensorView, rows: number, cols: number, log: boolean): void;
  /** dx = y*(dy - sum(dy*y)), or dx = dy - exp(y)*sum(dy) for log; y the forward output; all contiguous. */
  softmaxBackward(dx: TensorView, dy: TensorView, y: TensorView, rows: number, cols: number, log: boolean): void;
  /** y (rows, cols) = x * rstd * w; rstd (rows) saved. Contiguous. */
  rmsnormForward(y: TensorView, rstd: TensorView, x: TensorView, w: TensorView, rows: number, cols: number, eps: number): void;
  /** dx (rows, cols), dw (cols, overwritten) from dy, x, w, rstd. Contiguous. */
  rmsnormBackward(dx: TensorView, dw: TensorView, dy: TensorView, x: TensorView, w: TensorView, rstd: TensorView, rows: number,
    cols: number): void;
  /** y (B, T, H, D) = rotary(x) with cos/sin tables (P, D/2) at int32 positions (B*T or T); inverse = backward. */
  ropeForward(y: TensorView, x: TensorView, cos: TensorView, sin: TensorView, positions: TensorView, B: number, T: number,
    H: number, D: number, P: number, positionsPerBatch: boolean, inverse: boolean): void;
  /** Views in (B, T, H, D) order, any strides with D contiguous; lse (B, Hq, Tq) contiguous. */
  attentionForward(o: TensorView, lse: TensorView, q: TensorView, k: TensorView, v: TensorView, dims: AttentionDims): void;
  attentionBackward(dq: TensorView, dk: TensorView, dv: TensorView, dO: TensorView, q: TensorView, k: TensorView,
    v: TensorView, o: TensorView, lse: TensorView, dims: AttentionDims): void;
  /** loss, lse (N) from logits (N, V) contiguous and int32 targets (N); ignored rows get loss 0. */
  crossEntropyForward(loss: TensorView, lse: TensorView, logits: TensorView, targets: TensorView, N: number, V: number,
    ignoreIndex: number): void;
  /** dlogits (N, V) = g[n] * (softmax - onehot), 0 on ignored rows; dlogits may be logits (in place). */
  crossEntropyBackward(dlogits: TensorView, g: TensorView, logits: TensorView, lse: TensorView, targets: TensorView, N: number,
    V: number, ignoreIndex: number): void;
  /** h = silu(gate) * up over n contiguous elements. */
  swigluForward(h: TensorView, gate: TensorView, up: TensorView, n: number): void;
  /** dgate = dh * up * silu'(gate), dup = dh * silu(gate), over n contiguous elements. */
  swigluBackward(dgate: TensorView, dup: TensorView, dh: TensorView, gate: TensorView, up: TensorView, n: number): void;
  /** In-place AdamW update of contiguous float32 param, m, v (same numel as grad). */
  adamwStep(param: TensorView, grad: TensorView, m: TensorView, v: TensorView, hyper: AdamWHyper): void;
  /** adamwStep over every (params[i], grads[i], ms[i], vs[i]) in one call (one launch on a GPU); no two tensors share
   * elements. Bit-identical to adamwStep per tensor. */
  adamwSteps(params: TensorView[], grads: TensorView[], ms: TensorView[], vs: TensorView[], hyper: AdamWHyper): void;
}

/**
 * The fused GRPO kernels. Outputs and small inputs are contiguous tensors at offset 0; logits are (N, V) rows at
 * `logits.offset` with row stride `rowStride`.
 */
export interface GrpoPrimitives {
  /** lp, lse (N) and optional entropy (N) of z = logits / T; throws on NaN/Inf rows and ids outside [0, V). */
  selectiveLogSoftmaxForward(lp: TensorView, lse: TensorView, entropy: TensorView | null, logits: TensorView, rowStride: number,
    ids: TensorView, N: number, V: number, temperature: number): void;
  /**
   * dlogits = [glp (onehot - p) - gent p (z - lse + H)] / T, of the logits' dtype; dlogits may be logits (same
   * view: in place).
   */
  selectiveLogSoftmaxBackward(dlogits: TensorView, dRowStride: number, logits: TensorView, rowStride: number, ids: TensorView,
    lse: TensorView, glp: TensorView, gent: TensorView | null, entropy: TensorView | null, N: number, V: number,
    temperature: number): void;
  /** Scalar loss + metrics over (B, L); dlp (B, L) receives d loss / d lp when given. */
  grpoLossForward(dlp: TensorView | null, lp: TensorView, oldLp: TensorView | null, refLp: TensorView | null, adv: TensorView,
    advPerToken: boolean, mask: TensorView, entropy: TensorView | null, B: number, L: number,
    options: GrpoLossKernelOptions): GrpoLossKernelResult;
  /**
   * A_i = (r_i - mean_group) / (std + 1e-4) of the weighted reward sums of host rewards (N, R; NaN = not scored)
   * into advantages (N); totals (N) receives the sums when given. Returns TRL's metrics.
   */
  groupAdvantages(advantages: TensorView, totals: TensorView | null, rewards: Float32Array, weights: Float32Array, N: number,
    R: number, G: number, scaleRewards: 'group' | 'batch' | 'none'): GroupAdvantageStats;
}

/** Sampling options as the primitive takes them (src/generate/sampling.ts resolves and checks the public ones). */
export interface SampleRowsOptions {
  /** > 0, or 0 with greedy. */
  temperature: number;
  /** 0 (or >= V) = off. */
  topK: number;
  /** (0, 1]; 1 = off. */
  topP: number;
  /** [0, 1]; 0 = off. */
  minP: number;
  greedy: boolean;
}

/** Token sampling on the device, so that only the sampled ids need to reach the host. */
export interface SamplingPrimitives {
  /**
   * One token per row of logits (rows, V) at `logits.offset` with row stride `rowStride` >= V (columns contiguous):
   * temperature, then top-k (ties with the k-th kept), top-p, min-p (Hugging Face's order, as
   * src/generate/sampling.ts), then the first token in token order whose cumulative probability exceeds
   * uniforms[r]; greedy takes the first maximum (uniforms null). Writes ids (rows, int32), logprobs (rows: log p of
   * the token under the distribution it was drawn from, 0 when greedy) and policyLogprobs (rows: log
   * softmax(logits / T), T = 1 when 0), all contiguous. A row holding NaN or +inf, or only -inf, gets id -1 and NaN
   * log-probs. The CPU computes in float64 (the host path's tokens), CUDA in float32.
   */
  sampleRows(ids: TensorView, logprobs: TensorView, policyLogprobs: TensorView, logits: TensorView, rowStride: number,
    rows: number, V: number, uniforms: TensorView | null, options: SampleRowsOptions): void;
}

/** A device's buffers and their accounting: what each backend implements itself. */
export type StoragePrimitives = Pick<CorePrimitives, 'device' | 'capabilities' | 'alloc' | 'free' | 'write' | 'read' |
  'memoryStats' | 'resetPeakMemory' | 'emptyCache' | 'synchronize'>;

/**
 * Every primitive the library runs; each device implements all of them (throwing, naming the primitive, where it
 * lacks one; `capabilities` says which optional families run).
 */
export interface Backend extends CorePrimitives, PackedMatmulPrimitives, KVCachePrimitives, FusedPrimitives, GrpoPrimitives,
  SamplingPrimitives {}
