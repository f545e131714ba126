// The row kernels (reductions, index ops, softmax family, cross-entropy, RMSNorm, RoPE) called through the
// Backend seam on raw buffers, once per device, against float64 references. Shapes pick the device paths: a warp
// per row (<= 1024 columns) and a block per row (more), 16-byte loads (columns a multiple of 4 at an aligned
// offset) and scalar tails (odd columns, odd offsets), few very long rows cut into segments, column reductions
// split over rows, many rows (several blocks), bad indices/targets/positions and NaN logits.
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/backend/registry.js';
import type { Backend, DType, ReduceOpName, TensorView } from '../src/backend/backend.js';
import { expectClose, forEachBackend, randomArray, randomInts } from './helpers/reference.js';

interface Buf extends TensorView {
  free(): void;
}

// A buffer of `pad + values.length` elements; the view starts at `pad` (an odd pad breaks 16-byte alignment).
function buffer(be: Backend, values: ArrayLike<number>, dtype: DType = 'float32', pad = 0): Buf {
  const id = be.alloc(pad + values.length, dtype);
  const host = dtype === 'float32' ? new Float32Array(pad + values.length) : new Int32Array(pad + values.length);
  host.set(Array.from(values), pad);
  be.write(id, 0, host);
  return { storage: { id }, dtype, shape: [values.length], strides: [1], offset: pad, numel: values.length, free: () => be.free(id) };
}
function read(be: Backend, b: Buf): number[] {
  const host = b.dtype === 'float32' ? new Float32Array(b.numel) : new Int32Array(b.numel);
  be.read(b.storage.id, b.offset, host);
  return Array.from(host);
}
function rowsOf(x: ArrayLike<number>, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => x[r * cols + c]));
}
function lse(row: number[]): number {
  const m = Math.max(...row);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
}

const sumTol = { atol: 1e-4, rtol: 1e-5 };
const expTol = { atol: 2e-6, rtol: 2e-5 };

forEachBackend((device) => {
  const be = getBackend(device);

  describe(`row kernels on ${device}`, () => {
    it('reduceRows: every op, warp and block rows, vector and scalar loads, split long rows, NaN and ties', () => {
      const shapes: [number, number, number][] = [[37, 40, 0], [5, 37, 3], [3, 1500, 1], [4, 1028, 0], [2, 40001, 0], [3, 40000, 0]];
      for (const [rows, cols, pad] of shapes) {
        const x = Array.from(randomArray(rows * cols, rows * 7 + cols));
        x[cols + 3] = x[cols + 1];  // a tie in row 1
        if (rows > 2) x[2 * cols + cols - 2] = NaN;  // NaN late in row 2
        const xb = buffer(be, x, 'float32', pad);
        const data = rowsOf(x, rows, cols);
        for (const op of ['sum', 'mean', 'max', 'min', 'logsumexp', 'argmax', 'argmin'] as ReduceOpName[]) {
          const arg = op === 'argmax' || op === 'argmin';
          const out = buffer(be, new Array(rows).fill(0), arg ? 'int32' : 'float32');
          be.reduceRows(op, out, xb, rows, cols);
          const expected = data.map((row) => {
            const nan = row.findIndex(Number.isNaN);
            switch (op) {
              case 'sum': return row.reduce((s, v) => s + v, 0);
              case 'mean': return row.reduce((s, v) => s + v, 0) / cols;
              case 'max': return nan >= 0 ? NaN : Math.max(...row);
              case 'min': return nan >= 0 ? NaN : Math.min(...row);
              case 'logsumexp': return nan >= 0 ? NaN : lse(row);
              case 'argmax': return nan >= 0 ? nan : row.indexOf(Math.max(...row));
              default: return nan >= 0 ? nan : row.indexOf(Math.min(...row));
            }
          });
          const got = read(be, out);
          if (arg || op === 'max' || op === 'min') expect(got, `${op} (${rows}, ${cols})`).toEqual(expected.map((v) => Math.fround(v)));
          else expectClose(got, expected, { atol: 1e-4 * Math.sqrt(cols), rtol: 1e-5 }, `${op} (${rows}, ${cols})`);
          out.free();
        }
        xb.free();
      }
    });

    it('reduceRows: logsumexp of +inf and all -inf rows, empty rows, and bad arguments naming the op', () => {
      const x = [1, Infinity, 2, -Infinity, -Infinity, -Infinity];
      const xb = buffer(be, x);
      const out = buffer(be, [0, 0]);
      be.reduceRows('logsumexp', out, xb, 2, 3);
      expect(read(be, out)).toEqual([Infinity, -Infinity]);
      be.reduceRows('sum', out, xb, 2, 0);
      expect(read(be, out)).toEqual([0, 0]);
      be.reduceRows('mean', out, xb, 2, 0);
      expect(read(be, out).every(Number.isNaN)).toBe(true);
      const iout = buffer(be, [0, 0], 'int32');
      expect(() => be.reduceRows('argmax', iout, xb, 2, 0)).toThrow(/reduceRows: argmax\/argmin of an empty dimension/);
      iout.free();
      expect(() => be.reduceRows('sum', out, xb, 3, 3)).toThrow(RangeError);
      expect(() => be.reduceCols('logsumexp', out, xb, 2, 3)).toThrow(/reduceCols: argmax\/argmin\/logsumexp reduce rows only/);
      xb.free();
      out.free();
    });

    it('reduceCols: sum, mean, max, min with the rows split over blocks, NaN columns and no rows', () => {
      for (const [rows, cols, pad] of [[300, 70, 1], [3, 50, 0], [1000, 3, 0]] as const) {
        const x = Array.from(randomArray(rows * cols, rows + cols));
        x[(rows - 1) * cols + 1] = NaN;
        const xb = buffer(be, x, 'float32', pad);
        const data = rowsOf(x, rows, cols);
        for (const op of ['sum', 'mean', 'max', 'min'] as ReduceOpName[]) {
          const out = buffer(be, new Array(cols).fill(0));
          be.reduceCols(op, out, xb, rows, cols);
          const expected = Array.from({ length: cols }, (_, c) => {
            const col = data.map((row) => row[c]);
            if (op === 'sum' || op === 'mean') return col.reduce((s, v) => s + v, 0) / (op === 'mean' ? rows : 1);
            return col.some(Number.isNaN) ? NaN : op === 'max' ? Math.max(...col) : Math.min(...col);
          });
          const got = read(be, out);
          if (op === 'max' || op === 'min') expect(got).toEqual(expected.map((v) => Math.fround(v)));
          else expectClose(got, expected, { atol: 1e-4 * Math.sqrt(rows), rtol: 1e-5 }, `${op} (${rows}, ${cols})`);
          out.free();
        }
        xb.free();
      }
      const xb = buffer(be, [1]);
      const out = buffer(be, [5, 5, 5, 5]);
      for (const [op, v] of [['sum', 0], ['max', -Infinity], ['min', Infinity]] as const) {
        be.reduceCols(op, out, xb, 0, 4);
        expect(read(be, out)).toEqual([v, v, v, v]);
      }
      xb.free();
      out.free();
    });

    it('indexSelect, indexAdd, gather, scatterAdd: repeats, vector rows, int32 data, many rows', () => {
      // [3, 6, 8, 11] at offset 0 moves whole rows as 16-byte vectors; at offset 1, element by element.
      for (const [outer, dim, inner, count, pad] of [[2, 7, 5, 9, 1], [3, 6, 8, 11, 0], [3, 6, 8, 11, 1], [1, 50, 1, 700, 0]] as const) {
        const x = Array.from(randomArray(outer * dim * inner, dim));
        const idx = Array.from(randomInts(count, dim, count));
        const xb = buffer(be, x, 'float32', pad);
        const ib = buffer(be, idx, 'int32', 2);
        const sel = buffer(be, new Array(outer * count * inner).fill(0));
        be.indexSelect(sel, xb, outer, dim, inner, ib, count);
        const expSel: number[] = [];
        for (let o = 0; o < outer; o++) for (let j = 0; j < count; j++) for (let i = 0; i < inner; i++) expSel.push(x[(o * dim + idx[j]) * inner + i]);
        expect(read(be, sel)).toEqual(expSel.map(Math.fround));
        const xi = buffer(be, x.map((_, k) => k * 3), 'int32');
        const seli = buffer(be, new Array(outer * count * inner).fill(0), 'int32');
        be.indexSelect(seli, xi, outer, dim, inner, ib, count);
        expect(read(be, seli)).toEqual(expSel.map((_, k) => {
          const o = Math.floor(k / (count * inner)), j = Math.floor(k / inner) % count, i = k % inner;
          return ((o * dim + idx[j]) * inner + i) * 3;
        }));
        // indexAdd: the selection added back into a base at the same indices.
        const base = Array.from(randomArray(outer * dim * inner, 5));
        const acc = buffer(be, base);
        be.indexAdd(acc, sel, outer, dim, inner, ib, count);
        const expAdd = base.slice();
        for (let o = 0; o < outer; o++) for (let j = 0; j < count; j++) for (let i = 0; i < inner; i++) expAdd[(o * dim + idx[j]) * inner + i] += expSel[(o * count + j) * inner + i];
        expectClose(read(be, acc), expAdd, sumTol, 'indexAdd');
        // gather / scatterAdd with one index per element of (outer, count, inner).
        const eidx = Array.from(randomInts(outer * count * inner, dim, 3));
        const eb = buffer(be, eidx, 'int32');
        const g = buffer(be, new Array(outer * count * inner).fill(0));
        be.gather(g, xb, outer, dim, inner, eb, count);
        const expG = eidx.map((t, p) => {
          const o = Math.floor(p / (count * inner)), i = p % inner;
          return Math.fround(x[(o * dim + t) * inner + i]);
        });
        expect(read(be, g)).toEqual(expG);
        const sc = buffer(be, base);
        be.scatterAdd(sc, g, outer, dim, inner, eb, count);
        const expSc = base.slice();
        eidx.forEach((t, p) => {
          const o = Math.floor(p / (count * inner)), i = p % inner;
          expSc[(o * dim + t) * inner + i] += expG[p];
        });
        expectClose(read(be, sc), expSc, sumTol, 'scatterAdd');
        for (const b of [xb, ib, sel, xi, seli, acc, eb, g, sc]) b.free();
      }
    });

    it('index ops: an out-of-range or negative index is a RangeError naming the op, the index and its position, and writes nothing', () => {
      const x = buffer(be, [1, 2, 3, 4, 5, 6]);
      const out = buffer(be, new Array(12).fill(9));
      const idx = buffer(be, [0, 1, 2, 3, -1, 2], 'int32');
      expect(() => be.indexSelect(out, x, 1, 3, 2, idx, 6)).toThrow(/indexSelect: index 3 at position 3 is out of range for a dimension of size 3/);
      expect(() => be.indexAdd(out, x, 1, 3, 1, idx, 6)).toThrow(/indexAdd: index 3 at position 3 /);
      expect(() => be.gather(out, x, 1, 3, 2, idx, 3)).toThrow(/gather: index 3 at position 3 /);
      expect(() => be.scatterAdd(out, x, 2, 3, 1, idx, 3)).toThrow(/scatterAdd: index 3 at position 3 /);
      expect(read(be, out)).toEqual(new Array(12).fill(9));
      expect(() => be.indexSelect(out, x, 1, 6, 1, idx, 6)).toThrow(/indexSelect: index -1 at position 4 /);
      for (const b of [x, out, idx]) b.free();
    });

    it('softmax and log-softmax, forward and backward, in place, warp and block rows, tails', () => {
      for (const [rows, cols, pad] of [[33, 64, 0], [5, 7, 1], [3, 1500, 1], [2, 1027, 0], [2, 2048, 0]] as const) {
        const x = Array.from(randomArray(rows * cols, cols, 4));
        const dy = Array.from(randomArray(rows * cols, cols + 1));
        const data = rowsOf(x, rows, cols);
        const ls = data.map((row) => row.map((v) => v - lse(row)));
        for (const log of [false, true]) {
          const xb = buffer(be, x, 'float32', pad);
          const y = buffer(be, new Array(rows * cols).fill(0), 'float32', pad);
          be.softmaxForward(y, xb, rows, cols, log);
          const expY = ls.flat().map((v) => (log ? v : Math.exp(v)));
          expectClose(read(be, y), expY, expTol, `${log ? 'log' : ''}softmax (${rows}, ${cols})`);
          be.softmaxForward(xb, xb, rows, cols, log);
          expectClose(read(be, xb), expY, expTol, 'in place');
          const dyb = buffer(be, dy, 'float32', pad);
          const dx = buffer(be, new Array(rows * cols).fill(0));
          be.softmaxBackward(dx, dyb, y, rows, cols, log);
          const yv = read(be, y);
          const expDx: number[] = [];
          for (let r = 0; r < rows; r++) {
            const d = dy.slice(r * cols, (r + 1) * cols), yr = yv.slice(r * cols, (r + 1) * cols);
            const s = log ? d.reduce((a, v) => a + v, 0) : d.reduce((a, v, i) => a + v * yr[i], 0);
            for (let i = 0; i < cols; i++) expDx.push(log ? d[i] - Math.exp(yr[i]) * s : yr[i] * (d[i] - s));
          }
          expectClose(read(be, dx), expDx, { atol: 2e-5, rtol: 1e-4 }, 'backward');
          be.softmaxBackward(dyb, dyb, y, rows, cols, log);
          expectClose(read(be, dyb), expDx, { atol: 2e-5, rtol: 1e-4 }, 'backward in place');
          for (const b of [xb, y, dyb, dx]) b.free();
        }
      }
    });

    it('cross-entropy forward and backward with ignore_index, in place; bad targets and NaN logits are RangeErrors', () => {
      for (const [N, V] of [[17, 50], [3, 1501], [2, 2048]] as const) {
        const x = Array.from(randomArray(N * V, V, 3));
        const t = Array.from(randomInts(N, V, N));
        t[1] = -100;
        const g = Array.from(randomArray(N, 9));
        const xb = buffer(be, x, 'float32', 1);
        const tb = buffer(be, t, 'int32');
        const loss = buffer(be, new Array(N).fill(0));
        const lseb = buffer(be, new Array(N).fill(0));
        be.crossEntropyForward(loss, lseb, xb, tb, N, V, -100);
        const rows = rowsOf(x, N, V);
        const expLse = rows.map(lse);
        expectClose(read(be, lseb), expLse, expTol, 'lse');
        expectClose(read(be, loss), rows.map((row, n) => (t[n] === -100 ? 0 : expLse[n] - row[t[n]])), expTol, 'loss');
        const gb = buffer(be, g);
        const expD = rows.flatMap((row, n) => row.map((v, j) => (t[n] === -100 ? 0 : g[n] * (Math.exp(v - expLse[n]) - (j === t[n] ? 1 : 0)))));
        const d = buffer(be, new Array(N * V).fill(0));
        be.crossEntropyBackward(d, gb, xb, lseb, tb, N, V, -100);
        expectClose(read(be, d), expD, expTol, 'dlogits');
        be.crossEntropyBackward(xb, gb, xb, lseb, tb, N, V, -100);
        expectClose(read(be, xb), expD, expTol, 'dlogits in place');
        for (const b of [xb, tb, loss, lseb, gb, d]) b.free();
      }
      const x = Array.from(randomArray(4 * 30, 1));
      x[2 * 30 + 7] = NaN;
      const xb = buffer(be, x);
      const loss = buffer(be, [5, 5, 5, 5]);
      const lseb = buffer(be, [5, 5, 5, 5]);
      const tb = buffer(be, [1, 2, 3, 4], 'int32');
      expect(() => be.crossEntropyForward(loss, lseb, xb, tb, 4, 30, -100)).toThrow(/crossEntropyForward: logits \[4, 30\] row 2 holds NaN or Inf/);
      const bad = buffer(be, [1, 30, -1, 4], 'int32');
      const loss2 = buffer(be, [5, 5, 5, 5]);
      expect(() => be.crossEntropyForward(loss2, lseb, xb, bad, 4, 30, -100)).toThrow(/crossEntropyForward: targets\[1\] = 30 is outside \[0, 30\) and is not ignore_index -100/);
      expect(read(be, loss2)).toEqual([5, 5, 5, 5]);
      expect(() => be.crossEntropyBackward(xb, loss, xb, lseb, bad, 4, 30, -100)).toThrow(/crossEntropyBackward: targets\[1\] = 30/);
      for (const b of [xb, loss, lseb, tb, bad, loss2]) b.free();
    });

    it('RMSNorm forward and backward: dw summed over many rows in a fixed order, in place, block rows', () => {
      for (const [rows, cols, pad] of [[300, 20, 0], [3, 1500, 1], [2, 1025, 0], [70, 1024, 0]] as const) {
        const x = Array.from(randomArray(rows * cols, cols, 2));
        const w = Array.from(randomArray(cols, 4));
        const dy = Array.from(randomArray(rows * cols, 6));
        const eps = 1e-5;
        const xb = buffer(be, x, 'float32', pad), wb = buffer(be, w, 'float32', pad), dyb = buffer(be, dy, 'float32', pad);
        const y = buffer(be, new Array(rows * cols).fill(0)), rstd = buffer(be, new Array(rows).fill(0));
        be.rmsnormForward(y, rstd, xb, wb, rows, cols, eps);
        const data = rowsOf(x, rows, cols);
        const rs = data.map((row) => 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / cols + eps));
        expectClose(read(be, rstd), rs, { atol: 1e-6, rtol: 1e-5 }, 'rstd');
        expectClose(read(be, y), data.flatMap((row, r) => row.map((v, i) => v * rs[r] * w[i])), { atol: 1e-5, rtol: 1e-5 }, 'y');
        const dx = buffer(be, new Array(rows * cols).fill(0)), dw = buffer(be, new Array(cols).fill(7));
        be.rmsnormBackward(dx, dw, dyb, xb, wb, rstd, rows, cols);
        const expDw = new Array(cols).fill(0);
        const expDx = data.flatMap((row, r) => {
          const d = dy.slice(r * cols, (r + 1) * cols);
          const c = (rs[r] * row.reduce((s, v, i) => s + w[i] * d[i] * v, 0)) / cols;
          row.forEach((v, i) => (expDw[i] += d[i] * v * rs[r]));
          return row.map((v, i) => rs[r] * (w[i] * d[i] - v * rs[r] * c));
        });
        expectClose(read(be, dx), expDx, { atol: 1e-4, rtol: 1e-4 }, 'dx');
        expectClose(read(be, dw), expDw, { atol: 1e-4 * Math.sqrt(rows), rtol: 1e-4 }, 'dw');
        be.rmsnormBackward(dyb, dw, dyb, xb, wb, rstd, rows, cols);
        expectClose(read(be, dyb), expDx, { atol: 1e-4, rtol: 1e-4 }, 'dx in place');
        expectClose(read(be, dw), expDw, { atol: 1e-4 * Math.sqrt(rows), rtol: 1e-4 }, 'dw (dx in place)');
        for (const b of [xb, wb, dyb, y, rstd, dx, dw]) b.free();
      }
    });

    it('layer kernels reject bad arguments naming the op: dtypes, ranges, overlaps, eps, odd head dims', () => {
      const a = buffer(be, new Array(12).fill(1));
      const small = buffer(be, [1, 2, 3]);
      const ints = buffer(be, [0, 1, 2], 'int32');
      const at = (b: Buf, offset: number): Buf => ({ ...b, offset });
      expect(() => be.softmaxForward(a, ints, 1, 3, false)).toThrow(TypeError);
      expect(() => be.softmaxForward(a, ints, 1, 3, false)).toThrow(/softmaxForward: x must be float32, got int32/);
      expect(() => be.softmaxForward(a, small, 3, 4, true)).toThrow(/logSoftmaxForward: x: elements \[0, 12\) exceed its buffer of 3/);
      expect(() => be.softmaxForward(at(a, 1), a, 2, 4, false)).toThrow(/softmaxForward: y overlaps x without coinciding with it/);
      expect(() => be.softmaxBackward(a, a, a, 3, 4, false)).toThrow(/softmaxBackward: dx overlaps y/);
      expect(() => be.rmsnormForward(a, small, a, small, 3, 4, 1e-5)).toThrow(/rmsnormForward: weight: elements/);
      expect(() => be.rmsnormForward(a, small, a, at(a, 8), 3, 4, -1)).toThrow(/rmsnormForward: eps must be >= 0/);
      expect(() => be.rmsnormBackward(a, small, a, a, small, small, 3, 0)).toThrow(/rmsnormBackward: cols must be positive/);
      expect(() => be.ropeForward(a, a, small, small, ints, 1, 3, 1, 3, 1, false, false)).toThrow(/ropeForward: head dim D must be even/);
      expect(() => be.crossEntropyForward(small, small, a, ints, 3, 4, -100)).toThrow(/crossEntropyForward: loss overlaps lse/);
      expect(() => be.crossEntropyBackward(a, at(a, 8), a, small, ints, 3, 3, -100)).toThrow(/crossEntropyBackward: dlogits overlaps g/);
      // the device still works after the errors
      const x = buffer(be, [0, 0]);
      const y = buffer(be, [0, 0]);
      be.softmaxForward(y, x, 1, 2, false);
      expect(read(be, y)).toEqual([0.5, 0.5]);
      for (const b of [a, small, ints, x, y]) b.free();
    });

    it('RoPE: shared and per-batch positions, inverse undoes forward, in place; a bad position is a RangeError', () => {
      const [B, T, H, D, P] = [2, 5, 3, 10, 12];
      const half = D / 2;
      const x = Array.from(randomArray(B * T * H * D, 8));
      const cos = Array.from({ length: P * half }, (_, k) => Math.cos(k * 0.37));
      const sin = Array.from({ length: P * half }, (_, k) => Math.sin(k * 0.37));
      const xb = buffer(be, x, 'float32', 1), cb = buffer(be, cos), sb = buffer(be, sin);
      for (const perBatch of [false, true]) {
        const pos = perBatch ? Array.from(randomInts(B * T, P, 4)) : [3, 0, 11, 7, 2];
        const pb = buffer(be, pos, 'int32');
        const y = buffer(be, new Array(x.length).fill(0));
        be.ropeForward(y, xb, cb, sb, pb, B, T, H, D, P, perBatch, false);
        const expY = x.slice();
        for (let r = 0; r < B * T; r++) {
          const p = pos[perBatch ? r : r % T];
          for (let h = 0; h < H; h++)
            for (let i = 0; i < half; i++) {
              const a = (r * H + h) * D + i;
              const c = cos[p * half + i], s = sin[p * half + i];
              expY[a] = x[a] * c - x[a + half] * s;
              expY[a + half] = x[a + half] * c + x[a] * s;
            }
        }
        expectClose(read(be, y), expY, { atol: 1e-6, rtol: 1e-6 }, 'rope');
        be.ropeForward(y, y, cb, sb, pb, B, T, H, D, P, perBatch, true);
        expectClose(read(be, y), x, { atol: 1e-5, rtol: 1e-5 }, 'inverse in place');
        pb.free();
        y.free();
      }
      const bad = buffer(be, [0, 1, 12, 2, 3], 'int32');
      const y = buffer(be, new Array(x.length).fill(4));
      expect(() => be.ropeForward(y, xb, cb, sb, bad, B, T, H, D, P, false, false)).toThrow(/ropeForward: positions\[2\] = 12 is outside the tables' \[0, 12\)/);
      expect(read(be, y).every((v) => v === 4)).toBe(true);
      for (const b of [xb, cb, sb, bad, y]) b.free();
    });
  });
});
