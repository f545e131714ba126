// bfloat16 tensors on every backend: storage (2 bytes an element, round to nearest even, raw bits), casts between
// float32, int32 and bfloat16 over strided views, products reading bfloat16 operands, embedding rows of a bfloat16
// table, the float32-compute rule of the other ops, dtype promotion, and float32 ("master") gradients of bfloat16
// tensors. References are float64 on the bfloat16-rounded inputs; a result stored bfloat16 is within half a unit
// in the last place of bfloat16 (rtol 2^-8) of the float64 value, plus the float32 computation's own error.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { expectClose, forEachBackend, randomArray, randomInts } from './helpers/reference.js';

/** x rounded to bfloat16 (nearest even), in float64: the reference rounding. */
function bf16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return f[0];
}
const bf16All = (xs: ArrayLike<number>) => Float64Array.from(xs, bf16);

// Stored bfloat16: half an ulp of bfloat16 (2^-9 relative) plus the float32 computation before the rounding.
const STORED_BF16 = { atol: 1e-6, rtol: 2 ** -8 };
// Computed and kept float32 from bfloat16-rounded inputs: float32 rounding of sums of a few dozen terms.
const FLOAT32 = { atol: 1e-5, rtol: 1e-5 };

const bfTensor = (values: ArrayLike<number>, shape: number[]) => tg.tensor(Float32Array.from(values), shape, { dtype: 'bfloat16' });

function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    out[i * N + j] = s;
  }
  return out;
}

function qwenLike(): tg.nn.LlamaForCausalLM {
  return new tg.nn.LlamaForCausalLM({
    modelType: 'qwen2', vocabSize: 23, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, tieWordEmbeddings: true, ropeTheta: 1e6, rmsNormEps: 1e-6, maxPositionEmbeddings: 64,
    initializerRange: 0.3, eosTokenId: 22,
  }, { seed: 11 });
}

forEachBackend((device) => {
  describe('storage', () => {
    it('rounds float32 values to nearest even, keeps NaN, infinities and denormals, and holds 2 bytes an element', () => {
      const tie = 1 + 2 ** -8; // halfway between 1 and 1 + 2^-7: rounds to the even 1
      const tieUp = 1 + 3 * 2 ** -8; // halfway between 1 + 2^-7 and 1 + 2^-6: rounds to the even 1 + 2^-6
      const values = [0, -0, 1, -2.5, tie, tieUp, 1.1, 3.4e38, -Infinity, Infinity, NaN, 1e-40, 65504.7, -1e-3];
      const before = tg.memory().devices[device]!.numBytes;
      const t = bfTensor(values, [values.length]);
      expect(t.dtype).toBe('bfloat16');
      expect(tg.memory().devices[device]!.numBytes - before).toBe(2 * values.length);
      const back = t.data();
      expect(back).toBeInstanceOf(Float32Array);
      expectClose(back, bf16All(values), { atol: 0, rtol: 0 });
      expect(back[4]).toBe(1);
      expect(back[5]).toBe(1 + 2 ** -6);
      expect(Object.is(back[1], -0)).toBe(true);
      // Raw bits: the upper half of each float32 pattern after rounding.
      const bits = t.bf16Bits();
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < values.length; i++) {
        if (Number.isNaN(values[i])) continue;
        f[0] = bf16(values[i]);
        expect(bits[i], `bits of ${values[i]}`).toBe(u[0] >>> 16);
      }
      t.dispose();
    });

    it('creation functions, toArray and item give float32 values', () => {
      const full = tg.full([2, 3], 1.1, { dtype: 'bfloat16' });
      expect(full.toArray()).toEqual([[bf16(1.1), bf16(1.1), bf16(1.1)], [bf16(1.1), bf16(1.1), bf16(1.1)]]);
      const ints = tg.tensor(Int32Array.from([1, 257, -3]), [3], { dtype: 'bfloat16' });
      expect(ints.toArray()).toEqual([1, 256, -3]);
      const range = tg.arange(0, 1, 0.25, { dtype: 'bfloat16' });
      expect(range.dtype).toBe('bfloat16');
      expect(range.toArray()).toEqual([0, 0.25, 0.5, 0.75]);
      expect(tg.zerosLike(full).dtype).toBe('bfloat16');
      expect(tg.tensor(3.3, undefined, { dtype: 'bfloat16' }).item()).toBe(bf16(3.3));
      for (const t of [full, ints, range]) t.dispose();
    });

    it('casts between float32, int32 and bfloat16 through strided views', () => {
      const x = randomArray(6 * 5, 1, 50);
      const t = tg.tensor(Float32Array.from(x), [6, 5]);
      const view = t.transpose(0, 1).slice(1, 1, 6, 2); // (5, 3), strides (1, 10)
      const expected: number[] = [];
      for (let i = 0; i < 5; i++) for (const j of [1, 3, 5]) expected.push(x[j * 5 + i]);
      const b = view.to('bfloat16');
      expect(b.dtype).toBe('bfloat16');
      expectClose(b.data(), bf16All(expected), { atol: 0, rtol: 0 }, 'float32 -> bfloat16');
      // bfloat16 -> float32 is exact; -> int32 truncates toward zero; int32 -> bfloat16 rounds.
      const bt = b.transpose(0, 1);
      expectClose(bt.to('float32').data(), bf16All(expected.map((_, k) => expected[(k % 5) * 3 + Math.floor(k / 5)])),
        { atol: 0, rtol: 0 }, 'bfloat16 (strided) -> float32');
      expect(Array.from(b.to('int32').data())).toEqual(expected.map((v) => Math.trunc(bf16(v))));
      const big = tg.tensor(Int32Array.from([16777217, -1025, 7]), [3]);
      expect(Array.from(big.to('bfloat16').data())).toEqual([bf16(16777217), bf16(-1025), 7]);
      // bfloat16 -> bfloat16 copies of strided views (contiguous, clone, cat).
      expectClose(bt.contiguous().data(), bt.to('float32').data(), { atol: 0, rtol: 0 }, 'contiguous');
      const cat = tg.cat([b, b], 0);
      expect(cat.dtype).toBe('bfloat16');
      expectClose(cat.data(), bf16All([...expected, ...expected]), { atol: 0, rtol: 0 }, 'cat');
      for (const u of [t, view, b, bt, big, cat]) u.dispose();
    });
  });

  describe('products and embedding read bfloat16', () => {
    it('matmul: bf16 @ bf16 is bf16, bf16 @ f32 is f32, both against float64 on the rounded inputs', () => {
      // Packed GEMMs (bf16 blocks widened while packing: M > 8, or a small B; 64x700x300 runs on every thread over
      // several k blocks), the few-rows streaming path (M <= 8 with a B of >= 2^18 elements) and the matrix-vector
      // one (M = 1): these read rows of a transposed bf16 B as they are (K not a multiple of 16 takes their tails)
      // and widen other bf16 operands whole.
      for (const [M, K, N] of [[33, 40, 29], [64, 700, 300], [5, 17, 12], [4, 512, 600], [3, 1000, 300], [1, 70, 20]]) {
        const a = bf16All(randomArray(M * K, M, 1));
        const b = bf16All(randomArray(K * N, K, 1));
        const ref = matmulRef(a, b, M, K, N);
        // float32 sums of K products of unit-variance values: rounding grows with K (1e-7 per term covers it).
        const acc = { atol: FLOAT32.atol + 1e-7 * K, rtol: FLOAT32.rtol };
        const stored = { atol: STORED_BF16.atol + 1e-7 * K, rtol: STORED_BF16.rtol };
        const ta = bfTensor(a, [M, K]);
        const tb = bfTensor(b, [K, N]);
        const both = tg.matmul(ta, tb);
        expect(both.dtype).toBe('bfloat16');
        expectClose(both.data(), ref, stored, `bf16 @ bf16 ${M}x${K}x${N}`);
        const fb = tb.to('float32');
        const mixed = tg.matmul(ta, fb);
        expect(mixed.dtype).toBe('float32');
        expectClose(mixed.data(), ref, acc, `bf16 @ f32 ${M}x${K}x${N}`);
        // A transposed bf16 operand is read in place (transpose flag).
        const bT = bfTensor(Float64Array.from({ length: K * N }, (_, i) => b[(i % K) * N + Math.floor(i / K)]), [N, K]);
        const viaT = tg.matmul(ta.to('float32'), bT.transpose(0, 1));
        expectClose(viaT.data(), ref, acc, `f32 @ bf16^T ${M}x${K}x${N}`);
        const aT = bfTensor(Float64Array.from({ length: M * K }, (_, i) => a[(i % M) * K + Math.floor(i / M)]), [K, M]);
        const bothT = tg.matmul(aT.transpose(0, 1), bT.transpose(0, 1));
        expectClose(bothT.data(), ref, stored, `bf16^T @ bf16^T ${M}x${K}x${N}`);
        // At 'medium' the bf16 kernel's operand rounding changes nothing: bf16 values are exact in bf16.
        const medium = tg.matmul(ta, fb, { precision: 'medium' });
        expectClose(medium.data(), ref, acc, `bf16 @ f32 at medium ${M}x${K}x${N}`);
        for (const t of [ta, tb, both, fb, mixed, bT, viaT, aT, bothT, medium]) t.dispose();
      }
    });

    it('batched matmul with broadcast batch dims reads bf16 operands at per-batch offsets', () => {
      const [B, M, K, N] = [3, 10, 12, 9];
      const a = bf16All(randomArray(B * M * K, 11, 1));
      const b = bf16All(randomArray(K * N, 12, 1));
      const out = tg.matmul(bfTensor(a, [B, M, K]).transpose(0, 0), bfTensor(b, [1, K, N]));
      expect(out.shape).toEqual([B, M, N]);
      const ref = new Float64Array(B * M * N);
      for (let i = 0; i < B; i++) ref.set(matmulRef(a.subarray(i * M * K, (i + 1) * M * K), b, M, K, N), i * M * N);
      expectClose(out.data(), ref, STORED_BF16, 'batched');
    });

    it('linear with a bf16 weight: float32 output, float32 gradients for input and weight', () => {
      const [rows, K, N] = [12, 20, 7];
      const x = randomArray(rows * K, 21, 1);
      const w = bf16All(randomArray(N * K, 22, 0.3));
      const gOut = randomArray(rows * N, 23, 1);
      const tx = tg.tensor(Float32Array.from(x), [rows, K], { requiresGrad: true });
      const tw = bfTensor(w, [N, K]).requiresGrad_();
      const y = tg.linear(tx, tw);
      expect(y.dtype).toBe('float32');
      const wT = Float64Array.from({ length: K * N }, (_, i) => w[(i % N) * K + Math.floor(i / N)]);
      expectClose(y.data(), matmulRef(x, wT, rows, K, N), FLOAT32, 'y');
      y.backward(tg.tensor(Float32Array.from(gOut), [rows, N]));
      expect(tw.grad!.dtype).toBe('float32');
      expect(tx.grad!.dtype).toBe('float32');
      const gT = Float64Array.from({ length: N * rows }, (_, i) => gOut[(i % rows) * N + Math.floor(i / rows)]);
      expectClose(tw.grad!.data(), matmulRef(gT, x, N, rows, K), FLOAT32, 'dW = g^T x');
      expectClose(tx.grad!.data(), matmulRef(gOut, w, rows, N, K), FLOAT32, 'dx = g W');
    });

    it('embedding of a bf16 table gives its rows bit for bit; the gradient is float32 with repeats summed', () => {
      const [V, C] = [11, 6];
      const table = bf16All(randomArray(V * C, 31, 1));
      const ids = [3, 0, 3, 10, 7];
      const w = bfTensor(table, [V, C]).requiresGrad_();
      const rows = tg.embedding(w, tg.tensor(Int32Array.from(ids), [5]));
      expect(rows.dtype).toBe('bfloat16');
      expectClose(rows.data(), ids.flatMap((id) => Array.from(table.subarray(id * C, (id + 1) * C))), { atol: 0, rtol: 0 });
      const g = randomArray(ids.length * C, 32, 1);
      rows.backward(tg.tensor(Float32Array.from(g), [5, C]));
      expect(w.grad!.dtype).toBe('float32');
      const ref = new Float64Array(V * C);
      ids.forEach((id, j) => { for (let c = 0; c < C; c++) ref[id * C + c] += g[j * C + c]; });
      expectClose(w.grad!.data(), ref, FLOAT32, 'dW');
    });
  });

  describe('other ops compute in float32 and store bf16', () => {
    const n = 24;
    const x = bf16All(randomArray(n, 41, 2));
    const y = bf16All(randomArray(n, 42, 2));

    it('elementwise: bf16 op bf16 and bf16 op scalar are bf16, bf16 op f32 is f32; comparisons give float32 masks', () => {
      const tx = bfTensor(x, [4, 6]);
      const ty = bfTensor(y, [4, 6]);
      const cases: [string, tg.Tensor, Float64Array][] = [
        ['exp', tg.exp(tx), x.map(Math.exp)],
        ['tanh', tg.tanh(tx), x.map(Math.tanh)],
        ['silu', tg.silu(tx), x.map((v) => v / (1 + Math.exp(-v)))],
        ['add', tg.add(tx, ty), x.map((v, i) => v + y[i])],
        ['mul', tg.mul(tx, ty), x.map((v, i) => v * y[i])],
        ['mul scalar', tg.mul(tx, 3), x.map((v) => v * 3)],
        ['sub broadcast', tg.sub(tx, ty.slice(0, 0, 1)), x.map((v, i) => v - y[i % 6])],
        ['where', tg.where(tg.gt(tx, 0), tx, ty), x.map((v, i) => (v > 0 ? v : y[i]))],
        ['maximum', tg.maximum(tx, ty), x.map((v, i) => Math.max(v, y[i]))],
      ];
      for (const [name, out, ref] of cases) {
        expect(out.dtype, name).toBe('bfloat16');
        expectClose(out.data(), ref, STORED_BF16, name);
      }
      const mixed = tg.add(tx, ty.to('float32'));
      expect(mixed.dtype).toBe('float32');
      expectClose(mixed.data(), x.map((v, i) => v + y[i]), FLOAT32, 'bf16 + f32');
      const mask = tg.lt(tx, ty);
      expect(mask.dtype).toBe('float32');
      expect(Array.from(mask.data())).toEqual(Array.from(x, (v, i) => (v < y[i] ? 1 : 0)));
      expect(tg.isNan(tx).dtype).toBe('float32');
    });

    it('reductions: sum, mean, max, logsumexp bf16; argmax int32', () => {
      const tx = bfTensor(x, [4, 6]);
      const rowsOf = (f: (r: number[]) => number) => Float64Array.from({ length: 4 }, (_, i) => f(Array.from(x.subarray(i * 6, i * 6 + 6))));
      const cases: [string, tg.Tensor, Float64Array][] = [
        ['sum', tg.sum(tx, 1), rowsOf((r) => r.reduce((a, b) => a + b, 0))],
        ['mean', tg.mean(tx, 1), rowsOf((r) => r.reduce((a, b) => a + b, 0) / 6)],
        ['max', tg.max(tx, 1), rowsOf((r) => Math.max(...r))],
        ['logsumexp', tg.logsumexp(tx, 1), rowsOf((r) => Math.log(r.reduce((a, b) => a + Math.exp(b), 0)))],
        ['var', tg.variance(tx, 1), rowsOf((r) => {
          const m = r.reduce((a, b) => a + b, 0) / 6;
          return r.reduce((a, b) => a + (b - m) ** 2, 0) / 5;
        })],
      ];
      for (const [name, out, ref] of cases) {
        expect(out.dtype, name).toBe('bfloat16');
        expectClose(out.data(), ref, { atol: 1e-5, rtol: 2 ** -8 }, name);
      }
      const am = tg.argmax(tx, 1);
      expect(am.dtype).toBe('int32');
      expect(Array.from(am.data())).toEqual(Array.from(rowsOf((r) => r.indexOf(Math.max(...r)))));
    });

    it('softmax, rmsNorm, swiglu, rotary and attention are bf16 for bf16 inputs and equal the float32 op rounded', () => {
      const [B, T, H, D] = [2, 5, 2, 8];
      const q = bf16All(randomArray(B * T * H * D, 51, 1));
      const k = bf16All(randomArray(B * T * H * D, 52, 1));
      const v = bf16All(randomArray(B * T * H * D, 53, 1));
      const w = bf16All(randomArray(D, 54, 1));
      const tq = bfTensor(q, [B, T, H, D]);
      const tk = bfTensor(k, [B, T, H, D]);
      const tv = bfTensor(v, [B, T, H, D]);
      const tw = bfTensor(w, [D]);
      const f32 = (t: tg.Tensor) => t.to('float32');
      const { cos, sin } = tg.rotaryTables(16, D);
      const pos = tg.arange(0, T);
      const pairs: [string, tg.Tensor, tg.Tensor][] = [
        ['softmax', tg.softmax(tq, -1), tg.softmax(f32(tq), -1)],
        ['logSoftmax', tg.logSoftmax(tq, 1), tg.logSoftmax(f32(tq), 1)],
        ['rmsNorm', tg.rmsNorm(tq, tw), tg.rmsNorm(f32(tq), f32(tw))],
        ['swiglu', tg.swiglu(tq, tk), tg.swiglu(f32(tq), f32(tk))],
        ['applyRotary', tg.applyRotary(tq, cos, sin, pos), tg.applyRotary(f32(tq), cos, sin, pos)],
        ['attention', tg.scaledDotProductAttention(tq.transpose(1, 2), tk.transpose(1, 2), tv.transpose(1, 2), { causal: true }),
          tg.scaledDotProductAttention(f32(tq).transpose(1, 2), f32(tk).transpose(1, 2), f32(tv).transpose(1, 2), { causal: true })],
      ];
      for (const [name, out, ref] of pairs) {
        expect(out.dtype, name).toBe('bfloat16');
        expectClose(out.data(), bf16All(ref.data()), { atol: 0, rtol: 0 }, name);
      }
      // rmsNorm of a float32 x with a bf16 weight is float32 (promotion), against float64.
      const xf = f32(tq);
      const mixed = tg.rmsNorm(xf, tw, 1e-6);
      expect(mixed.dtype).toBe('float32');
      const ref = new Float64Array(q.length);
      for (let r = 0; r < q.length / D; r++) {
        let ss = 0;
        for (let c = 0; c < D; c++) ss += q[r * D + c] ** 2;
        const rstd = 1 / Math.sqrt(ss / D + 1e-6);
        for (let c = 0; c < D; c++) ref[r * D + c] = q[r * D + c] * rstd * w[c];
      }
      expectClose(mixed.data(), ref, { atol: 1e-5, rtol: 1e-5 }, 'rmsNorm f32 x bf16 w');
    });

    it('crossEntropy and selectiveLogSoftmax of bf16 logits are float32, against float64', () => {
      const [N, V] = [6, 10];
      const logits = bf16All(randomArray(N * V, 61, 3));
      const targets = randomInts(N, V, 62);
      const tl = bfTensor(logits, [N, V]);
      const tt = tg.tensor(targets, [N]);
      const lp = Float64Array.from({ length: N }, (_, i) => {
        const row = logits.subarray(i * V, (i + 1) * V);
        const m = Math.max(...row);
        return row[targets[i]] - m - Math.log(row.reduce((a, b) => a + Math.exp(b - m), 0));
      });
      const ce = tg.crossEntropy(tl, tt);
      expect(ce.dtype).toBe('float32');
      expectClose(ce.data(), [-lp.reduce((a, b) => a + b, 0) / N], FLOAT32, 'crossEntropy');
      const sl = tg.selectiveLogSoftmax(tl, tt);
      expect(sl.dtype).toBe('float32');
      expectClose(sl.data(), lp, FLOAT32, 'selectiveLogSoftmax');
    });

    it('selectiveLogSoftmax of bf16 logits: log-probs, entropy and a float32 gradient against float64; a backend that reads bf16 logits keeps no float32 copy', () => {
      const [N, V, T] = [5, 300, 0.8];
      const logits = bf16All(randomArray(N * V, 63, 4));
      const targets = randomInts(N, V, 64);
      const g = randomArray(N, 65, 1);
      const gEnt = randomArray(N, 66, 1);
      const tl = bfTensor(logits, [N, V]).requiresGrad_();
      const before = tg.memory().devices[device]!.numBytes;
      const { logps, entropy } = tg.selectiveLogSoftmaxWithEntropy(tl, tg.tensor(targets, [N]), { temperature: T });
      const kept = tg.memory().devices[device]!.numBytes - before;
      // Kept for backward: lp, lse, entropy and the ids (float32/int32, N each), plus a float32 copy of the logits
      // only where the backend cannot read bf16 logits.
      if (tl.backend.capabilities.bf16Logits) expect(kept).toBeLessThan(4 * N * V);
      else expect(kept).toBeGreaterThanOrEqual(4 * N * V);
      const p = new Float64Array(N * V);
      const wantLp = new Float64Array(N), wantEnt = new Float64Array(N);
      for (let i = 0; i < N; i++) {
        const z = Array.from(logits.subarray(i * V, (i + 1) * V), (x) => x / T);
        const m = Math.max(...z);
        const lse = m + Math.log(z.reduce((a, b) => a + Math.exp(b - m), 0));
        wantLp[i] = z[targets[i]] - lse;
        for (let v = 0; v < V; v++) p[i * V + v] = Math.exp(z[v] - lse);
        wantEnt[i] = -z.reduce((a, zv, v) => a + p[i * V + v] * (zv - lse), 0);
      }
      expectClose(logps.data(), wantLp, FLOAT32, 'lp');
      expectClose(entropy.data(), wantEnt, FLOAT32, 'entropy');
      tg.add(tg.sum(tg.mul(logps, tg.tensor(Float32Array.from(g), [N]))), tg.sum(tg.mul(entropy, tg.tensor(Float32Array.from(gEnt), [N])))).backward();
      expect(tl.grad!.dtype).toBe('float32');
      // d/dz lp = onehot - p; d/dz H = -p (log p + H); both / T. A kernel that writes the gradient in bf16 rounds
      // each of the two terms (the lp and the entropy backward) once: |got - want| <= 1e-6 + 2^-8 (|term1| + |term2|).
      const grad = tl.grad!.data();
      for (let k = 0; k < N * V; k++) {
        const [i, v] = [Math.floor(k / V), k % V];
        const t1 = g[i] * ((v === targets[i] ? 1 : 0) - p[k]) / T;
        const t2 = -gEnt[i] * p[k] * (Math.log(p[k]) + wantEnt[i]) / T;
        const bound = 1e-6 + 2 ** -8 * (Math.abs(t1) + Math.abs(t2));
        if (!(Math.abs(grad[k] - (t1 + t2)) <= bound)) expect.fail(`d logits[${i}, ${v}] = ${grad[k]}, want ${t1 + t2} within ${bound}`);
      }
    });
  });

  describe('autograd', () => {
    it('a bf16 leaf gets a float32 gradient, accumulated in float32 over backward calls', () => {
      const n = 16;
      const x = bf16All(randomArray(n, 71, 1));
      const tx = bfTensor(x, [n]).requiresGrad_();
      // d/dx sum(exp(x) * x) = exp(x) (1 + x); exp and mul round their outputs to bf16, the gradient flows float32.
      for (let pass = 0; pass < 2; pass++) tg.sum(tg.mul(tg.exp(tx), tx)).backward();
      expect(tx.grad!.dtype).toBe('float32');
      // mul's backward reads its inputs as stored: exp(x) rounded to bf16; exp's backward reads its float32 output.
      // Nothing else is rounded: dx = bf16(exp(x)) + x exp(x), per pass.
      expectClose(tx.grad!.data(), x.map((v) => 2 * (bf16(Math.exp(v)) + v * Math.exp(v))), { atol: 1e-5, rtol: 1e-5 }, 'dx');
      tx.dispose();
    });

    it('ops without bf16 support throw TypeErrors naming them', () => {
      const b = bfTensor([1, 2, 3, 4], [4]);
      const f = tg.tensor([1, 2, 3, 4], [4]);
      expect(() => tg.adamwStep(b, f, f, f, { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1 })).toThrow(/adamwStep/);
      expect(() => tg.grpoLoss(b.reshape([1, 4]), { advantages: tg.zeros([1]), mask: tg.ones([1, 4]) })).toThrow(TypeError);
      expect(() => tg.tensor(Int32Array.from([1]), [1]).requiresGrad_()).toThrow(TypeError);
      expect(() => tg.indexAdd(b, 0, tg.tensor(Int32Array.from([0]), [1]), f.slice(0, 0, 1))).toThrow(/indexAdd/);
    });
  });
  describe('models', () => {
    it('Module.to(bfloat16) converts every parameter in place (half the bytes); forward, loss and gradients run', () => {
      const model = qwenLike().to(device);
      const reference = qwenLike().to(device);
      const params = model.parameters();
      const bytes = () => tg.memory().devices[device]!.numBytes;
      const before = bytes();
      model.to('bfloat16');
      expect(model.dtype).toBe('bfloat16');
      expect(model.parameters()).toEqual(params); // same objects
      expect(params.every((p) => p.dtype === 'bfloat16')).toBe(true);
      expect(before - bytes()).toBe(2 * model.numParameters());
      // bfloat16 weights, float32 activations: the float32 model holding the same (rounded) weights gives the same
      // logits and loss to float32 rounding.
      reference.to('bfloat16').to('float32');
      const ids = tg.tensor(Int32Array.from([1, 5, 9, 2, 7, 3, 4, 8]), [2, 4]);
      const logits = model.forward(ids);
      expect(logits.dtype).toBe('float32');
      const exact = reference.forward(ids);
      expectClose(logits.data(), exact.data(), FLOAT32, 'logits');
      const loss = model.loss(ids);
      expect(loss.dtype).toBe('float32');
      expect(Math.abs(loss.item() - reference.loss(ids).item())).toBeLessThan(1e-5);
      loss.backward();
      expect(params.every((p) => p.grad !== null && p.grad.dtype === 'float32')).toBe(true);
      model.dispose();
      reference.dispose();
    });

    it('a bfloat16 model generates with a float32 or a bfloat16 KV cache', () => {
      const model = qwenLike().to(device).to('bfloat16');
      const prompts = [[1, 2, 3], [4, 5]];
      for (const kvCacheDtype of ['float32', 'bfloat16'] as const) {
        const out = tg.generate(model, prompts, { maxNewTokens: 6, temperature: 0.8, seed: 5, kvCacheDtype });
        expect(out.completionIds.length).toBe(2);
        expect(out.logprobs.flat().every((v) => Number.isFinite(v) && v <= 0)).toBe(true);
        expect(out.completionIds.flat().every((t) => Number.isInteger(t) && t >= 0 && t < 23)).toBe(true);
      }
      // With float32 LoRA adapters (packed for sampling on the CPU) reading the model's bfloat16 activations.
      const peft = tg.getPeftModel(model, { r: 2, targetModules: ['q_proj', 'v_proj'], initLoraWeights: false });
      const adapted = tg.generate(model, prompts, { maxNewTokens: 6, temperature: 0.8, seed: 5 });
      expect(adapted.logprobs.flat().every((v) => Number.isFinite(v) && v <= 0)).toBe(true);
      const greedy = tg.generate(model, prompts, { maxNewTokens: 6, greedy: true });
      const unpackedFirst = tg.noGrad(() => tg.tidy(() => Array.from(tg.argmax(tg.narrow(model.forward(tg.tensor(Int32Array.from([1, 2, 3]), [1, 3],
        { dtype: 'int32', device })), 1, 2, 1), -1).data())));
      expect(greedy.completionIds[0][0]).toBe(unpackedFirst[0]);
      peft.dispose();
    });
  });
});

describe('bfloat16 checkpoints', () => {
  it('savePretrained writes BF16; loadPretrained({ dtype: bfloat16 }) keeps the bits, float32 widens them, F32 files round', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'thinkgrad-bf16-'));
    try {
      const model = qwenLike().to('bfloat16');
      const dir = path.join(root, 'bf16');
      tg.savePretrained(model, dir);
      const header = tg.readSafetensorsHeader(path.join(dir, 'model.safetensors'));
      expect(new Set(header.entries.map((e) => e.dtype))).toEqual(new Set(['BF16']));
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
      const kept = tg.loadPretrained(dir, { dtype: 'bfloat16' });
      const widened = tg.loadPretrained(dir);
      expect(kept.dtype).toBe('bfloat16');
      expect(widened.dtype).toBe('float32');
      const own = model.stateDict();
      for (const [name, t] of kept.namedParameters()) {
        expect(Array.from(t.bf16Bits()), name).toEqual(Array.from(own[name].bf16Bits()));
        expect(Array.from(widened.stateDict()[name].data()), name).toEqual(Array.from(own[name].data()));
      }
      // A float32 checkpoint loaded as bfloat16 is rounded to nearest even.
      const f32 = qwenLike();
      const f32Dir = path.join(root, 'f32');
      tg.savePretrained(f32, f32Dir);
      const rounded = tg.loadPretrained(f32Dir, { dtype: 'bfloat16' });
      for (const [name, t] of rounded.namedParameters()) {
        expectClose(t.data(), bf16All(f32.stateDict()[name].data()), { atol: 0, rtol: 0 }, name);
      }
      expect(() => tg.loadPretrained(dir, { dtype: 'float16' as never })).toThrow(TypeError);
      for (const m of [model, kept, widened, f32, rounded]) m.dispose();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('AdamW keeps float32 master weights of bfloat16 parameters: updates below bfloat16 resolution accumulate', () => {
    const p = tg.tensor([1, -2, 0.5, 3], [4], { dtype: 'bfloat16' }).requiresGrad_();
    const opt = new tg.AdamW([p], { lr: 1e-4, weightDecay: 0 });
    // Each step moves every weight by lr = 1e-4 (Adam's first steps are ~lr * sign(g)), far below half an ulp of
    // bfloat16 at these magnitudes (2^-9 .. 2^-6): without master weights nothing would ever change.
    for (let i = 0; i < 100; i++) {
      p.grad = tg.tensor([1, 1, 1, 1], [4]);
      opt.step();
    }
    const master = opt.stateDict().state['0'].masterWeight as tg.Tensor;
    expect(master.dtype).toBe('float32');
    expectClose(master.data(), [1 - 0.01, -2 - 0.01, 0.5 - 0.01, 3 - 0.01], { atol: 2e-5, rtol: 0 }, 'master');
    expectClose(p.data(), bf16All(master.data()), { atol: 0, rtol: 0 }, 'parameter = rounded master');
    expect(p.data()[2]).not.toBe(0.5);
    opt.dispose();
  });

  it('SGD updates a bfloat16 parameter in float32 and rounds it back (no master weights)', () => {
    const p = tg.tensor([1, -2, 0.5, 3], [4], { dtype: 'bfloat16' }).requiresGrad_();
    const opt = new tg.SGD([p], { lr: 0.1 });
    p.grad = tg.tensor([0.3, 1, -0.01, 2], [4]);
    opt.step();
    expect(p.dtype).toBe('bfloat16');
    expectClose(p.data(), bf16All([1 - 0.03, -2 - 0.1, 0.5 + 0.001, 3 - 0.2]), { atol: 0, rtol: 0 }, 'p');
    opt.dispose();
  });
});
