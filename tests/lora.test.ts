// LoRA in PEFT's layout: names, init, the LoRA linear against a float64 reference with finite-difference
// gradients, disabled adapters, merging, PEFT's adapter folder (round trip, literal key names, hostile files) and
// the trainers' peftConfig (only adapters train; GRPO's reference is the base with adapters disabled).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forEachDevice } from './helpers/devices.js';
import * as tg from '../src/index.js';
import { LoraLinear, ModulesToSaveWrapper } from '../src/nn/lora.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { grpoCommand, rmCommand } from '../src/cli/commands/index.js';
import { loadSequenceClassifier } from '../src/nn/sequence-classification.js';

const { Linear, LlamaForCausalLM, Module } = tg.nn;
const tok = additionTokenizer();
const C = 32;
const tiny = (options: { tie?: boolean; qwen?: boolean; layers?: number } = {}) => new LlamaForCausalLM({
  vocabSize: tok.vocabSize, hiddenSize: C, intermediateSize: 48, numHiddenLayers: options.layers ?? 2, numAttentionHeads: 4, numKeyValueHeads: 2,
  tieWordEmbeddings: options.tie ?? true, modelType: options.qwen ? 'qwen2' : 'llama', maxPositionEmbeddings: 64,
  eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
}, { seed: 11 });
const ids = () => tg.tensor(Int32Array.from(tok.encode('123+456=')), [1, 8], { dtype: 'int32' });
const logits = (forward: () => tg.Tensor) => tg.noGrad(() => tg.tidy(() => Float32Array.from(forward().data())));
const dirs: string[] = [];
const tempDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-lora-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('getPeftModel', () => {
  it("wraps PEFT's default targets (q_proj, v_proj) under PEFT's names, trains only the adapters and starts as the base model", () => {
    const model = tiny();
    const before = logits(() => model.forward(ids()));
    const peft = tg.getPeftModel(model, { r: 4, loraAlpha: 16 });
    expect(peft.peftConfig).toMatchObject({ r: 4, loraAlpha: 16, loraDropout: 0, bias: 'none', targetModules: ['q_proj', 'v_proj'], useRslora: false });
    const names = peft.namedParameters().map(([n]) => n);
    expect(names).toContain('base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight');
    expect(names).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight');
    expect(names).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight');
    expect(names).toContain('base_model.model.model.layers.0.self_attn.k_proj.weight');
    const trainable = peft.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => /\.lora_[AB]\.default\.weight$/.test(n))).toBe(true);
    expect(trainable).toHaveLength(2 * 2 * 2);
    expect(model.model.layers.at(0).self_attn.q_proj).toBeInstanceOf(LoraLinear);
    expect(model.model.layers.at(0).self_attn.k_proj).toBeInstanceOf(Linear);

    // A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform_ with a = sqrt(5)), B = 0, scaling alpha / r.
    const q = model.model.layers.at(0).self_attn.q_proj as unknown as LoraLinear;
    const a = q.lora_A.get('default').weight;
    expect(a.shape).toEqual([4, C]);
    expect(q.lora_B.get('default').weight.shape).toEqual([32, 4]);
    const av = Array.from(a.data());
    expect(Math.max(...av.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(C));
    const rms = Math.sqrt(av.reduce((s, v) => s + v * v, 0) / av.length);
    expect(Math.abs(rms - 1 / Math.sqrt(3 * C))).toBeLessThan(0.25 / Math.sqrt(3 * C)); // 128 draws: rms within 25%
    expect(Array.from(q.lora_B.get('default').weight.data()).every((v) => v === 0)).toBe(true);
    expect(q.scaling).toBe(4);
    expect(logits(() => peft.forward(ids()))).toEqual(before);

    // PEFT's print_trainable_parameters line: r (in + out) per wrapped layer; q is (32 -> 32), v (32 -> 16).
    const adapters = 2 * (4 * (C + 32) + 4 * (C + 16));
    const all = model.numParameters();
    expect(all).toBe(tiny().numParameters() + adapters);
    const lines: string[] = [];
    expect(peft.printTrainableParameters((l) => lines.push(l))).toBe(
      `trainable params: ${adapters.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${(100 * adapters / all).toFixed(4)}`);
    expect(lines).toHaveLength(1);
    expect(peft.getNbTrainableParameters()).toEqual([adapters, all]);
    peft.dispose();
  });

  it('matches targetModules as PEFT does: name suffixes, a fullmatch regex, all-linear; rsLoRA scaling', () => {
    const wrapped = (targetModules: string[] | string) => {
      const model = tiny({ tie: false });
      const peft = tg.getPeftModel(model, { targetModules });
      const out = [...peft.base_model.loraLayers.keys()];
      peft.dispose();
      return out;
    };
    expect(wrapped(['o_proj'])).toEqual(['model.layers.0.self_attn.o_proj', 'model.layers.1.self_attn.o_proj']);
    expect(wrapped(['layers.1.mlp.up_proj'])).toEqual(['model.layers.1.mlp.up_proj']);
    // fullmatch: 'q_proj' alone names no whole module path
    expect(() => wrapped('q_proj')).toThrow(/target modules "q_proj" not found in the base model/);
    expect(wrapped('model\\.layers\\.0\\.self_attn\\.(q|k)_proj')).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj']);
    const all = wrapped('all-linear');
    expect(all).toHaveLength(2 * 7);
    expect(all).not.toContain('lm_head');
    expect(() => wrapped(['proj'])).toThrow(/not found/);
    expect(() => wrapped(['embed_tokens'])).toThrow(/module 'model.embed_tokens' \(Embedding\) is not a Linear layer; LoRA and modulesToSave wrap Linear layers/);
    expect(() => wrapped('(a+)+')).toThrow(/nests quantifiers/);
    expect(() => wrapped('(')).toThrow(/not a valid regular expression/);

    const model = tiny();
    const peft = tg.getPeftModel(model, { r: 16, loraAlpha: 8, useRslora: true });
    expect((model.model.layers.at(0).self_attn.q_proj as unknown as LoraLinear).scaling).toBe(2);
    expect(() => tg.getPeftModel(model, {})).toThrow(/already has adapters/);
    peft.dispose();
    for (const [options, message] of [
      [{ r: 0 }, /r must be a positive integer/], [{ loraDropout: 1 }, /loraDropout must be a number in \[0, 1\)/],
      [{ bias: 'some' }, /bias must be 'none', 'all' or 'lora_only'/], [{ rank: 4 }, /unknown LoRA option 'rank'/],
      [{ targetModules: [3] }, /targetModules must be/],
    ] as const) {
      const m = tiny();
      expect(() => tg.getPeftModel(m, options as never)).toThrow(message);
      expect(m.model.layers.at(0).self_attn.q_proj).toBeInstanceOf(Linear); // nothing changed
      m.dispose();
    }
  });
});

// A module holding one Linear, to test the LoRA linear alone.
class Holder extends Module {
  readonly proj: tg.nn.Linear;
  constructor(inF: number, outF: number) {
    super();
    this.proj = this.registerModule('proj', new Linear(inF, outF));
  }
}

describe('LoRA on every device', () => {
  forEachDevice((device) => {
    it(`${device}: adapters are created on the model's device; the adapted, disabled and merged forwards agree with the cpu`, () => {
      const run = (on: tg.Device) => {
        const model = tiny().to(on);
        const base = logits(() => model.forward(ids().to(on)));
        tg.manualSeed(3);
        const peft = tg.getPeftModel(model, { targetModules: ['q_proj', 'gate_proj'], initLoraWeights: false });
        expect(peft.parameters().every((t) => t.device === on)).toBe(true);
        const adapted = logits(() => peft.forward(ids().to(on)));
        const disabled = logits(() => peft.withAdaptersDisabled(() => model.forward(ids().to(on))));
        const merged = logits(() => peft.mergeAndUnload().forward(ids().to(on)));
        model.dispose();
        return { base, adapted, disabled, merged };
      };
      const here = run(device);
      const cpu = run('cpu');
      expect(here.disabled).toEqual(here.base);
      const tol = { atol: 2e-5, rtol: 1e-4 };
      expectClose(here.merged, here.adapted, tol, 'merged');
      expectClose(here.adapted, cpu.adapted, tol, 'adapted vs cpu');
    });
  });
});

describe('LoRA over a bfloat16 base model', () => {
  forEachDevice((device) => {
    it(`${device}: adapters stay float32 (PEFT's autocast_adapter_dtype), outputs keep the base dtype, merging rounds into the bf16 weights`, () => {
      const model = tiny().to(device).to('bfloat16');
      tg.manualSeed(5);
      const peft = tg.getPeftModel(model, { targetModules: ['q_proj', 'v_proj', 'down_proj'], initLoraWeights: false });
      peft.to('bfloat16');
      const adapters = peft.namedParameters().filter(([n]) => /lora_[AB]/.test(n));
      expect(adapters).toHaveLength(12);
      expect(adapters.every(([, t]) => t.dtype === 'float32')).toBe(true);
      expect(peft.namedParameters().filter(([n]) => n.endsWith('.base_layer.weight')).every(([, t]) => t.dtype === 'bfloat16')).toBe(true);
      const q = model.model.layers.at(0).self_attn.q_proj as unknown as LoraLinear;
      const x = tg.randn([3, C], { device }).to('bfloat16');
      const y = q.forward(x);
      expect(y.dtype).toBe('bfloat16');
      // Reference: x W^T + (x A^T B^T) alpha / r in float64 on the bf16 values, rounded once to bf16.
      const [xv, w, a, b] = [x, q.base_layer.weight, q.lora_A.get('default').weight, q.lora_B.get('default').weight].map((t) => Array.from(t.data()));
      const r = q.r;
      const want = Array.from({ length: 3 * C }, (_, i) => {
        const [row, o] = [Math.floor(i / C), i % C];
        let base = 0, update = 0;
        for (let k = 0; k < C; k++) base += xv[row * C + k] * w[o * C + k];
        for (let j = 0; j < r; j++) {
          let h = 0;
          for (let k = 0; k < C; k++) h += xv[row * C + k] * a[j * C + k];
          update += h * b[o * r + j];
        }
        return base + update * q.scaling;
      });
      expectClose(Float32Array.from(y.data()), want, { atol: 1e-3, rtol: 2 ** -7 }, 'bf16 LoRA linear');
      const loss = tg.sum(tg.square(model.forward(ids().to(device))));
      loss.backward();
      expect(adapters.every(([, t]) => t.grad !== null && t.grad.dtype === 'float32')).toBe(true);
      expect(peft.namedParameters().filter(([n]) => n.endsWith('.base_layer.weight')).every(([, t]) => t.grad === null)).toBe(true);
      const adapted = logits(() => peft.forward(ids().to(device)));
      const merged = peft.mergeAndUnload();
      expect(merged.parameters().every((t) => t.dtype === 'bfloat16')).toBe(true);
      // The merged weights are rounded to bf16 once more; logits agree to bf16 precision.
      expectClose(logits(() => merged.forward(ids().to(device))), adapted, { atol: 0.05, rtol: 0.05 }, 'merged bf16');
      merged.dispose();
    });
  });

  it('SFTTrainer with bf16 and peftConfig: bf16 base weights stay as they were, float32 adapters train', () => {
    const model = tiny();
    const trainer = new tg.SFTTrainer(model, tok, sftData, { maxSteps: 2, batchSize: 8, learningRate: 1e-2, logEvery: 1, bf16: true,
      peftConfig: { r: 4, targetModules: ['q_proj', 'v_proj'] } });
    const base = Object.fromEntries(trainer.peftModel!.namedParameters().filter(([n]) => !/lora_/.test(n)).map(([n, t]) => [n, Array.from(t.data())]));
    expect(trainer.optimizer.params.every((p) => p.dtype === 'float32')).toBe(true);
    const logs = trainer.fit();
    expect(logs.every((l) => Number.isFinite(l.loss as number))).toBe(true);
    for (const [n, t] of trainer.peftModel!.namedParameters()) {
      if (/lora_/.test(n)) expect(t.dtype, n).toBe('float32');
      else {
        expect(t.dtype, n).toBe('bfloat16');
        expect(Array.from(t.data()), n).toEqual(base[n]);
      }
    }
    model.dispose();
  });
});

describe('LoraLinear', () => {
  it('computes x W^T + b + (x A^T B^T) alpha / r and sends gradients to x, A and B only (float64 finite differences)', () => {
    const [inF, outF, r, alpha, rows] = [5, 4, 3, 6, 6];
    const holder = new Holder(inF, outF);
    holder.loadStateDict({ 'proj.bias': tg.tensor(Float32Array.from(randomArray(outF, 3)), [outF]) }, { strict: false });
    const peft = tg.getPeftModel(holder, { r, loraAlpha: alpha, targetModules: ['proj'], initLoraWeights: false, taskType: null });
    const layer = holder.proj as unknown as LoraLinear;
    const W = Float64Array.from(layer.weight.data()), b = Float64Array.from(layer.bias!.data());
    const A0 = Float64Array.from(layer.lora_A.get('default').weight.data()), B0 = Float64Array.from(layer.lora_B.get('default').weight.data());
    const X0 = Float64Array.from(Float32Array.from(randomArray(rows * inF, 5)));
    const wOut = randomArray(rows * outF, 7);
    const s = alpha / r;
    const reference = (X: Float64Array, A: Float64Array, B: Float64Array) => {
      const y = new Float64Array(rows * outF);
      for (let n = 0; n < rows; n++) {
        const h = new Float64Array(r);
        for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) h[k] += X[n * inF + i] * A[k * inF + i];
        for (let o = 0; o < outF; o++) {
          let v = b[o];
          for (let i = 0; i < inF; i++) v += X[n * inF + i] * W[o * inF + i];
          for (let k = 0; k < r; k++) v += s * h[k] * B[o * r + k];
          y[n * outF + o] = v;
        }
      }
      return y;
    };
    const objective = (X: Float64Array, A: Float64Array, B: Float64Array) => reference(X, A, B).reduce((acc, v, i) => acc + v * wOut[i], 0);
    const x = tg.tensor(Float32Array.from(X0), [2, 3, inF], { requiresGrad: true });
    const y = layer.forward(x);
    expectClose(y.data(), reference(X0, A0, B0), { atol: 1e-5, rtol: 1e-5 }, 'forward');
    y.mul(tg.tensor(Float32Array.from(wOut), [2, 3, outF])).sum().backward();
    expect(layer.weight.grad).toBeNull();
    expect(layer.bias!.grad).toBeNull();
    const h = 1e-6;
    const numeric = (which: 0 | 1 | 2) => {
      const base = [X0, A0, B0];
      return base[which].map((_, i) => {
        const plus = base.map((v) => Float64Array.from(v)), minus = base.map((v) => Float64Array.from(v));
        plus[which][i] += h;
        minus[which][i] -= h;
        return (objective(plus[0], plus[1], plus[2]) - objective(minus[0], minus[1], minus[2])) / (2 * h);
      });
    };
    const tol = { atol: 1e-4, rtol: 1e-3 };
    expectClose(x.grad!.data(), numeric(0), tol, 'd x');
    expectClose(layer.lora_A.get('default').weight.grad!.data(), numeric(1), tol, 'd A');
    expectClose(layer.lora_B.get('default').weight.grad!.data(), numeric(2), tol, 'd B');
    peft.dispose();
  });

  it('dropout zeroes adapter inputs only in forwards with gradients, scaled by 1 / (1 - p)', () => {
    const holder = new Holder(64, 1);
    const peft = tg.getPeftModel(holder, { r: 1, loraAlpha: 1, loraDropout: 0.5, targetModules: ['proj'] });
    const layer = holder.proj as unknown as LoraLinear;
    // A = 1 and B = 1 with W = 0, b = 0: the output is the sum of the kept inputs times 2.
    holder.loadStateDict({
      'proj.base_layer.weight': tg.zeros([1, 64]), 'proj.base_layer.bias': tg.zeros([1]),
      'proj.lora_A.default.weight': tg.ones([1, 64]), 'proj.lora_B.default.weight': tg.ones([1, 1]),
    });
    const x = tg.ones([1, 64]);
    expect(tg.noGrad(() => layer.forward(x).item())).toBe(64);
    const trained = layer.forward(x).item();
    expect(trained % 2).toBe(0);
    expect(trained).toBeGreaterThan(20);
    expect(trained).toBeLessThan(108);
    expect(trained).not.toBe(64);
    peft.eval();
    expect(layer.forward(x).item()).toBe(64);
    peft.dispose();
  });
});

// Sets every adapter to small random values, so the adapters change the model's output.
function randomizeAdapters(peft: tg.PeftModel<tg.nn.Module>, seed: number): void {
  const values = Object.entries(peft.adapterStateDict()).map(([k, t], i) => [k, tg.tensor(Float32Array.from(randomArray(t.numel, seed + i, 0.2)), [...t.shape])]);
  peft.loadAdapterStateDict(Object.fromEntries(values));
}

describe('PeftModel', () => {
  it('withAdaptersDisabled gives the base model bitwise; mergeAndUnload folds the adapters into the base weights', () => {
    const model = tiny({ tie: false, qwen: true });
    const base = logits(() => model.forward(ids()));
    const peft = tg.getPeftModel(model, { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], modulesToSave: ['lm_head'] });
    expect(model.lm_head).toBeInstanceOf(ModulesToSaveWrapper);
    randomizeAdapters(peft, 20);
    const adapted = logits(() => peft.forward(ids()));
    expect(adapted).not.toEqual(base);
    expect(logits(() => peft.withAdaptersDisabled(() => model.forward(ids())))).toEqual(base);
    expect(() => peft.withAdaptersDisabled(() => {
      throw new Error('inside');
    })).toThrow('inside');
    expect(logits(() => peft.forward(ids()))).toEqual(adapted);

    expect(() => tg.savePretrained(model, tempDir())).toThrow(/savePretrained: the model has LoRA adapters \('model.layers.0.self_attn.q_proj.base_layer.weight'\)/);
    const merged = peft.mergeAndUnload();
    expect(merged).toBe(model);
    expect(model.model.layers.at(0).self_attn.q_proj).toBeInstanceOf(Linear);
    expect(model.lm_head).toBeInstanceOf(Linear);
    expect(Object.keys(merged.stateDict()).sort()).toEqual(Object.keys(tiny({ tie: false, qwen: true }).stateDict()).sort());
    // W + s B A in float32 against the adapted forward: the same function, products in another order.
    expectClose(logits(() => merged.forward(ids())), adapted, { atol: 2e-5, rtol: 1e-4 }, 'merged logits');
    const saved = tempDir();
    tg.savePretrained(merged, saved);
    const reloaded = tg.loadPretrained(saved);
    expect(logits(() => reloaded.forward(ids()))).toEqual(logits(() => merged.forward(ids())));
    reloaded.dispose();
    expect(() => peft.adapterStateDict()).toThrow(/merged and unloaded/);
    merged.dispose();
  });

  it("saves PEFT's adapter folder with PEFT's keys and loads it back bitwise", () => {
    const model = tiny({ tie: false, qwen: true, layers: 1 });
    const peft = tg.getPeftModel(model, { r: 2, loraAlpha: 4, loraDropout: 0.05, targetModules: ['q_proj', 'o_proj'], bias: 'all', modulesToSave: ['lm_head'],
      baseModelNameOrPath: 'Qwen/Qwen2.5-0.5B' });
    randomizeAdapters(peft, 40);
    const dir = tempDir();
    peft.savePretrained(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 4, lora_dropout: 0.05, target_modules: ['q_proj', 'o_proj'], bias: 'all',
      modules_to_save: ['lm_head'], base_model_name_or_path: 'Qwen/Qwen2.5-0.5B', fan_in_fan_out: false, inference_mode: true, use_rslora: false,
      use_dora: false, init_lora_weights: true, layers_to_transform: null, rank_pattern: {}, alpha_pattern: {},
    });
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.entries.map((e) => `${e.name} ${e.dtype} [${e.shape.join(', ')}]`).sort()).toEqual([
      // Qwen2's q/k/v biases: q is wrapped (its bias lives in base_layer), k and v are not.
      'base_model.model.lm_head.weight F32 [20, 32]',
      'base_model.model.model.layers.0.self_attn.k_proj.bias F32 [16]',
      'base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight F32 [2, 32]',
      'base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight F32 [32, 2]',
      'base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias F32 [32]',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight F32 [2, 32]',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight F32 [32, 2]',
      'base_model.model.model.layers.0.self_attn.v_proj.bias F32 [16]',
    ].map((line) => line.replace('[20, 32]', `[${tok.vocabSize}, 32]`)).sort());
    const out = logits(() => peft.forward(ids()));

    const fresh = tiny({ tie: false, qwen: true, layers: 1 });
    const loaded = tg.PeftModel.fromPretrained(fresh, dir);
    expect(loaded.peftConfig).toMatchObject({ r: 2, loraAlpha: 4, bias: 'all', modulesToSave: ['lm_head'], inferenceMode: true });
    const [a, b] = [peft.adapterStateDict(), loaded.adapterStateDict()];
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expect(b[k].data(), k).toEqual(a[k].data());
    expect(logits(() => loaded.forward(ids()))).toEqual(out);
    expect(loaded.parameters().every((t) => !t.requiresGrad)).toBe(true);
    const trainable = tg.PeftModel.fromPretrained(tiny({ tie: false, qwen: true, layers: 1 }), dir, { isTrainable: true });
    expect(trainable.getNbTrainableParameters()[0]).toBe(peft.getNbTrainableParameters()[0]);
    for (const m of [peft, loaded, trainable]) m.dispose();
  });

  it('rejects hostile and mismatched adapter folders before changing the model', () => {
    const source = tiny();
    const peft = tg.getPeftModel(source, { r: 4 });
    const good = tempDir();
    peft.savePretrained(good);
    const goodConfig = JSON.parse(fs.readFileSync(path.join(good, 'adapter_config.json'), 'utf8'));
    const variant = (config: unknown, tensors?: Record<string, tg.Tensor>) => {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'adapter_config.json'), typeof config === 'string' ? config : JSON.stringify(config));
      if (tensors) tg.writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
      else fs.copyFileSync(path.join(good, 'adapter_model.safetensors'), path.join(dir, 'adapter_model.safetensors'));
      return dir;
    };
    const sd = peft.adapterStateDict();
    const { ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']: dropped, ...withoutOne } = sd;
    void dropped;
    const cases: [string, RegExp][] = [
      [path.join(good, 'missing'), /has no adapter_config.json/],
      [variant('{"peft_type": "LORA", "r": '), /is not valid JSON/],
      [variant('[1]'), /must hold a JSON object/],
      [variant({ ...goodConfig, peft_type: 'PROMPT_TUNING' }), /peft_type is "PROMPT_TUNING"; only "LORA"/],
      [variant({ ...goodConfig, use_dora: true }), /DoRA is not supported/],
      [variant({ ...goodConfig, fan_in_fan_out: true }), /fan_in_fan_out \(Conv1D weights\) is not supported/],
      [variant({ ...goodConfig, rank_pattern: { q_proj: 16 } }), /per-layer ranks/],
      [variant({ ...goodConfig, init_lora_weights: 'pissa' }), /init_lora_weights "pissa" is not supported/],
      [variant({ ...goodConfig, r: 1e9 }), /shape mismatch .*lora_A.weight: file \[4, 32\] vs model \[1000000000, 32\]/],
      [variant({ ...goodConfig, r: -1 }), /r must be a positive integer/],
      [variant({ ...goodConfig, target_modules: '(.*)*x' }), /nests quantifiers/],
      [variant({ ...goodConfig, target_modules: ['gate_proj'] }), /missing 4 tensor\(s\): base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight.*unexpected 8 tensor\(s\)/],
      [variant(goodConfig, withoutOne), /missing 1 tensor\(s\): base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight/],
      [variant(goodConfig, { ...sd, 'base_model.model.extra': tg.zeros([1]) }), /unexpected 1 tensor\(s\): base_model.model.extra/],
      [variant(goodConfig, { ...sd, 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': tg.zeros([4, 32], { dtype: 'int32' }) }), /not floating point: .*q_proj.lora_A.weight \(I32\)/],
      [variant(JSON.stringify(goodConfig) + ' '.repeat(2 << 20)), /bytes; an adapter config is at most/],
    ];
    const corrupt = variant(goodConfig);
    fs.writeFileSync(path.join(corrupt, 'adapter_model.safetensors'), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]));
    cases.push([corrupt, /safetensors/]);
    const noWeights = tempDir();
    fs.copyFileSync(path.join(good, 'adapter_config.json'), path.join(noWeights, 'adapter_config.json'));
    fs.writeFileSync(path.join(noWeights, 'adapter_model.bin'), 'pickle');
    cases.push([noWeights, /has no adapter_model.safetensors \(adapter_model.bin, a pickle, is not read/]);
    const base = tiny();
    for (const [dir, message] of cases) {
      expect(() => tg.PeftModel.fromPretrained(base, dir), dir).toThrow(message);
      expect(base.model.layers.at(0).self_attn.q_proj, dir).toBeInstanceOf(Linear);
    }
    // A good folder still loads onto the same model after all that.
    tg.PeftModel.fromPretrained(base, good).dispose();
    peft.dispose();
  });
});

const sftData = additionExamples(32, { seed: 3 }).map(({ prompt, completion }) => ({ prompt, completion }));
const rows = additionTrainProblems(16, 5).map((p) => ({ prompt: p.prompt, answer: p.answer }));

describe('trainers with peftConfig', () => {
  it('SFTTrainer trains only the adapters and checkpoints them in PEFT files that PeftModel.fromPretrained reads', () => {
    const model = tiny();
    const baseWeights = Object.fromEntries(Object.entries(tiny().stateDict()).map(([k, t]) => [k, Float32Array.from(t.data())]));
    const dir = tempDir();
    const trainer = new tg.SFTTrainer(model, tok, sftData, { maxSteps: 3, batchSize: 8, learningRate: 1e-2, logEvery: 1, outputDir: dir, saveEvery: 3,
      peftConfig: { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'up_proj'] } });
    expect(trainer.peftModel).not.toBeNull();
    expect(trainer.optimizer.params).toHaveLength(2 * 3 * 2);
    const logs = trainer.fit();
    expect(logs.every((l) => Number.isFinite(l.loss as number))).toBe(true);
    const after = trainer.peftModel!.getBaseModel().stateDict();
    for (const [name, t] of Object.entries(after)) {
      const baseName = name.replace('.base_layer.', '.');
      if (/lora_[AB]/.test(name)) continue;
      expect(Float32Array.from(t.data()), name).toEqual(baseWeights[baseName]);
    }
    expect(Array.from(after['model.layers.0.self_attn.q_proj.lora_B.default.weight'].data()).some((v) => v !== 0)).toBe(true);
    const checkpoint = path.join(dir, 'checkpoint-3');
    const files = fs.readdirSync(checkpoint);
    expect(files).toContain('adapter_model.safetensors');
    expect(files).toContain('adapter_config.json');
    expect(files).not.toContain('model.safetensors');
    const loaded = tg.PeftModel.fromPretrained(tiny(), checkpoint);
    expect(logits(() => loaded.forward(ids()))).toEqual(logits(() => model.forward(ids())));

    // Resuming rebuilds the adapters from the checkpoint; a full-model trainer is told what the folder holds.
    const resumed = new tg.SFTTrainer(tiny(), tok, sftData, { maxSteps: 3, batchSize: 8, learningRate: 1e-2, outputDir: dir,
      peftConfig: { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'up_proj'] } });
    resumed.resume(checkpoint);
    expect(logits(() => resumed.model.forward(ids()))).toEqual(logits(() => model.forward(ids())));
    expect(() => new tg.SFTTrainer(tiny(), tok, sftData, { outputDir: dir }).resume(checkpoint)).toThrow(/has no model.safetensors \(it holds adapter_model.safetensors instead: a LoRA adapter\)/);
    expect(() => new tg.SFTTrainer(loaded, tok, sftData, { peftConfig: { r: 2 } })).toThrow(/already has LoRA adapters/);
    expect(() => new tg.SFTTrainer(loaded, tok, sftData)).toThrow(/adapters are frozen \(loaded for inference\); load them with .*isTrainable: true/);
    expect(() => new tg.SFTTrainer(tiny(), tok, sftData, { peftConfig: { r: 0 } })).toThrow(/SFTTrainer: peftConfig: r must be a positive integer/);
    expect(() => new tg.SFTTrainer(tiny(), tok, sftData, { peftConfig: 'lora' as never })).toThrow(/'peftConfig' must be an object or null/);
    for (const m of [model, loaded, resumed.model]) m.dispose();
  });

  it('GRPOTrainer with beta > 0: the reference is the base with adapters disabled, equal to an explicit copy at step 0', async () => {
    const accuracy = tg.rewards.accuracy();
    const policy = () => {
      tg.manualSeed(5);
      const peft = tg.getPeftModel(tiny(), { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'o_proj'], initLoraWeights: false });
      return peft;
    };
    const config = { maxSteps: 1, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, learningRate: 1e-3, maxCompletionLength: 8, beta: 0.2 };
    const withoutCopy = policy();
    const frozen = Object.fromEntries(Object.entries(withoutCopy.getBaseModel().stateDict()).filter(([n]) => !/lora_/.test(n)).map(([n, t]) => [n, Float32Array.from(t.data())]));
    const a = new tg.GRPOTrainer(withoutCopy, tok, rows, [accuracy], config);
    expect(a.refModel).toBeNull();
    const [logA] = await a.train();
    const explicit = policy();
    const [logB] = await new tg.GRPOTrainer(explicit, tok, rows, [accuracy], config, {}, tiny()).train();
    expect(logA.kl as number).toBeGreaterThan(0);
    expect(logA.kl).toBe(logB.kl);
    expect(logA.loss).toBe(logB.loss);
    for (const [n, t] of Object.entries(withoutCopy.getBaseModel().stateDict())) if (!/lora_/.test(n)) expect(Float32Array.from(t.data()), n).toEqual(frozen[n]);

    const m = tiny();
    expect(() => new tg.GRPOTrainer(m, tok, rows, [accuracy], { ...config, peftConfig: { bias: 'all' } })).toThrow(/beta > 0 with LoRA bias 'all'/);
    expect(() => new tg.GRPOTrainer(m, tok, rows, [accuracy], { ...config, syncRefModel: true, peftConfig: {} })).toThrow(/syncRefModel is not supported with LoRA/);
    expect(m.model.layers.at(0).self_attn.q_proj).toBeInstanceOf(Linear);
    const viaConfig = new tg.GRPOTrainer(m, tok, rows, [accuracy], { ...config, peftConfig: { r: 2 } });
    expect(viaConfig.peftModel!.peftConfig.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(viaConfig.optimizer.params.every((p) => p.shape.includes(2))).toBe(true);
    for (const p of [withoutCopy, explicit]) p.dispose();
    m.dispose();
  });

  it("RewardTrainer: SEQ_CLS adapters with the score head as PEFT's module to save, checkpointed under PEFT's names", () => {
    const reward = new tg.nn.LlamaForSequenceClassification({
      vocabSize: tok.vocabSize, hiddenSize: C, intermediateSize: 48, numHiddenLayers: 1, numAttentionHeads: 4, tieWordEmbeddings: true,
      maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
    }, { seed: 2 });
    const score = Float32Array.from(reward.score.weight.data());
    const pairs = Array.from({ length: 16 }, (_, i) => ({ prompt: `${10 + i}=`, chosen: String(90 + i), rejected: String(10 + i) }));
    const dir = tempDir();
    const trainer = new tg.RewardTrainer(reward, tok, pairs, { maxSteps: 2, batchSize: 8, learningRate: 1e-2, outputDir: dir, saveEvery: 2, peftConfig: { r: 2 } });
    expect(trainer.peftModel!.peftConfig).toMatchObject({ taskType: 'SEQ_CLS', modulesToSave: ['score'], targetModules: ['q_proj', 'v_proj'] });
    trainer.fit();
    const wrapper = reward.score as unknown as ModulesToSaveWrapper;
    expect(Float32Array.from(wrapper.original_module.weight.data())).toEqual(score);
    expect(Float32Array.from(wrapper.weight.data())).not.toEqual(score);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint-2', 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ task_type: 'SEQ_CLS', modules_to_save: ['score'], r: 2 });
    expect(readSafetensorsHeader(path.join(dir, 'checkpoint-2', 'adapter_model.safetensors')).entries.map((e) => e.name).filter((n) => !n.includes('lora_')))
      .toEqual(['base_model.model.score.weight']);
    trainer.peftModel!.dispose();
  });

  it('thinkgrad grpo with trainer.peftConfig and beta > 0: checkpoints and output/adapter in PEFT files, output/model merged', async () => {
    const out = path.join(tempDir(), 'run');
    const res = await grpoCommand({
      modelConfig: { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 }, modelSeed: 1,
      tokenizer: { type: 'addition' }, data: { task: 'addition', count: 8, seed: 2 }, rewards: [{ name: 'accuracy' }],
      trainer: { maxSteps: 1, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 6, learningRate: 1e-3, beta: 0.04,
        peftConfig: { r: 2, targetModules: ['q_proj', 'v_proj'] } },
      output: out,
    }, { quiet: true, source: 'run.json' });
    expect(res.logs).toHaveLength(1);
    expect(fs.readdirSync(path.join(out, 'adapter')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(fs.readdirSync(path.join(out, 'checkpoint-1'))).toContain('adapter_model.safetensors');
    const merged = tg.loadPretrained(path.join(out, 'model'));
    // output/model is the merged policy; the adapter on a fresh base model gives the same logits.
    const fresh = new LlamaForCausalLM(merged.config, { seed: 1 });
    const adapted = tg.PeftModel.fromPretrained(fresh, path.join(out, 'adapter'));
    expectClose(logits(() => adapted.forward(ids())), logits(() => merged.forward(ids())), { atol: 2e-5, rtol: 1e-4 }, 'adapter vs merged');
    for (const m of [merged, adapted]) m.dispose();
  });

  it('GRPOTrainer with peftConfig resumes from its adapter checkpoint bit for bit, and its steps leave no live tensors behind', async () => {
    const rewards = [tg.rewards.accuracy(), function short(args: tg.rewards.RewardArgs) {
      return args.completions.map((c) => -tg.completionText(c).length / 8);
    }];
    const config = { maxSteps: 3, numGenerations: 4, generationBatchSize: 8, microBatchSize: 4, learningRate: 1e-2, maxCompletionLength: 8, beta: 0.1,
      seed: 3, logEvery: 1, peftConfig: { r: 2, targetModules: ['q_proj', 'v_proj', 'down_proj'] } };
    const strip = (logs: tg.LogRecord[]) => logs.map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => !k.includes('time'))));
    const adapters = (t: tg.GRPOTrainer) => Object.entries(t.peftModel!.adapterStateDict()).map(([k, v]) => [k, Array.from(v.data())]);
    tg.manualSeed(7); // the adapters' initial A
    const straight = new tg.GRPOTrainer(tiny(), tok, rows, rewards, config);
    const straightLogs = await straight.train({ untilStep: 1 });
    const live = tg.memory().numTensors;
    straightLogs.push(...await straight.train());
    expect(tg.memory().numTensors).toBe(live);

    const dir = tempDir();
    tg.manualSeed(7);
    const first = new tg.GRPOTrainer(tiny(), tok, rows, rewards, { ...config, outputDir: dir, saveEvery: 1 });
    await first.train({ untilStep: 1 });
    tg.manualSeed(999); // the resumed trainer draws other initial adapters; the checkpoint replaces them
    const resumed = new tg.GRPOTrainer(tiny(), tok, rows, rewards, { ...config, outputDir: dir });
    const rest = await resumed.train({ resumeFromCheckpoint: path.join(dir, 'checkpoint-1') });
    expect(strip(rest)).toEqual(strip(straightLogs.slice(1)));
    expect(adapters(resumed)).toEqual(adapters(straight));
    expect(rest.every((l) => (l.grad_norm as number) > 0)).toBe(true);
    for (const t of [straight, first, resumed]) t.peftModel!.dispose();
  });

  it('thinkgrad rm with trainer.peftConfig writes output/adapter and a merged output/model', async () => {
    const out = path.join(tempDir(), 'rm');
    const prefs = path.join(tempDir(), 'prefs.jsonl');
    fs.writeFileSync(prefs, Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `${10 + i}=`, chosen: String(90 + i), rejected: String(i) })).join('\n') + '\n');
    await rmCommand({ modelConfig: { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 }, modelSeed: 1,
      tokenizer: { type: 'addition' }, data: prefs, trainer: { maxSteps: 2, batchSize: 4, learningRate: 1e-2, peftConfig: { r: 2 } }, output: out },
    { quiet: true, source: 'run.json' });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'adapter', 'adapter_config.json'), 'utf8'))).toMatchObject({ task_type: 'SEQ_CLS', modules_to_save: ['score'] });
    const merged = loadSequenceClassifier(path.join(out, 'model'));
    expect(Object.keys(merged.stateDict()).every((k) => !/lora_|base_layer|modules_to_save/.test(k))).toBe(true);
    merged.dispose();
  });
});
