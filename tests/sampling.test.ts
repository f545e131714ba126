// Sampling on the device (sampleTokens -> the backends' sampleRows) against the float64 host sampler of
// src/generate/sampling.ts: seeded random rows, ties, -inf logits, temperature extremes, top-k beyond V, tiny top-p,
// min-p, strided and offset views, bad arguments; then generate() on cuda against the CPU.
//
// How close: the CPU computes in float64 as the host sampler does, so its ids are the host's on every row. CUDA
// computes in float32 (fast_exp, sums in a fixed order): its ids are the host's except where the row's uniform lies
// within EPS of a boundary of the cumulative distribution, or a top-p / min-p decision lies within EPS of its
// threshold (then either token is a correct draw at float32 precision); greedy ids are always identical.
import { describe, expect, it, vi } from 'vitest';
import { cudaDevice } from './helpers/devices.js';
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { sampleTokens } from '../src/generate/sample-tokens.js';
import { resolveSampling, sampleIndex, samplingDistribution, type SamplingOptions, tokenLogprob } from '../src/generate/sampling.js';
import { expectClose, forEachBackend, randomArray, rng } from './helpers/reference.js';

/** CUDA's float32 sampler may pick another token only within this distance of a boundary (probability units). */
const EPS = 1e-5;

interface Expected {
  id: number;
  logprob: number;
  policyLogprob: number;
  /** Distance of the row's decisions from their boundaries: the uniform from the CDF's steps, top-p's mass before
   * each token from topP, min-p's ratios from minP (relative to the top probability). */
  margin: number;
}

function reference(row: ArrayLike<number>, u: number, options: SamplingOptions): Expected {
  const o = resolveSampling(options);
  const V = row.length;
  if (Array.from(row).some((x) => Number.isNaN(x) || x === Infinity) || Array.from(row).every((x) => x === -Infinity))
    return { id: -1, logprob: NaN, policyLogprob: NaN, margin: Infinity };
  const p = samplingDistribution(row, o);
  const id = o.greedy ? p.indexOf(1) : sampleIndex(p, u);
  let margin = Infinity;
  if (!o.greedy) {
    let acc = 0;
    for (let i = 0; i < V; i++) {
      if (p[i] === 0) continue;
      margin = Math.min(margin, Math.abs(u - acc));
      acc += p[i];
    }
    margin = Math.min(margin, Math.abs(u - acc));
    if (o.topP < 1) {
      const q = samplingDistribution(row, { ...o, topP: 1, minP: 0 });
      const sorted = Array.from(q).filter((v) => v > 0).sort((a, b) => b - a);
      let before = 0;
      for (const v of sorted) {
        margin = Math.min(margin, Math.abs(before - o.topP));
        before += v;
      }
    }
    if (o.minP > 0) {
      const q = samplingDistribution(row, { ...o, minP: 0 });
      const top = Math.max(...q);
      for (const v of q) if (v > 0) margin = Math.min(margin, Math.abs(v / top - o.minP));
    }
  }
  return { id, logprob: o.greedy ? 0 : Math.log(p[id]), policyLogprob: tokenLogprob(row, id, o.temperature), margin };
}

interface Sampled {
  ids: Int32Array;
  logprobs: Float32Array;
  policyLogprobs: Float32Array;
}

function run(logits: tg.Tensor, uniforms: tg.Tensor | null, options: SamplingOptions): Sampled {
  const s = sampleTokens(logits, uniforms, options);
  try {
    return { ids: s.ids.data() as Int32Array, logprobs: s.logprobs.data() as Float32Array, policyLogprobs: s.policyLogprobs.data() as Float32Array };
  } finally {
    for (const t of [s.ids, s.logprobs, s.policyLogprobs]) t.dispose();
  }
}

function uniformsOf(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
}

forEachBackend((device) => {
  const exact = device === 'cpu';

  // Checks every row against the reference; returns how many rows CUDA picked differently within EPS.
  function check(rows: number[][], u: Float32Array, got: Sampled, options: SamplingOptions, what: string): number {
    const tol = exact ? { atol: 1e-6, rtol: 1e-6 } : { atol: 3e-5, rtol: 1e-5 };
    let excused = 0;
    rows.forEach((row, r) => {
      const want = reference(row, u[r], options);
      if (got.ids[r] !== want.id) {
        expect(!exact && want.margin < EPS, `${what} row ${r}: id ${got.ids[r]}, expected ${want.id} (margin ${want.margin})`).toBe(true);
        excused++;
        return;
      }
      expectClose([got.logprobs[r], got.policyLogprobs[r]], [want.logprob, want.policyLogprob], tol, `${what} row ${r} log-probs`);
    });
    return excused;
  }

  function randomRows(B: number, V: number, seed: number, scale: number): number[][] {
    const flat = randomArray(B * V, seed, scale);
    return Array.from({ length: B }, (_, b) => Array.from(flat.subarray(b * V, (b + 1) * V)));
  }

  function sampleRows(rows: number[][], u: Float32Array | null, options: SamplingOptions): Sampled {
    return tg.tidy(() => run(tg.tensor(Float32Array.from(rows.flat()), [rows.length, rows[0].length]), u && tg.tensor(u), options));
  }

  describe('sampleTokens', () => {
    const cases: Record<string, SamplingOptions> = {
      'plain': {},
      'temperature 0.7': { temperature: 0.7 },
      'top-k 5': { topK: 5 },
      'top-p 0.9': { topP: 0.9 },
      'min-p 0.05': { minP: 0.05 },
      'top-k 50, top-p 0.95, min-p 0.02, temperature 1.3': { topK: 50, topP: 0.95, minP: 0.02, temperature: 1.3 },
      'greedy': { greedy: true },
      'temperature 0 (greedy)': { temperature: 0 },
    };
    for (const [name, options] of Object.entries(cases)) {
      it(`seeded random rows give the host sampler's ids and log-probs (${name})`, () => {
        let excused = 0, total = 0;
        for (const [V, scale] of [[7, 1], [300, 3], [3000, 2]] as const) {
          const rows = randomRows(12, V, 1000 + V, scale);
          const u = uniformsOf(rows.length, 7 + V);
          excused += check(rows, u, sampleRows(rows, u, options), options, `V ${V}`);
          total += rows.length;
        }
        // A handful at most: a test that excused every row could not fail.
        expect(excused, `${excused} of ${total} rows within ${EPS} of a boundary`).toBeLessThanOrEqual(exact ? 0 : 1);
      });
    }

    it('ties: top-k keeps every token tied with the k-th, greedy takes the first maximum, top-p keeps ties of the last kept', () => {
      // logits on a grid of 0.5, so many probabilities tie exactly
      const rows = randomRows(16, 40, 5, 2).map((row) => row.map((x) => Math.round(x * 2) / 2));
      rows[0] = [1, 3, 0, 3, 2, 3, -1, 0, ...new Array<number>(32).fill(-2)];
      const u = uniformsOf(rows.length, 11);
      for (const options of [{ topK: 3 }, { topK: 8, temperature: 0.5 }, { topP: 0.5 }, { topP: 0.8, topK: 12 }, { minP: 0.3 }, { greedy: true }]) {
        expect(check(rows, u, sampleRows(rows, u, options), options, JSON.stringify(options))).toBe(0);
      }
      expect(sampleRows(rows, null, { greedy: true }).ids[0]).toBe(1);
      // a grid of uniforms over row 0 with top-k 2: the three tokens tied at the top share the mass equally
      const grid = Float32Array.from({ length: 30 }, (_, i) => (i + 0.5) / 30);
      const got = sampleRows(Array.from(grid, () => rows[0]), grid, { topK: 2 });
      expect(Array.from(got.ids)).toEqual(Array.from(grid, (_, i) => [1, 3, 5][Math.floor(i / 10)]));
    });

    it('-inf logits are never sampled; rows of only -inf, or holding NaN or +inf, give id -1 and NaN log-probs', () => {
      const rows = randomRows(6, 50, 9, 2).map((row, b) => row.map((x, i) => ((i + b) % 3 === 0 ? -Infinity : x)));
      const u = uniformsOf(rows.length, 3);
      for (const options of [{}, { topP: 0.9 }, { topK: 60 }, { minP: 0.1, temperature: 2 }]) {
        const got = sampleRows(rows, u, options);
        expect(check(rows, u, got, options, JSON.stringify(options))).toBe(0);
        got.ids.forEach((id, b) => expect(rows[b][id]).not.toBe(-Infinity));
      }
      const bad = [new Array(50).fill(-Infinity), rows[1].map((x, i) => (i === 7 ? NaN : x)), rows[2].map((x, i) => (i === 49 ? Infinity : x)), rows[3]];
      for (const options of [{}, { greedy: true }]) {
        const got = sampleRows(bad, uniformsOf(4, 1), options);
        expect(Array.from(got.ids.subarray(0, 3))).toEqual([-1, -1, -1]);
        expect(got.ids[3]).toBeGreaterThanOrEqual(0);
        for (const v of [...got.logprobs.subarray(0, 3), ...got.policyLogprobs.subarray(0, 3)]) expect(v).toBeNaN();
      }
    });

    it('temperature extremes: 1e-4 takes the maximum, 1e4 is nearly uniform; top-k beyond V is off; a tiny top-p keeps the top token', () => {
      const rows = randomRows(10, 200, 21, 3);
      const u = uniformsOf(rows.length, 4);
      const argmax = rows.map((row) => row.indexOf(Math.max(...row)));
      expect(Array.from(sampleRows(rows, u, { temperature: 1e-4 }).ids)).toEqual(argmax);
      expect(Array.from(sampleRows(rows, u, { topP: 1e-9 }).ids)).toEqual(argmax);
      expect(check(rows, u, sampleRows(rows, u, { temperature: 1e4 }), { temperature: 1e4 }, 'temperature 1e4')).toBeLessThanOrEqual(exact ? 0 : 1);
      const off = sampleRows(rows, u, {});
      for (const topK of [200, 201, 10 ** 6]) {
        const got = sampleRows(rows, u, { topK });
        expect(Array.from(got.ids), `topK ${topK}`).toEqual(Array.from(off.ids));
        expect(Array.from(got.logprobs)).toEqual(Array.from(off.logprobs));
      }
      // with nothing truncated the sampling log-prob is the policy log-prob bit for bit
      expect(Array.from(off.logprobs)).toEqual(Array.from(off.policyLogprobs));
    });

    it('reads strided and offset views of the logits, and transposed ones through a copy', () => {
      const B = 5, V = 90, W = V + 7;
      const base = randomRows(B, W, 31, 2);
      const rows = base.map((row) => row.slice(3, 3 + V));
      const u = uniformsOf(B, 8);
      for (const options of [{ topP: 0.9 }, { greedy: true }]) {
        const narrowed = tg.tidy(() => {
          const logits = tg.tensor(Float32Array.from(base.flat()), [B, W]).narrow(1, 3, V);
          expect(logits.strides).toEqual([W, 1]);
          expect(logits.offset).toBe(3);
          return run(logits, tg.tensor(u), options);
        });
        expect(check(rows, u, narrowed, options, 'narrowed')).toBe(0);
        const transposed = tg.tidy(() => {
          const logitsT = tg.tensor(Float32Array.from(Array.from({ length: V * B }, (_, i) => rows[i % B][Math.floor(i / B)])), [V, B]);
          const strided = tg.tensor(Float32Array.from(Array.from({ length: 2 * B }, (_, i) => (i % 2 === 0 ? u[i / 2] : 9))), [2 * B]);
          return run(logitsT.transpose(0, 1), strided.slice(0, 0, 2 * B, 2), options);
        });
        expect(Array.from(transposed.ids)).toEqual(Array.from(narrowed.ids));
      }
    });

    it('rejects bad arguments with errors naming the op; the native primitive checks its own', () => {
      tg.tidy(() => {
        const logits = tg.tensor(Float32Array.from(randomArray(12, 3)), [3, 4]);
        const u = tg.tensor(uniformsOf(3, 1));
        expect(() => sampleTokens('x' as unknown as tg.Tensor, u, {})).toThrow(/sampleTokens: logits must be a Tensor/);
        expect(() => sampleTokens(tg.tensor([[1, 2]], undefined, { dtype: 'int32' }), u, {})).toThrow(TypeError);
        expect(() => sampleTokens(logits.view([3, 2, 2]), u, {})).toThrow(/sampleTokens: logits must be \(rows, V\)/);
        expect(() => sampleTokens(logits, tg.tensor(uniformsOf(2, 1)), {})).toThrow(/sampleTokens: uniforms \[2\] must be \[3\]/);
        expect(() => sampleTokens(logits, null, {})).toThrow(/sampleTokens: uniforms are required/);
        expect(() => sampleTokens(logits, u, { topP: 0 })).toThrow(/sampleTokens: topP must be in \(0, 1\]/);
        expect(() => sampleTokens(logits, u, { topK: 1.5 })).toThrow(RangeError);
        expect(() => sampleTokens(logits, u, { minP: -1 })).toThrow(/sampleTokens: minP/);
        const ids = logits.newEmpty([3], 'int32');
        const lp = logits.newEmpty([3]);
        const plp = logits.newEmpty([3]);
        const b = logits.backend;
        const o = { temperature: 1, topK: 0, topP: 1, minP: 0, greedy: false };
        expect(() => b.sampleRows(ids, lp, plp, logits, 3, 3, 4, u, o)).toThrow(/sampleRows: logits: row stride 3 < V = 4/);
        expect(() => b.sampleRows(ids, lp, plp, logits, 5, 3, 4, u, o)).toThrow(/sampleRows: logits \(3, 4\) with row stride 5 at offset 0 exceeds/);
        expect(() => b.sampleRows(ids, lp, plp, logits, 4, 3, 4, u, { ...o, temperature: 0 })).toThrow(/sampleRows: temperature 0 needs greedy/);
        expect(() => b.sampleRows(ids, lp, plp, logits, 4, 3, 4, u, { ...o, topP: 1.5 })).toThrow(/sampleRows: topP/);
        expect(() => b.sampleRows(ids, lp, plp, logits, 4, 3, 4, null, o)).toThrow(/sampleRows: uniforms are required unless greedy/);
        expect(() => b.sampleRows(ids, lp, lp, logits, 4, 3, 4, u, o)).toThrow(/sampleRows: logprobs overlaps policyLogprobs/);
        expect(() => b.sampleRows(ids, lp, plp, logits, 4, 3, 4, lp, o)).toThrow(/sampleRows: logprobs overlaps uniforms/);
        expect(() => b.sampleRows(lp, lp, plp, logits, 4, 3, 4, u, o)).toThrow(TypeError);
        const gone = logits.newEmpty([3, 4]);
        gone.dispose();
        expect(() => sampleTokens(gone, u, {})).toThrow(/disposed/);
      });
    });
  });

  describe('generate', () => {
    it('copies only the sampled ids to the host each step, and the log-probs once at the end', () => {
      const model = new nn.LlamaForCausalLM({ vocabSize: 29, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 1,
        numAttentionHeads: 2, maxPositionEmbeddings: 32, initializerRange: 0.5 }, { seed: 5 }).to(device);
      const backend = model.parameters()[0].backend;
      const reads: { dtype: string; length: number }[] = [];
      const read = backend.read.bind(backend);
      const spy = vi.spyOn(backend, 'read').mockImplementation((id, offset, out) => {
        reads.push({ dtype: out instanceof Int32Array ? 'int32' : 'float32', length: out.length });
        read(id, offset, out);
      });
      try {
        const B = 5, maxNew = 9;
        const out = generate(model, [[1, 2], [3], [4, 5, 6], [7], [8, 9]], { maxNewTokens: maxNew, seed: 2, topP: 0.9, eosTokenId: 3 });
        const steps = Math.max(...out.completionLengths);
        expect(reads.slice(0, steps).map((r) => r.dtype)).toEqual(new Array(steps).fill('int32'));
        reads.slice(0, steps).forEach((r) => expect(r.length).toBeLessThanOrEqual(B));
        expect(reads.slice(steps)).toEqual([{ dtype: 'float32', length: steps * B }, { dtype: 'float32', length: steps * B }]);
      } finally {
        spy.mockRestore();
        model.dispose();
      }
    });

    it('a sequence whose logits hold NaN is a RangeError naming it and the step, and nothing leaks', () => {
      const model = new nn.LlamaForCausalLM({ vocabSize: 13, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 1,
        numAttentionHeads: 2, maxPositionEmbeddings: 32 }, { seed: 6 }).to(device);
      generate(model, [[1, 2]], { maxNewTokens: 2, seed: 1 }); // builds the rotary tables the model keeps
      const before = tg.memory().numTensors;
      tg.tidy(() => model.loadStateDict({ 'lm_head.weight': tg.full([13, 16], NaN) }, { strict: false }));
      for (const options of [{ seed: 1 }, { greedy: true }]) {
        expect(() => generate(model, [[1, 2], [3]], { maxNewTokens: 4, ...options })).toThrow(/generate: the logits of sequence 0 at new token 0 hold NaN/);
      }
      expect(tg.memory().numTensors).toBe(before);
      model.dispose();
    });
  });
});

describe.skipIf(!cudaDevice.available)(`generate on cuda${cudaDevice.emulated ? ' (emulated device)' : ''} against the CPU`, () => {
  const config: nn.LlamaConfigOptions = { vocabSize: 29, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, maxPositionEmbeddings: 64, initializerRange: 0.5 };
  const prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12], [13, 14, 15]];

  it('greedy: the same tokens; policy log-probs to 1e-4', () => {
    const cpu = new nn.LlamaForCausalLM(config, { seed: 3 });
    const cuda = new nn.LlamaForCausalLM(config, { seed: 3 }).to('cuda');
    const a = generate(cpu, prompts, { maxNewTokens: 12, greedy: true, eosTokenId: 0 });
    const b = generate(cuda, prompts, { maxNewTokens: 12, greedy: true, eosTokenId: 0 });
    expect(b.completionIds).toEqual(a.completionIds);
    expect(b.logprobs).toEqual(a.logprobs);
    expectClose(b.policyLogprobs.flat(), a.policyLogprobs.flat(), { atol: 1e-4, rtol: 1e-4 }, 'policy log-probs');
    cpu.dispose();
    cuda.dispose();
  });

  it('sampling (seeded; top-p, top-k, min-p; finished rows leave the batch): the same tokens for these seeds', () => {
    // The two devices' logits differ by ~1e-6 and CUDA samples in float32, so a draw within ~1e-5 of a boundary could
    // pick a neighbouring token; none of these 6 x 14 draws per case does.
    const cpu = new nn.LlamaForCausalLM(config, { seed: 4 });
    const cuda = new nn.LlamaForCausalLM(config, { seed: 4 }).to('cuda');
    for (const options of [{ seed: 1 }, { seed: 2, topP: 0.9, temperature: 0.8 }, { seed: 3, topK: 5, minP: 0.05 }]) {
      const opts = { maxNewTokens: 14, eosTokenId: 0, ...options };
      const a = generate(cpu, prompts, opts);
      const b = generate(cuda, prompts, opts);
      expect(b.completionIds, JSON.stringify(options)).toEqual(a.completionIds);
      expect(b.stopReasons).toEqual(a.stopReasons);
      expectClose(b.logprobs.flat(), a.logprobs.flat(), { atol: 1e-4, rtol: 1e-4 }, 'log-probs');
      expectClose(b.policyLogprobs.flat(), a.policyLogprobs.flat(), { atol: 1e-4, rtol: 1e-4 }, 'policy log-probs');
    }
    cpu.dispose();
    cuda.dispose();
  });
});
