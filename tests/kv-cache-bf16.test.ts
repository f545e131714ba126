// The bfloat16 KV cache: stores round to nearest even, loads widen exactly, and the decode attention over it
// matches a float64 reference computed on the same bf16-rounded keys and values (so float32 accumulation is
// the only difference: 1e-5 relative); generation with it follows the float32 cache within bf16 rounding.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { cudaAddon } from '../src/backend/cuda.js';
import { native } from '../src/native.js';
import type { ComputeAddon } from '../src/native-entry-points.js';
import { cudaDevice } from './helpers/devices.js';
import { expectClose, forEachBackend, randomArray } from './helpers/reference.js';

function bf16(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer);
  bits[0] = (((bits[0] + 0x7fff + ((bits[0] >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return new Float32Array(bits.buffer)[0];
}

// o[b, i, h, :] for q (B, Tq, Hq, D), k/v (B, Tk, Hkv, D) flat arrays; causal (queries are the last Tq
// positions), plus an additive bias (B, Tq, Tk) when given.
function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, Tq: number, Tk: number, Hq: number,
  Hkv: number, D: number, bias: ArrayLike<number> | null): Float64Array {
  const out = new Float64Array(B * Tq * Hq * D);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / (Hq / Hkv));
        const n = i + (Tk - Tq) + 1;
        const s = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * Tq + i) * Hq + h) * D + d] * k[((b * Tk + j) * Hkv + hk) * D + d];
          s[j] = dot * scale + (bias ? bias[(b * Tq + i) * Tk + j] : 0);
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < n; j++) z += Math.exp(s[j] - m);
        for (let j = 0; j < n; j++) {
          const p = Math.exp(s[j] - m) / z;
          for (let d = 0; d < D; d++) out[((b * Tq + i) * Hq + h) * D + d] += p * v[((b * Tk + j) * Hkv + hk) * D + d];
        }
      }
  return out;
}

forEachBackend((device) => describe(`bfloat16 KV cache on ${device}`, () => {
  // The addon behind the device's buffer ids, for the entry points' own checks.
  const addon = (): Pick<ComputeAddon, 'kvCacheStore' | 'kvCacheLoad' | 'attentionDecodeBf16'> => (device === 'cuda' ? cudaAddon() : native);

  it('stores round to nearest even and loads widen exactly, at any position', () => {
    tg.tidy(() => {
      const [B, H, L, D, T] = [2, 3, 9, 6, 4];
      const cache = new nn.KVCache(1, B, H, L, D, 'bfloat16', device);
      const kv = randomArray(B * T * H * D, 9400, 3);
      const vv = randomArray(B * T * H * D, 9401, 3);
      cache.write(0, 5, tg.tensor(Float32Array.from(kv), [B, T, H, D]), tg.tensor(Float32Array.from(vv), [B, T, H, D]));
      const { keys, values } = cache.read(0, 9);
      expect(keys.shape).toEqual([B, H, 9, D]);
      const k = keys.data(), v = values.data();
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          for (let h = 0; h < H; h++)
            for (let d = 0; d < D; d++) {
              expect(k[((b * H + h) * 9 + 5 + t) * D + d]).toBe(bf16(kv[((b * T + t) * H + h) * D + d]));
              expect(v[((b * H + h) * 9 + 5 + t) * D + d]).toBe(bf16(vv[((b * T + t) * H + h) * D + d]));
            }
      cache.dispose();
    });
  });

  for (const [Tq, D, withBias] of [[1, 64, false], [3, 64, true], [1, 24, true], [2, 40, false]] as const) {
    it(`decode attention matches a float64 reference on bf16 keys and values (Tq ${Tq}, D ${D}${withBias ? ', bias' : ''}, GQA)`, () => {
      tg.tidy(() => {
        const [B, Hq, Hkv, L, Tk] = [3, 4, 2, 20, 13];
        const cache = new nn.KVCache(2, B, Hkv, L, D, 'bfloat16', device);
        const kv = randomArray(B * Tk * Hkv * D, 9500 + D, 2), vv = randomArray(B * Tk * Hkv * D, 9600 + D, 2);
        cache.write(1, 0, tg.tensor(Float32Array.from(kv), [B, Tk, Hkv, D]), tg.tensor(Float32Array.from(vv), [B, Tk, Hkv, D]));
        const qv = randomArray(B * Tq * Hq * D, 9700 + D, 2);
        // padding-style bias: drop keys 0..b-1 of sequence b (the last key always stays)
        const biasValues = Float32Array.from({ length: B * Tq * Tk }, (_, i) => (i % Tk < Math.floor(i / (Tq * Tk)) ? -1e30 : 0));
        const bias = withBias ? tg.tensor(biasValues, [B, 1, Tq, Tk]) : null;
        const o = cache.attend(1, tg.tensor(Float32Array.from(qv), [B, Tq, Hq, D]), Tk, bias, 1 / Math.sqrt(D));
        const ref = refAttention(qv, kv.map(bf16), vv.map(bf16), B, Tq, Tk, Hq, Hkv, D, withBias ? biasValues : null);
        expectClose(o.data(), ref, { atol: 1e-5, rtol: 1e-5 }, 'attention output');
        cache.dispose();
      });
    });
  }

  for (const D of [128, 256]) {
    it(`decode attention over a longer cache reads queries through strides (D ${D}, Tq 5, 7 query heads per kv head)`, () => {
      tg.tidy(() => {
        const [B, Hq, Hkv, L, Tk, Tq, lead] = [2, 7, 1, 50, 45, 5, 3];
        const cache = new nn.KVCache(1, B, Hkv, L, D, 'bfloat16', device);
        const kv = randomArray(B * Tk * Hkv * D, 9900 + D, 2), vv = randomArray(B * Tk * Hkv * D, 9901 + D, 2);
        cache.write(0, 0, tg.tensor(Float32Array.from(kv), [B, Tk, Hkv, D]), tg.tensor(Float32Array.from(vv), [B, Tk, Hkv, D]));
        // queries: columns [lead, lead + Hq D) of (B, Tq, lead + Hq D + 1) projection rows
        const width = lead + Hq * D + 1;
        const rows = randomArray(B * Tq * width, 9902 + D, 2);
        const qv = new Float64Array(B * Tq * Hq * D);
        for (let r = 0; r < B * Tq; r++) for (let c = 0; c < Hq * D; c++) qv[r * Hq * D + c] = rows[r * width + lead + c];
        const q = tg.tensor(Float32Array.from(rows), [B, Tq, width]).makeView([B, Tq, Hq, D], [Tq * width, width, D, 1], lead);
        const o = cache.attend(0, q, Tk, null, 1 / Math.sqrt(D));
        expectClose(o.data(), refAttention(qv, kv.map(bf16), vv.map(bf16), B, Tq, Tk, Hq, Hkv, D, null), { atol: 1e-5, rtol: 1e-5 }, 'attention output');
        cache.dispose();
      });
    });
  }

  it('decode attention of a single query row over a long cache (cuda splits its keys across blocks and merges them)', () => {
    tg.tidy(() => {
      const [B, H, L, Tk, D] = [1, 1, 160, 150, 64];
      const cache = new nn.KVCache(1, B, H, L, D, 'bfloat16', device);
      const kv = randomArray(Tk * D, 9950, 2), vv = randomArray(Tk * D, 9951, 2);
      cache.write(0, 0, tg.tensor(Float32Array.from(kv), [B, Tk, H, D]), tg.tensor(Float32Array.from(vv), [B, Tk, H, D]));
      const qv = randomArray(D, 9952, 2);
      // drops every third key, so each split sees a different max
      const biasValues = Float32Array.from({ length: Tk }, (_, j) => (j % 3 === 1 ? -1e30 : 0.25 * (j % 5)));
      const o = cache.attend(0, tg.tensor(Float32Array.from(qv), [B, 1, H, D]), Tk, tg.tensor(biasValues, [B, 1, 1, Tk]), 1 / Math.sqrt(D));
      expectClose(o.data(), refAttention(qv, kv.map(bf16), vv.map(bf16), B, 1, Tk, H, H, D, biasValues), { atol: 1e-5, rtol: 1e-5 }, 'attention output');
      cache.dispose();
    });
  });

  it('rejects bad dtypes, odd head sizes, overflowing writes and mis-sized buffers', () => {
    const values = (shape: number[]) => tg.tensor(Float32Array.from(randomArray(shape.reduce((a, b) => a * b, 1), 9800)), shape);
    tg.tidy(() => {
      expect(() => new nn.KVCache(1, 1, 1, 4, 8, 'float16' as never)).toThrow(/dtype must be 'float32' or 'bfloat16', got "float16"/);
      expect(() => new nn.KVCache(1, 1, 1, 4, 7, 'bfloat16')).toThrow(/even head size, got 7/);
      const cache = new nn.KVCache(1, 2, 1, 4, 8, 'bfloat16', device);
      expect(() => cache.write(0, 3, values([2, 2, 1, 8]), values([2, 2, 1, 8]))).toThrow(/cache of 4 positions is full \(3 \+ 2\)/);
      expect(() => cache.write(0, 0, values([3, 1, 1, 8]), values([3, 1, 1, 8]))).toThrow(/cache batch 2 != input batch 3/);
      const wrong = tg.empty([10]);
      expect(() => addon().kvCacheStore(wrong.storage.id, 2, 1, 4, 8, 0, values([2, 1, 1, 8]).storage.id, 0, [8, 8, 8], 1))
        .toThrow(/kvCacheStore: cache holds 20 bf16 values, too few for a \(2, 1, 4, 8\) cache/);
      expect(() => addon().kvCacheLoad(tg.empty([64]).storage.id, 0, cache.layers[0].k.storage.id, 2, 1, 4, 8, 5)).toThrow(/Tk 5 exceeds the cache's 4/);
      // attentionDecodeBf16: q/o (B, Tq, Hq, D) views, caches (B, Hkv, L, D); every bad argument throws in JS
      const q = values([2, 1, 1, 8]), o = tg.empty([2, 1, 1, 8]);
      const k = cache.layers[0].k.storage.id, v = cache.layers[0].v.storage.id;
      const decode = (...over: [number, unknown][]) => {
        const args: unknown[] = [o.storage.id, 0, [8, 8, 8], q.storage.id, 0, [8, 8, 8], k, v, 4, 2, 1, 3, 1, 1, 8, 0.35, true, 0, 0, []];
        for (const [i, value] of over) args[i] = value;
        return () => (addon().attentionDecodeBf16 as unknown as (...a: unknown[]) => void)(...args);
      };
      expect(decode()).not.toThrow();
      expect(decode([11, 5])).toThrow(/attentionDecodeBf16: Tk 5 exceeds the cache's 4/);
      expect(decode([9, 3])).toThrow(/a cache holds 64 bf16 values, too few for \(3, 1, 4, 8\)/);
      expect(decode([10, 2])).toThrow(/q: .*exceeds|exceeds its buffer/);
      expect(decode([13, 2])).toThrow(/Hq must be a multiple of Hkv/);
      expect(decode([17, values([1]).storage.id], [19, [3, 3, 1]])).toThrow(/bias/);
      expect(decode([17, values([6]).storage.id], [19, [3]])).toThrow(/bias strides must be \[sB, sQ, sK\]/);
      expect(decode([6, 'x'])).toThrow(TypeError);
      expect((addon().attentionDecodeBf16 as unknown as () => void).bind(null)).toThrow(/missing argument/);
      expect(() => native.matmulPrecision('low')).toThrow(/matmulPrecision: unknown precision 'low'/);
      cache.dispose();
    });
  });

  it('chunks longer than the decode path after a prefill read the bf16 cache back as float32', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 12, hiddenSize: 32, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 2, maxPositionEmbeddings: 64, initializerRange: 0.5 }, { seed: 8 }).to(device);
    tg.noGrad(() => tg.tidy(() => {
      const first = tg.tensor(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), [2, 5], { dtype: 'int32' });
      const second = tg.tensor(Int32Array.from([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]), [2, 6], { dtype: 'int32' });
      const f32 = model.createCache(2, 16), half = model.createCache(2, 16, 'bfloat16');
      // the prefill attends to its own float32 keys: identical logits
      expect(Array.from(model.forward(first, { cache: half }).data())).toEqual(Array.from(model.forward(first, { cache: f32 }).data()));
      expect(half.length).toBe(5);
      // 6 new positions (more than the decode path's 4) attend over cached keys rounded to bf16
      expectClose(model.forward(second, { cache: half }).data(), model.forward(second, { cache: f32 }).data(), { atol: 0.05, rtol: 0.02 }, 'chunk logits');
      expect(half.length).toBe(11);
      f32.dispose();
      half.dispose();
    }));
    model.dispose();
  });

  it('repeated generation (packed weights, bf16 cache, medium precision) leaves native memory where it was', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 12, hiddenSize: 32, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 2, maxPositionEmbeddings: 64 }, { seed: 7 }).to(device);
    const run = () => tg.withFloat32MatmulPrecision('medium', () => generate(model, [[1, 2, 3], [4, 5]], { maxNewTokens: 10, seed: 1, kvCacheDtype: 'bfloat16' }));
    run();
    const before = tg.memory();
    // A leak grows with every run: a few suffice on the emulated device, which runs kernels ~1000x slower.
    const runs = device === 'cuda' && cudaDevice.emulated ? 5 : 50;
    for (let i = 0; i < runs; i++) run();
    const after = tg.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBuffers).toBe(before.numBuffers);
    expect(after.numBytes).toBe(before.numBytes);
    model.dispose();
  });

  it('generation with a bfloat16 cache follows the float32 cache, padded batches included', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 12, hiddenSize: 32, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 2, maxPositionEmbeddings: 64, initializerRange: 0.5 }, { seed: 6 }).to(device);
    const prompts = [[5, 6, 7, 8, 9, 10], [2], [7, 3, 1]];
    const f32 = generate(model, prompts, { maxNewTokens: 12, greedy: true });
    const half = generate(model, prompts, { maxNewTokens: 12, greedy: true, kvCacheDtype: 'bfloat16' });
    // The prefill attends to float32 keys, so the first token's distribution is the same; later ones differ by
    // bf16 rounding of cached keys and values (log-probs within 0.05 here, greedy picks equal on this model).
    expectClose(half.policyLogprobs.map((r) => r[0]), f32.policyLogprobs.map((r) => r[0]), { atol: 1e-5, rtol: 1e-5 }, 'first token');
    expect(half.completionIds).toEqual(f32.completionIds);
    expectClose(half.policyLogprobs.flat(), f32.policyLogprobs.flat(), { atol: 0.05, rtol: 0 }, 'log-probs');
    expect(() => generate(model, prompts, { maxNewTokens: 2, kvCacheDtype: 'int8' as never })).toThrow(TypeError);
    model.dispose();
  });
}));
