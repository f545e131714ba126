// transformers' optimizer options on every trainer: adamBeta1/adamBeta2/adamEpsilon reach the AdamW, maxGradNorm 0 means no clipping,
// warmupRatio the LR schedule (ceil(ratio x total optimizer steps) when warmupSteps is 0), saveTotalLimit keeps
// the newest checkpoints and deletes nothing else; bad values are refused by field name, and the CLI takes
// them as --trainer.<field> overrides.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { GRPO_HELP } from '../src/cli/commands/grpo.js';
import { runConfigCommand } from '../src/cli/commands/index.js';
import { RM_HELP } from '../src/cli/commands/rm.js';
import { SFT_HELP } from '../src/cli/commands/sft.js';
import { LlamaForSequenceClassification } from '../src/nn/sequence-classification.js';
import { additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';
import { warmupStepsOf } from '../src/train/training-args.js';

const tok = additionTokenizer();
const modelConfig = { hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
const lm = () => new tg.nn.LlamaForCausalLM({ ...modelConfig, vocabSize: tok.vocabSize, tieWordEmbeddings: true, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 1 });
const sftData = additionExamples(8, { seed: 3 }).map(({ prompt, completion }) => ({ prompt, completion }));
const rows = additionTrainProblems(8, 5).map((p) => ({ prompt: p.prompt, answer: p.answer }));
const pairs = sftData.map((e) => ({ prompt: e.prompt, chosen: e.completion, rejected: `${e.completion}9` }));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-optim-options-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);

type Options = Partial<tg.SFTConfig & tg.GRPOConfig & tg.RewardConfig>;
// Each builds its trainer on a fresh tiny model, hands it to `use`, then frees the model.
function sft(config: Partial<tg.SFTConfig>, use: (t: tg.SFTTrainer) => void): void {
  const model = lm();
  try {
    use(new tg.SFTTrainer(model, tok, sftData, config));
  } finally {
    model.dispose();
  }
}
function grpo(config: Partial<tg.GRPOConfig>, use: (t: tg.GRPOTrainer) => void): void {
  const model = lm();
  try {
    use(new tg.GRPOTrainer(model, tok, rows, [tg.rewards.accuracy()], { numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4, ...config }));
  } finally {
    model.dispose();
  }
}
function rm(config: Partial<tg.RewardConfig>, use: (t: tg.RewardTrainer) => void): void {
  const base = lm();
  const model = LlamaForSequenceClassification.fromCausalLM(base, { seed: 2, log: () => {} });
  base.dispose();
  try {
    use(new tg.RewardTrainer(model, tok, pairs, config));
  } finally {
    model.dispose();
  }
}
const trainers: Record<string, (config: Options, use: (t: tg.SFTTrainer | tg.GRPOTrainer | tg.RewardTrainer) => void) => void> = {
  SFTTrainer: sft, GRPOTrainer: grpo, RewardTrainer: rm,
};
const folders = (dir: string) => fs.readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort();

describe('optimizer options', () => {
  it("default to transformers' values in every trainer's defaults", () => {
    for (const defaults of [tg.SFT_DEFAULTS, tg.GRPO_DEFAULTS, tg.REWARD_DEFAULTS]) {
      expect(defaults).toMatchObject({ adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, warmupRatio: 0, saveTotalLimit: null });
    }
  });

  for (const [name, build] of Object.entries(trainers)) {
    it(`${name}: adamBeta1, adamBeta2 and adamEpsilon reach its AdamW`, () => {
      build({}, (t) => expect(t.optimizer.paramGroups[0]).toMatchObject({ betas: [0.9, 0.999], eps: 1e-8 }));
      build({ adamBeta1: 0.8, adamBeta2: 0.95, adamEpsilon: 1e-6, learningRate: 0.01, weightDecay: 0.1 }, (t) => {
        for (const g of t.optimizer.paramGroups) expect(g).toMatchObject({ betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 });
      });
    });

    it(`${name}: refuses out-of-range optimizer options, naming the field`, () => {
      const refused: [Options, RegExp][] = [
        [{ adamBeta1: 1 }, /config field 'adamBeta1' must be a number in \[0, 1\), got 1/],
        [{ adamBeta2: -0.1 }, /config field 'adamBeta2' must be a number in \[0, 1\), got -0\.1/],
        [{ adamEpsilon: -1e-8 }, /config field 'adamEpsilon' must be a number in \[0, inf\]/],
        [{ warmupRatio: 1.5 }, /config field 'warmupRatio' must be a number in \[0, 1\], got 1\.5/],
        [{ saveTotalLimit: 0 }, /config field 'saveTotalLimit' must be an integer in \[1, inf\] or null, got 0/],
        [{ saveTotalLimit: 1.5 }, /config field 'saveTotalLimit'/],
      ];
      for (const [config, message] of refused) expect(() => build(config, () => {})).toThrow(message);
      build({ adamBeta1: 0, adamBeta2: 0.9999, adamEpsilon: 0, warmupRatio: 1, saveTotalLimit: 3 }, (t) => expect(t.config.saveTotalLimit).toBe(3));
    });
  }

  it("warmupRatio warms up over ceil(ratio x total optimizer steps) when warmupSteps is 0 (transformers' rule)", () => {
    expect(warmupStepsOf({ warmupSteps: 0, warmupRatio: 0.25 }, 8)).toBe(2);
    expect(warmupStepsOf({ warmupSteps: 0, warmupRatio: 0.15 }, 10)).toBe(2);
    expect(warmupStepsOf({ warmupSteps: 3, warmupRatio: 0.5 }, 10)).toBe(3);
    expect(warmupStepsOf({ warmupSteps: 0, warmupRatio: 0 }, 10)).toBe(0);
    // As Python's math.ceil(100 * 0.07): the product is 7.000000000000001.
    expect(warmupStepsOf({ warmupSteps: 0, warmupRatio: 0.07 }, 100)).toBe(8);
    // SFT and reward training: 8 steps, warmup 2, then linear decay to 0 at step 8.
    for (const build of [trainers.SFTTrainer, trainers.RewardTrainer]) {
      build({ maxSteps: 8, warmupRatio: 0.25, lrSchedule: 'linear', learningRate: 0.5 }, (t) => {
        expect([0, 1, 2, 5, 8].map((k) => t.scheduler.schedule(k))).toEqual([0, 0.5, 1, 0.5, 0]);
        expect(t.optimizer.paramGroups[0].lr).toBe(0);
      });
      // warmupSteps > 0 wins over the ratio.
      build({ maxSteps: 8, warmupSteps: 4, warmupRatio: 0.25, lrSchedule: 'constant_with_warmup' }, (t) => expect(t.scheduler.schedule(2)).toBe(0.5));
    }
    // GRPO: the total is maxSteps x numIterations optimizer steps (5 x 2 = 10, warmup ceil(0.2 x 10) = 2).
    grpo({ maxSteps: 5, numIterations: 2, warmupRatio: 0.2, lrSchedule: 'linear' }, (t) => {
      expect([0, 1, 2, 6, 10].map((k) => t.scheduler.schedule(k))).toEqual([0, 0.5, 1, 0.5, 0]);
    });
  });
});

describe('maxGradNorm', () => {
  it("0 turns clipping off as in transformers (the step of an unbounded clip), instead of zeroing the gradients", () => {
    const stepWith = (maxGradNorm: number) => {
      let weights: Float32Array = new Float32Array();
      let norm = 0;
      sft({ maxSteps: 1, batchSize: 8, learningRate: 1e-2, maxGradNorm, logEvery: 1 }, (t) => {
        norm = t.fit()[0].grad_norm as number;
        weights = Float32Array.from(t.model.model.embed_tokens.weight.data() as Float32Array);
      });
      return { weights, norm };
    };
    const off = stepWith(0);
    const huge = stepWith(1e9);
    const tight = stepWith(1e-3);
    expect(off.norm).toBeGreaterThan(1e-3);
    expect(off.norm).toBeCloseTo(huge.norm, 6);
    expect(Array.from(off.weights)).toEqual(Array.from(huge.weights));
    expect(Array.from(off.weights)).not.toEqual(Array.from(tight.weights));
  });
});

describe('saveTotalLimit', () => {
  it('SFT: leaves exactly the newest N checkpoint folders (by step number), and resume still finds the newest', async () => {
    const out = at('sft');
    // 11 steps so that checkpoint-9 and checkpoint-10 sort differently by name and by step.
    sft({ maxSteps: 11, batchSize: 2, saveEvery: 1, saveTotalLimit: 2, outputDir: out, logEvery: 100 }, (t) => t.fit());
    expect(folders(out)).toEqual(['checkpoint-10', 'checkpoint-11']);
    expect(tg.latestCheckpoint(out)).toBe(path.join(out, 'checkpoint-11'));
    const model = lm();
    try {
      const t = new tg.SFTTrainer(model, tok, sftData, { maxSteps: 12, batchSize: 2, saveEvery: 1, saveTotalLimit: 2, outputDir: out });
      await t.train({ resumeFromCheckpoint: true });
      expect(t.globalStep).toBe(12);
    } finally {
      model.dispose();
    }
    expect(folders(out)).toEqual(['checkpoint-11', 'checkpoint-12']);
  });

  it('GRPO and reward training prune through the same checkpoint save', async () => {
    const grpoOut = at('grpo');
    const model = lm();
    try {
      const t = new tg.GRPOTrainer(model, tok, rows, [tg.rewards.accuracy()], {
        maxSteps: 3, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4, saveEvery: 1, saveTotalLimit: 1, outputDir: grpoOut,
      });
      await t.train();
    } finally {
      model.dispose();
    }
    expect(folders(grpoOut)).toEqual(['checkpoint-3']);
    const rmOut = at('rm');
    rm({ maxSteps: 4, batchSize: 2, saveEvery: 1, saveTotalLimit: 3, outputDir: rmOut }, (t) => t.fit());
    expect(folders(rmOut)).toEqual(['checkpoint-2', 'checkpoint-3', 'checkpoint-4']);
  });

  it('null keeps every checkpoint; saves outside outputDir or under other names prune nothing', () => {
    const out = at('keep-all');
    sft({ maxSteps: 3, batchSize: 2, saveEvery: 1, outputDir: out }, (t) => t.fit());
    expect(folders(out)).toEqual(['checkpoint-1', 'checkpoint-2', 'checkpoint-3']);
    sft({ maxSteps: 3, batchSize: 2, saveTotalLimit: 1, outputDir: out }, (t) => {
      t.save(at('elsewhere', 'checkpoint-7'));
      t.save(path.join(out, 'final'));
    });
    expect(folders(out)).toEqual(['checkpoint-1', 'checkpoint-2', 'checkpoint-3']);
  });

  it('pruneCheckpoints deletes only checkpoint-<integer> folders directly inside the folder, never the one kept', () => {
    const out = at('prune');
    const outside = at('outside-target');
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'precious'), 'x');
    for (const step of [2, 9, 10, 100]) {
      fs.mkdirSync(path.join(out, `checkpoint-${step}`), { recursive: true });
      fs.writeFileSync(path.join(out, `checkpoint-${step}`, 'SHA256SUMS'), '');
    }
    // Not checkpoints: a link and a file named like them, other names, a nested folder, an interrupted save.
    fs.symlinkSync(outside, path.join(out, 'checkpoint-1'));
    fs.writeFileSync(path.join(out, 'checkpoint-3'), 'a file');
    for (const other of ['checkpoint-best', 'checkpoint-4.bak', 'my-checkpoint-5', 'sub/checkpoint-6', '.checkpoint-7.tmp-1-0123abcd']) fs.mkdirSync(path.join(out, other), { recursive: true });
    // The kept one (just written, e.g. after resuming an older checkpoint) survives though it is not the newest.
    const removed = tg.pruneCheckpoints(out, 2, path.join(out, 'checkpoint-9'));
    expect(removed).toEqual([path.join(out, 'checkpoint-2'), path.join(out, 'checkpoint-10')]);
    expect(fs.readdirSync(out).sort()).toEqual(['.checkpoint-7.tmp-1-0123abcd', 'checkpoint-1', 'checkpoint-100', 'checkpoint-3', 'checkpoint-4.bak', 'checkpoint-9',
      'checkpoint-best', 'my-checkpoint-5', 'sub']);
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('x');
    expect(fs.existsSync(path.join(out, 'sub', 'checkpoint-6'))).toBe(true);
    expect(tg.pruneCheckpoints(out, 2)).toEqual([]);
    expect(tg.pruneCheckpoints(out, 1)).toEqual([path.join(out, 'checkpoint-9')]);
    expect(tg.pruneCheckpoints(at('missing'), 1)).toEqual([]);
    expect(() => tg.pruneCheckpoints(out, 0)).toThrow(/pruneCheckpoints: limit must be an integer >= 1, got 0/);
    expect(() => tg.pruneCheckpoints('', 1)).toThrow(/pruneCheckpoints: outputDir must be a non-empty string/);
  });
});

describe('the CLI', () => {
  it('lists the options in each training command\'s help', () => {
    for (const help of [SFT_HELP, GRPO_HELP, RM_HELP]) {
      for (const field of ['adamBeta1', 'adamBeta2', 'adamEpsilon', 'warmupRatio', 'saveTotalLimit']) expect(help).toContain(field);
    }
  });

  it('takes them as --trainer.<field> overrides and refuses bad ones by name', async () => {
    const data = at('sft.jsonl');
    fs.writeFileSync(data, sftData.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const file = at('run.json');
    fs.writeFileSync(file, JSON.stringify({ modelConfig, tokenizer: { type: 'addition' }, data, trainer: { maxSteps: 3, batchSize: 2, saveEvery: 1, logEvery: 1 } }));
    const out = at('cli');
    const log = console.log;
    console.log = () => {};
    try {
      expect(await runConfigCommand('sft', ['--config', file, '--output', out, '--trainer.adamBeta1', '0.8', '--trainer.adamBeta2', '0.99',
        '--trainer.adamEpsilon', '1e-6', '--trainer.warmupRatio', '0.5', '--trainer.saveTotalLimit', '1'])).toBe(0);
    } finally {
      console.log = log;
    }
    expect(folders(out)).toEqual(['checkpoint-3']);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-3', 'trainer_state.json'), 'utf8'));
    expect(state.config).toMatchObject({ adamBeta1: 0.8, adamBeta2: 0.99, adamEpsilon: 1e-6, warmupRatio: 0.5, saveTotalLimit: 1 });
    const optimizer = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-3', 'optimizer.json'), 'utf8'));
    expect(optimizer.paramGroups[0]).toMatchObject({ betas: [0.8, 0.99], eps: 1e-6 });
    // Warmup over ceil(0.5 x 3) = 2 steps: lr 0, then half of 2e-5.
    const lrs = fs.readFileSync(path.join(out, 'sft_logs.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).learning_rate);
    expect(lrs.slice(0, 2)).toEqual([0, 1e-5]);
    await expect(runConfigCommand('sft', ['--config', file, '--output', at('cli-bad'), '--trainer.adamBeta1', '1']))
      .rejects.toThrow(/field 'trainer'.*config field 'adamBeta1' must be a number in \[0, 1\), got 1/);
    expect(fs.existsSync(at('cli-bad'))).toBe(false);
  });
});
