// Indexing ops vs float64 references: embedding lookups, indexSelect/indexAdd along every dim, gather and
// scatterAdd with per-element indices, repeated indices accumulating gradients, and bad indices that throw
// without writing anything.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, flatIndex, forEachBackend, fromArray, indices, randomArray, randomInts } from './helpers/reference.js';

// Selection copies float32 values bit-exactly; accumulation adds a few float32 terms (~1 ulp each).
const EXACT = { atol: 0, rtol: 0 };
const ACC = { atol: 1e-6, rtol: 1e-6 };

const ints = (values: number[] | Int32Array, shape?: number[]) => tg.tensor(Int32Array.from(values), shape);

/** x with `dim` replaced by the positions in idx (indexSelect reference). */
function selectRef(x: ArrayLike<number>, shape: number[], dim: number, idx: ArrayLike<number>): Float64Array {
  const outShape = [...shape];
  outShape[dim] = idx.length;
  return Float64Array.from([...indices(outShape)], (i) => {
    const src = [...i];
    src[dim] = idx[i[dim]];
    return x[flatIndex(shape, src)];
  });
}

/** x + src added at rows idx along dim (indexAdd reference). */
function indexAddRef(x: ArrayLike<number>, shape: number[], dim: number, idx: ArrayLike<number>, src: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(x);
  const srcShape = [...shape];
  srcShape[dim] = idx.length;
  let f = 0;
  for (const i of indices(srcShape)) {
    const dst = [...i];
    dst[dim] = idx[i[dim]];
    out[flatIndex(shape, dst)] += src[f++];
  }
  return out;
}

/** out[i] = x[i with dim -> index[i]] (gather reference). */
function gatherRef(x: ArrayLike<number>, shape: number[], dim: number, index: ArrayLike<number>, idxShape: number[]): Float64Array {
  return Float64Array.from([...indices(idxShape)], (i, f) => {
    const src = [...i];
    src[dim] = index[f];
    return x[flatIndex(shape, src)];
  });
}

/** out = x; out[i with dim -> index[i]] += src[i] (scatterAdd reference). */
function scatterAddRef(x: ArrayLike<number>, shape: number[], dim: number, index: ArrayLike<number>, idxShape: number[], src: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(x);
  let f = 0;
  for (const i of indices(idxShape)) {
    const dst = [...i];
    dst[dim] = index[f];
    out[flatIndex(shape, dst)] += src[f++];
  }
  return out;
}

const SHAPE = [3, 4, 5];

forEachBackend((device) => describe(`index ops on ${device}`, () => {
  it('embedding looks up rows for ids of any shape', () => {
    const [V, C] = [7, 4];
    const w = randomArray(V * C, 501);
    tg.tidy(() => {
      const weight = fromArray(w, [V, C]);
      for (const [k, idShape] of ([[5], [2, 3], [], [2, 0], [1, 1, 3]] as number[][]).entries()) {
        const n = idShape.reduce((a, b) => a * b, 1);
        const ids = randomInts(n, V, 502 + k);
        const y = tg.embedding(weight, ints(ids, idShape));
        expect(y.shape).toEqual([...idShape, C]);
        expectClose(y.data(), selectRef(w, [V, C], 0, ids), EXACT, `embedding ids ${JSON.stringify(idShape)}`);
      }
      // non-contiguous weight and ids
      const wt = fromArray(Float64Array.from([...indices([C, V])], ([c, v]) => w[v * C + c]), [C, V]).transpose();
      const idsT = ints([0, 6, 3, 3, 1, 2], [2, 3]).transpose();
      const y = tg.embedding(wt, idsT);
      expect(y.shape).toEqual([3, 2, C]);
      expectClose(y.data(), selectRef(w, [V, C], 0, [0, 3, 6, 1, 3, 2]), EXACT, 'embedding of views');
    });
  });

  it('embedding accumulates the gradient of repeated ids', () => {
    const [V, C] = [6, 3];
    const w = randomArray(V * C, 510);
    const ids = [1, 4, 1, 1, 0, 4];
    gradcheck({
      inputs: [{ values: w, shape: [V, C] }],
      engine: ([weight]) => tg.embedding(weight, ints(ids, [2, 3])),
      reference: ([weight]) => selectRef(weight, [V, C], 0, ids),
    });
    tg.tidy(() => {
      const weight = fromArray(w, [V, C], true);
      tg.embedding(weight, ints(ids, [3, 2])).sum().backward();
      const counts = [1, 3, 0, 0, 2, 0];
      expectClose(weight.grad!.data(), [...indices([V, C])].map(([v]) => counts[v]), EXACT, 'row counts');
      weight.zeroGrad();
    });
  });

  it('embedding keeps its ids alive for a later backward outside tidy', () => {
    const [V, C] = [5, 2];
    const weight = fromArray(randomArray(V * C, 511), [V, C], true);
    // the ids tensor is created and freed inside tidy; backward runs after tidy returned
    const loss = tg.tidy(() => tg.embedding(weight, ints([3, 3, 0], [3])).sum());
    loss.backward();
    expect(Array.from(weight.grad!.data())).toEqual([1, 1, 0, 0, 0, 0, 2, 2, 0, 0]);
    loss.dispose();
    weight.dispose();
  });

  it('indexSelect along dims 0, 1, 2 with repeats, empty and non-contiguous operands', () => {
    const a = randomArray(60, 520);
    tg.tidy(() => {
      const x = fromArray(a, SHAPE);
      for (const dim of [0, 1, 2]) {
        const idx = randomInts(7, SHAPE[dim], 521 + dim);
        const y = x.indexSelect(dim, ints(idx));
        expect(y.shape).toEqual(SHAPE.map((s, i) => (i === dim ? 7 : s)));
        expectClose(y.data(), selectRef(a, SHAPE, dim, idx), EXACT, `indexSelect dim ${dim}`);
        expectClose(tg.indexSelect(x, dim - 3, ints(idx)).data(), selectRef(a, SHAPE, dim, idx), EXACT, `indexSelect dim ${dim - 3}`);
        expect(x.indexSelect(dim, ints([])).shape).toEqual(SHAPE.map((s, i) => (i === dim ? 0 : s)));
      }
      // a permuted x and a strided index
      const p = x.permute([2, 0, 1]);
      const pRef = Float64Array.from([...indices([5, 3, 4])], ([k, i, j]) => a[(i * 4 + j) * 5 + k]);
      const idx = ints([4, 0, 1, 9, 2, 9, 4, 9], [8]).slice(0, 0, 8, 2); // [4, 1, 2, 4]
      expectClose(p.indexSelect(0, idx).data(), selectRef(pRef, [5, 3, 4], 0, [4, 1, 2, 4]), EXACT, 'indexSelect of views');
      // int32 data is selected too
      expect(tg.indexSelect(ints([10, 11, 12]), 0, ints([2, 2, 0])).toArray()).toEqual([12, 12, 10]);
      expect(tg.indexSelect(tg.zeros([0, 3]), 1, ints([1])).shape).toEqual([0, 1]);
    });
    for (const dim of [0, 1, 2]) {
      const idx = randomInts(4, SHAPE[dim], 525 + dim);
      gradcheck({
        inputs: [{ values: a, shape: SHAPE }],
        engine: ([x]) => x.indexSelect(dim, ints(idx)),
        reference: ([x]) => selectRef(x, SHAPE, dim, idx),
      });
    }
  });

  it('indexAdd adds slices at repeated indices, out of place, with gradients', () => {
    const a = randomArray(60, 530);
    for (const dim of [0, 1, 2]) {
      const idx = [SHAPE[dim] - 1, 0, SHAPE[dim] - 1];
      const srcShape = SHAPE.map((s, i) => (i === dim ? 3 : s));
      const s = randomArray(srcShape.reduce((p, q) => p * q, 1), 531 + dim);
      tg.tidy(() => {
        const x = fromArray(a, SHAPE);
        const y = tg.indexAdd(x, dim, ints(idx), fromArray(s, srcShape));
        expectClose(y.data(), indexAddRef(a, SHAPE, dim, idx, s), ACC, `indexAdd dim ${dim}`);
        expectClose(x.data(), a, EXACT, 'x is not modified');
      });
      gradcheck({
        inputs: [{ values: a, shape: SHAPE }, { values: s, shape: srcShape }],
        engine: ([x, src]) => tg.indexAdd(x, dim, ints(idx), src),
        reference: ([x, src]) => indexAddRef(x, SHAPE, dim, idx, src),
      });
    }
    tg.tidy(() => {
      // non-contiguous x and src; empty index
      const x = fromArray(a, SHAPE).transpose(0, 2); // (5, 4, 3)
      const xRef = Float64Array.from([...indices([5, 4, 3])], ([k, j, i]) => a[(i * 4 + j) * 5 + k]);
      const s = randomArray(5 * 2 * 3, 535);
      const src = fromArray(s, [3, 2, 5]).permute([2, 1, 0]);
      const sRef = Float64Array.from([...indices([5, 2, 3])], ([k, j, i]) => s[(i * 2 + j) * 5 + k]);
      expectClose(tg.indexAdd(x, 1, ints([3, 3]), src).data(), indexAddRef(xRef, [5, 4, 3], 1, [3, 3], sRef), ACC, 'indexAdd of views');
      expectClose(tg.indexAdd(x, 1, ints([]), tg.zeros([5, 0, 3])).data(), xRef, EXACT, 'empty indexAdd');
      expect(() => tg.indexAdd(x, 1, ints([0]), tg.zeros([5, 2, 3]))).toThrow(/indexAdd: src shape \[5, 2, 3\] should be \[5, 1, 3\]/);
      expect(() => tg.indexAdd(x, 1, ints([0], [1, 1]), tg.zeros([5, 1, 3]))).toThrow(/indexAdd: index must be 1-D/);
      expect(() => tg.indexAdd(ints([1, 2]), 0, ints([0]), tg.zeros([1]))).toThrow(/indexAdd: x must be float32/);
    });
  });

  it('gather and scatterAdd along each dim, with repeated indices and gradients', () => {
    const a = randomArray(60, 540);
    for (const dim of [0, 1, 2]) {
      const idxShape = SHAPE.map((s, i) => (i === dim ? 2 : s));
      const n = idxShape.reduce((p, q) => p * q, 1);
      const index = randomInts(n, SHAPE[dim], 541 + dim);
      const s = randomArray(n, 545 + dim);
      tg.tidy(() => {
        const x = fromArray(a, SHAPE);
        const g = x.gather(dim, ints(index, idxShape));
        expect(g.shape).toEqual(idxShape);
        expectClose(g.data(), gatherRef(a, SHAPE, dim, index, idxShape), EXACT, `gather dim ${dim}`);
        const y = x.scatterAdd(dim, ints(index, idxShape), fromArray(s, idxShape));
        expectClose(y.data(), scatterAddRef(a, SHAPE, dim, index, idxShape, s), ACC, `scatterAdd dim ${dim}`);
        expectClose(x.data(), a, EXACT, 'x is not modified');
        expectClose(tg.gather(x, dim - 3, ints(index, idxShape)).data(), gatherRef(a, SHAPE, dim, index, idxShape), EXACT, `gather dim ${dim - 3}`);
      });
      gradcheck({
        inputs: [{ values: a, shape: SHAPE }],
        engine: ([x]) => x.gather(dim, ints(index, idxShape)),
        reference: ([x]) => gatherRef(x, SHAPE, dim, index, idxShape),
      });
      gradcheck({
        inputs: [{ values: a, shape: SHAPE }, { values: s, shape: idxShape }],
        engine: ([x, src]) => tg.scatterAdd(x, dim, ints(index, idxShape), src),
        reference: ([x, src]) => scatterAddRef(x, SHAPE, dim, index, idxShape, src),
      });
    }
    tg.tidy(() => {
      // every source element lands on the same slot: repeats accumulate
      const y = tg.scatterAdd(tg.zeros([2, 3]), 1, ints([1, 1, 1, 0, 0, 0], [2, 3]), fromArray([1, 2, 3, 4, 5, 6], [2, 3]));
      expect(y.toArray()).toEqual([[0, 6, 0], [15, 0, 0]]);
      // non-contiguous x, index and src; k = 0 along dim
      const x = fromArray(a.slice(0, 12), [4, 3]).transpose(); // (3, 4)
      const xRef = Float64Array.from([...indices([3, 4])], ([i, j]) => a[j * 3 + i]);
      const index = ints([3, 0, 2, 1, 1, 3], [2, 3]).transpose(); // (3, 2) = [[3, 1], [0, 1], [2, 3]]
      const flatIdx = [3, 1, 0, 1, 2, 3];
      expectClose(x.gather(1, index).data(), gatherRef(xRef, [3, 4], 1, flatIdx, [3, 2]), EXACT, 'gather of views');
      const src = fromArray([1, 2, 3, 4, 5, 6], [2, 3]).transpose();
      expectClose(x.scatterAdd(1, index, src).data(), scatterAddRef(xRef, [3, 4], 1, flatIdx, [3, 2], [1, 4, 2, 5, 3, 6]), ACC, 'scatterAdd of views');
      expect(x.gather(1, ints([], [3, 0])).shape).toEqual([3, 0]);
      expectClose(x.scatterAdd(1, ints([], [3, 0]), tg.zeros([3, 0])).data(), xRef, EXACT, 'empty scatterAdd');
      expect(() => x.gather(1, ints([0, 0], [2, 1]))).toThrow(/gather: index shape \[2, 1\] must match x shape \[3, 4\] outside dim 1/);
      expect(() => x.scatterAdd(1, ints([0, 0, 0], [3, 1]), tg.zeros([3, 2]))).toThrow(/scatterAdd: src shape \[3, 2\] must equal index shape \[3, 1\]/);
    });
  });

  it('out-of-range and negative indices throw a RangeError naming the op and the index, writing nothing', () => {
    tg.tidy(() => {
      const a = randomArray(12, 550);
      const x = fromArray(a, [3, 4]);
      const weight = fromArray(a, [4, 3]);
      // each case builds its inputs first, so the tensor count measures only what the op itself allocates
      const cases: [string, () => tg.Tensor[], (...t: tg.Tensor[]) => unknown, RegExp][] = [
        ['indexSelect', () => [ints([0, 4, 1])], (...t) => x.indexSelect(1, t[0]), /^(thinkgrad\.)?(cuda\.)?indexSelect: index 4 at position 1 is out of range for a dimension of size 4/],
        ['indexSelect', () => [ints([-1])], (...t) => x.indexSelect(0, t[0]), /^(thinkgrad\.)?(cuda\.)?indexSelect: index -1 at position 0 is out of range for a dimension of size 3/],
        ['indexAdd', () => [ints([2, 3]), tg.ones([2, 4])], (...t) => tg.indexAdd(x, 0, t[0], t[1]), /^(thinkgrad\.)?(cuda\.)?indexAdd: index 3 at position 1 is out of range for a dimension of size 3/],
        ['indexAdd', () => [ints([-2]), tg.ones([3, 1])], (...t) => tg.indexAdd(x, 1, t[0], t[1]), /^(thinkgrad\.)?(cuda\.)?indexAdd: index -2 at position 0/],
        ['gather', () => [ints([0, 1, 2, 3, 0, 1, 7, 3, 0, 1, 2, 3], [3, 4])], (...t) => x.gather(1, t[0]), /^(thinkgrad\.)?(cuda\.)?gather: index 7 at position 6 is out of range for a dimension of size 4/],
        ['gather', () => [ints([0, -1, 0, 0], [1, 4])], (...t) => x.gather(0, t[0]), /^(thinkgrad\.)?(cuda\.)?gather: index -1 at position 1/],
        ['scatterAdd', () => [ints([0, 1, 2, 3], [1, 4]), tg.ones([1, 4])], (...t) => x.scatterAdd(0, t[0], t[1]), /^(thinkgrad\.)?(cuda\.)?scatterAdd: index 3 at position 3 is out of range for a dimension of size 3/],
        ['scatterAdd', () => [ints([-5, 0, 0], [3, 1]), tg.ones([3, 1])], (...t) => x.scatterAdd(1, t[0], t[1]), /^(thinkgrad\.)?(cuda\.)?scatterAdd: index -5 at position 0/],
        ['embedding', () => [ints([1, 4], [1, 2])], (...t) => tg.embedding(weight, t[0]), /^(thinkgrad\.)?(cuda\.)?embedding: index 4 at position 1 is out of range for a dimension of size 4/],
        ['embedding', () => [ints([-1])], (...t) => tg.embedding(weight, t[0]), /^(thinkgrad\.)?(cuda\.)?embedding: index -1 at position 0/],
      ];
      for (const [name, inputs, run, message] of cases) {
        const args = inputs();
        const op = () => run(...args);
        const before = tg.memory().numTensors;
        expect(op, name).toThrow(RangeError);
        expect(op, name).toThrow(message);
        expect(tg.memory().numTensors, `${name} frees what it allocated`).toBe(before);
        expectClose(x.data(), a, EXACT, `${name} leaves x untouched`);
      }
    });
  });

  it('float ids and indices throw a TypeError; other bad inputs name the op; the process lives', () => {
    tg.tidy(() => {
      const x = tg.ones([3, 4]);
      const fidx = tg.tensor([0, 1]);
      expect(() => tg.embedding(x, fidx)).toThrow(TypeError);
      expect(() => tg.embedding(x, fidx)).toThrow(/embedding: ids must be int32, got float32 of shape \[2\]/);
      expect(() => x.indexSelect(0, fidx)).toThrow(/indexSelect: index must be int32, got float32/);
      expect(() => tg.indexAdd(x, 0, fidx, tg.ones([2, 4]))).toThrow(/indexAdd: index must be int32/);
      expect(() => x.gather(0, tg.zeros([1, 4]))).toThrow(/gather: index must be int32/);
      expect(() => x.scatterAdd(0, tg.zeros([1, 4]), tg.ones([1, 4]))).toThrow(/scatterAdd: index must be int32/);
      expect(() => tg.embedding(ints([1, 2], [1, 2]), ints([0]))).toThrow(/embedding: weight must be float32/);
      expect(() => tg.embedding(tg.ones([4]), ints([0]))).toThrow(/embedding: weight must be \(V, C\), got \[4\]/);
      expect(() => x.indexSelect(0, ints([0], [1, 1]))).toThrow(/indexSelect: index must be 1-D/);
      expect(() => x.indexSelect(2, ints([0]))).toThrow(/indexSelect: dim 2 out of range/);
      expect(() => x.gather(-3, ints([0], [1, 1]))).toThrow(/gather: dim -3 out of range/);
      expect(() => tg.embedding(x, [0, 1] as unknown as tg.Tensor)).toThrow(/embedding: ids must be a Tensor, got object/);
      expect(() => tg.indexSelect(null as unknown as tg.Tensor, 0, ints([0]))).toThrow(/indexSelect: x must be a Tensor, got null/);
      expect(() => tg.scatterAdd(x, 0, ints([0, 0, 0, 0], [1, 4]), 1 as unknown as tg.Tensor)).toThrow(/scatterAdd: src must be a Tensor/);
      const dead = ints([0]);
      dead.dispose();
      expect(() => x.indexSelect(0, dead)).toThrow(/indexSelect: tensor \[1\] has been disposed/);
      expect(x.indexSelect(0, ints([2])).shape).toEqual([1, 4]);
    });
  });
}));
