// Module plumbing: Linear against a float64 reference, state dicts (round trip, in-place load, errors),
// train/eval, freezing, parameter counts, and LlamaConfig's reading of config.json (and its refusals).
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { expectClose, fromArray, randomArray } from './helpers/reference.js';
import { gradcheck } from './helpers/gradcheck.js';

const tiny: nn.LlamaConfigOptions = { vocabSize: 10, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 1 };

describe('Linear, Embedding, RMSNorm', () => {
  it('Linear: y = x W^T + b for weight (out, in), gradients by finite differences', () => {
    const [N, I, O] = [5, 4, 3];
    const ref = ([x, w, b]: Float64Array[]) => {
      const y = new Float64Array(N * O);
      for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
        let s = b[o];
        for (let i = 0; i < I; i++) s += x[n * I + i] * w[o * I + i];
        y[n * O + o] = s;
      }
      return y;
    };
    const lin = new nn.Linear(I, O);
    expect(lin.weight.shape).toEqual([O, I]);
    const [w, b] = [randomArray(O * I, 2), randomArray(O, 3)];
    tg.tidy(() => lin.loadStateDict({ weight: fromArray(w, [O, I]), bias: fromArray(b, [O]) }));
    // d/dx through the module (weight read through a transposed view); parameter gradients are covered by
    // the whole-model gradient checks in nn-llama.test.ts
    gradcheck({
      inputs: [{ values: randomArray(N * I, 1), shape: [N, I] }],
      engine: ([x]) => lin.forward(x),
      reference: ([x]) => ref([x, w, b]),
    });
    lin.zeroGrad();
    tg.tidy(() => {
      const x = fromArray(randomArray(N * I, 1), [N, I]);
      expectClose(lin.forward(x).data(), ref([randomArray(N * I, 1), w, b]), { atol: 1e-6, rtol: 1e-6 }, 'Linear.forward');
      const noBias = new nn.Linear(I, O, { bias: false });
      expect(noBias.namedParameters().map(([n]) => n)).toEqual(['weight']);
      expect(() => lin.forward(tg.zeros([2, 5]))).toThrow(/must end in 4 features/);
      noBias.dispose();
    });
    lin.dispose();
  });

  it('Embedding and RMSNorm forward', () => {
    const emb = new nn.Embedding(6, 3);
    const norm = new nn.RMSNorm(3, 1e-5);
    tg.tidy(() => {
      const w = emb.weight.data();
      const out = emb.forward(tg.tensor([[2, 5]], undefined, { dtype: 'int32' }));
      expect(out.shape).toEqual([1, 2, 3]);
      expectClose(out.data(), [...w.subarray(6, 9), ...w.subarray(15, 18)], { atol: 0, rtol: 0 }, 'rows');
      const x = [1, -2, 3];
      const r = 1 / Math.sqrt((1 + 4 + 9) / 3 + 1e-5);
      expectClose(norm.forward(tg.tensor([x])).data(), x.map((v) => v * r), { atol: 1e-6, rtol: 1e-6 }, 'rmsnorm');
    });
    emb.dispose();
    norm.dispose();
  });
});

describe('Module state', () => {
  it('stateDict round trip: a second model loads the first one\'s values in place', () => {
    const a = new nn.LlamaForCausalLM(tiny, { seed: 1 });
    const b = new nn.LlamaForCausalLM(tiny, { seed: 2 });
    const before = b.model.layers.at(1).mlp.up_proj.weight;
    const ids = tg.tensor([[1, 2, 3, 4]], undefined, { dtype: 'int32' });
    const la = tg.tidy(() => a.forward(ids).data());
    expect(tg.tidy(() => b.forward(ids).data())).not.toEqual(la);
    b.loadStateDict(a.stateDict());
    expect(b.model.layers.at(1).mlp.up_proj.weight).toBe(before); // same tensor object: optimizers stay valid
    expect(tg.tidy(() => b.forward(ids).data())).toEqual(la);
    for (const [name, t] of a.namedParameters()) expect(b.stateDict()[name].data(), name).toEqual(t.data());
    // the same seed gives the same weights; the global generator is untouched by a seeded init
    tg.manualSeed(9);
    const r1 = tg.tidy(() => tg.rand([3]).data());
    tg.manualSeed(9);
    const c = new nn.LlamaForCausalLM(tiny, { seed: 1 });
    expect(tg.tidy(() => tg.rand([3]).data())).toEqual(r1);
    expect(c.stateDict()['model.norm.weight'].data()).toEqual(a.stateDict()['model.norm.weight'].data());
    expect(c.stateDict()['lm_head.weight'].data()).toEqual(a.stateDict()['lm_head.weight'].data());
    for (const m of [a, b, c]) m.dispose();
    ids.dispose();
  });

  it('loadStateDict lists every missing, unexpected and mis-shaped key', () => {
    const m = new nn.LlamaForCausalLM(tiny, { seed: 1 });
    const sd = { ...m.stateDict() };
    delete sd['model.layers.0.mlp.down_proj.weight'];
    delete sd['model.norm.weight'];
    sd['model.layers.0.self_attn.q_proj.bias'] = tg.zeros([8]);
    sd['lm_head.weight'] = tg.zeros([10, 7]);
    let message = '';
    try {
      m.loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/shape mismatch for 1 key\(s\): lm_head.weight: checkpoint \[10, 7\] vs model \[10, 8\]/);
    expect(message).toMatch(/missing 2 key\(s\): model.layers.0.mlp.down_proj.weight, model.norm.weight/);
    expect(message).toMatch(/unexpected 1 key\(s\): model.layers.0.self_attn.q_proj.bias/);
    // non-strict: missing/unexpected are reported, shapes still refused
    expect(() => m.loadStateDict(sd, { strict: false })).toThrow(/shape mismatch/);
    sd['lm_head.weight'] = tg.zeros([10, 8]);
    const res = m.loadStateDict(sd, { strict: false });
    expect(res.missingKeys).toEqual(['model.layers.0.mlp.down_proj.weight', 'model.norm.weight']);
    expect(res.unexpectedKeys).toEqual(['model.layers.0.self_attn.q_proj.bias']);
    expect(m.lm_head!.weight.data().every((v) => v === 0)).toBe(true);
    sd['model.layers.0.self_attn.q_proj.bias'].dispose();
    sd['lm_head.weight'].dispose();
    // a tied model accepts (and ignores as a separate tensor) an lm_head.weight key
    const tied = new nn.LlamaForCausalLM({ ...tiny, tieWordEmbeddings: true }, { seed: 3 });
    const w = tg.ones([10, 8]);
    tied.loadStateDict({ ...tied.stateDict(), 'lm_head.weight': w }, { strict: true });
    expect(() => tied.loadStateDict({ ...tied.stateDict(), 'lm_head.bias': w })).toThrow(/unexpected 1 key\(s\): lm_head.bias/);
    w.dispose();
    m.dispose();
    tied.dispose();
  });

  it('train/eval, freeze/unfreeze, numParameters, dispose', () => {
    const m = new nn.LlamaForCausalLM(tiny, { seed: 1 });
    expect(m.training).toBe(true);
    m.eval();
    expect(m.model.layers.at(1).self_attn.training).toBe(false);
    m.train();
    expect(m.model.norm.training).toBe(true);
    const total = 10 * 8 * 2 + 2 * (8 * 8 * 2 + 8 * 4 * 2 + 3 * 8 * 12 + 16) + 8;
    expect(m.numParameters()).toBe(total);
    m.freeze((n) => n.startsWith('model.embed_tokens'));
    expect(m.numParameters(true)).toBe(total - 80);
    expect(m.model.embed_tokens.weight.requiresGrad).toBe(false);
    tg.tidy(() => m.loss(tg.tensor([[1, 2, 3]], undefined, { dtype: 'int32' })).backward());
    expect(m.model.embed_tokens.weight.grad).toBeNull();
    expect(m.lm_head!.weight.grad).not.toBeNull();
    m.unfreeze();
    expect(m.numParameters(true)).toBe(total);
    m.zeroGrad();
    expect(m.lm_head!.weight.grad).toBeNull();
    const before = tg.memory().numTensors;
    m.dispose();
    expect(tg.memory().numTensors).toBeLessThan(before - 20);
    expect(() => m.lm_head!.weight.data()).toThrow(/disposed/);
  });
});

describe('LlamaConfig from config.json', () => {
  const llama = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32000, hidden_size: 2048, intermediate_size: 5632,
    num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, rope_theta: 10000, rms_norm_eps: 1e-5,
    max_position_embeddings: 2048, tie_word_embeddings: false, attention_bias: false, hidden_act: 'silu', rope_scaling: null,
    initializer_range: 0.02, bos_token_id: 1, eos_token_id: 2,
  };
  const qwen = {
    architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
    num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, rope_theta: 1000000, rms_norm_eps: 1e-6,
    max_position_embeddings: 32768, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 32768, max_window_layers: 21,
    hidden_act: 'silu', eos_token_id: 151643, bos_token_id: 151643,
  };

  it('reads Llama and Qwen2 configs, and writes them back', () => {
    const l = nn.LlamaConfig.fromHF(llama);
    expect([l.headDim, l.numKeyValueHeads, l.qkvBias, l.oBias, l.tieWordEmbeddings, l.rmsNormEps]).toEqual([64, 4, false, false, false, 1e-5]);
    const q = nn.LlamaConfig.fromHF(qwen);
    expect([q.modelType, q.headDim, q.qkvBias, q.oBias, q.tieWordEmbeddings, q.ropeTheta, q.eosTokenId]).toEqual(['qwen2', 64, true, false, true, 1e6, 151643]);
    expect(nn.LlamaConfig.fromHF(q.toHF())).toEqual(q);
    expect(nn.LlamaConfig.fromHF(l.toHF())).toEqual(l);
    expect(nn.LlamaConfig.fromHF({ ...llama, attention_bias: true })).toMatchObject({ qkvBias: true, oBias: true });
  });

  it('refuses unsupported options by name', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...llama, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling/],
      [{ ...llama, partial_rotary_factor: 0.5 }, /partial_rotary_factor/],
      [{ ...qwen, use_sliding_window: true }, /use_sliding_window/],
      [{ ...llama, hidden_act: 'gelu' }, /hidden_act/],
      [{ ...llama, model_type: 'mistral', architectures: ['MistralForCausalLM'] }, /model_type "mistral"/],
      [{ ...llama, architectures: ['LlamaForSequenceClassification'] }, /LlamaForSequenceClassification/],
      [{ ...llama, num_key_value_heads: 5 }, /num_attention_heads 32 must be a multiple of num_key_value_heads 5/],
      [{ ...llama, hidden_size: undefined }, /lacks hidden_size/],
    ];
    for (const [json, re] of cases) expect(() => nn.LlamaConfig.fromHF(json), String(re)).toThrow(re);
  });
});
