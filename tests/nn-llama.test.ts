// The Llama / Qwen2 model against a float64 reference forward written plainly below: logits and gradients
// (GQA, Qwen2 biases, tied and untied heads), left padding, the KV cache, and short training runs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import type { LlamaConfig } from '../src/nn/config.js';
import { leftPaddingStarts } from '../src/nn/llama.js';
import { expectClose, fromArray, randomArray, randomInts, rng } from './helpers/reference.js';

export type RefParams = Record<string, Float64Array>;

function linear(x: Float64Array, rows: number, inF: number, w: Float64Array, outF: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = s;
    }
  }
  return y;
}

function rmsnorm(x: Float64Array, rows: number, C: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < C; i++) ss += x[r * C + i] ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let i = 0; i < C; i++) y[r * C + i] = x[r * C + i] * inv * w[i];
  }
  return y;
}

// x (B*T, H*D) rotated in place: pair (i, i + D/2) by angle pos * theta^(-2i/D).
function rope(x: Float64Array, B: number, T: number, H: number, D: number, pos: number[][], theta: number): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const base = (b * T + t) * H * D + h * D;
        for (let i = 0; i < half; i++) {
          const a = pos[b][t] * Math.pow(theta, (-2 * i) / D);
          const [c, s] = [Math.cos(a), Math.sin(a)];
          const x1 = x[base + i];
          const x2 = x[base + i + half];
          x[base + i] = x1 * c - x2 * s;
          x[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
}

/**
 * Logits (B, T, V) flat for ids (B x T), with an optional key mask (B x T of 0/1) and positions (default
 * cumsum(mask) - 1, or 0..T-1).
 */
export function referenceForward(c: LlamaConfig, p: RefParams, ids: number[][], mask?: number[][], positions?: number[][]): Float64Array {
  const B = ids.length;
  const T = ids[0].length;
  const [C, H, Hkv, D, V, F] = [c.hiddenSize, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.vocabSize, c.intermediateSize];
  const m = mask ?? ids.map((r) => r.map(() => 1));
  const pos = positions ?? m.map((r) => {
    let n = 0;
    return r.map((v) => (v ? n++ : 0));
  });
  const emb = p['model.embed_tokens.weight'];
  let x = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let i = 0; i < C; i++) x[(b * T + t) * C + i] = emb[ids[b][t] * C + i];
  const N = B * T;
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const pre = `model.layers.${l}.`;
    const h = rmsnorm(x, N, C, p[pre + 'input_layernorm.weight'], c.rmsNormEps);
    const q = linear(h, N, C, p[pre + 'self_attn.q_proj.weight'], H * D, p[pre + 'self_attn.q_proj.bias']);
    const k = linear(h, N, C, p[pre + 'self_attn.k_proj.weight'], Hkv * D, p[pre + 'self_attn.k_proj.bias']);
    const v = linear(h, N, C, p[pre + 'self_attn.v_proj.weight'], Hkv * D, p[pre + 'self_attn.v_proj.bias']);
    rope(q, B, T, H, D, pos, c.ropeTheta);
    rope(k, B, T, Hkv, D, pos, c.ropeTheta);
    const att = new Float64Array(N * H * D);
    const scale = 1 / Math.sqrt(D);
    for (let b = 0; b < B; b++) {
      for (let hh = 0; hh < H; hh++) {
        const kv = Math.floor(hh / (H / Hkv));
        for (let i = 0; i < T; i++) {
          const s = new Float64Array(T).fill(-Infinity);
          let mx = -Infinity;
          for (let j = 0; j <= i; j++) {
            if (!m[b][j] && j !== i) continue;
            let d = 0;
            for (let e = 0; e < D; e++) d += q[(b * T + i) * H * D + hh * D + e] * k[(b * T + j) * Hkv * D + kv * D + e];
            s[j] = d * scale;
            mx = Math.max(mx, s[j]);
          }
          let z = 0;
          for (let j = 0; j < T; j++) z += s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
          for (let j = 0; j < T; j++) {
            if (s[j] === -Infinity) continue;
            const w = Math.exp(s[j] - mx) / z;
            for (let e = 0; e < D; e++) att[(b * T + i) * H * D + hh * D + e] += w * v[(b * T + j) * Hkv * D + kv * D + e];
          }
        }
      }
    }
    const o = linear(att, N, H * D, p[pre + 'self_attn.o_proj.weight'], C, p[pre + 'self_attn.o_proj.bias']);
    for (let i = 0; i < x.length; i++) x[i] += o[i];
    const h2 = rmsnorm(x, N, C, p[pre + 'post_attention_layernorm.weight'], c.rmsNormEps);
    const g = linear(h2, N, C, p[pre + 'mlp.gate_proj.weight'], F, p[pre + 'mlp.gate_proj.bias']);
    const u = linear(h2, N, C, p[pre + 'mlp.up_proj.weight'], F, p[pre + 'mlp.up_proj.bias']);
    for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
    const dn = linear(g, N, F, p[pre + 'mlp.down_proj.weight'], C, p[pre + 'mlp.down_proj.bias']);
    x = x.map((val, i) => val + dn[i]);
  }
  const hf = rmsnorm(x, N, C, p['model.norm.weight'], c.rmsNormEps);
  return linear(hf, N, C, c.tieWordEmbeddings ? emb : p['lm_head.weight'], V);
}

// ---- fixtures ----

const CONFIGS: Record<string, nn.LlamaConfigOptions> = {
  'llama, GQA, untied': { vocabSize: 11, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500 },
  'qwen2, GQA, q/k/v bias, tied': { modelType: 'qwen2', vocabSize: 13, hiddenSize: 16, intermediateSize: 20, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 1, tieWordEmbeddings: true, ropeTheta: 10000 },
  'llama, MHA, all biases, head_dim 6': { vocabSize: 9, hiddenSize: 12, intermediateSize: 16, numHiddenLayers: 1, numAttentionHeads: 3, headDim: 6, qkvBias: true, oBias: true, mlpBias: true },
};

/** A model whose every parameter (biases and norm scales too) holds seeded random values. */
function randomModel(options: nn.LlamaConfigOptions, seed: number): nn.LlamaForCausalLM {
  const model = new nn.LlamaForCausalLM(options, { seed });
  tg.tidy(() => {
    const sd: Record<string, tg.Tensor> = {};
    let s = seed * 100;
    for (const [name, t] of model.namedParameters()) {
      const vals = randomArray(t.numel, s++, name.endsWith('norm.weight') ? 0.2 : 0.4);
      if (name.endsWith('norm.weight')) for (let i = 0; i < vals.length; i++) vals[i] = Math.fround(1 + vals[i]);
      sd[name] = fromArray(vals, [...t.shape]);
    }
    model.loadStateDict(sd);
  });
  return model;
}

function refParams(model: nn.LlamaForCausalLM): RefParams {
  return Object.fromEntries(model.namedParameters().map(([n, t]) => [n, Float64Array.from(t.data())]));
}

const ids2d = (rows: number[][]) => tg.tensor(rows, undefined, { dtype: 'int32' });

function randomIds(B: number, T: number, V: number, seed: number): number[][] {
  const flat = randomInts(B * T, V, seed);
  return Array.from({ length: B }, (_, b) => Array.from(flat.subarray(b * T, (b + 1) * T)));
}

// ---- tests ----

describe('LlamaForCausalLM vs a float64 reference', () => {
  for (const [name, options] of Object.entries(CONFIGS)) {
    it(`logits and gradients: ${name}`, () => {
      const model = randomModel(options, 3);
      const c = model.config;
      const ids = randomIds(2, 6, c.vocabSize, 11);
      const ref = referenceForward(c, refParams(model), ids);
      const w = randomArray(ref.length, 5);
      tg.tidy(() => {
        const logits = model.forward(ids2d(ids));
        expect(logits.shape).toEqual([2, 6, c.vocabSize]);
        // float32 engine vs float64: errors ~1e-6 relative per op over a few dozen ops
        expectClose(logits.data(), ref, { atol: 2e-5, rtol: 1e-4 }, 'logits');
        logits.mul(fromArray(w, [...logits.shape])).sum().backward();
      });
      // d(sum(w * logits))/d(param) by central differences of the reference, at 3 entries of every parameter
      const params = refParams(model);
      const loss = (p: RefParams) => referenceForward(c, p, ids).reduce((acc, y, i) => acc + y * w[i], 0);
      const r = rng(17);
      const h = 1e-6;
      for (const [pname, t] of model.namedParameters()) {
        const grad = t.grad!.data();
        for (let n = 0; n < 3; n++) {
          const i = Math.floor(r() * t.numel);
          const orig = params[pname][i];
          params[pname][i] = orig + h;
          const fp = loss(params);
          params[pname][i] = orig - h;
          const fm = loss(params);
          params[pname][i] = orig;
          expectClose([grad[i]], [(fp - fm) / (2 * h)], { atol: 2e-4, rtol: 2e-3 }, `d/d ${pname}[${i}]`);
        }
      }
      model.dispose();
    });
  }

  it('Hugging Face parameter names; a tied head adds no tensor; parameter count', () => {
    const model = new nn.LlamaForCausalLM(CONFIGS['qwen2, GQA, q/k/v bias, tied'], { seed: 1 });
    const names = model.namedParameters().map(([n]) => n);
    expect(names).not.toContain('lm_head.weight');
    expect(names).toContain('model.layers.1.self_attn.k_proj.bias');
    expect(names).not.toContain('model.layers.1.self_attn.o_proj.bias');
    const untied = new nn.LlamaForCausalLM(CONFIGS['llama, GQA, untied'], { seed: 1 });
    expect(untied.namedParameters().map(([n]) => n)).toEqual([
      'model.embed_tokens.weight',
      ...[0, 1].flatMap((l) => ['self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight',
        'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight']
        .map((s) => `model.layers.${l}.${s}`)),
      'model.norm.weight', 'lm_head.weight',
    ]);
    const c = untied.config;
    expect(untied.numParameters()).toBe(c.vocabSize * 16 * 2 + 2 * (16 * 16 * 2 + 16 * 8 * 2 + 3 * 16 * 24 + 32) + 16);
    model.dispose();
    untied.dispose();
  });
});

describe('logitsToKeep', () => {
  it('the last n positions\' logits and every gradient equal those of the full forward, narrowed', () => {
    const model = randomModel(CONFIGS['qwen2, GQA, q/k/v bias, tied'], 6);
    const V = model.config.vocabSize;
    const ids = randomIds(2, 7, V, 21);
    const keep = 3;
    const w = fromArray(randomArray(2 * keep * V, 8), [2, keep, V]);
    const gradsOf = (logitsOf: () => tg.Tensor) => {
      model.zeroGrad();
      const logits = tg.tidy(() => {
        const kept = logitsOf();
        kept.mul(w).sum().backward();
        return kept.data();
      });
      return { logits, grads: model.parameters().map((p) => p.grad!.data()) };
    };
    const full = gradsOf(() => tg.narrow(model.forward(ids2d(ids)), 1, 7 - keep, keep));
    const kept = gradsOf(() => {
      const logits = model.forward(ids2d(ids), { logitsToKeep: keep });
      expect(logits.shape).toEqual([2, keep, V]);
      return logits;
    });
    expectClose(kept.logits, full.logits, { atol: 1e-6, rtol: 1e-5 }, 'logits');
    kept.grads.forEach((g, i) => expectClose(g, full.grads[i], { atol: 1e-6, rtol: 1e-4 }, `grad ${model.namedParameters()[i][0]}`));
    expect(() => model.forward(ids2d(ids), { logitsToKeep: 8 })).toThrow(/logitsToKeep must be in \[1, 7\], got 8/);
    w.dispose();
    model.dispose();
  });
});

describe('padding and the KV cache', () => {
  it('left-padded batches equal unpadded single runs, and the reference with a mask', () => {
    const model = randomModel(CONFIGS['qwen2, GQA, q/k/v bias, tied'], 4);
    const V = model.config.vocabSize;
    const prompts = [[3, 1, 4, 1, 5, 9], [2, 6], [5, 3, 5, 8], [7]];
    const T = 6;
    const padded = prompts.map((p) => [...new Array(T - p.length).fill(0), ...p]);
    const mask = prompts.map((p) => [...new Array(T - p.length).fill(0), ...p.map(() => 1)]);
    const ref = referenceForward(model.config, refParams(model), padded, mask);
    tg.noGrad(() => tg.tidy(() => {
      const batched = model.forward(ids2d(padded), { attentionMask: mask }).data();
      prompts.forEach((p, b) => {
        const single = model.forward(ids2d([p])).data();
        const pad = T - p.length;
        const rows = batched.subarray((b * T + pad) * V, (b + 1) * T * V);
        // the same math on a different path (masked composition vs fused kernel): float32 rounding only
        expectClose(rows, single, { atol: 1e-5, rtol: 1e-5 }, `sequence ${b}`);
        expectClose(rows, ref.subarray((b * T + pad) * V, (b + 1) * T * V), { atol: 2e-5, rtol: 1e-4 }, `reference ${b}`);
      });
      // padding rows too (each reads only its own key), as the bias path computed them
      expectClose(batched, ref, { atol: 2e-5, rtol: 1e-4 }, 'every row');
      // a mask that is not left padding (a hole, right padding) keeps the bias path
      const holes = [[1, 1, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 0, 0], [0, 1, 0, 1, 1, 1]];
      const ids = randomIds(4, T, V, 5);
      expectClose(model.forward(ids2d(ids), { attentionMask: holes }).data(), referenceForward(model.config, refParams(model), ids, holes),
        { atol: 2e-5, rtol: 1e-4 }, 'not left padding');
    }));
    model.dispose();
  });

  it('left padding is recognized per row: zeros then ones (all zeros starts at the width); anything else is not', () => {
    const starts = (rows: number[][]) => leftPaddingStarts(Uint8Array.from(rows.flat()), rows.length, rows[0].length);
    expect(starts([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1]])).toEqual(Int32Array.from([2, 0, 4, 3]));
    expect(starts([[0, 0, 1, 1], [0, 1, 0, 1]])).toBeNull();
    expect(starts([[1, 0]])).toBeNull();
  });

  it('left-padded gradients equal the sum of the unpadded single runs\' (the fused backward with key starts)', () => {
    const model = randomModel(CONFIGS['llama, GQA, untied'], 5);
    const V = model.config.vocabSize;
    const prompts = [[3, 1, 4, 1, 5, 9, 2], [2, 6], [7], [5, 3, 5, 8]];
    const T = 7;
    const padded = prompts.map((p) => [...new Array(T - p.length).fill(0), ...p]);
    const mask = prompts.map((p) => [...new Array(T - p.length).fill(0), ...p.map(() => 1)]);
    // weights of the logits: zero on padding rows, whose outputs are never used
    const w = randomArray(prompts.length * T * V, 9);
    prompts.forEach((p, b) => w.fill(0, b * T * V, (b * T + T - p.length) * V));
    const grads = () => model.parameters().map((p) => p.grad!.data());
    model.zeroGrad();
    tg.tidy(() => model.forward(ids2d(padded), { attentionMask: mask }).mul(fromArray(w, [prompts.length, T, V])).sum().backward());
    const batched = grads();
    model.zeroGrad();
    prompts.forEach((p, b) => tg.tidy(() => {
      const wb = w.subarray((b * T + T - p.length) * V, (b + 1) * T * V);
      model.forward(ids2d([p])).mul(fromArray(wb, [1, p.length, V])).sum().backward();
    }));
    const singles = grads();
    batched.forEach((g, i) => expectClose(g, singles[i], { atol: 1e-5, rtol: 1e-4 }, `grad ${model.namedParameters()[i][0]}`));
    model.dispose();
  });

  it('cached decoding gives the logits of a full recompute (atol 1e-5), padded or not', () => {
    const model = randomModel(CONFIGS['llama, GQA, untied'], 6);
    const V = model.config.vocabSize;
    const T = 9;
    const seqs = randomIds(3, T, V, 21);
    for (const pad of [[0, 0, 0], [0, 3, 1]]) {
      const mask = seqs.map((s, b) => s.map((_, t) => (t < pad[b] ? 0 : 1)));
      tg.noGrad(() => {
        const full = tg.tidy(() => model.forward(ids2d(seqs), { attentionMask: mask }).data());
        const cache = model.createCache(3, T);
        const P = 4;
        const pieces: Float32Array[] = [];
        tg.tidy(() => {
          pieces.push(model.forward(ids2d(seqs.map((s) => s.slice(0, P))), { cache, attentionMask: mask.map((m) => m.slice(0, P)) }).data() as Float32Array);
        });
        for (let t = P; t < T; t++) {
          tg.tidy(() => {
            pieces.push(model.forward(ids2d(seqs.map((s) => [s[t]])), { cache, attentionMask: mask.map((m) => m.slice(0, t + 1)) }).data() as Float32Array);
          });
        }
        expect(cache.length).toBe(T);
        for (let b = 0; b < 3; b++) {
          for (let t = pad[b]; t < T; t++) {
            const got = t < P ? pieces[0].subarray((b * P + t) * V, (b * P + t + 1) * V) : pieces[t - P + 1].subarray(b * V, (b + 1) * V);
            expectClose(got, full.subarray((b * T + t) * V, (b * T + t + 1) * V), { atol: 1e-5, rtol: 1e-5 }, `pad ${pad} seq ${b} pos ${t}`);
          }
        }
        cache.dispose();
      });
    }
    model.dispose();
  });

  it('refuses a cache while recording gradients, and a full cache', () => {
    const model = new nn.LlamaForCausalLM(CONFIGS['llama, GQA, untied'], { seed: 2 });
    const cache = model.createCache(1, 3);
    tg.tidy(() => {
      expect(() => model.forward(ids2d([[1, 2]]), { cache })).toThrow(/noGrad/);
      tg.noGrad(() => {
        model.forward(ids2d([[1, 2]]), { cache });
        expect(() => model.forward(ids2d([[1, 2]]), { cache })).toThrow(/full/);
      });
    });
    cache.dispose();
    model.dispose();
  });
});

describe('training a tiny model', () => {
  function train(model: nn.LlamaForCausalLM, steps: number, lr: number, batch: (step: number) => { ids: tg.Tensor; labels?: tg.Tensor }): number[] {
    const params = model.parameters();
    const moments = params.map((p) => [tg.zeros(p.shape), tg.zeros(p.shape)]);
    const losses: number[] = [];
    for (let step = 1; step <= steps; step++) {
      tg.tidy(() => {
        const { ids, labels } = batch(step);
        const loss = model.loss(ids, labels);
        losses.push(loss.item());
        loss.backward();
      });
      params.forEach((p, i) => {
        tg.adamwStep(p, p.grad!, moments[i][0], moments[i][1], { lr, weightDecay: 0, step });
        p.zeroGrad();
      });
    }
    for (const m of moments.flat()) m.dispose();
    return losses;
  }

  it('overfits a fixed batch: loss falls below 1/10 of its start', () => {
    const model = new nn.LlamaForCausalLM({ vocabSize: 16, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 }, { seed: 7 });
    const ids = randomIds(4, 12, 16, 3);
    const losses = train(model, 80, 1e-2, () => ({ ids: ids2d(ids) }));
    expect(losses[0]).toBeGreaterThan(Math.log(16) * 0.8);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    model.dispose();
  });

  it('SFT on a toy corpus (single-digit sums, prompt tokens masked): completion loss < 0.05 after 150 full-batch steps', () => {
    // "a+b=cc;" over the characters 0-9 + = ;. Only the answer tokens carry loss (labels -100 elsewhere):
    // they are a deterministic function of the prompt, so the loss can approach 0.
    const chars = '0123456789+=;';
    const enc = (s: string) => [...s].map((ch) => chars.indexOf(ch));
    const examples: number[][] = [];
    for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) examples.push(enc(`${a}+${b}=${String(a + b).padStart(2, '0')};`));
    const model = new nn.LlamaForCausalLM({ vocabSize: chars.length, hiddenSize: 48, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 }, { seed: 3 });
    const labels = examples.map((row) => row.map((t, i) => (i >= 4 ? t : -100)));
    const losses = train(model, 150, 5e-3, () => ({ ids: ids2d(examples), labels: ids2d(labels) }));
    const tail = losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
    expect(losses[0]).toBeGreaterThan(1.5);
    expect(tail).toBeLessThan(0.05);
    model.dispose();
  });
});
