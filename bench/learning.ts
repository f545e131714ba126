// `npm run bench learning`: learning-curve parity with a plain PyTorch loop. For each task and seed, the R1
// recipe in miniature runs twice on the same data: thinkgrad's SFTTrainer + GRPOTrainer, and the same loops
// written in plain PyTorch (bench/torch/learning.py: same model shape, initialization scheme, schedules and
// hyperparameters). Both evaluate on the held-out set before GRPO and every evalEvery steps (pass@1 over
// k = 8 at T = 0.6, top-p 0.95; cons@8; greedy) and the table shows mean +- sample std over seeds.
// Run alone (or as `npm run bench learning -- [flags]`): npx tsx bench/learning.ts [--tasks addition,digit-sum,multiplication] [--seeds 1,2,3]
//   [--sft-steps N] [--grpo-steps N] [--eval-every N] [--grpo-lr X] [--grpo-schedule S] [--adam-beta2 X] [--threads N]
//   [--json results.json]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import type { LogRecord } from '../src/train/logger.js';
import { environmentLine, runTorchLines } from './lib.js';
import { LEARNING_TASKS, type LearningTask } from './learning-tasks.js';

export interface LearningOptions {
  tasks: string[];
  seeds: number[];
  coldStartExamples: number;
  sftSteps: number;
  grpoSteps: number;
  evalEvery: number;
  /** GRPO's peak learning rate, schedule and AdamW beta2 (both trainers' beta2). */
  grpoLearningRate: number;
  grpoSchedule: GRPOConfig['lrSchedule'];
  adamBeta2: number;
  threads: number;
}

export const LEARNING_DEFAULTS: LearningOptions = {
  tasks: Object.keys(LEARNING_TASKS), seeds: [1, 2, 3], coldStartExamples: 2000, sftSteps: 1000, grpoSteps: 120, evalEvery: 40, grpoLearningRate: 3e-4,
  grpoSchedule: 'constant_with_warmup', adamBeta2: 0.999, threads: 2,
};

/** The demo's recipe (src/cli/demo.ts) with the options' changes, shared by both sides. */
function recipe(o: LearningOptions): { sft: Partial<SFTConfig>; grpo: Partial<GRPOConfig> } {
  const adam = { adamBeta1: 0.9, adamBeta2: o.adamBeta2, adamEpsilon: 1e-8 };
  return {
    sft: { ...adam, batchSize: 32, learningRate: 3e-3, warmupSteps: 50, lrSchedule: 'cosine', maxGradNorm: 1, weightDecay: 0 },
    grpo: {
      ...adam, numGenerations: 8, generationBatchSize: 128, microBatchSize: 128, learningRate: o.grpoLearningRate, warmupSteps: 40,
      lrSchedule: o.grpoSchedule, rewardWeights: [1, 0.1], temperature: 1, beta: 0, epsilon: 0.2, lossType: 'dapo', maxGradNorm: 1, weightDecay: 0,
    },
  };
}
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
  const { sft: SFT, grpo: GRPO } = recipe(o);
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

// What both of bench/torch/learning.py's modes read: the model, the vocabulary and the trainers' settings.
function specBase(task: LearningTask) {
  const tok = task.tokenizer;
  const cfg = modelConfig(task);
  return {
    model: {
      vocab_size: cfg.vocabSize, hidden_size: cfg.hiddenSize, intermediate_size: cfg.intermediateSize, num_layers: cfg.numHiddenLayers,
      num_heads: cfg.numAttentionHeads, rms_norm_eps: 1e-6, rope_theta: 10000, initializer_range: 0.02,
    },
    pieces: Array.from({ length: tok.vocabSize }, (_, i) => tok.decode([i])),
    eos: tok.eosTokenId, pad: tok.padTokenId,
    answer_pattern: task.answerPattern, format_pattern: task.formatPattern,
  };
}

const sftSpec = (task: LearningTask, examples: { prompt: string; completion: string }[], steps: number, c: Partial<SFTConfig>) => ({
  prompts: examples.map((e) => task.tokenizer.encode(e.prompt)),
  completions: examples.map((e) => [...task.tokenizer.encode(e.completion, { addSpecialTokens: false }), task.tokenizer.eosTokenId!]),
  steps, batch_size: c.batchSize, lr: c.learningRate, warmup_steps: c.warmupSteps, schedule: c.lrSchedule, max_grad_norm: c.maxGradNorm,
  weight_decay: c.weightDecay, ...torchAdam(c),
});

const grpoSpec = (task: LearningTask, c: Partial<GRPOConfig>) => ({
  num_generations: c.numGenerations, generation_batch_size: c.generationBatchSize, lr: c.learningRate, warmup_steps: c.warmupSteps,
  schedule: c.lrSchedule, weight_decay: c.weightDecay, max_grad_norm: c.maxGradNorm, temperature: c.temperature,
  max_completion_length: task.maxNewTokens, reward_weights: c.rewardWeights, epsilon: c.epsilon, loss_type: c.lossType, ...torchAdam(c),
});

function runReference(task: LearningTask, seed: number, o: LearningOptions, folder: string): SideRun | null {
  const { sft: SFT, grpo: GRPO } = recipe(o);
  const { coldStart, rows } = taskData(task, seed, o);
  const encode = (s: string) => task.tokenizer.encode(s);
  const spec = {
    ...specBase(task), seed,
    sft: sftSpec(task, coldStart, o.sftSteps, SFT),
    grpo: { ...grpoSpec(task, GRPO), prompts: rows.map((r) => encode(r.prompt)), answers: rows.map((r) => r.answer), steps: o.grpoSteps },
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

/** How far apart the two sides' updates are over a replayed stage. */
export interface StageParity {
  /** ||update_ours - update_torch|| / ||update_torch|| over all parameters (update = weights after - before). */
  updateRelDiff: number;
  /** Per step: both sides' loss and pre-clip gradient norm. */
  steps: { loss: [number, number]; gradNorm: [number, number] }[];
}

export interface ReplayParity {
  sft: StageParity;
  grpo: StageParity & { rewardMismatches: number; maxAdvantageDiff: number; completions: number };
}

const REPLAY_SFT_STEPS = 5;
const REPLAY_GRPO_ROUNDS = 5;
// SFT steps before the replayed GRPO rounds, so that the policy's samples differ in reward (not replayed).
const REPLAY_WARM_UP_SFT_STEPS = 300;

function weightsOf(model: LlamaForCausalLM): Float32Array {
  const parts = Object.values(model.stateDict()).map((t) => t.data() as Float32Array);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function updateRelDiff(before: Float32Array, ours: Float32Array, theirs: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < before.length; i++) {
    diff += (ours[i] - theirs[i]) ** 2;
    norm += (theirs[i] - before[i]) ** 2;
  }
  return Math.sqrt(diff / norm);
}

/**
 * The updates themselves, side by side: from thinkgrad's weights, PyTorch replays thinkgrad's SFT steps on one
 * fixed batch, then GRPO rounds on the very completions thinkgrad sampled (re-scoring them with its own reward
 * code), and the weights after each stage are compared. A difference in batch assembly, masks, positions,
 * rewards, advantages, loss, clipping, AdamW or the schedule shows here as a relative update difference far
 * above float32 rounding (~1e-5), without seed noise.
 */
export async function replayParity(task: LearningTask, seed: number, o: LearningOptions, folder: string): Promise<ReplayParity | null> {
  const { sft: SFT, grpo: GRPO } = recipe(o);
  const tok = task.tokenizer;
  const model = new LlamaForCausalLM(modelConfig(task), { seed });
  const file = (name: string) => join(folder, `${task.name}-${seed}-${name}.bin`);
  const save = (name: string, w: Float32Array) => writeFileSync(file(name), w);
  const initial = weightsOf(model);
  save('initial', initial);

  const replaySft: Partial<SFTConfig> = { ...SFT, batchSize: 32, warmupSteps: 2 };
  const examples = task.coldStart(32, seed).map(({ prompt, completion }) => ({ prompt, completion }));
  const sftLogs = new SFTTrainer(model, tok, examples, { ...replaySft, maxSteps: REPLAY_SFT_STEPS, seed, logEvery: 1 }).fit();
  const afterSft = weightsOf(model);

  new SFTTrainer(model, tok, task.coldStart(2000, seed).map(({ prompt, completion }) => ({ prompt, completion })),
    { ...SFT, maxSteps: REPLAY_WARM_UP_SFT_STEPS, seed, logEvery: REPLAY_WARM_UP_SFT_STEPS }).fit();
  const beforeGrpo = weightsOf(model);
  save('before-grpo', beforeGrpo);
  const rows = task.trainProblems(REPLAY_GRPO_ROUNDS * 16, seed + 1).map(({ prompt, answer }) => ({ prompt, answer }));
  const answerOf = new Map(rows.map((r) => [r.prompt, r.answer]));
  const replayGrpo: Partial<GRPOConfig> = { ...GRPO, warmupSteps: 2, maxCompletionLength: task.maxNewTokens };
  const rounds: { prompts: number[][]; completions: number[][]; answers: string[]; rewards: number[]; advantages: number[] }[] = [];
  const grpo = new GRPOTrainer(model, tok, rows, [accuracy(), format()], { ...replayGrpo, maxSteps: REPLAY_GRPO_ROUNDS, seed, logCompletions: true }, {
    onCompletions: (records) => rounds.push({
      prompts: records.map((r) => tok.encode(r.prompt as string)),
      // The records hold the text without its EOS; a completion shorter than the budget ended with one.
      completions: records.map((r) => {
        const ids = tok.encode(r.completion as string, { addSpecialTokens: false });
        return ids.length < task.maxNewTokens ? [...ids, tok.eosTokenId!] : ids;
      }),
      answers: records.map((r) => answerOf.get(r.prompt as string)!),
      rewards: records.map((r) => (r['rewards/accuracy'] as number) + 0.1 * (r['rewards/format'] as number)),
      advantages: records.map((r) => r.advantage as number),
    }),
  });
  const grpoLogs = await grpo.train();
  const afterGrpo = weightsOf(model);
  const tensors = Object.entries(model.stateDict()).map(([name, t]) => ({ name, shape: t.shape }));
  model.dispose();

  const spec = {
    ...specBase(task), mode: 'replay', tensors,
    sft: { ...sftSpec(task, examples, REPLAY_SFT_STEPS, replaySft), weights_in: file('initial'), weights_out: file('torch-sft') },
    grpo: { ...grpoSpec(task, replayGrpo), rounds, weights_in: file('before-grpo'), weights_out: file('torch-grpo') },
  };
  const specFile = join(folder, `${task.name}-${seed}-replay.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  type Step = { kind: 'sft' | 'grpo'; loss: number; grad_norm: number; rewards?: number[]; advantages?: number[] };
  const records = runTorchLines<Step>('learning.py', o.threads, [specFile]);
  if (!records) return null;
  const read = (name: string) => new Float32Array(readFileSync(file(name)).buffer.slice(0));
  const stage = (kind: 'sft' | 'grpo', logs: LogRecord[]) => records.filter((r) => r.kind === kind).map((r, i) => ({
    loss: [logs[i].loss as number, r.loss] as [number, number], gradNorm: [logs[i].grad_norm as number, r.grad_norm] as [number, number],
  }));
  const torchGrpo = records.filter((r) => r.kind === 'grpo');
  let rewardMismatches = 0;
  let maxAdvantageDiff = 0;
  rounds.forEach((round, k) => round.rewards.forEach((reward, i) => {
    if (Math.abs(reward - torchGrpo[k].rewards![i]) > 1e-6) rewardMismatches++;
    maxAdvantageDiff = Math.max(maxAdvantageDiff, Math.abs(round.advantages[i] - torchGrpo[k].advantages![i]));
  }));
  return {
    sft: { updateRelDiff: updateRelDiff(initial, afterSft, read('torch-sft')), steps: stage('sft', sftLogs) },
    grpo: {
      updateRelDiff: updateRelDiff(beforeGrpo, afterGrpo, read('torch-grpo')), steps: stage('grpo', grpoLogs),
      rewardMismatches, maxAdvantageDiff, completions: rounds.reduce((n, r) => n + r.completions.length, 0),
    },
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (xs: number[]) => (xs.length === 0 ? '-' : `${(100 * mean(xs)).toFixed(1)} ± ${(100 * std(xs)).toFixed(1)}`);

function printTask(task: LearningTask, ours: SideRun[], theirs: SideRun[], o: LearningOptions, replay: ReplayParity | null): void {
  console.log(`\n## ${task.name}: ${task.description}\n`);
  if (replay) {
    const g = replay.grpo;
    console.log(`Update parity (PyTorch replaying thinkgrad's batches from thinkgrad's weights, seed ${o.seeds[0]}): ${REPLAY_SFT_STEPS} SFT steps ` +
      `differ by ${replay.sft.updateRelDiff.toExponential(1)} (relative L2 of the weight updates), ${REPLAY_GRPO_ROUNDS} GRPO rounds of ${g.completions / REPLAY_GRPO_ROUNDS} ` +
      `completions by ${g.updateRelDiff.toExponential(1)}; rewards differ on ${g.rewardMismatches} of ${g.completions} completions, advantages by at most ` +
      `${g.maxAdvantageDiff.toExponential(1)}; grad norms per GRPO round ${g.steps.map((s) => `${s.gradNorm[0].toFixed(4)}/${s.gradNorm[1].toFixed(4)}`).join(', ')}\n`);
  }
  console.log(`${o.seeds.length} seeds (${o.seeds.join(', ')}); ${o.coldStartExamples} cold-start examples, ${o.sftSteps} SFT steps, ${o.grpoSteps} GRPO steps of 16 prompts x 8 (lr ${o.grpoLearningRate}, ${o.grpoSchedule}, AdamW beta2 ${o.adamBeta2}); held-out ${task.heldOut.length} problems; % as mean ± std over seeds\n`);
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
  const results: Record<string, { ours: SideRun[]; pytorch: SideRun[]; replay: ReplayParity | null }> = {};
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
      const replay = await replayParity(task, o.seeds[0], o, folder);
      results[name] = { ours, pytorch: theirs, replay };
      printTask(task, ours, theirs, o, replay);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  console.log(`\n${environmentLine(`${o.threads} threads`)}`);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ options: o, results }, null, 1));
}

/**
 * The suite's options from command-line flags (`--tasks a,b --seeds 1,2,3 --sft-steps N --grpo-steps N --eval-every N --grpo-lr X
 * --grpo-schedule S --adam-beta2 X --threads N --json F`).
 */
export function learningArgs(argv: string[]): { options: Partial<LearningOptions>; json?: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string' }, seeds: { type: 'string' }, 'cold-start-examples': { type: 'string' }, 'sft-steps': { type: 'string' },
      'grpo-steps': { type: 'string' }, 'eval-every': { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' },
      'grpo-lr': { type: 'string' }, 'grpo-schedule': { type: 'string' }, 'adam-beta2': { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`bench learning: --${name} must be a positive integer, got ${v}`);
    return n;
  };
  const fraction = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(x > 0 && x < 1)) throw new RangeError(`bench learning: --${name} must be a number in (0, 1), got ${v}`);
    return x;
  };
  return {
    options: {
      tasks: values.tasks?.split(','), seeds: values.seeds?.split(',').map((s) => int('seeds', s)!), coldStartExamples: int('cold-start-examples', values['cold-start-examples']),
      sftSteps: int('sft-steps', values['sft-steps']), grpoSteps: int('grpo-steps', values['grpo-steps']), evalEvery: int('eval-every', values['eval-every']),
      threads: int('threads', values.threads), grpoLearningRate: fraction('grpo-lr', values['grpo-lr']), adamBeta2: fraction('adam-beta2', values['adam-beta2']),
      grpoSchedule: values['grpo-schedule'] as GRPOConfig['lrSchedule'] | undefined,
    },
    json: values.json,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { options, json } = learningArgs(process.argv.slice(2));
  await benchLearning(options, json);
}
