// The one list of native entry points: each export of the CPU addon (native/binding) and of the CUDA addon
// (cuda/binding.cc) with its arguments as `name: kind`, in the order the C++ reads them, and its result. The
// addons' TypeScript types are derived from it, and tests/native-contract.test.ts checks both addons' exports
// against it. Adding an export is one line here plus its C++.

/** Argument kinds and the JS values they take. */
interface ArgKinds {
  /** A buffer id from `alloc` (0 where the C++ documents "0 = none"). */
  id: number;
  /** A buffer id, or null for an absent optional buffer. */
  'id|null': number | null;
  int: number;
  num: number;
  bool: boolean;
  str: string;
  /** Shapes and strides. */
  ints: number[];
  /** Per-batch element offsets of the GEMM. */
  offsets: Float64Array;
  f32s: Float32Array;
  /** Host data of a buffer: Float32Array for float32, Int32Array for int32; a bfloat16 buffer takes and gives
   * Float32Array values (rounded to nearest even on the way in) or raw Uint16Array bits. */
  'host|u16': Float32Array | Int32Array | Uint16Array;
  grpoOptions: GrpoLossKernelOptions;
}
export type ArgKind = keyof ArgKinds;

/** GRPO loss options as the kernels take them (see src/rl/grpo-loss.ts for their meaning). */
export interface GrpoLossKernelOptions {
  lossType: 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
  importanceSampling: 'token' | 'sequence';
  epsLow: number;
  epsHigh: number;
  beta: number;
  normalizer: number;
  maxCompletionLength: number;
}

/** Masked token means (clip fractions, kl, entropy, ratio), the loss, the token count and the divisor D. */
export interface GrpoLossKernelResult {
  loss: number;
  clipLow: number;
  clipHigh: number;
  clipRegion: number;
  kl: number;
  entropy: number;
  ratio: number;
  tokens: number;
  divisor: number;
}

/** TRL's metrics of group advantages, beside the advantages and reward totals written into buffers. */
export interface GroupAdvantageStats {
  fracZeroStd: number;
  zeroStdGroups: number;
  mean: number;
  std: number;
}

export interface CudaDeviceInfo {
  available: boolean;
  /** The CPU emulator (cuda/emulator) standing in for a GPU: correct, not fast. */
  emulated: boolean;
  /** Why CUDA is unavailable ('' when available). */
  reason: string;
  count: number;
  name?: string;
  computeCapability?: string;
  totalMemory?: number;
  multiprocessors?: number;
  l2CacheBytes?: number;
  runtimeVersion: number;
  driverVersion: number;
}

/** Result kinds and the JS values they are. */
interface ResultKinds {
  void: void;
  number: number;
  boolean: boolean;
  string: string;
  allocatorStats: { liveBytes: number; liveBuffers: number; cachedBytes: number; peakBytes: number };
  cpuFeatures: { arch: string; avx2: boolean; avx512: boolean };
  matmulPrecision: { precision: string; kernel: string; kernels: { highest: string; medium: string } };
  grpoLoss: GrpoLossKernelResult;
  groupAdvantages: GroupAdvantageStats;
  cudaDeviceInfo: CudaDeviceInfo;
  cudaStats: { liveBytes: number; liveBuffers: number; peakBytes: number; cachedBytes: number };
  benchSelective: { fwdMs: number; bwdMs: number; fwdBwdMs: number };
}
export type ResultKind = keyof ResultKinds;

/** `name: kind`; a name ending in `?` is an optional trailing argument (left out = the native default). */
export type Arg = `${string}: ${ArgKind}`;

export interface EntryPoint<A extends readonly Arg[] = readonly Arg[], R extends ResultKind = ResultKind> {
  readonly args: A;
  readonly result: R;
}

function entry<const A extends readonly Arg[], const R extends ResultKind = 'void'>(args: A, result?: R): EntryPoint<A, R> {
  return { args, result: (result ?? 'void') as R };
}

type Params<A extends readonly Arg[]> = A extends readonly [infer H, ...infer T extends readonly Arg[]]
  ? H extends `${string}?: ${infer K extends ArgKind}` ? [arg?: ArgKinds[K], ...Params<T>]
    : H extends `${string}: ${infer K extends ArgKind}` ? [ArgKinds[K], ...Params<T>] : never
  : [];

/** The function type of an entry point. */
export type NativeFunction<E> = E extends EntryPoint<infer A, infer R> ? (...args: Params<A>) => ResultKinds[R] : never;

/** An addon's surface, derived from its list. */
export type AddonOf<L> = { readonly [K in keyof L]: NativeFunction<L[K]> };

// A (B, T, H, D) view: buffer id, element offset, strides [sB, sT, sH] (D contiguous).
const heads = <const N extends string>(n: N) => [`${n}: id`, `${n}Offset: int`, `${n}Strides: ints`] as const;
// A contiguous tensor at an element offset.
const at = <const N extends string>(n: N) => [`${n}: id`, `${n}Offset: int`] as const;

/** The fused GRPO kernels, the same in both addons (buffer ids of the addon's own buffers). */
export const grpoEntryPoints = {
  selectiveLogSoftmax: entry(['logits: id', 'offset: int', 'rowStride: int', 'ids: id', 'n: int', 'v: int', 'temperature: num',
    'lp: id', 'lse: id', 'entropy: id|null']),
  selectiveLogSoftmaxBackward: entry(['dlogits: id', 'dOffset: int', 'dRowStride: int', 'logits: id', 'offset: int',
    'rowStride: int', 'ids: id', 'lse: id', 'glp: id', 'gentropy: id|null', 'entropy: id|null', 'n: int', 'v: int',
    'temperature: num']),
  grpoLoss: entry(['lp: id', 'oldLp: id|null', 'refLp: id|null', 'adv: id', 'advPerToken: bool', 'mask: id', 'entropy: id|null',
    'dlp: id|null', 'B: int', 'L: int', 'options: grpoOptions'], 'grpoLoss'),
  /** rewards (N, R; NaN = not scored) and weights (R) from the host; advantages (N) and totals (N) written into buffers. */
  groupAdvantages: entry(['rewards: f32s', 'weights: f32s', 'n: int', 'r: int', 'group: int', 'scaleRewards: str',
    'advantages: id', 'totals: id|null'], 'groupAdvantages'),
} as const;

/** Fills and counter-based random numbers (CPU: memory.cc; CUDA: binding_elementwise.cc). */
export const fillEntryPoints = {
  fill: entry(['id: id', 'offset: int', 'count: int', 'value: num']),
  arange: entry(['id: id', 'count: int', 'start: num', 'step: num']),
  randomFill: entry(['id: id', 'count: int', 'kind: int', 'seed: int', 'counter: int', 'a: num', 'b: num']),
} as const;

/** Elementwise ops, strided copy/cast and SwiGLU (CPU: elementwise.cc; CUDA: binding_elementwise.cc). */
export const elementwiseEntryPoints = {
  unary: entry(['op: int', 'out: id', 'x: id', 'xOffset: int', 'shape: ints', 'xStrides: ints', 'p0: num', 'p1: num']),
  binary: entry(['op: int', 'out: id', 'a: id', 'aOffset: int', 'aStrides: ints', 'b: id', 'bOffset: int', 'bStrides: ints',
    'shape: ints']),
  where: entry(['out: id', 'cond: id', 'condOffset: int', 'condStrides: ints', 'a: id', 'aOffset: int', 'aStrides: ints',
    'b: id', 'bOffset: int', 'bStrides: ints', 'shape: ints']),
  copy: entry(['dst: id', 'dstOffset: int', 'dstStrides: ints', 'src: id', 'srcOffset: int', 'srcStrides: ints', 'shape: ints']),
  swigluForward: entry([...at('h'), ...at('gate'), ...at('up'), 'n: int']),
  swigluBackward: entry([...at('dgate'), ...at('dup'), ...at('dh'), ...at('gate'), ...at('up'), 'n: int']),
} as const;

/** Row and column reductions of contiguous (rows, cols) arrays. */
export const reduceEntryPoints = {
  reduceRows: entry(['op: int', 'out: id', 'x: id', 'xOffset: int', 'rows: int', 'cols: int']),
  reduceCols: entry(['op: int', 'out: id', 'x: id', 'xOffset: int', 'rows: int', 'cols: int']),
} as const;

/** Index ops along one dim of a contiguous (outer, dim, inner) array. */
export const indexEntryPoints = {
  indexSelect: entry(['out: id', 'x: id', 'xOffset: int', 'outer: int', 'dim: int', 'inner: int', 'index: id',
    'indexOffset: int', 'count: int']),
  indexAdd: entry(['out: id', 'src: id', 'srcOffset: int', 'outer: int', 'dim: int', 'inner: int', 'index: id',
    'indexOffset: int', 'count: int']),
  gather: entry(['out: id', 'x: id', 'xOffset: int', 'outer: int', 'dim: int', 'inner: int', 'index: id', 'indexOffset: int',
    'count: int']),
  scatterAdd: entry(['out: id', 'src: id', 'srcOffset: int', 'outer: int', 'dim: int', 'inner: int', 'index: id',
    'indexOffset: int', 'count: int']),
} as const;

/** The GEMM, the kernel in use per precision, and the process default precision. */
export const matmulEntryPoints = {
  matmul: entry(['out: id', 'a: id', 'aOffsets: offsets', 'lda: int', 'transA: bool', 'b: id', 'bOffsets: offsets', 'ldb: int',
    'transB: bool', 'M: int', 'N: int', 'K: int', 'batch: int', 'alpha: num', 'beta: num', 'precision?: str']),
  gemmKernel: entry(['name?: str'], 'string'),
  matmulPrecision: entry(['precision?: str'], 'matmulPrecision'),
} as const;

/** The fused kernels: softmax family, RMSNorm, RoPE, attention, cross-entropy, AdamW. */
export const fusedEntryPoints = {
  softmaxForward: entry([...at('y'), ...at('x'), 'rows: int', 'cols: int']),
  logSoftmaxForward: entry([...at('y'), ...at('x'), 'rows: int', 'cols: int']),
  softmaxBackward: entry([...at('dx'), ...at('dy'), ...at('y'), 'rows: int', 'cols: int']),
  logSoftmaxBackward: entry([...at('dx'), ...at('dy'), ...at('y'), 'rows: int', 'cols: int']),
  rmsnormForward: entry([...at('y'), ...at('rstd'), ...at('x'), ...at('w'), 'rows: int', 'cols: int', 'eps: num']),
  rmsnormBackward: entry([...at('dx'), ...at('dw'), ...at('dy'), ...at('x'), ...at('w'), ...at('rstd'), 'rows: int', 'cols: int']),
  ropeForward: entry([...at('y'), ...at('x'), ...at('cos'), ...at('sin'), ...at('positions'), 'B: int', 'T: int', 'H: int',
    'D: int', 'P: int', 'positionsPerBatch: bool', 'inverse: bool']),
  /** keyStart: int32 (B) first real key per batch row (left padding, causal), or id 0 (offset 0) for none. */
  attentionForward: entry([...heads('o'), ...at('lse'), ...heads('q'), ...heads('k'), ...heads('v'), 'B: int', 'Tq: int',
    'Tk: int', 'Hq: int', 'Hkv: int', 'D: int', 'scale: num', 'causal: bool', ...at('keyStart'), 'precision?: str']),
  attentionBackward: entry([...heads('dq'), ...heads('dk'), ...heads('dv'), ...heads('dO'), ...heads('q'), ...heads('k'),
    ...heads('v'), ...heads('o'), ...at('lse'), 'B: int', 'Tq: int', 'Tk: int', 'Hq: int', 'Hkv: int', 'D: int', 'scale: num',
    'causal: bool', ...at('keyStart'), 'precision?: str']),
  crossEntropyForward: entry([...at('loss'), ...at('lse'), ...at('logits'), ...at('targets'), 'N: int', 'V: int',
    'ignoreIndex: int']),
  crossEntropyBackward: entry([...at('dlogits'), ...at('g'), ...at('logits'), ...at('lse'), ...at('targets'), 'N: int', 'V: int',
    'ignoreIndex: int']),
  adamwStep: entry([...at('p'), ...at('g'), ...at('m'), ...at('v'), 'n: int', 'lr: num', 'beta1: num', 'beta2: num', 'eps: num',
    'weightDecay: num', 'step: int']),
  /** adamwStep over many tensors in one call: per tensor a buffer id and element offset of each array, and its numel. */
  adamwMultiStep: entry(['params: ints', 'paramOffsets: ints', 'grads: ints', 'gradOffsets: ints', 'ms: ints', 'mOffsets: ints',
    'vs: ints', 'vOffsets: ints', 'numels: ints', 'lr: num', 'beta1: num', 'beta2: num', 'eps: num', 'weightDecay: num',
    'step: int']),
} as const;

/** bfloat16 KV caches: store, load and decode attention reading the cache. */
export const kvCacheEntryPoints = {
  kvCacheStore: entry(['cache: id', 'B: int', 'Hkv: int', 'L: int', 'D: int', 'pos: int', ...heads('src'), 'T: int']),
  kvCacheLoad: entry([...at('dst'), 'cache: id', 'B: int', 'Hkv: int', 'L: int', 'D: int', 'Tk: int']),
  /** bias (B, Tq, Tk) with strides [sB, sQ, sK], or bias id 0 (offset 0, strides []) for none. */
  attentionDecodeBf16: entry([...heads('o'), ...heads('q'), 'kCache: id', 'vCache: id', 'L: int', 'B: int', 'Tq: int', 'Tk: int',
    'Hq: int', 'Hkv: int', 'D: int', 'scale: num', 'causal: bool', 'bias: id', 'biasOffset: int', 'biasStrides: ints']),
} as const;

/**
 * Token sampling (native/binding/sampling_args.h): ids int32 (rows), logprobs and policyLogprobs float32 (rows);
 * logits float32 (rows, V) with row stride >= V; uniforms float32 (rows), or id 0 (offset 0) when greedy.
 */
export const samplingEntryPoints = {
  sampleRows: entry([...at('ids'), ...at('logprobs'), ...at('policyLogprobs'), ...at('logits'), 'rowStride: int', 'rows: int',
    'V: int', ...at('uniforms'), 'temperature: num', 'topK: int', 'topP: num', 'minP: num', 'greedy: bool']),
} as const;

/** The CPU engine (native/binding; registry.h lists its families). */
export const cpuEntryPoints = {
  // memory.cc: buffers, allocator, threads
  alloc: entry(['numel: int', 'dtype: int'], 'number'),
  free: entry(['id: int'], 'boolean'),
  write: entry(['id: id', 'offset: int', 'data: host|u16']),
  read: entry(['id: id', 'offset: int', 'out: host|u16']),
  stats: entry([], 'allocatorStats'),
  reportExternalMemory: entry([], 'number'),
  emptyCache: entry([]),
  resetPeak: entry([]),
  setNumThreads: entry(['n: int']),
  numThreads: entry([], 'number'),
  cpuFeatures: entry([], 'cpuFeatures'),
  simdKernels: entry(['name?: str'], 'string'),
  ...fillEntryPoints,
  ...grpoEntryPoints,
  ...elementwiseEntryPoints,
  ...reduceEntryPoints,
  ...indexEntryPoints,
  ...matmulEntryPoints,
  // matmul.cc: pre-packed weights and the forced-kernel counter (CPU only)
  gemmKernelEpoch: entry([], 'number'),
  gemmPackedSize: entry(['K: int', 'N: int', 'precision?: str'], 'number'),
  gemmPackB: entry(['dst: id', 'b: id', 'bOffset: int', 'ldb: int', 'transB: bool', 'K: int', 'N: int', 'precision?: str']),
  matmulPackedB: entry(['out: id', 'a: id', 'aOffset: int', 'lda: int', 'transA: bool', 'packed: id', 'M: int', 'N: int',
    'K: int', 'precision?: str']),
  ...fusedEntryPoints,
  ...kvCacheEntryPoints,
  ...samplingEntryPoints,
} as const;

/** The CUDA addon (cuda/binding.cc): its own buffer table, every compute family, and a kernel timer for bench/gpu.sh. */
export const cudaEntryPoints = {
  deviceInfo: entry([], 'cudaDeviceInfo'),
  alloc: entry(['numel: int', 'dtype: int'], 'number'),
  free: entry(['id: int'], 'boolean'),
  upload: entry(['id: id', 'offset: int', 'data: host|u16']),
  download: entry(['id: id', 'offset: int', 'out: host|u16']),
  stats: entry([], 'cudaStats'),
  resetPeak: entry([]),
  emptyCache: entry([]),
  synchronize: entry([]),
  ...fillEntryPoints,
  ...elementwiseEntryPoints,
  adamwStep: fusedEntryPoints.adamwStep,
  adamwMultiStep: fusedEntryPoints.adamwMultiStep,
  ...grpoEntryPoints,
  ...reduceEntryPoints,
  ...indexEntryPoints,
  ...matmulEntryPoints,
  softmaxForward: fusedEntryPoints.softmaxForward,
  logSoftmaxForward: fusedEntryPoints.logSoftmaxForward,
  softmaxBackward: fusedEntryPoints.softmaxBackward,
  logSoftmaxBackward: fusedEntryPoints.logSoftmaxBackward,
  crossEntropyForward: fusedEntryPoints.crossEntropyForward,
  crossEntropyBackward: fusedEntryPoints.crossEntropyBackward,
  rmsnormForward: fusedEntryPoints.rmsnormForward,
  rmsnormBackward: fusedEntryPoints.rmsnormBackward,
  ropeForward: fusedEntryPoints.ropeForward,
  attentionForward: fusedEntryPoints.attentionForward,
  attentionBackward: fusedEntryPoints.attentionBackward,
  ...kvCacheEntryPoints,
  ...samplingEntryPoints,
  /** Medians of `reps` timed runs after 3 warm-ups; dlogits may be the logits (then overwritten). */
  benchSelective: entry(['logits: id', 'ids: id', 'lp: id', 'lse: id', 'glp: id', 'dlogits: id', 'n: int', 'v: int',
    'temperature: num', 'reps: int'], 'benchSelective'),
} as const;

/** The compute entry points both addons export with the same arguments (buffer ids of the addon's own buffers). */
export type ComputeAddon = AddonOf<typeof fillEntryPoints & typeof elementwiseEntryPoints & typeof reduceEntryPoints &
  typeof indexEntryPoints & typeof matmulEntryPoints & typeof fusedEntryPoints & typeof kvCacheEntryPoints &
  typeof grpoEntryPoints & typeof samplingEntryPoints>;

/** The CPU engine's functions (buffer ids are positive integers handed out by `alloc`). */
export type NativeAddon = AddonOf<typeof cpuEntryPoints>;
/** The CUDA addon's functions; dtype codes: 0 float32, 1 int32, 2 bfloat16. */
export type CudaAddon = AddonOf<typeof cudaEntryPoints>;
