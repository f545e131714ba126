// Generation: the sampling distribution (temperature, top-k, top-p, min-p) against a plain reference, and
// generate() end to end: seeded determinism, cache vs recompute, left padding, EOS, stop strings, outputs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { resolveSampling, sampleIndex, samplingDistribution } from '../src/generate/sampling.js';
import { expectClose } from './helpers/reference.js';

// ---- reference sampling distribution, written plainly (sorting with indices) ----

function refDistribution(logits: number[], o: { temperature?: number; topK?: number; topP?: number; minP?: number }): number[] {
  const T = o.temperature ?? 1;
  const mx = Math.max(...logits);
  let p = logits.map((z) => Math.exp((z - mx) / T));
  const norm = (q: number[]) => {
    const s = q.reduce((a, b) => a + b, 0);
    return q.map((v) => v / s);
  };
  p = norm(p);
  const order = () => p.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
  if (o.topK) {
    const kth = p[order()[o.topK - 1]];
    p = norm(p.map((v) => (v >= kth ? v : 0)));
  }
  if (o.topP !== undefined && o.topP < 1) {
    const keep = new Set<number>();
    let before = 0;
    for (const i of order()) {
      if (before >= o.topP) break;
      keep.add(i);
      before += p[i];
    }
    // tokens tied with the last kept one are kept too (the result does not depend on how ties sort)
    const last = Math.min(...[...keep].map((i) => p[i]));
    p = norm(p.map((v) => (v >= last ? v : 0)));
  }
  if (o.minP) {
    const top = Math.max(...p);
    p = norm(p.map((v) => (v >= o.minP! * top ? v : 0)));
  }
  return p;
}

const tinyConfig: nn.LlamaConfigOptions = { vocabSize: 12, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 64 };

function randomizedModel(seed: number): nn.LlamaForCausalLM {
  // initializer_range 0.5 so the tiny model's distributions are far from uniform
  return new nn.LlamaForCausalLM({ ...tinyConfig, initializerRange: 0.5 }, { seed });
}

describe('sampling distribution', () => {
  const logits = [2.0, 1.0, 0.5, 3.0, -1.0, 1.0, 0.0, 2.5];
  const cases: Record<string, { temperature?: number; topK?: number; topP?: number; minP?: number }> = {
    'plain': {},
    'temperature 0.7': { temperature: 0.7 },
    'top-k 3': { topK: 3 },
    'top-k 5 (ties with the 5th kept: 1.0 twice)': { topK: 5 },
    'top-p 0.8': { topP: 0.8 },
    'top-p 0.5, temperature 1.5': { topP: 0.5, temperature: 1.5 },
    'min-p 0.2': { minP: 0.2 },
    'top-k 6 then top-p 0.9 then min-p 0.1': { topK: 6, topP: 0.9, minP: 0.1 },
  };
  for (const [name, o] of Object.entries(cases)) {
    it(name, () => {
      const got = samplingDistribution(logits, resolveSampling(o));
      expectClose(got, refDistribution(logits, o), { atol: 1e-12, rtol: 1e-12 }, name);
    });
  }

  it('kept sets match hand-computed ones', () => {
    const kept = (o: object) => [...samplingDistribution(logits, resolveSampling(o))].flatMap((v, i) => (v > 0 ? [i] : []));
    expect(kept({ topK: 3 })).toEqual([0, 3, 7]);
    expect(kept({ topK: 5 })).toEqual([0, 1, 3, 5, 7]);
    expect(kept({ topP: 0.3 })).toEqual([3]); // p(3) = 0.36 already reaches 0.3
    expect(kept({ topP: 0.6 })).toEqual([3, 7]);
    expect(kept({ greedy: true })).toEqual([3]);
    expect(kept({ temperature: 0 })).toEqual([3]);
  });

  it('top-p by partial selection matches the sorted walk on large rows, ties and peaked or flat distributions', () => {
    let state = 12345;
    const rnd = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 60; trial++) {
      const V = [3, 64, 1000, 5000][trial % 4];
      const spread = [0.05, 1, 4, 12][Math.floor(trial / 4) % 4];
      // every third trial quantizes the logits so many probabilities tie exactly
      const row = Array.from({ length: V }, () => (trial % 3 === 0 ? Math.round(rnd() * 6) / 2 : rnd() * spread));
      const o = { topP: [0.05, 0.5, 0.9, 0.95, 0.999][trial % 5], ...(trial % 7 === 0 ? { topK: Math.max(1, V >> 2) } : {}) };
      const got = samplingDistribution(row, resolveSampling(o));
      expectClose(got, refDistribution(row, o), { atol: 1e-12, rtol: 1e-9 }, `trial ${trial} V ${V} ${JSON.stringify(o)}`);
    }
  });

  it('inverse-CDF draws follow the distribution (a uniform grid gives the exact frequencies)', () => {
    const p = samplingDistribution(logits, resolveSampling({ topP: 0.9 }));
    const N = 100000;
    const counts = new Float64Array(p.length);
    for (let i = 0; i < N; i++) counts[sampleIndex(p, (i + 0.5) / N)]++;
    expectClose(counts.map((c) => c / N), p, { atol: 2 / N, rtol: 0 }, 'frequencies');
  });

  it('rejects bad options', () => {
    expect(() => resolveSampling({ topP: 0 })).toThrow(/topP/);
    expect(() => resolveSampling({ topK: -1 })).toThrow(/topK/);
    expect(() => resolveSampling({ temperature: -1 })).toThrow(/temperature/);
    expect(() => resolveSampling({ minP: 2 })).toThrow(/minP/);
  });
});

describe('generate', () => {
  it('is reproducible under a seed, and draws from the global generator otherwise', () => {
    const model = randomizedModel(1);
    const prompts = [[1, 2, 3], [4, 5, 6]];
    const opts = { maxNewTokens: 12, temperature: 1, topP: 0.95 };
    const a = generate(model, prompts, { ...opts, seed: 42 });
    const b = generate(model, prompts, { ...opts, seed: 42 });
    const c = generate(model, prompts, { ...opts, seed: 43 });
    expect(b).toEqual(a);
    expect(c.completionIds).not.toEqual(a.completionIds);
    tg.manualSeed(42);
    const d = generate(model, prompts, opts);
    expect(d.completionIds).toEqual(a.completionIds);
    const e = generate(model, prompts, opts); // the global generator moved on
    expect(e.completionIds).not.toEqual(a.completionIds);
    model.dispose();
  });

  it('greedy decoding with the cache picks the argmax of a full recompute at every step; log-probs match', () => {
    const model = randomizedModel(2);
    const prompt = [3, 1, 4, 1];
    const out = generate(model, [prompt], { maxNewTokens: 10, greedy: true });
    const seq = [...prompt];
    tg.noGrad(() => {
      for (let s = 0; s < 10; s++) {
        const logits = tg.tidy(() => model.forward(tg.tensor([seq], undefined, { dtype: 'int32' })).data());
        const V = tinyConfig.vocabSize;
        const row = Array.from(logits.subarray((seq.length - 1) * V, seq.length * V));
        const best = row.indexOf(Math.max(...row));
        expect(out.completionIds[0][s], `step ${s}`).toBe(best);
        const lse = Math.log(row.reduce((acc, z) => acc + Math.exp(z), 0));
        expectClose([out.policyLogprobs[0][s]], [row[best] - lse], { atol: 1e-5, rtol: 1e-5 }, `policy log-prob ${s}`);
        expect(out.logprobs[0][s]).toBe(0);
        seq.push(best);
      }
    });
    model.dispose();
  });

  it('left-padded batches give each sequence the tokens and log-probs it gets alone', () => {
    const model = randomizedModel(3);
    const prompts = [[5, 6, 7, 8, 9, 10], [2], [7, 3, 1]];
    const batched = generate(model, prompts, { maxNewTokens: 8, greedy: true });
    prompts.forEach((p, b) => {
      const single = generate(model, [p], { maxNewTokens: 8, greedy: true });
      expect(batched.completionIds[b]).toEqual(single.completionIds[0]);
      expectClose(batched.policyLogprobs[b], single.policyLogprobs[0], { atol: 1e-5, rtol: 1e-5 }, `log-probs ${b}`);
      expect(batched.sequences[b]).toEqual([...p, ...single.completionIds[0]]);
    });
    model.dispose();
  });

  it('stops at EOS or a stop string per sequence; pads, masks and flags the rest', () => {
    const model = randomizedModel(4);
    const prompts = [[1, 2], [3, 4], [5, 6, 7]];
    const free = generate(model, prompts, { maxNewTokens: 10, seed: 7 });
    expect(free.truncated).toEqual([true, true, true]);
    expect(free.completionLengths).toEqual([10, 10, 10]);
    // make sequence 0's 4th token the EOS: it stops there, the others run on (same draws)
    const eos = free.completionIds[0][3];
    const firstEos = (row: number[]) => row.indexOf(eos);
    const withEos = generate(model, prompts, { maxNewTokens: 10, seed: 7, eosTokenId: [eos], padTokenId: 11 });
    prompts.forEach((_, b) => {
      const cut = firstEos(free.completionIds[b]);
      const len = cut < 0 ? 10 : cut + 1;
      expect(withEos.completionLengths[b]).toBe(len);
      expect(withEos.completionIds[b].slice(0, len)).toEqual(free.completionIds[b].slice(0, len));
      expect(withEos.completionMask[b]).toEqual([...new Array(len).fill(1), ...new Array(withEos.completionIds[b].length - len).fill(0)]);
      expect(withEos.completionIds[b].slice(len).every((t) => t === 11)).toBe(true);
      expect(withEos.truncated[b]).toBe(cut < 0);
      expect(withEos.stopReasons[b]).toBe(cut < 0 ? 'length' : 'eos');
      expect(withEos.logprobs[b].slice(len).every((v) => v === 0)).toBe(true);
    });
    // stop strings through a decode function: letters a.. for ids 0..
    const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + i)).join('');
    const text1 = decode(free.completionIds[1]);
    const stop = text1.slice(4, 6);
    const withStop = generate(model, prompts, { maxNewTokens: 10, seed: 7, stopStrings: [stop], decode });
    const at = text1.indexOf(stop);
    expect(withStop.completionLengths[1]).toBe(at + stop.length);
    expect(withStop.stopReasons[1]).toBe('stop');
    expect(withStop.truncated[1]).toBe(false);
    expect(() => generate(model, prompts, { maxNewTokens: 2, stopStrings: ['x'] })).toThrow(/decode/);
    model.dispose();
  });

  for (const kvCacheDtype of ['float32', 'bfloat16'] as const) {
    it(`finished sequences leave the batch without changing the others (${kvCacheDtype} cache, left padding, sampling)`, () => {
      const model = randomizedModel(6);
      // 12 prompts of 1-5 tokens; the EOS is the token most often sampled early, so sequences finish at many steps
      const prompts = Array.from({ length: 12 }, (_, i) => Array.from({ length: 1 + (i % 5) }, (_, j) => (3 * i + j) % 11 + 1));
      const free = generate(model, prompts, { maxNewTokens: 14, seed: 3, eosTokenId: null, kvCacheDtype });
      const counts = new Array<number>(12).fill(0);
      for (const ids of free.completionIds) for (const t of ids.slice(0, 6)) counts[t]++;
      const eos = counts.indexOf(Math.max(...counts));
      const stopped = generate(model, prompts, { maxNewTokens: 14, seed: 3, eosTokenId: eos, kvCacheDtype });
      const lengths = stopped.completionLengths;
      expect(new Set(lengths.filter((n) => n < 14)).size, 'sequences finish at several different steps').toBeGreaterThan(2);
      prompts.forEach((_, b) => {
        // the same draws and the same logits: identical up to the EOS
        expect(stopped.completionIds[b].slice(0, lengths[b])).toEqual(free.completionIds[b].slice(0, lengths[b]));
        expectClose(stopped.policyLogprobs[b].slice(0, lengths[b]), free.policyLogprobs[b].slice(0, lengths[b]), { atol: 1e-6, rtol: 1e-6 }, `sequence ${b}`);
      });
      model.dispose();
    });
  }

  it('KVCache.keepRows moves kept rows to the front and refuses bad row lists', () => {
    tg.tidy(() => {
      const cache = new nn.KVCache(1, 3, 1, 4, 2);
      const keys = tg.tensor(Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => i), [3, 2, 1, 2]);
      cache.write(0, 0, keys, keys);
      cache.length = 2;
      cache.keepRows([0, 2]);
      expect(cache.batch).toBe(2);
      expect(Array.from(cache.read(0, 2).keys.data())).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
      expect(() => cache.keepRows([1, 0])).toThrow(/ascending indices below 2/);
      expect(() => cache.keepRows([0, 5])).toThrow(RangeError);
      cache.dispose();
    });
  });

  it('without truncation the sampling log-probs are the policy log-probs at that temperature', () => {
    const model = randomizedModel(5);
    const out = generate(model, [[1, 2, 3]], { maxNewTokens: 6, temperature: 0.8, seed: 1 });
    expectClose(out.logprobs[0], out.policyLogprobs[0], { atol: 1e-9, rtol: 1e-9 }, 'log-probs');
    const trunc = generate(model, [[1, 2, 3]], { maxNewTokens: 6, temperature: 0.8, topK: 2, seed: 1 });
    trunc.logprobs[0].forEach((lp, i) => expect(lp).toBeGreaterThanOrEqual(trunc.policyLogprobs[0][i] - 1e-12));
    model.dispose();
  });

  it('validates its inputs and frees its cache', () => {
    const model = randomizedModel(6);
    expect(() => generate(model, [], { maxNewTokens: 2 })).toThrow(/non-empty/);
    expect(() => generate(model, [[]], { maxNewTokens: 2 })).toThrow(/empty/);
    expect(() => generate(model, [[99]], { maxNewTokens: 2 })).toThrow(/outside \[0, 12\)/);
    expect(() => generate(model, [[1]], { maxNewTokens: 0 })).toThrow(/maxNewTokens/);
    expect(() => generate(model, [[1]], { maxNewTokens: 100 })).toThrow(/max_position_embeddings/);
    generate(model, [[1, 2], [3]], { maxNewTokens: 5 }); // builds the rotary tables the model keeps
    const before = tg.memory().numTensors;
    generate(model, [[1, 2], [3]], { maxNewTokens: 5 });
    expect(tg.memory().numTensors).toBe(before);
    model.dispose();
  });
});
