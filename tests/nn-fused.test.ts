// The fused kernels (softmax/logSoftmax, rmsNorm, applyRotary, scaledDotProductAttention, swiglu, crossEntropy,
// adamwStep) vs float64 references: values, edge cases, strided inputs, finite-difference gradients, and
// bad inputs that throw while the process lives on.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { cudaAddon } from '../src/backend/cuda.js';
import { getBackend } from '../src/backend/registry.js';
import { native } from '../src/native.js';
import type { ComputeAddon } from '../src/native-entry-points.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, forEachBackend, fromArray, randomArray, randomInts } from './helpers/reference.js';

// One fast_exp/fast_log (~2 ulp) and a float32 sum over the row: a few 1e-7 relative, well under these.
const SOFTMAX_TOL = { atol: 1e-6, rtol: 1e-5 };
// Log-softmax values are O(|x|): absolute error scales with the logits' magnitude.
const logTol = (scale: number) => ({ atol: 2e-6 * Math.max(1, scale), rtol: 1e-5 });
// Float32 dot products of length up to ~256 accumulate ~sqrt(n) ulp: 1e-5 absolute on O(1) outputs.
const DOT_TOL = { atol: 1e-5, rtol: 1e-4 };

// ---- float64 references ----

function softmaxRef(x: Float64Array, cols: number, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c] - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = log ? x[r * cols + c] - m - Math.log(s) : Math.exp(x[r * cols + c] - m) / s;
  }
  return y;
}

function rmsNormRef(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const C = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] ** 2;
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * rstd * w[c];
  }
  return y;
}

function tables(P: number, D: number): { cos: Float64Array; sin: Float64Array } {
  const half = D / 2;
  const cos = new Float64Array(P * half);
  const sin = new Float64Array(P * half);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * Math.pow(10000, (-2 * i) / D);
      cos[p * half + i] = Math.fround(Math.cos(a));
      sin[p * half + i] = Math.fround(Math.sin(a));
    }
  }
  return { cos, sin };
}

// x [B, T, H, D]; positions [T] or [B, T]
function ropeRef(x: Float64Array, shape: number[], cos: Float64Array, sin: Float64Array, pos: Int32Array): Float64Array {
  const [B, T, H, D] = shape;
  const half = D / 2;
  const y = new Float64Array(x.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const p = pos.length === T ? pos[t] : pos[b * T + t];
    for (let h = 0; h < H; h++) {
      const base = ((b * T + t) * H + h) * D;
      for (let i = 0; i < half; i++) {
        const c = cos[p * half + i], s = sin[p * half + i];
        y[base + i] = x[base + i] * c - x[base + i + half] * s;
        y[base + i + half] = x[base + i + half] * c + x[base + i] * s;
      }
    }
  }
  return y;
}

interface AttnShape {
  B: number; Hq: number; Hkv: number; Tq: number; Tk: number; D: number; causal: boolean; scale?: number;
  /** Left padding (causal): batch row b's first real key; a padding query (slot < keyStart[b]) reads only its own key. */
  keyStart?: number[];
}

// The first key query i of batch row b reads: keyStart[b], or its own slot when that is padding.
function firstKey(s: AttnShape, b: number, i: number): number {
  const slot = i + s.Tk - s.Tq;
  return s.keyStart === undefined ? 0 : Math.min(slot, s.keyStart[b]);
}

// q [B, Hq, Tq, D], k/v [B, Hkv, Tk, D] contiguous -> o [B, Hq, Tq, D]
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, s: AttnShape): Float64Array {
  const { B, Hq, Hkv, Tq, Tk, D, causal } = s;
  const scale = s.scale ?? 1 / Math.sqrt(D);
  const o = new Float64Array(B * Hq * Tq * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
    const hk = Math.floor(h / (Hq / Hkv));
    for (let i = 0; i < Tq; i++) {
      const limit = causal ? Math.min(Tk, i + Tk - Tq + 1) : Tk;
      const first = firstKey(s, b, i);
      const sc = new Float64Array(limit);
      let m = -Infinity;
      for (let j = first; j < limit; j++) {
        let a = 0;
        for (let d = 0; d < D; d++) a += q[((b * Hq + h) * Tq + i) * D + d] * k[((b * Hkv + hk) * Tk + j) * D + d];
        sc[j] = a * scale;
        m = Math.max(m, sc[j]);
      }
      let z = 0;
      for (let j = first; j < limit; j++) z += Math.exp(sc[j] - m);
      for (let j = first; j < limit; j++) {
        const p = Math.exp(sc[j] - m) / z;
        for (let d = 0; d < D; d++) o[((b * Hq + h) * Tq + i) * D + d] += p * v[((b * Hkv + hk) * Tk + j) * D + d];
      }
    }
  }
  return o;
}

interface AttnOutputs { o: Float64Array; lse: Float64Array; dq: Float64Array; dk: Float64Array; dv: Float64Array }

// Forward and backward in float64 on (B, T, H, D) arrays: q, dO, o, dq [B, Tq, Hq, D]; k, v, dk, dv [B, Tk, Hkv, D];
// lse [B, Hq, Tq]. With P = softmax(scale q k^T), dS = P * (dO v^T - rowsum(dO * o)): dq = scale dS k,
// dk = scale dS^T q, dv = P^T dO, summed over the query heads of each kv head.
function attentionGradRef(q: Float64Array, k: Float64Array, v: Float64Array, dO: Float64Array, s: AttnShape): AttnOutputs {
  const { B, Hq, Hkv, Tq, Tk, D, causal } = s;
  const scale = s.scale ?? 1 / Math.sqrt(D);
  const qi = (b: number, t: number, h: number) => ((b * Tq + t) * Hq + h) * D;
  const ki = (b: number, t: number, h: number) => ((b * Tk + t) * Hkv + h) * D;
  const out: AttnOutputs = { o: new Float64Array(q.length), lse: new Float64Array(B * Hq * Tq), dq: new Float64Array(q.length),
    dk: new Float64Array(k.length), dv: new Float64Array(v.length) };
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
    const hk = Math.floor(h / (Hq / Hkv));
    for (let i = 0; i < Tq; i++) {
      const limit = causal ? Math.min(Tk, i + Tk - Tq + 1) : Tk;
      const first = firstKey(s, b, i);
      const p = new Float64Array(limit);
      let m = -Infinity;
      for (let j = first; j < limit; j++) {
        let a = 0;
        for (let d = 0; d < D; d++) a += q[qi(b, i, h) + d] * k[ki(b, j, hk) + d];
        p[j] = a * scale;
        m = Math.max(m, p[j]);
      }
      let z = 0;
      for (let j = first; j < limit; j++) z += Math.exp(p[j] - m);
      out.lse[(b * Hq + h) * Tq + i] = m + Math.log(z);
      for (let j = first; j < limit; j++) p[j] = Math.exp(p[j] - m) / z;
      for (let j = first; j < limit; j++) for (let d = 0; d < D; d++) out.o[qi(b, i, h) + d] += p[j] * v[ki(b, j, hk) + d];
      let di = 0;
      for (let d = 0; d < D; d++) di += dO[qi(b, i, h) + d] * out.o[qi(b, i, h) + d];
      for (let j = first; j < limit; j++) {
        let dp = 0;
        for (let d = 0; d < D; d++) dp += dO[qi(b, i, h) + d] * v[ki(b, j, hk) + d];
        const ds = p[j] * (dp - di);
        for (let d = 0; d < D; d++) {
          out.dq[qi(b, i, h) + d] += scale * ds * k[ki(b, j, hk) + d];
          out.dk[ki(b, j, hk) + d] += scale * ds * q[qi(b, i, h) + d];
          out.dv[ki(b, j, hk) + d] += p[j] * dO[qi(b, i, h) + d];
        }
      }
    }
  }
  return out;
}

function crossEntropyRef(x: Float64Array, V: number, targets: Int32Array, ignore: number): Float64Array {
  const loss = new Float64Array(targets.length);
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] === ignore) continue;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, x[n * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[n * V + j] - m);
    loss[n] = m + Math.log(s) - x[n * V + targets[n]];
  }
  return loss;
}

// [B, T, H, D] values stored as [B, H, T, D] (what a transpose of a [B, T, H, D] projection gives).
function toBHTD(x: Float64Array, B: number, T: number, H: number, D: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++)
    out[((b * H + h) * T + t) * D + d] = x[((b * T + t) * H + h) * D + d];
  return out;
}

forEachBackend((device) => describe(`fused kernels on ${device}`, () => {
  describe('softmax and logSoftmax', () => {
    it('match the reference over the last dim, including long rows and large logits', () => {
      for (const [rows, cols, scale] of [[1, 1, 1], [5, 37, 3], [33, 1000, 5], [3, 5000, 30], [4, 17, 1e4]]) {
        const x = randomArray(rows * cols, rows * 7 + cols, scale);
        tg.tidy(() => {
          const t = fromArray(x, [rows, cols]);
          expectClose(tg.softmax(t).data(), softmaxRef(x, cols, false), SOFTMAX_TOL, `softmax ${rows}x${cols}`);
          expectClose(tg.logSoftmax(t).data(), softmaxRef(x, cols, true), logTol(scale), `logSoftmax ${rows}x${cols}`);
        });
      }
    });

    it('handle -inf entries and a non-last dim on a transposed view', () => {
      tg.tidy(() => {
        const y = tg.softmax(tg.tensor([0, -Infinity, 1, 2], [1, 4])).data();
        expectClose(y, softmaxRef(Float64Array.from([0, -1e300, 1, 2]), 4, false), SOFTMAX_TOL, 'masked');
        const x = randomArray(6 * 5, 3);
        const t = fromArray(x, [6, 5]).transpose(0, 1); // [5, 6], strides [1, 5]
        // softmax over dim 0 of the [5, 6] view == softmax over the rows of the original [6, 5]
        const ref = softmaxRef(x, 5, false);
        const got = tg.softmax(t, 0).transpose(0, 1).contiguous().data();
        expectClose(got, ref, SOFTMAX_TOL, 'dim 0 of a transposed view');
      });
    });

    it('gradients match finite differences', () => {
      const x = randomArray(3 * 7, 11, 2);
      gradcheck({ inputs: [{ values: x, shape: [3, 7] }], engine: ([t]) => tg.softmax(t), reference: ([v]) => softmaxRef(v, 7, false) });
      gradcheck({ inputs: [{ values: x, shape: [3, 7] }], engine: ([t]) => tg.logSoftmax(t), reference: ([v]) => softmaxRef(v, 7, true) });
      // dim 0: the reference transposes, applies along rows, transposes back
      const tr = (v: Float64Array, r: number, c: number) => Float64Array.from({ length: r * c }, (_, i) => v[(i % r) * c + Math.floor(i / r)]);
      gradcheck({
        inputs: [{ values: x, shape: [3, 7] }],
        engine: ([t]) => tg.logSoftmax(t, 0),
        reference: ([v]) => tr(softmaxRef(tr(v, 3, 7), 3, true), 7, 3),
      });
    });
  });

  describe('rmsNorm', () => {
    it('matches the reference, also on a strided view', () => {
      for (const [rows, C] of [[1, 1], [3, 7], [64, 256], [513, 96]]) {
        const x = randomArray(rows * C, rows + C);
        const w = randomArray(C, 5);
        tg.tidy(() => {
          const y = tg.rmsNorm(fromArray(x, [rows, C]), fromArray(w, [C]), 1e-5);
          expectClose(y.data(), rmsNormRef(x, w, 1e-5), DOT_TOL, `rmsNorm ${rows}x${C}`);
        });
      }
      const x = randomArray(4 * 10, 9);
      const w = randomArray(5, 10);
      tg.tidy(() => {
        const view = fromArray(x, [4, 10]).slice(1, 0, 10, 2); // [4, 5], strides [10, 2]
        const xs = Float64Array.from({ length: 20 }, (_, i) => x[Math.floor(i / 5) * 10 + (i % 5) * 2]);
        expectClose(tg.rmsNorm(view, fromArray(w, [5])).data(), rmsNormRef(xs, w, 1e-6), DOT_TOL, 'strided');
      });
    });

    it('gradients of x and weight match finite differences', () => {
      gradcheck({
        inputs: [{ values: randomArray(4 * 6, 21), shape: [2, 2, 6] }, { values: randomArray(6, 22), shape: [6] }],
        engine: ([x, w]) => tg.rmsNorm(x, w, 1e-5),
        reference: ([x, w]) => rmsNormRef(x, w, 1e-5),
      });
    });

    it('weight gradient is the same for any thread count', () => {
      const x = randomArray(300 * 64, 1);
      const run = () => tg.tidy(() => {
        const w = fromArray(randomArray(64, 2), [64], true);
        tg.rmsNorm(fromArray(x, [300, 64]), w).mul(fromArray(x, [300, 64])).sum().backward();
        return Array.from(w.grad!.data());
      });
      const before = tg.getNumThreads();
      const many = run();
      tg.setNumThreads(1);
      const one = run();
      tg.setNumThreads(before);
      expect(one).toEqual(many);
    });
  });

  describe('applyRotary', () => {
    it('matches the reference for per-sequence and per-batch positions, and strided x', () => {
      for (const [B, T, H, D, P, perBatch] of [[1, 1, 1, 2, 1, false], [2, 5, 3, 8, 16, true], [2, 9, 4, 64, 32, false]] as const) {
        const x = randomArray(B * T * H * D, T * D);
        const { cos, sin } = tables(P, D);
        const pos = randomInts(perBatch ? B * T : T, P, 3);
        tg.tidy(() => {
          const y = tg.applyRotary(fromArray(x, [B, T, H, D]), fromArray(cos, [P, D / 2]), fromArray(sin, [P, D / 2]),
            tg.tensor(pos, perBatch ? [B, T] : [T]));
          // cos/sin of float64 angles rounded to float32: products carry ~1 ulp
          expectClose(y.data(), ropeRef(x, [B, T, H, D], cos, sin, pos), { atol: 1e-6, rtol: 1e-6 }, `rope ${[B, T, H, D]}`);
        });
      }
      // x given as a [B, H, T, D] tensor transposed to [B, T, H, D] (non-contiguous)
      const [B, T, H, D, P] = [2, 3, 2, 4, 8];
      const x = randomArray(B * T * H * D, 77);
      const { cos, sin } = tables(P, D);
      const pos = Int32Array.from([5, 0, 7]);
      tg.tidy(() => {
        const stored = fromArray(toBHTD(x, B, T, H, D), [B, H, T, D]).transpose(1, 2);
        const y = tg.applyRotary(stored, fromArray(cos, [P, D / 2]), fromArray(sin, [P, D / 2]), tg.tensor(pos, [T]));
        expectClose(y.data(), ropeRef(x, [B, T, H, D], cos, sin, pos), { atol: 1e-6, rtol: 1e-6 }, 'strided x');
      });
    });

    it('rotaryTables gives cos/sin of p * base^(-2i/D)', () => {
      tg.tidy(() => {
        const { cos, sin } = tg.rotaryTables(5, 8);
        const ref = tables(5, 8);
        expectClose(cos.data(), ref.cos, { atol: 1e-7, rtol: 0 }, 'cos');
        expectClose(sin.data(), ref.sin, { atol: 1e-7, rtol: 0 }, 'sin');
      });
    });

    it('gradient matches finite differences', () => {
      const [B, T, H, D, P] = [2, 3, 2, 6, 4];
      const { cos, sin } = tables(P, D);
      const pos = Int32Array.from([3, 1, 0, 2, 2, 3]);
      gradcheck({
        inputs: [{ values: randomArray(B * T * H * D, 31), shape: [B, T, H, D] }],
        engine: ([x]) => tg.applyRotary(x, fromArray(cos, [P, D / 2]), fromArray(sin, [P, D / 2]), tg.tensor(pos, [B, T])),
        reference: ([x]) => ropeRef(x, [B, T, H, D], cos, sin, pos),
      });
    });
  });

  describe('scaledDotProductAttention', () => {
    const cases: AttnShape[] = [
      { B: 1, Hq: 1, Hkv: 1, Tq: 1, Tk: 1, D: 4, causal: true },
      { B: 2, Hq: 4, Hkv: 2, Tq: 5, Tk: 5, D: 8, causal: true },
      { B: 1, Hq: 2, Hkv: 1, Tq: 70, Tk: 70, D: 16, causal: true }, // two query blocks of 64
      { B: 2, Hq: 6, Hkv: 2, Tq: 3, Tk: 140, D: 8, causal: true }, // KV-cache decode shape: Tq < Tk
      { B: 1, Hq: 2, Hkv: 2, Tq: 130, Tk: 130, D: 32, causal: false },
      { B: 1, Hq: 4, Hkv: 1, Tq: 65, Tk: 100, D: 64, causal: false, scale: 0.3 },
      // the decode path (Tq <= 4): D a multiple of 16 (unrolled dot products), key counts not multiples of 4
      { B: 3, Hq: 4, Hkv: 2, Tq: 1, Tk: 37, D: 64, causal: true },
      { B: 2, Hq: 2, Hkv: 2, Tq: 4, Tk: 23, D: 32, causal: true },
      { B: 1, Hq: 3, Hkv: 1, Tq: 2, Tk: 9, D: 16, causal: false, scale: 0.7 },
    ];
    // The backend's primitives on the views the model passes: q, k, v column slices of one fused projection row
    // (B, T, lead + (Hq + 2 Hkv) D) when Tq == Tk, else of a q and a kv projection; o, dk, dv written into
    // (B, H, T, D) storage through (B, T, H, D) strides. A lead of 1 misaligns every row (no 16-byte loads).
    const viewCases: (AttnShape & { lead: number })[] = [
      { B: 2, Hq: 4, Hkv: 2, Tq: 37, Tk: 37, D: 16, causal: true, lead: 1 },
      { B: 1, Hq: 4, Hkv: 2, Tq: 37, Tk: 37, D: 16, causal: false, lead: 0 },
      { B: 1, Hq: 7, Hkv: 1, Tq: 19, Tk: 45, D: 8, causal: true, lead: 0 }, // 7 query heads per kv head, Tq < Tk
      { B: 2, Hq: 2, Hkv: 1, Tq: 70, Tk: 33, D: 64, causal: false, lead: 0, scale: 0.2 }, // Tq > Tk, several query tiles
      { B: 1, Hq: 2, Hkv: 1, Tq: 21, Tk: 50, D: 128, causal: true, lead: 4 },
      { B: 1, Hq: 2, Hkv: 2, Tq: 9, Tk: 9, D: 5, causal: true, lead: 1 }, // odd head size
      // at most 4 queries: the decode path (cuda splits a lone row's 150 keys across blocks)
      { B: 1, Hq: 3, Hkv: 3, Tq: 4, Tk: 17, D: 33, causal: true, lead: 2 },
      { B: 2, Hq: 6, Hkv: 2, Tq: 3, Tk: 40, D: 32, causal: true, lead: 1 },
      { B: 1, Hq: 1, Hkv: 1, Tq: 1, Tk: 150, D: 64, causal: true, lead: 0 },
      // heads larger than cuda's tiles: its forward on the decode kernel and its backward by rows
      { B: 2, Hq: 4, Hkv: 2, Tq: 11, Tk: 11, D: 160, causal: true, lead: 0 },
      { B: 1, Hq: 3, Hkv: 1, Tq: 6, Tk: 13, D: 255, causal: false, lead: 1 },
      // left padding (key starts): rows of several lengths, a row all padding but its last key, a row all padding,
      // padding queries (slot < keyStart) when Tq < Tk, key tiles wholly before the start (skipped), GQA, tails
      { B: 3, Hq: 2, Hkv: 1, Tq: 70, Tk: 70, D: 16, causal: true, lead: 1, keyStart: [0, 66, 69] },
      { B: 2, Hq: 7, Hkv: 1, Tq: 19, Tk: 45, D: 8, causal: true, lead: 0, keyStart: [30, 45] },
      { B: 2, Hq: 2, Hkv: 1, Tq: 66, Tk: 130, D: 32, causal: true, lead: 0, keyStart: [100, 3] },
      { B: 3, Hq: 6, Hkv: 2, Tq: 3, Tk: 40, D: 32, causal: true, lead: 1, keyStart: [0, 7, 39] }, // decoding with a cache
      { B: 2, Hq: 1, Hkv: 1, Tq: 1, Tk: 150, D: 64, causal: true, lead: 0, keyStart: [90, 149] },
      { B: 2, Hq: 4, Hkv: 2, Tq: 11, Tk: 11, D: 160, causal: true, lead: 0, keyStart: [3, 10] }, // cuda by rows
    ];
    it('primitives match a float64 forward and backward on strided views (tails, Tq < Tk, GQA 2 and 7, odd D, key starts)', () => {
      for (const s of viewCases) tg.tidy(() => {
        const { B, Hq, Hkv, Tq, Tk, D } = s;
        const fused = Tq === Tk;
        const qWidth = s.lead + Hq * D + (fused ? 2 * Hkv * D : 0);
        const kvWidth = fused ? qWidth : s.lead + 2 * Hkv * D;
        const qRows = fromArray(randomArray(B * Tq * qWidth, 7 * Tq + D), [B, Tq, qWidth]);
        const kvRows = fused ? qRows : fromArray(randomArray(B * Tk * kvWidth, 11 * Tk + D), [B, Tk, kvWidth]);
        const kCol = fused ? s.lead + Hq * D : s.lead;
        const q = qRows.makeView([B, Tq, Hq, D], [Tq * qWidth, qWidth, D, 1], s.lead);
        const k = kvRows.makeView([B, Tk, Hkv, D], [Tk * kvWidth, kvWidth, D, 1], kCol);
        const v = kvRows.makeView([B, Tk, Hkv, D], [Tk * kvWidth, kvWidth, D, 1], kCol + Hkv * D);
        // (B, T, H, D) values of a slice, for the reference
        const slice = (rows: Float32Array | Int32Array, T: number, H: number, width: number, col: number) => {
          const out = new Float64Array(B * T * H * D);
          for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let i = 0; i < H * D; i++)
            out[(b * T + t) * H * D + i] = rows[(b * T + t) * width + col + i];
          return out;
        };
        const qv = slice(qRows.data(), Tq, Hq, qWidth, s.lead);
        const kvData = kvRows.data();
        const kv = slice(kvData, Tk, Hkv, kvWidth, kCol), vv = slice(kvData, Tk, Hkv, kvWidth, kCol + Hkv * D);
        const dOv = randomArray(B * Tq * Hq * D, 13 * Tq + D);
        const ref = attentionGradRef(qv, kv, vv, dOv, s);
        const headsMajor = (t: tg.Tensor, T: number, H: number) => t.makeView([B, T, H, D], [H * T * D, D, T * D, 1], 0);
        const o = tg.empty([B, Hq, Tq, D]), lse = tg.empty([B, Hq, Tq]);
        const keyStart = s.keyStart ? { keyStart: tg.tensor(Int32Array.from(s.keyStart), [B], { dtype: 'int32' }) } : {};
        const dims = { B, Tq, Tk, Hq, Hkv, D, scale: s.scale ?? 1 / Math.sqrt(D), causal: s.causal, precision: 'highest' as const,
          ...keyStart };
        const backend = qRows.backend;
        backend.attentionForward(headsMajor(o, Tq, Hq), lse, q, k, v, dims);
        const what = `${device} ${JSON.stringify(s)}`;
        expectClose(o.data(), toBHTD(ref.o, B, Tq, Hq, D), DOT_TOL, `o ${what}`);
        expectClose(lse.data(), ref.lse, DOT_TOL, `lse ${what}`);
        const dO = fromArray(dOv, [B, Tq, Hq, D]);
        const dq = tg.empty([B, Tq, Hq, D]), dk = tg.empty([B, Hkv, Tk, D]), dv = tg.empty([B, Hkv, Tk, D]);
        backend.attentionBackward(dq, headsMajor(dk, Tk, Hkv), headsMajor(dv, Tk, Hkv), dO, q, k, v, headsMajor(o, Tq, Hq), lse, dims);
        // gradients are sums of up to Tq * Hq / Hkv products of O(1) terms
        const gradTol = { atol: 1e-4, rtol: 1e-4 };
        expectClose(dq.data(), ref.dq, gradTol, `dq ${what}`);
        expectClose(dk.data(), toBHTD(ref.dk, B, Tk, Hkv, D), gradTol, `dk ${what}`);
        expectClose(dv.data(), toBHTD(ref.dv, B, Tk, Hkv, D), gradTol, `dv ${what}`);
      });
    });

    // At 'medium' the block products take bf16 operands (round to nearest even) with float32 sums: q, k, v and dO
    // are rounded in the reference too, which leaves P and dS, rounded to bf16 before their products on the bf16
    // paths (CPU AVX512-BF16, CUDA tensor cores), and float32 sums: a relative 2^-9 per term of sums of up to
    // Tk probabilities (o, dq) or Tq * Hq / Hkv O(1) terms (dk, dv). The scores' operands are rounded in the
    // reference, so lse keeps the float32 tolerance. Where medium computes in float32 the same bounds hold.
    it('primitives at medium match a float64 reference on bf16-rounded operands (tails, causal, GQA, D 16 to 128, odd D, key starts)', () => {
      const mediumCases: AttnShape[] = [
        { B: 1, Hq: 2, Hkv: 1, Tq: 70, Tk: 70, D: 16, causal: true }, // two query tiles, a key tail
        { B: 2, Hq: 4, Hkv: 2, Tq: 21, Tk: 50, D: 64, causal: true }, // Tq < Tk, GQA
        { B: 1, Hq: 2, Hkv: 2, Tq: 67, Tk: 33, D: 128, causal: false, scale: 0.2 }, // Tq > Tk, several query tiles
        { B: 1, Hq: 2, Hkv: 1, Tq: 70, Tk: 80, D: 128, causal: true }, // the second key tile skips the first queries
        { B: 1, Hq: 3, Hkv: 1, Tq: 9, Tk: 9, D: 5, causal: true }, // odd head size
        { B: 1, Hq: 1, Hkv: 1, Tq: 6, Tk: 130, D: 48, causal: false }, // D between tile widths, three key tiles
        // left padding: padding rows, a row all padding, key tiles wholly before the start skipped
        { B: 3, Hq: 2, Hkv: 1, Tq: 70, Tk: 70, D: 16, causal: true, keyStart: [0, 66, 69] },
        { B: 2, Hq: 2, Hkv: 1, Tq: 66, Tk: 130, D: 32, causal: true, keyStart: [100, 3] },
        { B: 2, Hq: 4, Hkv: 2, Tq: 21, Tk: 50, D: 64, causal: true, keyStart: [30, 50] },
      ];
      const bf16 = (x: number) => {
        const bits = new Uint32Array(new Float32Array([x]).buffer);
        bits[0] = (((bits[0] + 0x7fff + ((bits[0] >>> 16) & 1)) >>> 16) << 16) >>> 0;
        return new Float32Array(bits.buffer)[0];
      };
      // Medium computes in float32 where no bf16 kernel runs (an AVX2 CPU, or THINKGRAD_GEMM=avx2): operands unrounded.
      const round = tg.matmulKernel('medium', device).includes('bf16') ? bf16 : (x: number) => x;
      for (const s of mediumCases) tg.tidy(() => {
        const { B, Hq, Hkv, Tq, Tk, D } = s;
        const qv = randomArray(B * Tq * Hq * D, 31 * Tq + D), kv = randomArray(B * Tk * Hkv * D, 37 * Tk + D);
        const vv = randomArray(B * Tk * Hkv * D, 41 * Tk + D), dOv = randomArray(B * Tq * Hq * D, 43 * Tq + D);
        const ref = attentionGradRef(qv.map(round), kv.map(round), vv.map(round), dOv.map(round), s);
        const q = fromArray(qv, [B, Tq, Hq, D]), k = fromArray(kv, [B, Tk, Hkv, D]), v = fromArray(vv, [B, Tk, Hkv, D]);
        const keyStart = s.keyStart ? { keyStart: tg.tensor(Int32Array.from(s.keyStart), [B], { dtype: 'int32' }) } : {};
        const dims = { B, Tq, Tk, Hq, Hkv, D, scale: s.scale ?? 1 / Math.sqrt(D), causal: s.causal, precision: 'medium' as const,
          ...keyStart };
        const backend = q.backend;
        const o = tg.empty([B, Tq, Hq, D]), lse = tg.empty([B, Hq, Tq]);
        backend.attentionForward(o, lse, q, k, v, dims);
        const what = `${device} ${JSON.stringify(s)}`;
        expectClose(o.data(), ref.o, { atol: 1e-2, rtol: 1e-2 }, `o ${what}`);
        expectClose(lse.data(), ref.lse, DOT_TOL, `lse ${what}`);
        if (s === mediumCases[0]) {
          // Without its precision argument the entry point computes at its addon's default, as on the CPU.
          const addon = device === 'cuda' ? cudaAddon() : native;
          const strides = (T: number, H: number) => [T * H * D, H * D, D];
          const atDefault = (precision: tg.Float32MatmulPrecision) => {
            const o2 = tg.empty([B, Tq, Hq, D]), lse2 = tg.empty([B, Hq, Tq]);
            backend.setDefaultMatmulPrecision(precision);
            try {
              (addon.attentionForward as unknown as (...x: unknown[]) => void)(o2.storage.id, 0, strides(Tq, Hq), lse2.storage.id, 0,
                q.storage.id, 0, strides(Tq, Hq), k.storage.id, 0, strides(Tk, Hkv), v.storage.id, 0, strides(Tk, Hkv),
                B, Tq, Tk, Hq, Hkv, D, dims.scale, s.causal, 0, 0);
            } finally {
              backend.setDefaultMatmulPrecision('highest');
            }
            return Array.from(o2.data());
          };
          const highest = tg.empty([B, Tq, Hq, D]);
          backend.attentionForward(highest, tg.empty([B, Hq, Tq]), q, k, v, { ...dims, precision: 'highest' });
          expect(atDefault('medium')).toEqual(Array.from(o.data()));
          expect(atDefault('highest')).toEqual(Array.from(highest.data()));
        }
        const dq = tg.empty([B, Tq, Hq, D]), dk = tg.empty([B, Tk, Hkv, D]), dv = tg.empty([B, Tk, Hkv, D]);
        backend.attentionBackward(dq, dk, dv, fromArray(dOv, [B, Tq, Hq, D]), q, k, v, o, lse, dims);
        const gradTol = { atol: 3e-2, rtol: 2e-2 };
        expectClose(dq.data(), ref.dq, gradTol, `dq ${what}`);
        expectClose(dk.data(), ref.dk, gradTol, `dk ${what}`);
        expectClose(dv.data(), ref.dv, gradTol, `dv ${what}`);
      });
    });

    it('entry points of the device\'s addon reject bad views, dims and overlaps, naming the op', () => {
      tg.tidy(() => {
        const addon: Pick<ComputeAddon, 'attentionForward' | 'attentionBackward'> = device === 'cuda' ? cudaAddon() : native;
        const a = tg.empty([12]).storage.id, small = tg.empty([3]).storage.id, ints = tg.tensor(new Int32Array(12), [12]).storage.id;
        const s = [12, 4, 4];
        // attentionForward(o, lse, q, k, v, B, Tq, Tk, Hq, Hkv, D, scale, causal, keyStart, precision?) with o, lse in their own
        // buffers and q = k = v = a: (1, 3, 1, 4)
        const out = tg.empty([12]).storage.id, lse = tg.empty([3]).storage.id;
        const forward = (...over: [number, unknown][]) => {
          const args: unknown[] = [out, 0, s, lse, 0, a, 0, s, a, 0, s, a, 0, s, 1, 3, 3, 1, 1, 4, 0.5, true, 0, 0];
          for (const [i, value] of over) args[i] = value;
          return () => (addon.attentionForward as unknown as (...x: unknown[]) => void)(...args);
        };
        expect(forward()).not.toThrow();
        expect(forward([2, [12, 0, 4]])).toThrow(/attentionForward: o: strides \[12, 0, 4, 1\] overlap for shape/);
        expect(forward([7, [12, 8, 4]])).toThrow(/attentionForward: q: view/);
        expect(forward([10, [12, 4]])).toThrow(/attentionForward: k strides must be \[sB, sT, sH\]/);
        expect(forward([5, ints])).toThrow(/attentionForward: q must be float32, got int32/);
        expect(forward([3, small], [4, 1])).toThrow(/attentionForward: lse: elements \[1, 4\) exceed its buffer of 3/);
        expect(forward([17, 3], [18, 2])).toThrow(/attentionForward: Hq must be a multiple of Hkv/);
        expect(forward([15, 3], [16, 2])).toThrow(/attentionForward: causal attention needs Tq <= Tk/);
        expect(forward([20, NaN])).toThrow(/attentionForward: scale must be finite/);
        expect(forward([24, 'low'])).toThrow(/attentionForward: precision must be 'highest' or 'medium', got 'low'/);
        expect(forward([0, a])).toThrow(/attentionForward: o overlaps q/);
        expect(forward([3, a], [4, 0])).toThrow(/attentionForward: lse overlaps q/);
        const starts = (values: number[]) => tg.tensor(Int32Array.from(values), [values.length], { dtype: 'int32' }).storage.id;
        expect(forward([22, starts([3])])).not.toThrow();
        expect(forward([22, a])).toThrow(/attentionForward: keyStart must be int32, got float32/);
        expect(forward([22, starts([4])])).toThrow(/attentionForward: keyStart\[0\] = 4 is outside \[0, Tk = 3\]/);
        expect(forward([22, starts([-1])])).toThrow(/attentionForward: keyStart\[0\] = -1 is outside/);
        expect(forward([22, starts([0])], [23, 1])).toThrow(/attentionForward: keyStart: elements \[1, 2\) exceed its buffer of 1/);
        expect(forward([22, starts([0])], [21, false])).toThrow(/attentionForward: keyStart \(left padding\) needs causal attention/);
        if (device === 'cuda') {
          const wide = tg.empty([300]).storage.id, outWide = tg.empty([300]).storage.id, lseWide = tg.empty([1]).storage.id;
          const sw = [300, 300, 300];
          expect(forward([0, outWide], [2, sw], [3, lseWide], [5, wide], [7, sw], [8, wide], [10, sw], [11, wide], [13, sw], [15, 1], [16, 1],
            [19, 300])).toThrow(/attentionForward: head dim D = 300 exceeds 256/);
        }
        const dq = tg.empty([12]).storage.id, dk = tg.empty([12]).storage.id;
        const backward = (dv: number) => () => addon.attentionBackward(dq, 0, s, dk, 0, s, dv, 0, s, a, 0, s, a, 0, s, a, 0, s, a, 0, s,
          a, 0, s, lse, 0, 1, 3, 3, 1, 1, 4, 0.5, true, 0, 0);
        expect(backward(tg.empty([12]).storage.id)).not.toThrow();
        expect(backward(dk)).toThrow(/attentionBackward: dk overlaps dv/);
        expect(backward(a)).toThrow(/attentionBackward: dv overlaps do/);
        const dvOwn = tg.empty([12]).storage.id;
        expect(() => (addon.attentionBackward as unknown as (...x: unknown[]) => void)(dq, 0, s, dk, 0, s, dvOwn, 0, s, a, 0, s, a, 0,
          s, a, 0, s, a, 0, s, a, 0, s, lse, 0, 1, 3, 3, 1, 1, 4, 0.5, true, starts([7]), 0)).toThrow(/attentionBackward: keyStart\[0\] = 7 is outside/);
        const qkv = tg.randn([1, 1, 3, 4]);
        const sdpa = (keyStart: tg.Tensor, causal = true) => () => tg.scaledDotProductAttention(qkv, qkv, qkv, { causal, keyStart });
        expect(sdpa(tg.zeros([1]))).toThrow(/scaledDotProductAttention: keyStart must be int32/);
        expect(sdpa(tg.tensor(new Int32Array(2), [2], { dtype: 'int32' }))).toThrow(/scaledDotProductAttention: keyStart must be int32 \[1\], got int32 \[2\]/);
        expect(sdpa(tg.tensor(new Int32Array(1), [1], { dtype: 'int32' }), false)).toThrow(/scaledDotProductAttention: keyStart \(left padding\) needs causal attention/);
      });
    });

    it('matches the reference (GQA, Tq < Tk, multiple query blocks, both layouts)', () => {
      for (const s of cases) {
        const q = randomArray(s.B * s.Hq * s.Tq * s.D, s.Tq + 1);
        const k = randomArray(s.B * s.Hkv * s.Tk * s.D, s.Tk + 2);
        const v = randomArray(s.B * s.Hkv * s.Tk * s.D, s.Tk + 3);
        const ref = attentionRef(q, k, v, s);
        const opts = { causal: s.causal, scale: s.scale };
        tg.tidy(() => {
          const o = tg.scaledDotProductAttention(fromArray(q, [s.B, s.Hq, s.Tq, s.D]), fromArray(k, [s.B, s.Hkv, s.Tk, s.D]),
            fromArray(v, [s.B, s.Hkv, s.Tk, s.D]), opts);
          expect(o.shape).toEqual([s.B, s.Hq, s.Tq, s.D]);
          expectClose(o.data(), ref, DOT_TOL, `attention ${JSON.stringify(s)}`);
          // the same values stored [B, T, H, D] and transposed: read through strides, no copy
          const asBTHD = (vals: Float64Array, H: number, T: number) => {
            const bthd = new Float64Array(vals.length);
            for (let b = 0; b < s.B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let d = 0; d < s.D; d++)
              bthd[((b * T + t) * H + h) * s.D + d] = vals[((b * H + h) * T + t) * s.D + d];
            return fromArray(bthd, [s.B, T, H, s.D]).transpose(1, 2);
          };
          const o2 = tg.scaledDotProductAttention(asBTHD(q, s.Hq, s.Tq), asBTHD(k, s.Hkv, s.Tk), asBTHD(v, s.Hkv, s.Tk), opts);
          expectClose(o2.data(), ref, DOT_TOL, `attention (B,T,H,D) storage ${JSON.stringify(s)}`);
        });
      }
    });

    it('stores o (B, T, H, D) and each gradient in its input\'s layout, so the model transposes without copies', () => {
      tg.tidy(() => {
        const [B, T, H, D] = [2, 5, 3, 4];
        const q = tg.randn([B, T, H, D]).requiresGrad_();
        const k = tg.randn([B, T, H, D]).requiresGrad_();
        const v = tg.randn([B, H, T, D]).requiresGrad_(); // (B, H, T, D) storage stays that way
        const o = tg.scaledDotProductAttention(q.transpose(1, 2), k.transpose(1, 2), v, { causal: true });
        expect(o.shape).toEqual([B, H, T, D]);
        expect(o.transpose(1, 2).isContiguous()).toBe(true);
        const ref = tg.noGrad(() => tg.scaledDotProductAttention(tg.contiguous(q.transpose(1, 2)), tg.contiguous(k.transpose(1, 2)), v, { causal: true }));
        expectClose(o.data(), ref.data(), DOT_TOL, 'o in (B, T, H, D) storage');
        o.mul(tg.randn([B, H, T, D])).sum().backward();
        for (const t of [q, k, v]) {
          expect(t.grad!.shape).toEqual(t.shape);
          expect(t.grad!.isContiguous()).toBe(true);
        }
        for (const t of [q, k, v]) t.zeroGrad();
      });
    });

    it('accepts inputs whose last dim is strided (copied first)', () => {
      const s = { B: 1, Hq: 2, Hkv: 1, Tq: 4, Tk: 4, D: 3, causal: true };
      const q = randomArray(2 * 4 * 3, 1), k = randomArray(4 * 3, 2), v = randomArray(4 * 3, 3);
      tg.tidy(() => {
        // q stored [B, Hq, D, Tq] and transposed: last-dim stride Tq
        const qT = new Float64Array(q.length);
        for (let h = 0; h < 2; h++) for (let t = 0; t < 4; t++) for (let d = 0; d < 3; d++) qT[(h * 3 + d) * 4 + t] = q[(h * 4 + t) * 3 + d];
        const qv = fromArray(qT, [1, 2, 3, 4]).transpose(2, 3);
        const o = tg.scaledDotProductAttention(qv, fromArray(k, [1, 1, 4, 3]), fromArray(v, [1, 1, 4, 3]), { causal: true });
        expectClose(o.data(), attentionRef(q, k, v, s), DOT_TOL, 'strided last dim');
      });
    });

    it('gradients of q, k, v match finite differences (causal GQA, Tq < Tk, non-causal, key starts)', () => {
      const shapes: AttnShape[] = [
        { B: 1, Hq: 4, Hkv: 2, Tq: 3, Tk: 3, D: 4, causal: true },
        { B: 2, Hq: 2, Hkv: 1, Tq: 2, Tk: 5, D: 3, causal: true },
        { B: 1, Hq: 2, Hkv: 2, Tq: 4, Tk: 3, D: 2, causal: false },
        { B: 2, Hq: 2, Hkv: 1, Tq: 3, Tk: 5, D: 3, causal: true, keyStart: [1, 4] },
        { B: 3, Hq: 2, Hkv: 2, Tq: 4, Tk: 4, D: 2, causal: true, keyStart: [2, 0, 4] },
      ];
      for (const s of shapes) {
        gradcheck({
          inputs: [
            { values: randomArray(s.B * s.Hq * s.Tq * s.D, 41), shape: [s.B, s.Hq, s.Tq, s.D] },
            { values: randomArray(s.B * s.Hkv * s.Tk * s.D, 42), shape: [s.B, s.Hkv, s.Tk, s.D] },
            { values: randomArray(s.B * s.Hkv * s.Tk * s.D, 43), shape: [s.B, s.Hkv, s.Tk, s.D] },
          ],
          engine: ([q, k, v]) => tg.scaledDotProductAttention(q, k, v, {
            causal: s.causal, ...(s.keyStart ? { keyStart: tg.tensor(Int32Array.from(s.keyStart), [s.B], { dtype: 'int32' }) } : {}),
          }),
          reference: ([q, k, v]) => attentionRef(q, k, v, s),
        });
      }
    });
  });

  describe('swiglu', () => {
    const silu = (x: number) => x / (1 + Math.exp(-x));
    const swigluRef = (g: Float64Array, u: Float64Array) => g.map((x, i) => silu(x) * u[i]);
    it('matches silu(gate) * up, with edge values and strided inputs', () => {
      const n = 3 * 700; // spans several parallel chunks' worth of vector tails
      const g = randomArray(n, 61, 4);
      const u = randomArray(n, 62);
      g.set([0, -30, 30, -100, 100, 1e-8]);
      tg.tidy(() => {
        const h = tg.swiglu(fromArray(g, [3, 700]), fromArray(u, [3, 700]));
        expect(h.shape).toEqual([3, 700]);
        expectClose(h.data(), swigluRef(g, u), SOFTMAX_TOL, 'swiglu');
        // transposed views are read through a copy
        const gt = fromArray(g, [700, 3]).transpose(0, 1);
        const ut = fromArray(u, [700, 3]).transpose(0, 1);
        const ht = tg.swiglu(gt, ut);
        const gT = Float64Array.from({ length: n }, (_, i) => g[(i % 700) * 3 + Math.floor(i / 700)]);
        const uT = Float64Array.from({ length: n }, (_, i) => u[(i % 700) * 3 + Math.floor(i / 700)]);
        expectClose(ht.data(), swigluRef(gT, uT), SOFTMAX_TOL, 'swiglu strided');
        expect(tg.swiglu(tg.zeros([0, 4]), tg.zeros([0, 4])).shape).toEqual([0, 4]);
      });
    });

    it('gradients of gate and up match finite differences', () => {
      gradcheck({
        inputs: [{ values: randomArray(24, 63, 3), shape: [2, 3, 4] }, { values: randomArray(24, 64), shape: [2, 3, 4] }],
        engine: ([g, u]) => tg.swiglu(g, u),
        reference: ([g, u]) => swigluRef(g, u),
      });
    });

    it('rejects bad inputs; native entry points check ranges and overlaps', () => {
      expect(() => tg.swiglu(tg.zeros([2, 3]), tg.zeros([3, 2]))).toThrow(/swiglu: gate \[2, 3\] and up \[3, 2\] must have the same shape/);
      expect(() => tg.swiglu(tg.zeros([2]), tg.tensor(new Int32Array(2), [2]))).toThrow(/up must be float32/);
      const a = native.alloc(8, 0);
      const small = native.alloc(3, 0);
      expect(() => native.swigluForward(small, 0, a, 0, a, 4, 4)).toThrow(/swigluForward: h: elements \[0, 4\) exceed its buffer of 3/);
      expect(() => native.swigluForward(a, 1, a, 0, a, 4, 4)).toThrow(/h overlaps gate/);
      expect(() => native.swigluForward(a, 0, a, 0, a, 4, -1)).toThrow(/n must be >= 0/);
      expect(() => native.swigluBackward(a, 0, a, 0, small, 0, a, 4, a, 4, 3)).toThrow(/dgate overlaps dup/);
      expect(() => native.swigluBackward(a, 0, a, 4, small, 0, a, 0, a, 4, 3)).not.toThrow(); // exact in place
      for (const id of [a, small]) expect(native.free(id)).toBe(true);
    });
  });

  describe('crossEntropy', () => {
    it('matches the reference per row, summed and averaged over non-ignored rows', () => {
      for (const [N, V, scale, ignore] of [[1, 1, 1, -100], [9, 33, 2, -100], [40, 3000, 10, -100], [5, 17, 1e3, 3]]) {
        const x = randomArray(N * V, N + V, scale);
        const t = randomInts(N, V, N);
        for (let n = 1; n < N; n += 4) t[n] = ignore;
        const ref = crossEntropyRef(x, V, t, ignore);
        const kept = t.filter((v) => v !== ignore).length;
        const total = ref.reduce((a, b) => a + b, 0);
        // loss = (max - x[t]) + log(sum): exact subtraction, then one fast_log; relative to the loss size
        const tol = { atol: 1e-5 * Math.max(1, scale / 10), rtol: 1e-5 };
        tg.tidy(() => {
          const logits = fromArray(x, [N, V]);
          const targets = tg.tensor(t, [N]);
          expectClose(tg.crossEntropy(logits, targets, { ignoreIndex: ignore, reduction: 'none' }).data(), ref, tol, `rows ${N}x${V}`);
          expectClose(tg.crossEntropy(logits, targets, { ignoreIndex: ignore, reduction: 'sum' }).data(), [total], { atol: tol.atol * N, rtol: 1e-5 }, 'sum');
          expectClose(tg.crossEntropy(logits, targets, { ignoreIndex: ignore }).data(), [total / kept], { atol: tol.atol, rtol: 1e-5 }, 'mean');
        });
      }
    });

    it('accepts [B, T, V] logits as a transposed view; mean over all-ignored rows is NaN', () => {
      const [B, T, V] = [2, 3, 5];
      const x = randomArray(B * T * V, 8);
      const t = randomInts(B * T, V, 9);
      tg.tidy(() => {
        const stored = fromArray(x, [T, B, V]).transpose(0, 1); // [B, T, V] view
        const xb = Float64Array.from({ length: B * T * V }, (_, i) => {
          const b = Math.floor(i / (T * V)), tt = Math.floor(i / V) % T, v = i % V;
          return x[(tt * B + b) * V + v];
        });
        const loss = tg.crossEntropy(stored, tg.tensor(t, [B, T]), { reduction: 'none' });
        expect(loss.shape).toEqual([B, T]);
        expectClose(loss.data(), crossEntropyRef(xb, V, t, -100), { atol: 1e-5, rtol: 1e-5 }, 'strided');
        const all = tg.crossEntropy(fromArray(x.slice(0, 2 * V), [2, V]), tg.tensor(Int32Array.from([-100, -100]), [2]));
        expect(Number.isNaN(all.item())).toBe(true);
      });
    });

    it('gradient matches finite differences, with ignored rows', () => {
      const [N, V] = [6, 5];
      const t = Int32Array.from([0, -100, 4, 2, -100, 1]);
      gradcheck({
        inputs: [{ values: randomArray(N * V, 51, 2), shape: [N, V] }],
        engine: ([x]) => tg.crossEntropy(x, tg.tensor(t, [N]), { reduction: 'none' }),
        reference: ([x]) => crossEntropyRef(x, V, t, -100),
      });
      const kept = 4;
      gradcheck({
        inputs: [{ values: randomArray(N * V, 52, 2), shape: [N, V] }],
        engine: ([x]) => tg.crossEntropy(x, tg.tensor(t, [N])).reshape([1]),
        reference: ([x]) => Float64Array.of(crossEntropyRef(x, V, t, -100).reduce((a, b) => a + b, 0) / kept),
      });
    });

    it('native backward can write dlogits into the logits buffer', () => {
      const [N, V] = [3, 7];
      const x = randomArray(N * V, 61, 3);
      const t = Int32Array.from([6, -100, 0]);
      const g = Float32Array.from([0.5, 2, -1]);
      tg.tidy(() => {
        const logits = fromArray(x, [N, V]);
        const targets = tg.tensor(t, [N]);
        const gt = tg.tensor(g, [N]);
        const loss = tg.zeros([N]);
        const lse = tg.zeros([N]);
        const be = getBackend(device);
        be.crossEntropyForward(loss, lse, logits, targets, N, V, -100);
        be.crossEntropyBackward(logits, gt, logits, lse, targets, N, V, -100);
        const p = softmaxRef(x, V, false);
        const ref = p.map((v, i) => {
          const n = Math.floor(i / V);
          return t[n] === -100 ? 0 : g[n] * (v - (i % V === t[n] ? 1 : 0));
        });
        expectClose(logits.data(), ref, { atol: 1e-6, rtol: 1e-5 }, 'in-place dlogits');
      });
    });
  });

  describe('adamwStep', () => {
    it('matches a float64 AdamW over several steps (torch.optim.AdamW order)', () => {
      const n = 1001;
      const [lr, b1, b2, eps, wd] = [1e-2, 0.9, 0.95, 1e-8, 0.1];
      const p0 = randomArray(n, 71);
      const rp = Float64Array.from(p0), rm = new Float64Array(n), rv = new Float64Array(n);
      tg.tidy(() => {
        const p = fromArray(p0, [n]);
        const m = tg.zeros([n]);
        const v = tg.zeros([n]);
        for (let step = 1; step <= 6; step++) {
          const g = randomArray(n, 100 + step);
          tg.adamwStep(p, fromArray(g, [n]), m, v, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, step });
          for (let i = 0; i < n; i++) {
            rp[i] *= 1 - lr * wd;
            rm[i] = b1 * rm[i] + (1 - b1) * g[i];
            rv[i] = b2 * rv[i] + (1 - b2) * g[i] * g[i];
            rp[i] -= (lr / (1 - b1 ** step)) * rm[i] / (Math.sqrt(rv[i]) / Math.sqrt(1 - b2 ** step) + eps);
          }
        }
        // six float32 updates of O(lr) each: a few ulp of |p| ~ 1 plus ~1e-7 per step
        expectClose(p.data(), rp, { atol: 2e-6, rtol: 1e-5 }, 'param');
        expectClose(m.data(), rm, { atol: 1e-6, rtol: 1e-5 }, 'm');
        expectClose(v.data(), rv, { atol: 1e-7, rtol: 1e-5 }, 'v');
      });
    });
  });

  describe('bad inputs throw and the process lives', () => {
    it('rejects wrong shapes, dtypes, disposed tensors and out-of-range indices', () => {
      tg.tidy(() => {
        const x = tg.randn([2, 3, 4, 8]);
        const { cos, sin } = tg.rotaryTables(4, 8);
        expect(() => tg.softmax(tg.tensor(new Int32Array(3), [3]))).toThrow(/softmax: x must be float32, got int32/);
        expect(() => tg.softmax(x, 4)).toThrow(RangeError);
        expect(() => tg.rmsNorm(x, tg.ones([7]))).toThrow(/rmsNorm: weight \[7\] must be \[C\] for x \[2, 3, 4, 8\]/);
        expect(() => tg.rmsNorm(x, tg.ones([8]), NaN)).toThrow(/eps/);
        expect(() => tg.applyRotary(x, cos, sin, tg.tensor(Int32Array.from([0, 1, 4]), [3]))).toThrow(/ropeForward: positions\[2\] = 4 is outside/);
        expect(() => tg.applyRotary(x, cos, sin, tg.tensor(Int32Array.from([0, 1]), [2]))).toThrow(/positions \[2\] must be \[3\] or \[2, 3\]/);
        expect(() => tg.applyRotary(x, cos, sin, tg.tensor([0, 1, 2]))).toThrow(/positions must be int32/);
        expect(() => tg.applyRotary(tg.randn([2, 3, 4, 6]), cos, sin, tg.tensor(new Int32Array(3), [3]))).toThrow(/must both be \[P, 3\]/);
        const q = tg.randn([1, 3, 4, 8]);
        const kv = tg.randn([1, 2, 4, 8]);
        expect(() => tg.scaledDotProductAttention(q, kv, kv)).toThrow(/query heads 3 must be a multiple of kv heads 2/);
        expect(() => tg.scaledDotProductAttention(tg.randn([1, 2, 5, 8]), kv, kv, { causal: true })).toThrow(/Tq <= Tk/);
        expect(() => tg.scaledDotProductAttention(tg.randn([1, 2, 4, 4]), kv, kv)).toThrow(RangeError);
        expect(() => tg.scaledDotProductAttention(q.reshape([12, 8]), kv, kv)).toThrow(/\[B, H, T, D\]/);
        const logits = tg.randn([3, 5]);
        expect(() => tg.crossEntropy(logits, tg.tensor(Int32Array.from([0, 5, 1]), [3]))).toThrow(/crossEntropyForward: targets\[1\] = 5 is outside \[0, 5\)/);
        expect(() => tg.crossEntropy(logits, tg.tensor(Int32Array.from([0, 1]), [2]))).toThrow(/targets \[2\] must be \[3\]/);
        expect(() => tg.crossEntropy(logits, tg.tensor([0, 1, 2]))).toThrow(/targets must be int32/);
        expect(() => tg.crossEntropy(logits, tg.tensor(new Int32Array(3), [3]), { reduction: 'avg' as 'mean' })).toThrow(TypeError);
        const p = tg.zeros([4]);
        expect(() => tg.adamwStep(p, tg.zeros([5]), tg.zeros([4]), tg.zeros([4]), { step: 1 })).toThrow(/same number of elements/);
        expect(() => tg.adamwStep(p, tg.zeros([4]), tg.zeros([4]), tg.zeros([4]), { step: 0 })).toThrow(/step must be/);
        expect(() => tg.adamwStep(p, p, tg.zeros([4]), tg.zeros([4]), { step: 1 })).toThrow(/param overlaps grad/);
        expect(() => tg.adamwStep(tg.zeros([2, 2]).transpose(0, 1), tg.zeros([4]), tg.zeros([4]), tg.zeros([4]), { step: 1 })).toThrow(/contiguous/);
        const gone = tg.randn([2, 3]);
        gone.dispose();
        for (const f of [() => tg.softmax(gone), () => tg.logSoftmax(gone), () => tg.rmsNorm(gone, tg.ones([3])),
          () => tg.crossEntropy(gone, tg.tensor(new Int32Array(2), [2])), () => tg.scaledDotProductAttention(gone, kv, kv),
          () => tg.adamwStep(gone, gone, gone, gone, { step: 1 })]) expect(f).toThrow(/disposed/);
        expect(() => tg.applyRotary('x' as unknown as tg.Tensor, cos, sin, tg.tensor(new Int32Array(3), [3]))).toThrow(TypeError);
        // still alive and correct
        expectClose(tg.softmax(tg.tensor([0, 0], [2])).data(), [0.5, 0.5], SOFTMAX_TOL, 'after errors');
      });
    });

    it('native entry points validate ids, ranges, strides and overlaps', () => {
      const a = native.alloc(12, 0);
      const small = native.alloc(3, 0);
      const ints = native.alloc(3, 1);
      expect(() => native.softmaxForward(small, 0, a, 0, 3, 4)).toThrow(/softmaxForward: y: elements \[0, 12\) exceed its buffer of 3/);
      expect(() => native.softmaxForward(a, 0, ints, 0, 1, 3)).toThrow(/x must be float32, got int32/);
      expect(() => native.softmaxForward(a, 1, a, 0, 2, 4)).toThrow(/overlaps/);
      expect(() => native.logSoftmaxBackward(a, 0, a, 0, 987654, 0, 3, 4)).toThrow(/disposed or unknown buffer/);
      expect(() => native.rmsnormForward(a, 0, small, 0, a, 0, small, 0, 3, 4, 1e-5)).toThrow(/weight: elements/);
      expect(() => native.rmsnormBackward(a, 0, small, 0, a, 0, a, 0, small, 0, small, 0, 3, 0)).toThrow(/cols must be positive/);
      expect(() => native.ropeForward(a, 0, a, 0, small, 0, small, 0, ints, 0, 1, 3, 1, 3, 1, false, false)).toThrow(/even/);
      const s = [12, 4, 4];
      expect(() => native.attentionForward(a, 0, [12, 0, 4], small, 0, a, 0, s, a, 0, s, a, 0, s, 1, 3, 3, 1, 1, 4, 1, true, 0, 0)).toThrow(/overlap for shape/);
      expect(() => native.attentionForward(a, 0, s, small, 0, a, 0, [12, 8, 4], a, 0, s, a, 0, s, 1, 3, 3, 1, 1, 4, 1, true, 0, 0)).toThrow(/q: view/);
      expect(() => native.attentionForward(a, 0, [12, 4], small, 0, a, 0, s, a, 0, s, a, 0, s, 1, 3, 3, 1, 1, 4, 1, true, 0, 0)).toThrow(/\[sB, sT, sH\]/);
      expect(() => native.attentionBackward(a, 0, s, a, 0, s, a, 0, s, a, 0, s, a, 0, s, a, 0, s, a, 0, s, a, 0, s, small, 0, 1, 3, 3, 1, 1, 4, 1, true, 0, 0)).toThrow(/overlaps/);
      expect(() => native.crossEntropyBackward(a, 0, small, 0, a, 0, small, 0, ints, 0, 3, 4, 1.5)).toThrow(/ignoreIndex must be an integer/);
      expect(() => native.adamwStep(a, 0, a, 6, small, 0, small, 0, 3, 1e-3, 1.5, 0.9, 1e-8, 0, 1)).toThrow(/beta1 and beta2/);
      expect(() => (native.adamwStep as unknown as (...x: number[]) => void)(a, 0)).toThrow(/missing argument/);
      for (const id of [a, small, ints]) expect(native.free(id)).toBe(true);
    });

    it('frees every intermediate: forward + backward inside tidy leaves no buffers behind', () => {
      const before = tg.memory().numBuffers;
      tg.tidy(() => {
        const x = tg.randn([2, 4, 3, 8]).requiresGrad_();
        const w = tg.ones([8]).requiresGrad_();
        const { cos, sin } = tg.rotaryTables(8, 8);
        const h = tg.applyRotary(tg.rmsNorm(x, w), cos, sin, tg.tensor(Int32Array.from([0, 1, 2, 3]), [4]));
        const a = tg.scaledDotProductAttention(h.transpose(1, 2), h.transpose(1, 2), h.transpose(1, 2), { causal: true });
        const logits = a.transpose(1, 2).reshape([8, 24]);
        const loss = tg.crossEntropy(tg.logSoftmax(logits), tg.tensor(Int32Array.from([0, 1, 2, 3, -100, 5, 6, 7]), [8]));
        loss.backward();
        expect(x.grad).not.toBeNull();
        expect(w.grad).not.toBeNull();
      });
      tg.noGrad(() => tg.tidy(() => {
        tg.crossEntropy(tg.randn([2, 3]), tg.tensor(Int32Array.from([0, 1]), [2]));
      }));
      expect(tg.memory().numBuffers).toBe(before);
    });
  });
}));
