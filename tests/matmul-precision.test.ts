// Float32 matmul at "medium" precision (PyTorch's set_float32_matmul_precision): operands rounded to
// bfloat16, products and sums in float32. The reference rounds the same inputs to bfloat16 (round to
// nearest even) and multiplies in float64, so the only difference left is float32 accumulation: the
// float32 tolerance applies. Where the CPU lacks AVX512-BF16 "medium" computes in float32, which the same
// reference bounds too (rounding the inputs moves results by ~4e-3 relative, far outside it only when the
// bf16 kernel runs, which the test checks). The products run on every test device (the kernel each precision
// runs on is the device backend's); the process default and the training run are checked once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import type { Device } from '../src/backend/backend.js';
import { getBackend } from '../src/backend/registry.js';
import { native } from '../src/native.js';
import { expectClose, forEachBackend, fromArray, randomArray } from './helpers/reference.js';

const dotTol = (K: number) => ({ atol: 1e-5 * Math.sqrt(K), rtol: 1e-5 });

function bf16(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer);
  const lsb = (bits[0] >>> 16) & 1;
  bits[0] = (((bits[0] + 0x7fff + lsb) >>> 16) << 16) >>> 0;
  return new Float32Array(bits.buffer)[0];
}

function mm(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      for (let j = 0; j < N; j++) out[i * N + j] += aik * b[k * N + j];
    }
  return out;
}
const roundedMm = (a: Float64Array, b: Float64Array, M: number, K: number, N: number) => mm(a.map(bf16), b.map(bf16), M, K, N);

const transposed = (x: ArrayLike<number>, R: number, C: number) => Float64Array.from({ length: R * C }, (_, i) => x[(i % R) * C + Math.floor(i / R)]);
/**
 * How the kernel a device runs at `precision` treats the operands: 'rounded' to bfloat16, nearest even (the CPU's
 * avx512-bf16, CUDA's mma-bf16), 'bf16-accuracy' where cuBLASLt's FAST_16BF may round them or not (held to bf16
 * accuracy on the exact operands), or 'exact' float32.
 */
function operandsOn(device: Device, precision: tg.Float32MatmulPrecision): 'rounded' | 'bf16-accuracy' | 'exact' {
  const kernel = getBackend(device).matmulKernel(precision);
  return kernel === 'cublaslt-bf16' ? 'bf16-accuracy' : kernel.endsWith('-bf16') ? 'rounded' : 'exact';
}

const maxRelError = (a: ArrayLike<number>, e: ArrayLike<number>) => {
  let worst = 0, scale = 0;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  return worst / scale;
};

describe('float32 matmul precision', () => {
  afterEach(() => {
    tg.setFloat32MatmulPrecision('highest');
  });

  it('defaults to highest; rejects unknown precisions', () => {
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    expect(tg.matmulKernel()).not.toBe('avx512-bf16');
    expect(() => tg.setFloat32MatmulPrecision('low' as never)).toThrow(/setFloat32MatmulPrecision: expected 'highest' or 'medium', got "low"/);
    tg.setFloat32MatmulPrecision('medium');
    expect(tg.getFloat32MatmulPrecision()).toBe('medium');
  });

  it('medium: a tiny Llama trains to the same loss as highest', () => {
    const run = () => {
      const model = new nn.LlamaForCausalLM({ vocabSize: 32, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4,
        numKeyValueHeads: 2, maxPositionEmbeddings: 64, rmsNormEps: 1e-5, tieWordEmbeddings: false }, { seed: 3 });
      const opt = new tg.AdamW(model.parameters(), { lr: 3e-3 });
      tg.manualSeed(4);
      const data = tg.randint(0, 32, [8, 33], { dtype: 'int32' });
      const inp = tg.contiguous(tg.narrow(data, 1, 0, 32)), tgt = tg.contiguous(tg.narrow(data, 1, 1, 32));
      const losses: number[] = [];
      for (let step = 0; step < 60; step++) {
        losses.push(tg.tidy(() => {
          const loss = tg.crossEntropy(model.forward(inp), tgt);
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item();
        }));
      }
      opt.zeroGrad();
      for (const t of [data, inp, tgt]) t.dispose();
      model.dispose();
      return losses;
    };
    const highest = run();
    tg.setFloat32MatmulPrecision('medium');
    const medium = run();
    // A fixed batch of random tokens is memorized: the loss falls from ln 32 = 3.47 to well below 1.
    expect(highest[59]).toBeLessThan(1);
    expect(Math.abs(medium[0] - highest[0])).toBeLessThan(0.01);
    expect(Math.abs(medium[59] - highest[59])).toBeLessThan(0.1 * highest[59] + 0.02);
  });
});

function precisionTests(device: Device): void {
  afterEach(() => {
    tg.setFloat32MatmulPrecision('highest');
  });

  it('medium: every transpose, odd K across k blocks, ragged tiles, threaded and batched match a bf16-input reference', () => {
    tg.setFloat32MatmulPrecision('medium');
    const operands = operandsOn(device, 'medium');
    const bf16Kernel = operands === 'rounded';
    // (M, K, N): odd K in one block; K = 257 ends in a one-value k block; threaded, rows split ([200, 300, 150]) and
    // panels split ([96, 201, 150]: no more rows than columns, B small); on the CPU 4 rows against a large matrix
    // take the unpacked float32 path (memory-bound), CUDA kernels round every product's operands.
    const bf16Rows = (M: number) => bf16Kernel && (device === 'cuda' || M > 4);
    const bf16Tol = (K: number) => ({ atol: 4e-3 * Math.sqrt(K), rtol: 0 });
    const shapes: [number, number, number][] = [[37, 129, 45], [130, 257, 67], [200, 300, 150], [96, 201, 150], [64, 64, 96], [4, 512, 600]];
    let seed = 9100;
    for (const [M, K, N] of shapes) {
      const a = randomArray(M * K, seed++);
      const b = randomArray(K * N, seed++);
      const ref = roundedMm(a, b, M, K, N);
      const exact = mm(a, b, M, K, N);
      tg.tidy(() => {
        const A = fromArray(a, [M, K]), B = fromArray(b, [K, N]);
        const At = fromArray(transposed(a, M, K), [K, M]).transpose();
        const Bt = fromArray(transposed(b, K, N), [N, K]).transpose();
        for (const [x, y, name] of [[A, B, 'NN'], [At, B, 'TN'], [A, Bt, 'NT'], [At, Bt, 'TT']] as const) {
          const out = tg.matmul(x, y).data();
          if (bf16Rows(M)) {
            expectClose(out, ref, dotTol(K), `medium (${M}, ${K}, ${N}) ${name}`);
            expect(maxRelError(out, exact), 'bf16 rounding is visible against exact float inputs').toBeGreaterThan(1e-4);
          } else if (operands === 'bf16-accuracy') {
            expectClose(out, exact, bf16Tol(K), `medium, cuBLASLt FAST_16BF (${M}, ${K}, ${N}) ${name}`);
          } else {
            expectClose(out, exact, dotTol(K), `medium, float32 path (${M}, ${K}, ${N}) ${name}`);
          }
        }
      });
    }
    const a = randomArray(3 * 40 * 72, 9200), b = randomArray(3 * 72 * 33, 9201);
    tg.tidy(() => {
      const out = tg.matmul(fromArray(a, [3, 40, 72]), fromArray(b, [3, 72, 33])).data();
      const ref = new Float64Array(3 * 40 * 33);
      for (let i = 0; i < 3; i++) ref.set((bf16Kernel ? roundedMm : mm)(a.subarray(i * 2880, (i + 1) * 2880), b.subarray(i * 2376, (i + 1) * 2376), 40, 72, 33), i * 1320);
      expectClose(out, ref, dotTol(72), 'medium batched');
    });
  });

  it('each call carries its precision: forward and backward at it, the process default untouched', () => {
    const operands = operandsOn(device, 'medium');
    expect(operandsOn(device, 'highest')).toBe('exact');
    const a = randomArray(40 * 72, 9300), b = randomArray(72 * 33, 9301), g = randomArray(40 * 33, 9302);
    const q = randomArray(2 * 4 * 24 * 16, 9303), kv = randomArray(2 * 2 * 24 * 16, 9304);
    // Products, their gradients and the attention kernel's block products, at `precision` or the default.
    const run = (precision?: tg.Float32MatmulPrecision) => tg.tidy(() => {
      const A = fromArray(a, [40, 72]).requiresGrad_(), B = fromArray(b, [72, 33]).requiresGrad_();
      const W = fromArray(b, [72, 33]).transpose().contiguous().requiresGrad_();
      const y = tg.matmul(A, B, { precision });
      const z = tg.linear(A, W, { precision });
      // The backward runs after the default changes back: it must use the forward's precision.
      const previous = tg.getFloat32MatmulPrecision();
      tg.setFloat32MatmulPrecision('highest');
      y.mul(fromArray(g, [40, 33])).sum().add(z.mul(fromArray(g, [40, 33])).sum()).backward();
      tg.setFloat32MatmulPrecision(previous);
      const Q = fromArray(q, [2, 4, 24, 16]).requiresGrad_(), K = fromArray(kv, [2, 2, 24, 16]).requiresGrad_();
      const o = tg.scaledDotProductAttention(Q, K, K, { causal: true, precision });
      tg.setFloat32MatmulPrecision('highest');
      o.sum().backward();
      tg.setFloat32MatmulPrecision(previous);
      return [y, z, A.grad!, B.grad!, W.grad!, o, Q.grad!, K.grad!].map((t) => Array.from(t.data()));
    });
    const highest = run('highest');
    const medium = run('medium');
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    tg.setFloat32MatmulPrecision('medium');
    const byDefault = run();
    tg.setFloat32MatmulPrecision('highest');
    expect(medium).toEqual(byDefault);
    expect(run()).toEqual(highest);
    // Where the bf16 kernel runs, medium rounds the operands: every output and gradient differs from highest.
    if (operands === 'rounded') medium.forEach((m, i) => expect(m, `output ${i}`).not.toEqual(highest[i]));
    else if (operands === 'exact') expect(medium).toEqual(highest);
    tg.tidy(() => {
      const x = tg.randn([4, 4]);
      expect(() => tg.matmul(x, x, { precision: 'low' as never })).toThrow(/matmul: precision must be 'highest' or 'medium', got "low"/);
      expect(() => tg.linear(x, x, { precision: 'fast' as never })).toThrow(/linear: precision must be 'highest' or 'medium'/);
      const q4 = tg.randn([1, 1, 2, 4]);
      expect(() => tg.scaledDotProductAttention(q4, q4, q4, { precision: 'x' as never })).toThrow(/scaledDotProductAttention: precision must be/);
    });
  });
}

forEachBackend((device) => describe(`float32 matmul precision on ${device}`, () => precisionTests(device)));

/** Whether this CPU can run the AVX512-BF16 kernel but medium precision does not choose it (Intel's cores). */
function bf16KernelOnlyForced(): boolean {
  if (native.matmulPrecision().kernels.medium === 'avx512-bf16') return false;
  const inUse = native.gemmKernel();
  try {
    native.gemmKernel('avx512-bf16');
    return true;
  } catch {
    return false;
  } finally {
    native.gemmKernel(inUse);
  }
}

// There the bf16 kernel runs these tests too, forced, so that it stays tested on every CPU that has it.
describe.runIf(bf16KernelOnlyForced())('float32 matmul precision on cpu, the AVX512-BF16 kernel forced', () => {
  beforeAll(() => {
    native.gemmKernel('avx512-bf16');
  });
  afterAll(() => {
    native.gemmKernel('auto');
  });
  it('medium runs the bf16 kernel', () => {
    expect(tg.matmulKernel('medium')).toBe('avx512-bf16');
  });
  precisionTests('cpu');
});
