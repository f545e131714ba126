// `npm run bench learning`: learning-curve parity with a plain PyTorch loop. For each task and seed, the R1
// recipe in miniature runs twice on the same data: thinkgrad's SFTTrainer + GRPOTrainer, and the same loops
// written in plain PyTorch (bench/torch/learning.py: same model shape, initialization scheme, schedules and
// hyperparameters). Both evaluate on the held-out set before GRPO and every evalEvery steps (pass@1 over
// k = 8 at T = 0.6, top-p 0.95; cons@8; greedy) and the table shows mean +- sample std over seeds.
// Run alone (or as `npm run bench learning -- [flags]`): npx tsx bench/learning.ts [--tasks addition,digit-sum,multiplication] [--seeds 1,2,3]
//   [--sft-steps N] [--grpo-steps N] [--eval-every N] [--threads N] [--json results.json]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tg from '../src/index.js';
import { LlamaForCausalLM } from '../src/nn/llama.js';
import type { LlamaConfigOptions } from '../src/nn/config.js';
import { SFTTrainer } from '../src/train/sft.js';
import { GRPOTrainer, type GRPOConfig } from '../src/train/grpo.js';
import type { SFTConfig } from '../src/train/sft.js';
import { evaluatePolicy } from '../src/eval/evaluate.js';
import { accuracy, format } from '../src/rl/rewards/index.js';
import { environmentLine, runTorchLines } from './lib.js';
import { LEARNING_TASKS, type LearningTask } from './learning-tasks.js';

export interface LearningOptions {
  tasks: string[];
  seeds: number[];
  coldStartExamples: number;
  sftSteps: number;
  grpoSteps: number;
  evalEvery: number;
  threads: number;
}

export const LEARNING_DEFAULTS: LearningOptions = {
  tasks: Object.keys(LEARNING_TASKS), seeds: [1, 2, 3], coldStartExamples: 2000, sftSteps: 1000, grpoSteps: 120, evalEvery: 40, threads: 2,
};

/** The demo's recipe (src/cli/demo.ts), shared by both sides. */
const ADAM = { adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8 };
const SFT: Partial<SFTConfig> = { ...ADAM, batchSize: 32, learningRate: 3e-3, warmupSteps: 50, lrSchedule: 'cosine', maxGradNorm: 1, weightDecay: 0 };
const GRPO: Partial<GRPOConfig> = {
  ...ADAM, numGenerations: 8, generationBatchSize: 128, microBatchSize: 128, learningRate: 3e-4, warmupSteps: 40, lrSchedule: 'constant_with_warmup',
  rewardWeights: [1, 0.1], temperature: 1, beta: 0, epsilon: 0.2, lossType: 'dapo', maxGradNorm: 1, weightDecay: 0,
};
const EVAL = { k: 8, temperature: 0.6, topP: 0.95 };
const torchAdam = (c: Partial<SFTConfig | GRPOConfig>) => ({ betas: [c.adamBeta1, c.adamBeta2], eps: c.adamEpsilon });

function modelConfig(task: LearningTask): LlamaConfigOptions {
  const tok = task.tokenizer;
  return {
    vocabSize: tok.vocabSize, hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 2, numAttentionHeads: 4, tieWordEmbeddings: true,
    maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
  };
}

export interface EvalPoint {
  step: number;
  pass_at_1: number;
  cons_at_k: number;
  greedy: number;
  format: number;
  mean_length: number;
}

export interface SideRun {
  evals: EvalPoint[];
  sftSeconds: number;
  grpoSeconds: number;
  /** Mean training accuracy (T = 1) per GRPO step. */
  trainAccuracy: number[];
}

function taskData(task: LearningTask, seed: number, o: LearningOptions) {
  return {
    coldStart: task.coldStart(o.coldStartExamples, seed).map(({ prompt, completion }) => ({ prompt, completion })),
    rows: task.trainProblems(8000, seed + 1).map(({ prompt, answer }) => ({ prompt, answer }) as { prompt: string; answer: string; [column: string]: unknown }),
  };
}

async function runOurs(task: LearningTask, seed: number, o: LearningOptions): Promise<SideRun> {
  const tok = task.tokenizer;
  const { coldStart, rows } = taskData(task, seed, o);
  const answer = new RegExp(task.answerPattern);
  const wellFormed = new RegExp(task.formatPattern);
  const model = new LlamaForCausalLM(modelConfig(task), { seed });
  const evaluate = (step: number): EvalPoint => {
    const r = evaluatePolicy(model, tok, task.heldOut, {
      ...EVAL, maxNewTokens: task.maxNewTokens, extractAnswer: (c) => answer.exec(c)?.[1] ?? null, isWellFormed: (c) => wellFormed.test(c), seed,
    });
    return { step, pass_at_1: r.passAt1, cons_at_k: r.consAtK, greedy: r.greedyAccuracy!, format: r.formatRate!, mean_length: r.meanLength };
  };
  let started = performance.now();
  new SFTTrainer(model, tok, coldStart, { ...SFT, maxSteps: o.sftSteps, seed, logEvery: o.sftSteps }).fit();
  const sftSeconds = (performance.now() - started) / 1000;
  const evals = [evaluate(0)];
  const trainAccuracy: number[] = [];
  const grpo = new GRPOTrainer(model, tok, rows, [accuracy(), format()], { ...GRPO, maxSteps: o.grpoSteps, maxCompletionLength: task.maxNewTokens, seed });
  started = performance.now();
  let evalSeconds = 0;
  await grpo.train((step, _total, log) => {
    trainAccuracy.push(log['rewards/accuracy/mean'] as number);
    if (step % o.evalEvery === 0) {
      const t = performance.now();
      evals.push(evaluate(step));
      evalSeconds += (performance.now() - t) / 1000;
    }
  });
  const grpoSeconds = (performance.now() - started) / 1000 - evalSeconds;
  model.dispose();
  return { evals, sftSeconds, grpoSeconds, trainAccuracy };
}

interface TorchRecord {
  kind: 'eval' | 'train' | 'time';
  step?: number;
  phase?: 'sft' | 'grpo';
  seconds?: number;
  accuracy?: number;
}

function runReference(task: LearningTask, seed: number, o: LearningOptions, folder: string): SideRun | null {
  const tok = task.tokenizer;
  const { coldStart, rows } = taskData(task, seed, o);
  const cfg = modelConfig(task);
  const eos = tok.eosTokenId!;
  const encode = (s: string) => tok.encode(s);
  const spec = {
    seed,
    model: {
      vocab_size: cfg.vocabSize, hidden_size: cfg.hiddenSize, intermediate_size: cfg.intermediateSize, num_layers: cfg.numHiddenLayers,
      num_heads: cfg.numAttentionHeads, rms_norm_eps: 1e-6, rope_theta: 10000, initializer_range: 0.02,
    },
    pieces: Array.from({ length: tok.vocabSize }, (_, i) => tok.decode([i])),
    eos, pad: tok.padTokenId,
    answer_pattern: task.answerPattern, format_pattern: task.formatPattern,
    sft: {
      prompts: coldStart.map((e) => encode(e.prompt)), completions: coldStart.map((e) => [...tok.encode(e.completion, { addSpecialTokens: false }), eos]),
      steps: o.sftSteps, batch_size: SFT.batchSize, lr: SFT.learningRate, warmup_steps: SFT.warmupSteps, schedule: SFT.lrSchedule,
      max_grad_norm: SFT.maxGradNorm, weight_decay: SFT.weightDecay, ...torchAdam(SFT),
    },
    grpo: {
      prompts: rows.map((r) => encode(r.prompt)), answers: rows.map((r) => r.answer), steps: o.grpoSteps, num_generations: GRPO.numGenerations,
      generation_batch_size: GRPO.generationBatchSize, lr: GRPO.learningRate, warmup_steps: GRPO.warmupSteps, schedule: GRPO.lrSchedule,
      weight_decay: GRPO.weightDecay, max_grad_norm: GRPO.maxGradNorm, temperature: GRPO.temperature, max_completion_length: task.maxNewTokens,
      reward_weights: GRPO.rewardWeights, epsilon: GRPO.epsilon, loss_type: GRPO.lossType, ...torchAdam(GRPO),
    },
    eval: {
      prompts: task.heldOut.map((p) => encode(p.prompt)), answers: task.heldOut.map((p) => p.answer), k: EVAL.k, temperature: EVAL.temperature,
      top_p: EVAL.topP, max_new_tokens: task.maxNewTokens, every: o.evalEvery,
    },
  };
  const file = join(folder, `${task.name}-${seed}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const records = runTorchLines<TorchRecord & EvalPoint>('learning.py', o.threads, [file]);
  if (!records) return null;
  const seconds = (phase: string) => records.find((r) => r.kind === 'time' && r.phase === phase)?.seconds ?? NaN;
  return {
    evals: records.filter((r) => r.kind === 'eval').map(({ step, pass_at_1, cons_at_k, greedy, format: f, mean_length }) => ({ step: step!, pass_at_1, cons_at_k, greedy, format: f, mean_length })),
    sftSeconds: seconds('sft'), grpoSeconds: seconds('grpo'), trainAccuracy: records.filter((r) => r.kind === 'train').map((r) => r.accuracy!),
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (xs: number[]) => (xs.length === 0 ? '-' : `${(100 * mean(xs)).toFixed(1)} ± ${(100 * std(xs)).toFixed(1)}`);

function printTask(task: LearningTask, ours: SideRun[], theirs: SideRun[], o: LearningOptions): void {
  console.log(`\n## ${task.name}: ${task.description}\n`);
  console.log(`${o.seeds.length} seeds (${o.seeds.join(', ')}); ${o.coldStartExamples} cold-start examples, ${o.sftSteps} SFT steps, ${o.grpoSteps} GRPO steps of 16 prompts x 8; held-out ${task.heldOut.length} problems; % as mean ± std over seeds\n`);
  console.log('| GRPO step | pass@1 ours | pass@1 PyTorch | cons@8 ours | cons@8 PyTorch | greedy ours | greedy PyTorch |');
  console.log('|---|---|---|---|---|---|---|');
  const at = (runs: SideRun[], step: number, key: keyof EvalPoint) => runs.flatMap((r) => r.evals.filter((e) => e.step === step).map((e) => e[key]));
  const steps = [...new Set(ours.flatMap((r) => r.evals.map((e) => e.step)))];
  for (const s of steps) {
    console.log(`| ${s} | ${(['pass_at_1', 'cons_at_k', 'greedy'] as const).map((k) => `${pct(at(ours, s, k))} | ${pct(at(theirs, s, k))}`).join(' | ')} |`);
  }
  const last = steps[steps.length - 1];
  const gain = (runs: SideRun[], key: keyof EvalPoint) => runs.map((r) => r.evals.find((e) => e.step === last)![key] - r.evals[0][key]);
  console.log(`| gain 0 -> ${last} | ${(['pass_at_1', 'cons_at_k', 'greedy'] as const).map((k) => `${pct(gain(ours, k))} | ${pct(gain(theirs, k))}`).join(' | ')} |`);
  const secs = (runs: SideRun[], key: 'sftSeconds' | 'grpoSeconds') => (runs.length ? `${mean(runs.map((r) => r[key])).toFixed(0)} s` : '-');
  console.log(`\nWall time per seed (evaluations excluded), ours / PyTorch: SFT ${secs(ours, 'sftSeconds')} / ${secs(theirs, 'sftSeconds')}, GRPO ${secs(ours, 'grpoSeconds')} / ${secs(theirs, 'grpoSeconds')}`);
  const trainAcc = (runs: SideRun[]) => runs.length ? `${pct(runs.map((r) => mean(r.trainAccuracy.slice(0, 10))))} -> ${pct(runs.map((r) => mean(r.trainAccuracy.slice(-10))))}` : '-';
  console.log(`Training accuracy at T = 1 (first 10 / last 10 steps): ours ${trainAcc(ours)}, PyTorch ${trainAcc(theirs)}`);
}

export async function benchLearning(options: Partial<LearningOptions> = {}, jsonFile?: string): Promise<void> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o: LearningOptions = { ...LEARNING_DEFAULTS, ...given };
  const unknown = o.tasks.filter((t) => !(t in LEARNING_TASKS));
  if (unknown.length) throw new RangeError(`bench learning: unknown task(s) ${unknown.join(', ')}; tasks: ${Object.keys(LEARNING_TASKS).join(', ')}`);
  tg.setNumThreads(o.threads);
  const folder = mkdtempSync(join(tmpdir(), 'thinkgrad-learning-'));
  const results: Record<string, { ours: SideRun[]; pytorch: SideRun[] }> = {};
  try {
    for (const name of o.tasks) {
      const task = LEARNING_TASKS[name];
      const ours: SideRun[] = [];
      const theirs: SideRun[] = [];
      for (const seed of o.seeds) {
        ours.push(await runOurs(task, seed, o));
        const ref = runReference(task, seed, o, folder);
        if (ref) theirs.push(ref);
        const curve = (run: SideRun | null) => run ? run.evals.map((e) => `${(100 * e.pass_at_1).toFixed(0)}/${(100 * e.greedy).toFixed(0)}`).join(' ') : '-';
        process.stderr.write(`bench learning: ${name} seed ${seed}, pass@1/greedy % at each evaluation: ours ${curve(ours.at(-1)!)}, PyTorch ${curve(ref)}\n`);
      }
      results[name] = { ours, pytorch: theirs };
      printTask(task, ours, theirs, o);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  console.log(`\n${environmentLine(`${o.threads} threads`)}`);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ options: o, results }, null, 1));
}

/** The suite's options from command-line flags (`--tasks a,b --seeds 1,2,3 --sft-steps N --grpo-steps N --eval-every N --threads N --json F`). */
export function learningArgs(argv: string[]): { options: Partial<LearningOptions>; json?: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string' }, seeds: { type: 'string' }, 'cold-start-examples': { type: 'string' }, 'sft-steps': { type: 'string' },
      'grpo-steps': { type: 'string' }, 'eval-every': { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`bench learning: --${name} must be a positive integer, got ${v}`);
    return n;
  };
  return {
    options: {
      tasks: values.tasks?.split(','), seeds: values.seeds?.split(',').map((s) => int('seeds', s)!), coldStartExamples: int('cold-start-examples', values['cold-start-examples']),
      sftSteps: int('sft-steps', values['sft-steps']), grpoSteps: int('grpo-steps', values['grpo-steps']), evalEvery: int('eval-every', values['eval-every']),
      threads: int('threads', values.threads),
    },
    json: values.json,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { options, json } = learningArgs(process.argv.slice(2));
  await benchLearning(options, json);
}
