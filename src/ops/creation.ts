// Creating tensors: from JS data, constants, ranges, and seeded random numbers. Random draws come from a
// counter-based generator (Philox in native code): a (seed, counter) pair, either a caller's own
// RandomGenerator or the process-wide default that manualSeed resets.
import type { Device } from '../backend/backend.js';
import { checkShape, type DType, formatShape, type NestedArray, type Shape, shapeNumel, Tensor } from '../tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function finish(t: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

// NOTE: `leaf` records the depth of the first number seen, so [1, [2]] (a number, then a deeper array) is ragged.
function flatten(data: NestedArray, shape: number[], out: number[], depth: number, leaf = { depth: -1 }): void {
  if (typeof data === 'number') {
    if (leaf.depth === -1) leaf.depth = depth;
    if (depth !== shape.length || depth !== leaf.depth) throw new RangeError('tensor: ragged nested array');
    out.push(data);
    return;
  }
  if (!Array.isArray(data)) throw new TypeError(`tensor: expected numbers or nested arrays, got ${typeof data}`);
  if (depth === shape.length && leaf.depth === -1) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new RangeError('tensor: ragged nested array');
  for (const d of data) flatten(d, shape, out, depth + 1, leaf);
}

/**
 * A tensor from a number, nested arrays, or a flat typed/plain array with an explicit shape.
 * dtype defaults to int32 for an Int32Array and float32 otherwise; bfloat16 rounds the values to nearest even. A
 * Uint16Array holds raw bfloat16 bits (safetensors' BF16; see `Tensor.bf16Bits`) and makes a bfloat16 tensor.
 */
export function tensor(data: NestedArray | Float32Array | Int32Array | Uint16Array | number[], shape?: Shape,
  options: CreateOptions = {}): Tensor {
  if (data instanceof Uint16Array) return fromBf16Bits(data, shape, options);
  let flat: ArrayLike<number>;
  let inferred: number[];
  // Plain arrays (flat or nested) go through flatten, which validates them; a given shape then reshapes.
  if (data instanceof Float32Array || data instanceof Int32Array) {
    flat = data as ArrayLike<number>;
    inferred = shape ? [...shape] : [flat.length];
  } else if (typeof data === 'number' || Array.isArray(data)) {
    const values: number[] = [];
    inferred = [];
    flatten(data, inferred, values, 0);
    flat = values;
    if (shape) {
      if (shapeNumel(shape) !== values.length) {
        throw new RangeError(`tensor: ${values.length} values do not fill shape ${formatShape(shape)}`);
      }
      inferred = [...shape];
    }
  } else {
    throw new TypeError(`tensor: unsupported data of type ${Object.prototype.toString.call(data)}`);
  }
  checkShape('tensor', inferred);
  if (shapeNumel(inferred) !== flat.length) {
    throw new RangeError(`tensor: ${flat.length} values do not fill shape ${formatShape(inferred)}`);
  }
  const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  const t = Tensor.empty(inferred, dtype, options.device);
  const typed = dtype !== 'int32'
    ? (flat instanceof Float32Array ? flat : Float32Array.from(flat))
    : (flat instanceof Int32Array ? flat : Int32Array.from(flat, (v) => {
      if (!Number.isInteger(v)) throw new TypeError(`tensor: int32 tensor needs integers, got ${v}`);
      if (v < -2147483648 || v > 2147483647) throw new RangeError(`tensor: value ${v} is out of the int32 range`);
      return v;
    }));
  if (typed.length > 0) t.backend.write(t.storage.id, 0, typed);
  return finish(t, options);
}

function fromBf16Bits(bits: Uint16Array, shape: Shape | undefined, options: CreateOptions): Tensor {
  if ((options.dtype ?? 'bfloat16') !== 'bfloat16') {
    throw new TypeError(`tensor: a Uint16Array holds bfloat16 bits, so dtype must be 'bfloat16', got ${String(options.dtype)}`);
  }
  const dims = shape ? [...shape] : [bits.length];
  checkShape('tensor', dims);
  if (shapeNumel(dims) !== bits.length) throw new RangeError(`tensor: ${bits.length} values do not fill shape ${formatShape(dims)}`);
  const t = Tensor.empty(dims, 'bfloat16', options.device);
  if (bits.length > 0) t.backend.write(t.storage.id, 0, bits);
  return finish(t, options);
}

/** Uninitialized contents; use only when every element is written before it is read. */
export function empty(shape: Shape, options: CreateOptions = {}): Tensor {
  checkShape('empty', shape);
  return finish(Tensor.empty(shape, options.dtype ?? 'float32', options.device), options);
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  if (typeof value !== 'number') throw new TypeError(`full: value must be a number, got ${typeof value}`);
  const t = Tensor.empty(shape, options.dtype ?? 'float32', options.device);
  if (t.numel > 0) t.backend.fill(t, value);
  return finish(t, options);
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options: CreateOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options: CreateOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device, ...options });
}

export function fullLike(t: Tensor, value: number, options: CreateOptions = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, device: t.device, ...options });
}

/** Values start, start + step, ... below end (like torch.arange); int32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  for (const v of [start, end, step]) {
    if (typeof v !== 'number') throw new TypeError(`arange: start, end and step must be numbers, got ${typeof v}`);
  }
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new RangeError(`arange: start and end must be finite, got ${start}, ${end}`);
  if (step === 0 || !Number.isFinite(step)) throw new RangeError(`arange: invalid step ${step}`);
  const count = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? (Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step) ? 'int32' : 'float32');
  if (dtype === 'bfloat16') {
    // The float32 values, rounded: the kernels count in float32 or int32 only.
    const values = arange(start, end, step, { dtype: 'float32', device: options.device });
    const t = values.to('bfloat16');
    values.dispose();
    return finish(t, options);
  }
  const t = Tensor.empty([count], dtype, options.device);
  if (count > 0) t.backend.arange(t, start, step);
  return finish(t, options);
}

/** A generator's whole state: plain JSON, for checkpoints. */
export interface RngState {
  seed: number;
  counter: number;
}

function checkSeed(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`${op}: seed must be a non-negative safe integer, got ${String(seed)}`);
  }
  return seed;
}

/**
 * A random-number generator with its own state, like `torch.Generator`: pass it as `generator` to `rand`,
 * `randn`, `randint`, `generate`, `rejectionSample` or `evaluatePolicy`, and those draws neither read nor
 * advance anyone else's. Counter-based (Philox): the same seed replays the same numbers on any thread count, and
 * `getState()` / `setState()` capture and restore it exactly (the state is JSON, for checkpoints).
 */
export class RandomGenerator {
  private seed: number;
  private counter = 0;

  /** `seed`: a non-negative safe integer. */
  constructor(seed: number) {
    this.seed = checkSeed('RandomGenerator', seed);
  }

  /** Restarts the generator's stream at `seed`; returns it. */
  manualSeed(seed: number): this {
    this.seed = checkSeed('RandomGenerator.manualSeed', seed);
    this.counter = 0;
    return this;
  }

  /** The seed the current stream started from. */
  initialSeed(): number {
    return this.seed;
  }

  getState(): RngState {
    return { seed: this.seed, counter: this.counter };
  }

  /** Restores a state from getState(); a bad state throws and leaves the generator unchanged. */
  setState(state: RngState): this {
    const op = 'RandomGenerator.setState';
    if (state === null || typeof state !== 'object') {
      throw new TypeError(`${op}: expected { seed, counter }, got ${state === null ? 'null' : typeof state}`);
    }
    const { seed, counter } = state;
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${op}: invalid seed ${seed}`);
    if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`${op}: invalid counter ${counter}`);
    this.seed = seed;
    this.counter = counter;
    return this;
  }

  /**
   * @internal Reserves the Philox counters of `numel` draws and returns where they start. Each element uses one
   * lane; a block of four lanes advances the counter by one.
   */
  take(numel: number): { seed: number; counter: number } {
    const start = { seed: this.seed, counter: this.counter };
    this.counter += Math.ceil(numel / 4);
    return start;
  }
}

/** The process-wide generator: what draws use when they are given no `generator`. */
export const defaultGenerator = new RandomGenerator(0x5eed);

/** Seeds the process-wide generator; the same seed replays the same random tensors. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
  }
  defaultGenerator.manualSeed(seed);
}

/** The process-wide generator's state, for checkpoints. */
export function getRngState(): RngState {
  return defaultGenerator.getState();
}

/** Restores the process-wide generator's state (from getRngState()). */
export function setRngState(state: RngState): void {
  // Validate everything before touching the generator, so a bad state leaves it unchanged.
  if (state === null || typeof state !== 'object') {
    throw new TypeError(`setRngState: expected { seed, counter }, got ${state === null ? 'null' : typeof state}`);
  }
  const { seed, counter } = state;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`setRngState: invalid seed ${seed}`);
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('setRngState: invalid counter');
  defaultGenerator.setState(state);
}

/** @internal The generator a draw uses: the one given (checked; `op` names the caller), else the default. */
export function resolveGenerator(op: string, generator: RandomGenerator | undefined): RandomGenerator {
  if (generator === undefined) return defaultGenerator;
  if (!(generator instanceof RandomGenerator)) {
    throw new TypeError(`${op}: generator must be a RandomGenerator, got ${generator === null ? 'null' : typeof generator}`);
  }
  return generator;
}

/** Options of the random draws: which generator they come from (default: the process-wide one). */
export interface RandomOptions extends CreateOptions {
  generator?: RandomGenerator;
}

/** Uniform on [low, high). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  checkShape('rand', shape);
  const generator = resolveGenerator('rand', options.generator);
  const t = Tensor.empty(shape, 'float32', options.device);
  if (t.numel > 0) {
    const { seed, counter } = generator.take(t.numel);
    t.backend.randomUniform(t, seed, counter, options.low ?? 0, options.high ?? 1);
  }
  return finish(t, options);
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkShape('randn', shape);
  const generator = resolveGenerator('randn', options.generator);
  const t = Tensor.empty(shape, 'float32', options.device);
  if (t.numel > 0) {
    const { seed, counter } = generator.take(t.numel);
    t.backend.randomNormal(t, seed, counter, options.mean ?? 0, options.std ?? 1);
  }
  return finish(t, options);
}

/** Uniform integers in [low, high) as int32. */
export function randint(low: number, high: number, shape: Shape, options: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new RangeError(`randint: need integers low < high, got ${low}, ${high}`);
  }
  const u = rand(shape, { device: options.device, generator: resolveGenerator('randint', options.generator) });
  const data = u.data() as Float32Array;
  u.dispose();
  const ints = Int32Array.from(data, (v) => Math.min(high - 1, low + Math.floor(v * (high - low))));
  return tensor(ints, shape, { dtype: 'int32', device: options.device });
}
