// Pre-packed linear weights (PackedLinearWeight, linearPacked, withPackedLinears): the same GEMM on the same
// packed panels, so results equal linear() exactly at either precision once there are more than 8 rows
// (fewer take linear()'s unpacked float32 path, which sums in another order); a pack computes at the precision
// it was packed for, whatever the process default; stale (kernel changed) or disposed packs are refused.
import { afterEach, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { native } from '../src/native.js';
import { expectClose, fromArray, randomArray } from './helpers/reference.js';

describe('packed linear weights', () => {
  afterEach(() => {
    tg.setFloat32MatmulPrecision('highest');
  });

  for (const precision of ['highest', 'medium'] as const) {
    it(`linearPacked equals linear (${precision}), for 2-D, 3-D, transposed and ragged inputs`, () => {
      tg.setFloat32MatmulPrecision(precision);
      // <= 8 rows: linear() streams the float32 weight; bf16 operands differ from it by up to 2^-9 relative each
      const fewRowsTol = (K: number) => (precision === 'medium' ? { atol: 1e-2 * Math.sqrt(K), rtol: 1e-2 } : { atol: 1e-5 * Math.sqrt(K), rtol: 1e-5 });
      const same = (x: tg.Tensor, w: tg.Tensor, packed: tg.PackedLinearWeight, K: number, what: string) => {
        const got = tg.linearPacked(x, packed).data(), want = tg.linear(x, w).data();
        if (x.numel / K > 8) expect(Array.from(got), what).toEqual(Array.from(want));
        else expectClose(got, want, fewRowsTol(K), what);
      };
      let seed = 9300;
      for (const [rows, K, N] of [[64, 256, 768], [37, 129, 45], [1, 40, 33], [9, 300, 70], [4, 64, 64]]) {
        tg.tidy(() => {
          const w = fromArray(randomArray(N * K, seed++), [N, K]);
          const x = fromArray(randomArray(rows * K, seed++), [rows, K]);
          const packed = new tg.PackedLinearWeight(w);
          expect(packed.kernel).toBe(tg.matmulKernel());
          same(x, w, packed, K, `(${rows}, ${K}) x (${N}, ${K})^T`);
          const x3 = fromArray(randomArray(3 * rows * K, seed++), [3, rows, K]);
          expect(tg.linearPacked(x3, packed).shape).toEqual([3, rows, N]);
          same(x3, w, packed, K, `3-D (3, ${rows}, ${K})`);
          const xt = fromArray(randomArray(rows * K, seed++), [K, rows]).transpose();
          same(xt, w, packed, K, 'transposed input');
          // a transposed (non-contiguous) weight packs the same matrix
          const wt = fromArray(randomArray(N * K, seed++), [K, N]).transpose();
          const packedT = new tg.PackedLinearWeight(wt);
          same(x, wt, packedT, K, 'transposed weight');
          packed.dispose();
          packedT.dispose();
        });
      }
    });
  }

  it('refuses stale, disposed and mismatched packs with a message', () => {
    tg.tidy(() => {
      const w = tg.randn([24, 16]);
      const packed = new tg.PackedLinearWeight(w);
      expect(() => tg.linearPacked(tg.randn([3, 15]), packed)).toThrow(/linearPacked: input \[3, 15\] must end in the packed weight's 16 input features/);
      expect(() => tg.linearPacked(tg.randn([3, 16]).requiresGrad_(), packed)).toThrow(/records no gradient/);
      // The process default does not change what a pack computes: it keeps its own precision.
      const x = tg.randn([12, 16]);
      const atHighest = Array.from(tg.linearPacked(x, packed).data());
      tg.setFloat32MatmulPrecision('medium');
      expect(packed.precision).toBe('highest');
      expect(packed.isCurrent).toBe(true);
      expect(Array.from(tg.linearPacked(x, packed).data())).toEqual(atHighest);
      expect(Array.from(tg.linear(x, w, { precision: 'highest' }).data())).toEqual(atHighest);
      tg.setFloat32MatmulPrecision('highest');
      const medium = new tg.PackedLinearWeight(w, { precision: 'medium' });
      expect(medium.kernel).toBe(tg.matmulKernel('medium'));
      expect(Array.from(tg.linearPacked(x, medium).data())).toEqual(Array.from(tg.linear(x, w, { precision: 'medium' }).data()));
      medium.dispose();
      expect(() => new tg.PackedLinearWeight(w, { precision: 'low' as never })).toThrow(/PackedLinearWeight: precision must be 'highest' or 'medium', got "low"/);
      // Forcing another GEMM kernel makes the pack stale.
      const other = ['avx2', 'scalar'].find((k) => k !== packed.kernel)!;
      native.gemmKernel(other);
      try {
        expect(packed.isCurrent).toBe(false);
        expect(() => tg.linearPacked(x, packed)).toThrow(`packed for the ${packed.kernel} kernel, but products now run on ${other}: pack it again`);
      } finally {
        native.gemmKernel(packed.kernel); // the kernel in use before (THINKGRAD_GEMM may have forced one)
      }
      expect(packed.isCurrent).toBe(true);
      packed.dispose();
      expect(packed.isCurrent).toBe(false);
      expect(() => tg.linearPacked(tg.randn([3, 16]), packed)).toThrow(/disposed/);
      expect(() => new tg.PackedLinearWeight(tg.randn([4]))).toThrow(/2-D float32 weight/);
    });
  });

  it('a weight packed inside tidy() outlives the scope until disposed', () => {
    const w = tg.keep(tg.randn([24, 16]));
    const packed = tg.tidy(() => new tg.PackedLinearWeight(w));
    expect(packed.isCurrent).toBe(true);
    tg.tidy(() => {
      const x = tg.randn([12, 16]);
      expect(Array.from(tg.linearPacked(x, packed).data())).toEqual(Array.from(tg.linear(x, w).data()));
    });
    packed.dispose();
    w.dispose();
  });

  it('the native entry points validate sizes and headers', () => {
    tg.tidy(() => {
      const w = tg.randn([8, 12]);
      const size = native.gemmPackedSize(12, 8);
      const wrong = tg.empty([size + 1]);
      expect(() => native.gemmPackB(wrong.storage.id, w.storage.id, 0, 12, true, 12, 8)).toThrow(/gemmPackB: dst holds .* floats, the packed operand needs/);
      expect(() => native.gemmPackB(tg.empty([size]).storage.id, w.storage.id, 0, 12, true, 13, 8)).toThrow(RangeError);
      const notPacked = tg.randn([size]);
      const out = tg.empty([2, 8]);
      expect(() => native.matmulPackedB(out.storage.id, tg.randn([2, 12]).storage.id, 0, 12, false, notPacked.storage.id, 2, 8, 12))
        .toThrow(/not a packed 12x8 matrix/);
      expect(() => native.matmulPackedB(out.storage.id, tg.randn([2, 12]).storage.id, 0, 12, false, wrong.storage.id, 2, 8, 12))
        .toThrow(/matmulPackedB: packed holds/);
    });
  });

  it('withPackedLinears packs every Linear for gradient-free forwards and unpacks after, also on a throw', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 40, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 2, maxPositionEmbeddings: 32, rmsNormEps: 1e-5, tieWordEmbeddings: false }, { seed: 5 });
    const ids = tg.keep(tg.randint(0, 40, [3, 7], { dtype: 'int32' }));
    const plain = tg.tidy(() => Array.from(tg.noGrad(() => model.forward(ids)).data()));
    const before = tg.memory().numTensors;
    const packed = nn.withPackedLinears(model, () => tg.tidy(() => Array.from(tg.noGrad(() => model.forward(ids)).data())));
    expect(packed).toEqual(plain);
    expect(tg.memory().numTensors).toBe(before);
    expect(() => nn.withPackedLinears(model, () => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(tg.memory().numTensors).toBe(before);
    // with gradients on, the packed weights are not used: the loss backpropagates into every weight
    nn.withPackedLinears(model, () => tg.tidy(() => {
      tg.crossEntropy(model.forward(ids), ids).backward();
    }));
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    for (const p of model.parameters()) p.zeroGrad();
    ids.dispose();
    model.dispose();
  });

  it('withPackedLinears also packs a tied head (the embedding) and unpacks it after', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 40, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 1, numAttentionHeads: 4,
      maxPositionEmbeddings: 32, rmsNormEps: 1e-5, tieWordEmbeddings: true }, { seed: 9 });
    const ids = tg.keep(tg.randint(0, 40, [3, 7], { dtype: 'int32' }));
    const headPacked = () => (model as unknown as { packedHead: tg.PackedLinearWeight | null }).packedHead !== null;
    const plain = tg.tidy(() => Array.from(tg.noGrad(() => model.forward(ids)).data()));
    const packed = nn.withPackedLinears(model, () => {
      expect(headPacked()).toBe(true);
      return tg.tidy(() => Array.from(tg.noGrad(() => model.forward(ids)).data()));
    });
    expect(packed).toEqual(plain);
    expect(headPacked()).toBe(false);
    ids.dispose();
    model.dispose();
  });
});
