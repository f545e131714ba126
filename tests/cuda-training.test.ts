// Issue 12 §4: a whole tiny Llama training step (forward, cross-entropy, backward, clipping, AdamW) on the cuda
// device (a real one, else the CPU emulator) equals the same steps on the CPU to 1e-4: unpadded batches (the fused
// attention kernels), a left-padded batch (the masked attention composed from ops), tied and untied heads, GQA.
// Then the trainers with `device: 'cuda'`: SFT steps and GRPO steps (sampling, rewards, reference model, two
// iterations) equal the CPU run; evaluation, rejection sampling and the CLI's eval take the same option.
import { describe, expect, it } from 'vitest';
import { cudaDevice } from './helpers/devices.js';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { randomInts } from './helpers/reference.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { SFTTrainer } from '../src/train/sft.js';
import { additionAnswer, additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { rejectionSample } from '../src/train/rejection-sampling.js';
import { evalCommand } from '../src/cli/commands/eval.js';
import { savePretrained } from '../src/io/pretrained.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CONFIGS: Record<string, nn.LlamaConfigOptions> = {
  'llama, GQA, untied': { vocabSize: 19, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500 },
  'qwen2, q/k/v bias, tied': { modelType: 'qwen2', vocabSize: 23, hiddenSize: 16, intermediateSize: 20, numHiddenLayers: 2,
    numAttentionHeads: 4, numKeyValueHeads: 1, tieWordEmbeddings: true },
};

const B = 3, T = 7, STEPS = 3;

// Loss of one step and the model's parameters afterwards, on the model's device.
function train(model: nn.LlamaForCausalLM, device: tg.Device, padded: boolean): { losses: number[]; params: Float32Array[] } {
  const opt = new tg.AdamW(model.parameters(), { lr: 3e-2, weightDecay: 0.1 });
  const V = model.config.vocabSize;
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const loss = tg.tidy(() => {
      const ids = tg.tensor(randomInts(B * T, V, 100), [B, T], { dtype: 'int32', device });
      const targets = tg.tensor(randomInts(B * T, V, 200), [B * T], { dtype: 'int32', device });
      // Row b starts after b padding slots (left padding, as batched generation makes it).
      const attentionMask = padded ? Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (t < b ? 0 : 1))) : undefined;
      const logits = model.forward(ids, { attentionMask });
      const value = tg.crossEntropy(tg.reshape(logits, [B * T, V]), targets);
      opt.zeroGrad();
      value.backward();
      tg.clipGradNorm(model.parameters(), 1.0);
      opt.step();
      return value.item();
    });
    losses.push(loss);
  }
  return { losses, params: model.parameters().map((p) => p.data() as Float32Array) };
}

describe.skipIf(!cudaDevice.available)(`a tiny Llama training step on cuda equals the CPU's${cudaDevice.emulated ? ' (emulated device)' : ''}`, () => {
  for (const [name, options] of Object.entries(CONFIGS)) {
    for (const padded of [false, true]) {
      it(`${name}, ${padded ? 'left-padded batch' : 'unpadded'}: ${STEPS} steps, losses and parameters to 1e-4`, () => {
        const onCpu = new nn.LlamaForCausalLM(options, { seed: 7 });
        const onCuda = new nn.LlamaForCausalLM(options, { seed: 7 }).to('cuda');
        expect(onCuda.parameters().every((p) => p.device === 'cuda')).toBe(true);
        const cpu = train(onCpu, 'cpu', padded);
        const cuda = train(onCuda, 'cuda', padded);
        for (let s = 0; s < STEPS; s++) expect(Math.abs(cuda.losses[s] - cpu.losses[s])).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.losses[s])));
        let worst = 0;
        cpu.params.forEach((p, i) => p.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - cuda.params[i][j])))));
        expect(worst).toBeLessThan(1e-4);
        expect(cpu.losses[STEPS - 1]).toBeLessThan(cpu.losses[0]);
        onCpu.dispose();
        onCuda.dispose();
      });
    }
  }

  it('a model built with cuda as the default device lives there whole (rotary tables too) and trains as the CPU copy', () => {
    const options = CONFIGS['llama, GQA, untied'];
    const onCpu = new nn.LlamaForCausalLM(options, { seed: 11 });
    tg.setDefaultDevice('cuda');
    let onCuda: nn.LlamaForCausalLM;
    try {
      onCuda = new nn.LlamaForCausalLM(options, { seed: 11 });
    } finally {
      tg.setDefaultDevice('cpu');
    }
    expect(onCuda.device).toBe('cuda');
    const cpu = train(onCpu, 'cpu', true);
    const cuda = train(onCuda, 'cuda', true);
    cpu.losses.forEach((l, s) => expect(Math.abs(cuda.losses[s] - l)).toBeLessThan(1e-4 * Math.max(1, Math.abs(l))));
    onCpu.dispose();
    onCuda.dispose();
  });
});

describe.skipIf(!cudaDevice.available)("the trainers' device option", () => {
  const tok = additionTokenizer();
  const tiny = (seed: number) => new nn.LlamaForCausalLM({
    vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, tieWordEmbeddings: true,
    maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
  }, { seed });
  const examples = additionExamples(64, { seed: 3 }).map(({ prompt, completion }) => ({ prompt, completion }));
  const problems = additionTrainProblems(64, 5).map((p) => ({ prompt: p.prompt, answer: p.answer }));

  it("device 'auto' is a real GPU when one is here, never the emulator; a bad device is a config error", () => {
    const model = tiny(1);
    const auto = new SFTTrainer(model, tok, examples, { maxSteps: 1 });
    expect(auto.device).toBe(cudaDevice.emulated ? 'cpu' : 'cuda');
    expect(model.device).toBe(auto.device);
    expect(() => new SFTTrainer(model, tok, examples, { device: 'tpu' as tg.Device })).toThrow(/device/);
    model.dispose();
  });

  it('SFT then GRPO (beta 0.04, two iterations) give the CPU run\'s losses and weights', async () => {
    const run = async (device: tg.Device) => {
      // Made on the CPU: the trainers' `device` option moves the policy and the reference model.
      const model = tiny(4);
      const ref = tiny(5);
      const sftTrainer = new SFTTrainer(model, tok, examples, { maxSteps: 3, batchSize: 8, learningRate: 1e-2, seed: 2, device });
      expect([sftTrainer.device, model.device]).toEqual([device, device]);
      const sft = sftTrainer.fit();
      const grpoTrainer = new GRPOTrainer(model, tok, problems, [tg.rewards.accuracy()], {
        maxSteps: 2, numGenerations: 4, generationBatchSize: 16, microBatchSize: 8, maxCompletionLength: 8, seed: 3,
        learningRate: 1e-3, beta: 0.04, numIterations: 2, device,
      }, {}, ref);
      expect([grpoTrainer.device, ref.device]).toEqual([device, device]);
      const grpo = await grpoTrainer.train();
      expect(model.device).toBe(device);
      const weights = model.parameters().map((p) => p.data() as Float32Array);
      model.dispose();
      ref.dispose();
      return { losses: [...sft, ...grpo].map((l) => l.loss as number), weights };
    };
    const cpu = await run('cpu');
    const cuda = await run('cuda');
    cpu.losses.forEach((l, i) => expect(Math.abs(cuda.losses[i] - l)).toBeLessThan(1e-4 * Math.max(1, Math.abs(l))));
    let worst = 0;
    cpu.weights.forEach((w, i) => w.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - cuda.weights[i][j])))));
    expect(worst).toBeLessThan(1e-4);
  });

  it('evaluatePolicy and rejectionSample move the model to their device and sample what the CPU samples', () => {
    const heldOut = problems.slice(0, 6);
    const run = (device: tg.Device) => {
      const model = tiny(6);
      const evaluated = tg.evaluatePolicy(model, tok, heldOut, { k: 2, maxNewTokens: 8, extractAnswer: additionAnswer, seed: 4, device });
      expect(model.device).toBe(device);
      const sampled = rejectionSample(model.to('cpu'), tok, heldOut, { k: 2, maxNewTokens: 8, seed: 5, isCorrect: () => true, device });
      expect(model.device).toBe(device);
      model.dispose();
      return { samples: evaluated.samples, greedy: evaluated.greedyAccuracy, kept: sampled.examples };
    };
    expect(run('cuda')).toEqual(run('cpu'));
  });

  it("the CLI's eval runs where its 'device' says and names it in eval.json's summary", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-cli-device-'));
    try {
      const model = tiny(8);
      savePretrained(model, join(dir, 'model'), { tokenizer: tok });
      model.dispose();
      const config = (device: string, out: string) => ({ model: join(dir, 'model'), data: { task: 'addition', count: 3 }, k: 2, maxNewTokens: 6,
        greedy: false, device, output: join(dir, out) });
      const onCuda = await evalCommand(config('cuda', 'cuda'), { quiet: true });
      const onCpu = await evalCommand(config('cpu', 'cpu'), { quiet: true });
      expect({ ...onCuda, output: '' }).toEqual({ ...onCpu, output: '' });
      expect(readFileSync(join(dir, 'cuda', 'report.html'), 'utf8')).toMatch(/device<\/td>\s*<td[^>]*>cuda/);
      await expect(evalCommand(config('tpu', 'tpu'), { quiet: true })).rejects.toThrow(`config: field 'device' must be one of "auto", "cpu", "cuda", got "tpu"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
