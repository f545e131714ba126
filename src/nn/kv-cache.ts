// Keys and values of every layer for decoding, in float32 or bfloat16. A bfloat16 cache halves the bytes the
// decode attention streams each step (memory-bound once the cache outgrows the CPU caches); its values are
// rounded on write and widened on read, and it is used without gradients.
import { isGradEnabled, noGrad } from '../autograd/grad-mode.js';
import { keep } from '../autograd/tidy.js';
import type { Device } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { empty } from '../ops/creation.js';
import { formatShape, type Tensor } from '../tensor.js';

export type KVCacheDtype = 'float32' | 'bfloat16';

/** Query rows per sequence at or below which a bfloat16 cache is read by its own decode kernel. */
const DECODE_ROWS = 4;

/**
 * Preallocated keys and values of every layer, (B, Hkv, maxLength, D) each, filled left to right, on `device`
 * (default 'cpu'). `length` is the number of positions written so far (the model advances it after each forward).
 * Slots are left uninitialized: each is written before any query reads it. With dtype `'bfloat16'` (a backend with
 * bfloat16 caches, the CPU's; even head size) `layers` hold the raw bfloat16 values two to a float32 element: read
 * them through `read()`.
 */
export class KVCache {
  readonly layers: { k: Tensor; v: Tensor }[];
  length = 0;
  /** Sequences (rows) in the cache; keepRows() lowers it. */
  get batch(): number {
    return this.rows;
  }
  private rows: number;

  constructor(readonly numLayers: number, batch: number, readonly kvHeads: number, readonly maxLength: number,
    readonly headDim: number, readonly dtype: KVCacheDtype = 'float32', device: Device = 'cpu') {
    const sizes = { numLayers, batch, kvHeads, maxLength, headDim };
    for (const [name, v] of Object.entries(sizes)) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`KVCache: ${name} must be a positive integer, got ${v}`);
    }
    this.rows = batch;
    if (dtype !== 'float32' && dtype !== 'bfloat16') throw new TypeError(`KVCache: dtype must be 'float32' or 'bfloat16', got ${JSON.stringify(dtype)}`);
    if (dtype === 'bfloat16' && headDim % 2 !== 0) throw new RangeError(`KVCache: a bfloat16 cache needs an even head size, got ${headDim}`);
    const last = dtype === 'bfloat16' ? headDim / 2 : headDim;
    if (dtype === 'bfloat16' && !getBackend(device).capabilities.bf16KVCache)
      throw new TypeError(`KVCache: the ${device} backend has no bfloat16 KV cache; use 'float32'`);
    this.layers = Array.from({ length: numLayers }, () => ({
      k: keep(empty([batch, kvHeads, maxLength, last], { device })),
      v: keep(empty([batch, kvHeads, maxLength, last], { device })),
    }));
  }

  /** Writes keys and values (B, T, Hkv, D) views at positions [past, past + T) of `layer`. No gradient. */
  write(layer: number, past: number, keys: Tensor, values: Tensor): void {
    const c = this.layers[layer];
    const [B, T, Hkv, D] = keys.shape;
    if (B !== this.batch) throw new RangeError(`KVCache: cache batch ${this.batch} != input batch ${B} (keys ${formatShape(keys.shape)})`);
    if (past + T > this.maxLength) throw new RangeError(`KVCache: cache of ${this.maxLength} positions is full (${past} + ${T})`);
    noGrad(() => {
      for (const [dst, src] of [[c.k, keys], [c.v, values]] as const) {
        if (this.dtype === 'bfloat16') {
          // The store kernel rounds float32 rows; a bfloat16 model's keys are widened first (exactly).
          const rows = src.dtype === 'float32' ? src : src.to('float32');
          dst.backend.kvCacheStore(dst, B, Hkv, this.maxLength, D, past, rows, T);
          if (rows !== src) rows.dispose();
          continue;
        }
        // (B, T, Hkv, D) source into the (B, Hkv, L, D) cache
        const window = dst.makeView([B, T, Hkv, D], [dst.strides[0], dst.strides[2], dst.strides[1], 1], past * dst.strides[2]);
        dst.backend.copy(window, src);
        window.dispose();
      }
    });
  }

  /** Keys and values (B, Hkv, Tk, D) of positions [0, Tk) of `layer`, as float32 (views of a float32 cache, copies otherwise). */
  read(layer: number, Tk: number): { keys: Tensor; values: Tensor } {
    const c = this.layers[layer];
    const D = this.headDim;
    if (this.dtype === 'float32') {
      return { keys: c.k.makeView([this.batch, this.kvHeads, Tk, D], c.k.strides, 0), values: c.v.makeView([this.batch, this.kvHeads, Tk, D], c.v.strides, 0) };
    }
    const load = (src: Tensor) => {
      const out = empty([this.batch, this.kvHeads, Tk, D], { device: src.device });
      out.backend.kvCacheLoad(out, src, this.batch, this.kvHeads, this.maxLength, D, Tk);
      return out;
    };
    return { keys: load(c.k), values: load(c.v) };
  }

  /** True when `attend` can take queries of T rows: a bfloat16 cache, few rows, no gradient wanted. */
  decodes(T: number, q: Tensor): boolean {
    return this.dtype === 'bfloat16' && T <= DECODE_ROWS && !(isGradEnabled() && q.requiresGrad);
  }

  /**
   * Causal attention of q (B, T, H, D) (the last T of Tk positions) over positions [0, Tk) of `layer`, with an
   * optional additive bias (B, 1, T, Tk): the output (B, T, H, D). For a bfloat16 cache, when `decodes(T, q)`.
   */
  attend(layer: number, q: Tensor, Tk: number, bias: Tensor | null, scale: number): Tensor {
    const c = this.layers[layer];
    const [B, T, H, D] = q.shape;
    const o = empty([B, T, H, D], { device: q.device });
    const q32 = q.dtype === 'float32' ? q : q.to('float32');
    o.backend.attentionDecodeBf16(o, q32, c.k, c.v, this.maxLength, B, T, Tk, H, this.kvHeads, D, scale, true, bias);
    if (q32 !== q) q32.dispose();
    return o;
  }

  /**
   * Keeps only the sequences `keep` (ascending row indices), in that order, as rows 0..keep.length-1: their
   * cached positions move to the front of the buffers, which stay allocated. Generation calls it to drop
   * finished sequences from the batch.
   */
  keepRows(keep: readonly number[]): void {
    keep.forEach((row, i) => {
      if (!Number.isInteger(row) || row < i || row >= this.rows || (i > 0 && row <= keep[i - 1])) {
        throw new RangeError(`KVCache.keepRows: rows must be ascending indices below ${this.rows}, got [${keep.join(', ')}]`);
      }
    });
    noGrad(() => {
      for (const layer of this.layers) {
        for (const t of [layer.k, layer.v]) {
          const shape = [1, this.kvHeads, this.length, t.shape[3]];
          keep.forEach((row, i) => {
            if (row === i || this.length === 0) return;
            const src = t.makeView(shape, t.strides, row * t.strides[0]);
            const dst = t.makeView(shape, t.strides, i * t.strides[0]);
            t.backend.copy(dst, src);
            src.dispose();
            dst.dispose();
          });
        }
      }
    });
    this.rows = keep.length;
  }

  dispose(): void {
    for (const l of this.layers) {
      l.k.dispose();
      l.v.dispose();
    }
  }
}
