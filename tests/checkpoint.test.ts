// Gradient checkpointing (issue 14 §3): `checkpoint(fn, ...inputs)` against finite differences and against the
// same function without it (gradients, random draws replayed, what it keeps alive), then a tiny Llama with
// gradientCheckpointing on: the same loss and gradients, each layer run twice per step, fewer live bytes after the
// forward, memory flat over many steps, and the trainers' option.
import { spawnSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { checkpoint } from '../src/autograd/checkpoint.js';
import { gradients } from '../src/autograd/engine.js';
import { SFTTrainer } from '../src/train/sft.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { RewardTrainer } from '../src/train/reward-trainer.js';
import { additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import type { StepMemory } from '../bench/checkpointing.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, forEachBackend, fromArray, randomArray, randomInts } from './helpers/reference.js';

// (2, 3) x (3, 4) -> tanh(a w) * sigmoid(a) summed over a's columns, broadcast: a small composite with a
// parameter-like tensor (w) read from the closure, not passed as an input.
function compositeRef(a: Float64Array, w: Float64Array): Float64Array {
  const out = new Float64Array(8);
  for (let i = 0; i < 2; i++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += 1 / (1 + Math.exp(-a[i * 3 + k]));
    for (let j = 0; j < 4; j++) {
      let z = 0;
      for (let k = 0; k < 3; k++) z += a[i * 3 + k] * w[k * 4 + j];
      out[i * 4 + j] = Math.tanh(z) * s;
    }
  }
  return out;
}

function composite(a: tg.Tensor, w: tg.Tensor): tg.Tensor {
  return tg.tanh(tg.matmul(a, w)).mul(tg.sum(tg.sigmoid(a), 1, true));
}

const LLAMAS: Record<string, nn.LlamaConfigOptions> = {
  'llama, GQA, untied': { vocabSize: 19, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 3, numAttentionHeads: 4,
    numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500 },
  'qwen2, q/k/v bias, tied': { modelType: 'qwen2', vocabSize: 23, hiddenSize: 16, intermediateSize: 20, numHiddenLayers: 2,
    numAttentionHeads: 4, numKeyValueHeads: 1, tieWordEmbeddings: true },
};

const B = 3, T = 7;
// Row b starts after b padding slots (left padding, as batched generation makes it).
const LEFT_PADDING = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (t < b ? 0 : 1)));

// One training step's loss and every parameter's gradient (then freed), with the loss built inside tidy and
// backward run outside it: the checkpoints must keep what their recomputation reads.
function lossAndGrads(model: nn.LlamaForCausalLM, ids: tg.Tensor, mask?: number[][]): { loss: number; grads: Map<string, Float32Array> } {
  const loss = tg.tidy(() => model.loss(ids, undefined, mask ? { attentionMask: mask } : {}));
  loss.backward();
  const value = loss.item();
  loss.dispose();
  const grads = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) if (p.grad) grads.set(name, p.grad.data() as Float32Array);
  model.zeroGrad();
  return { loss: value, grads };
}

forEachBackend((device) => {
  describe('checkpoint(fn, ...inputs)', () => {
    it('float64 gradcheck of a composite through checkpoint, gradients to an input and to a tensor fn reads from outside', () => {
      gradcheck({
        inputs: [{ values: randomArray(6, 11), shape: [2, 3] }, { values: randomArray(12, 12, 0.5), shape: [3, 4] }],
        engine: ([a, w]) => checkpoint((x: tg.Tensor) => composite(x, w), a),
        reference: ([a, w]) => compositeRef(a, w),
      });
    });

    it('equals the function without it (forward exactly, gradients to float32 rounding: atol 1e-7, rtol 1e-6); fn runs twice', () => {
      const run = (useCheckpoint: boolean) => tg.tidy(() => {
        const a = fromArray(randomArray(6, 21), [2, 3], true);
        const w = fromArray(randomArray(12, 22), [3, 4], true);
        let calls = 0;
        const fn = (x: tg.Tensor) => {
          calls++;
          return composite(x, w);
        };
        const y = useCheckpoint ? checkpoint(fn, a) : fn(a);
        const forwardCalls = calls;
        // The result feeds more ops, so the gradient reaching it is not all ones.
        y.mul(y).sum().backward();
        return { y: y.data(), ga: a.grad!.data(), gw: w.grad!.data(), forwardCalls, calls };
      });
      const plain = run(false);
      const ckpt = run(true);
      expect(Array.from(ckpt.y)).toEqual(Array.from(plain.y));
      expectClose(ckpt.ga, plain.ga, { atol: 1e-7, rtol: 1e-6 }, 'd/da');
      expectClose(ckpt.gw, plain.gw, { atol: 1e-7, rtol: 1e-6 }, 'd/dw');
      expect([plain.forwardCalls, plain.calls]).toEqual([1, 1]);
      expect([ckpt.forwardCalls, ckpt.calls]).toEqual([1, 2]);
    });

    it('keeps no intermediate of fn after the forward; the recomputation\'s are freed after backward', () => {
      const a = fromArray(randomArray(6, 31), [2, 3], true);
      const w = fromArray(randomArray(12, 32), [3, 4], true);
      const fn = (x: tg.Tensor) => composite(x, w);
      const y = checkpoint(fn, a);
      // The graph holds y's node only: its inputs and saved tensors are a and w, nothing fn made.
      expect(y.gradFn!.name).toBe('checkpoint');
      expect(new Set(y.gradFn!.inputs)).toEqual(new Set([a, w]));
      expect(y.gradFn!.saved).toEqual([]);
      const before = tg.memory();
      y.backward(tg.onesLike(y));
      const grads = [a.grad!, w.grad!];
      const after = tg.memory();
      // The new tensors: the ones given as the gradient, a.grad and w.grad; the recomputation left nothing.
      expect(after.numTensors - before.numTensors).toBe(1 + grads.length);
      for (const t of [a, w, y]) t.dispose();
    });

    it('inputs that do not require grad get none and are kept for the recomputation; int32 inputs pass through', () => {
      const x = fromArray(randomArray(6, 41), [2, 3]);
      const w = fromArray(randomArray(12, 42), [3, 4], true);
      const rows = tg.tensor([1, 0], [2], { dtype: 'int32' });
      const fn = (a: tg.Tensor, r: tg.Tensor) => tg.indexSelect(composite(a, w), 0, r);
      const loss = tg.tidy(() => checkpoint(fn, x, rows).sum());
      // x and rows were made outside the tidy; w requires grad: the node keeps x and rows as saved tensors.
      loss.backward();
      const expected = tg.tidy(() => {
        const w2 = fromArray(randomArray(12, 42), [3, 4], true);
        tg.indexSelect(composite(x, w2), 0, rows).sum().backward();
        return w2.grad!.data();
      });
      expect(x.grad).toBeNull();
      expectClose(w.grad!.data(), expected, { atol: 1e-7, rtol: 1e-6 }, 'd/dw');
      for (const t of [x, w, rows, loss]) t.dispose();
    });

    it('replays the random draws of the forward in the recomputation and leaves the generator where the forward left it', () => {
      // Dropout written with rand: the recomputation must draw the same mask, or the gradient is another one's.
      const dropout = (x: tg.Tensor) => x.mul(tg.lt(tg.rand(x.shape), 0.5)).mul(2);
      const run = (useCheckpoint: boolean) => tg.tidy(() => {
        tg.manualSeed(7);
        const a = fromArray(randomArray(6, 51), [2, 3], true);
        const w = fromArray(randomArray(12, 52), [3, 4], true);
        const fn = (x: tg.Tensor) => composite(dropout(x), w);
        const y = useCheckpoint ? checkpoint(fn, a) : fn(a);
        const afterForward = tg.getRngState();
        y.sum().backward();
        return { y: y.data(), ga: a.grad!.data(), gw: w.grad!.data(), afterForward, afterBackward: tg.getRngState() };
      });
      const plain = run(false);
      const ckpt = run(true);
      expect(Array.from(ckpt.y)).toEqual(Array.from(plain.y));
      expectClose(ckpt.ga, plain.ga, { atol: 1e-7, rtol: 1e-6 }, 'd/da');
      expectClose(ckpt.gw, plain.gw, { atol: 1e-7, rtol: 1e-6 }, 'd/dw');
      expect(ckpt.afterBackward).toEqual(ckpt.afterForward);
      expect(ckpt.afterForward).toEqual(plain.afterForward);
    });

    it('under noGrad it is fn itself (one call, nothing recorded); nested checkpoints differentiate', () => {
      const a = fromArray(randomArray(6, 61), [2, 3], true);
      const w = fromArray(randomArray(12, 62), [3, 4], true);
      let calls = 0;
      const y = tg.noGrad(() => checkpoint((x: tg.Tensor) => {
        calls++;
        return composite(x, w);
      }, a));
      expect(calls).toBe(1);
      expect(y.requiresGrad).toBe(false);
      const nested = tg.tidy(() => {
        const z = checkpoint((x: tg.Tensor) => checkpoint((u: tg.Tensor) => composite(u, w), x).mul(x.sum()), a);
        z.sum().backward();
        return a.grad!.data();
      });
      a.zeroGrad();
      const direct = tg.tidy(() => {
        composite(a, w).mul(a.sum()).sum().backward();
        return a.grad!.data();
      });
      expectClose(nested, direct, { atol: 1e-7, rtol: 1e-6 }, 'nested d/da');
      for (const t of [a, w, y]) t.dispose();
    });

    it('a result fn was given is not marked as computed by the checkpoint; bad arguments throw TypeErrors naming it', () => {
      const a = fromArray(randomArray(6, 71), [2, 3], true);
      const y = checkpoint((x: tg.Tensor) => x, a);
      expect(y).not.toBe(a);
      expect(a.gradFn).toBeNull();
      y.sum().backward();
      expect(Array.from(a.grad!.data())).toEqual([1, 1, 1, 1, 1, 1]);
      expect(() => checkpoint(null as unknown as () => tg.Tensor)).toThrow(/checkpoint: fn must be a function/);
      expect(() => checkpoint(() => 3 as unknown as tg.Tensor)).toThrow(/checkpoint: fn must return a Tensor, got number/);
      a.dispose();
      y.dispose();
    });
  });

  describe('gradients(root, gradient, inputs) (torch.autograd.grad)', () => {
    it('returns d(root)/d(input), stops at the inputs and leaves every .grad alone', () => {
      const a = fromArray(randomArray(6, 81), [2, 3], true);
      const w = fromArray(randomArray(12, 82), [3, 4], true);
      const [ga, gw] = tg.tidy(() => {
        const h = a.mul(2); // a non-leaf input: the graph behind it is not followed
        const y = composite(h, w);
        const g = tg.onesLike(y);
        const found = gradients(y, g, [h, w]);
        expect(a.grad).toBeNull();
        expect(w.grad).toBeNull();
        return found;
      });
      const expected = tg.tidy(() => {
        const h = a.mul(2).detach().requiresGrad_();
        composite(h, w).sum().backward();
        return [h.grad!.data(), w.grad!.data()];
      });
      expectClose(ga!.data(), expected[0], { atol: 0, rtol: 0 }, 'd/dh');
      expectClose(gw!.data(), expected[1], { atol: 0, rtol: 0 }, 'd/dw');
      for (const t of [a, w, ga!, gw!]) t.dispose();
    });
  });

  describe('LlamaForCausalLM with gradient checkpointing', () => {
    for (const [name, config] of Object.entries(LLAMAS)) {
      for (const padded of [false, true]) {
        it(`${name}, ${padded ? 'left-padded' : 'unpadded'}: the same loss and gradients (atol 1e-6, rtol 1e-5); each layer runs twice`, () => {
          const model = new nn.LlamaForCausalLM(config, { seed: 3 });
          const ids = tg.tensor(randomInts(B * T, config.vocabSize!, 90), [B, T], { dtype: 'int32' });
          const mask = padded ? LEFT_PADDING : undefined;
          const plain = lossAndGrads(model, ids, mask);
          model.gradientCheckpointingEnable();
          expect(model.isGradientCheckpointing).toBe(true);
          const spies = model.model.layers.items.map((layer) => vi.spyOn(layer, 'forward'));
          const ckpt = lossAndGrads(model, ids, mask);
          for (const spy of spies) expect(spy).toHaveBeenCalledTimes(2);
          expect(ckpt.loss).toBeCloseTo(plain.loss, 6);
          expect([...ckpt.grads.keys()]).toEqual([...plain.grads.keys()]);
          for (const [param, g] of plain.grads) expectClose(ckpt.grads.get(param)!, g, { atol: 1e-6, rtol: 1e-5 }, param);
          for (const spy of spies) spy.mockRestore();
          ids.dispose();
          model.dispose();
        });
      }
    }

    it('acts only while training with recording on and no KV cache: eval(), noGrad and cached decoding run each layer once', () => {
      const model = new nn.LlamaForCausalLM(LLAMAS['llama, GQA, untied'], { seed: 4 });
      model.gradientCheckpointingEnable();
      const ids = tg.tensor(randomInts(B * T, 19, 91), [B, T], { dtype: 'int32' });
      const spy = vi.spyOn(model.model.layers.items[0], 'forward');
      const counts: number[] = [];
      const count = (fn: () => void) => {
        spy.mockClear();
        fn();
        counts.push(spy.mock.calls.length);
      };
      count(() => tg.tidy(() => void tg.noGrad(() => model.forward(ids))));
      count(() => tg.tidy(() => {
        model.eval();
        model.loss(ids).backward();
        model.train();
      }));
      count(() => tg.tidy(() => {
        const cache = model.createCache(B, T + 1);
        tg.noGrad(() => model.forward(ids, { cache }));
        cache.dispose();
      }));
      count(() => tg.tidy(() => model.loss(ids).backward()));
      expect(counts).toEqual([1, 1, 1, 2]);
      model.gradientCheckpointingDisable();
      expect(model.isGradientCheckpointing).toBe(false);
      spy.mockRestore();
      ids.dispose();
      model.dispose();
    });

    it('frozen embeddings (the first layer\'s input needs no gradient): the layers\' gradients still arrive, equal', () => {
      const model = new nn.LlamaForCausalLM(LLAMAS['llama, GQA, untied'], { seed: 5 });
      model.freeze((n) => n.includes('embed_tokens'));
      const ids = tg.tensor(randomInts(B * T, 19, 92), [B, T], { dtype: 'int32' });
      const plain = lossAndGrads(model, ids, LEFT_PADDING);
      model.gradientCheckpointingEnable();
      const ckpt = lossAndGrads(model, ids, LEFT_PADDING);
      expect(ckpt.grads.has('model.embed_tokens.weight')).toBe(false);
      expect([...ckpt.grads.keys()]).toEqual([...plain.grads.keys()]);
      for (const [param, g] of plain.grads) expectClose(ckpt.grads.get(param)!, g, { atol: 1e-6, rtol: 1e-5 }, param);
      ids.dispose();
      model.dispose();
    });

    it('fewer live native bytes at the end of the forward; memory flat over 12 AdamW steps', () => {
      const config = { ...LLAMAS['llama, GQA, untied'], numHiddenLayers: 4, intermediateSize: 64 };
      const model = new nn.LlamaForCausalLM(config, { seed: 6 });
      const ids = tg.tensor(randomInts(4 * 16, 19, 93), [4, 16], { dtype: 'int32' });
      const live = () => tg.memory().devices[device]!.numBytes;
      // Bytes held between the forward and backward of one step, above what was held before it.
      const held = () => tg.tidy(() => {
        const start = live();
        const loss = model.loss(ids);
        const bytes = live() - start;
        loss.backward();
        model.zeroGrad();
        return bytes;
      });
      const plain = held();
      model.gradientCheckpointingEnable();
      const ckpt = held();
      // Checkpointing keeps each layer's input (B, T, C) and the context; without it every layer keeps its q, k, v,
      // attention output and statistics and the MLP's (B, T, 64) gates: several times more.
      expect(ckpt).toBeLessThan(plain / 2);

      const optimizer = new tg.AdamW(model.parameters(), { lr: 1e-2 });
      const sizes: [number, number][] = [];
      for (let step = 0; step < 12; step++) {
        tg.tidy(() => {
          optimizer.zeroGrad();
          model.loss(ids).backward();
          optimizer.step();
        });
        sizes.push([live(), tg.memory().numTensors]);
      }
      // After the first step has made AdamW's state, every step ends where the one before did.
      for (const s of sizes.slice(2)) expect(s).toEqual(sizes[1]);
      optimizer.zeroGrad();
      ids.dispose();
      model.dispose();
    });
  });
});

describe('the trainers\' gradientCheckpointing (transformers\' gradient_checkpointing)', () => {
  const config: nn.LlamaConfigOptions = { vocabSize: additionTokenizer().vocabSize, hiddenSize: 16, intermediateSize: 32,
    numHiddenLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 1, maxPositionEmbeddings: 64 };

  it('SFT: turns the model\'s checkpointing on and trains with the same losses (to 1e-5) as without', () => {
    const losses = (gradientCheckpointing: boolean) => {
      const model = new nn.LlamaForCausalLM(config, { seed: 8 });
      const trainer = new SFTTrainer(model, additionTokenizer(), additionExamples(16, { seed: 3 }),
        { maxSteps: 3, batchSize: 4, learningRate: 1e-2, logEvery: 1, device: 'cpu', gradientCheckpointing });
      expect(model.isGradientCheckpointing).toBe(gradientCheckpointing);
      const records = trainer.fit();
      model.dispose();
      return records.map((r) => r.loss as number);
    };
    const plain = losses(false);
    const ckpt = losses(true);
    expect(ckpt.length).toBe(3);
    expectClose(ckpt, plain, { atol: 1e-5, rtol: 1e-5 }, 'SFT losses');
  });

  it('GRPO (two iterations): the same losses (to 1e-5) and weights (to 1e-5) as without', async () => {
    const problems = additionTrainProblems(8, 1).map((p) => ({ prompt: p.prompt, answer: p.answer }));
    const run = async (gradientCheckpointing: boolean) => {
      const policy = new nn.LlamaForCausalLM(config, { seed: 9 });
      // A reward that differs within each group (an untrained model's answers are all wrong), so the policy moves.
      const digits = ({ completions }: { completions: string[] }) => completions.map((c) => (c.match(/\d/g) ?? []).length);
      const trainer = new GRPOTrainer(policy, additionTokenizer(), problems, [digits], {
        maxSteps: 2, numGenerations: 4, generationBatchSize: 8, microBatchSize: 4, maxCompletionLength: 6, seed: 3,
        learningRate: 1e-2, beta: 0, numIterations: 2, device: 'cpu', gradientCheckpointing,
      });
      expect(policy.isGradientCheckpointing).toBe(gradientCheckpointing);
      const losses = (await trainer.train()).map((r) => r.loss as number);
      const weights = policy.parameters().flatMap((p) => Array.from(p.data()));
      policy.dispose();
      return { losses, weights };
    };
    const plain = await run(false);
    const ckpt = await run(true);
    expect(ckpt.losses.length).toBe(plain.losses.length);
    expect(plain.losses.some((l) => Math.abs(l) > 1e-4), `losses ${plain.losses}`).toBe(true);
    expectClose(ckpt.losses, plain.losses, { atol: 1e-5, rtol: 1e-5 }, 'GRPO losses');
    expectClose(ckpt.weights, plain.weights, { atol: 1e-5, rtol: 1e-5 }, 'GRPO weights');
  });

  it('the reward trainer turns it on; a non-boolean is a TypeError naming the option', () => {
    const rm = new nn.LlamaForSequenceClassification(config, { seed: 10 });
    new RewardTrainer(rm, additionTokenizer(), [{ prompt: '1+1=', chosen: '2', rejected: '3' }], { maxSteps: 1, device: 'cpu', gradientCheckpointing: true });
    expect(rm.isGradientCheckpointing).toBe(true);
    const policy = new nn.LlamaForCausalLM(config, { seed: 9 });
    expect(() => new SFTTrainer(policy, additionTokenizer(), additionExamples(4, { seed: 1 }), { gradientCheckpointing: 'yes' as unknown as boolean }))
      .toThrow(/gradientCheckpointing/);
    policy.dispose();
    rm.dispose();
  });
});

describe('bench/checkpointing.ts (issue 14 §6), a dry run on a tiny Qwen2', () => {
  it('measures each configuration in its own process: equal losses, fewer live bytes after the forward with checkpointing', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/checkpointing.ts', '--tiny', '--no-torch', '--json', '--batch', '2', '--seq', '32', '--threads', '1'],
      { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { runs } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { runs: StepMemory[] };
    expect(runs.map((x) => [x.side, x.checkpointing])).toEqual([['thinkgrad', false], ['thinkgrad', true]]);
    const [plain, ckpt] = runs;
    expect(ckpt.losses).toEqual(plain.losses);
    expect(ckpt.liveAfterForwardMiB!).toBeLessThan(plain.liveAfterForwardMiB!);
    for (const x of runs) expect(x.peakRssMiB).toBeGreaterThanOrEqual(x.rssAfterForwardMiB);
  });
});
