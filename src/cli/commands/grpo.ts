// `thinkgrad grpo --config run.json`: GRPO with rule rewards (the R1 RL stage). Writes the trained policy
// (Hugging Face folder), checkpoints, grpo_logs.jsonl (TRL metric names), completions.jsonl, eval.jsonl when
// evaluating, and report.html (curves over steps, sample completions from the start and the end, the config).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getFloat32MatmulPrecision, withFloat32MatmulPrecision } from '../../ops/matmul.js';
import { GRPOTrainer, type GRPOConfig, type PromptRow } from '../../train/grpo.js';
import { type LogRecord, truncateLogAfter } from '../../train/logger.js';
import { readJsonl } from '../../io/jsonl.js';
import { evaluatePolicy, type EvalProblem } from '../../eval/evaluate.js';
import { checkConfig, type FieldSpec } from '../../train/config.js';
import type { LlamaForCausalLM } from '../../nn/llama.js';
import type { Tokenizer } from '../../io/tokenizers/types.js';
import { ProgressBar } from '../progress.js';
import { type Chart, StartEndCompletions, writeReport } from '../report.js';
import { answerRules, buildModel, buildRewards, type BuiltRewards, chartsOf, checkOutput, checkTopLevel, ConfigError, createOutput, expectObject, firstLast, interruption,
  type Interruption, loadData, MODEL_FIELDS, named, options, pct, printTable, resumeCheckpoint, saveTrainedModel, type AnswerFormat, type Json, type RunOptions } from './common.js';
import { trainerOptions } from './sft.js';

export const GRPO_HELP = `thinkgrad grpo --config run.json: GRPO with rule-based rewards

Config fields (JSON):
  model | modelConfig + tokenizer (+ modelSeed)   the starting policy, as in thinkgrad sft (usually an SFT output/model)
  data        required: a JSONL file with a column prompt (text, or TRL's list of {role, content} messages) plus the columns the rewards read
              (accuracy: answer; code: testCases; languageConsistency: language), or {"task": "addition", "count": N, "seed": S}
  rewards     required: [{"name": "accuracy"}, {"name": "format", "weight": 0.1, "options": {...}}]; names:
              accuracy, format, tagCount, languageConsistency, cosineScaledLength, softOverlongPunishment,
              repetitionPenalty, code, rewardModel (weights default 1). rewardModel scores with a reward model
              folder: {"name": "rewardModel", "options": {"model": "runs/rm/model", "input": "answer" | "completion",
              "normalize": "batch", "clip": 5, "name": "helpfulness"}}. "when": {"column": "task", "in": ["chat"]}
              applies a reward only to rows whose column holds one of the values (null, not scored, elsewhere)
  trainer     GRPOConfig options: maxSteps, numGenerations, generationBatchSize, microBatchSize, numIterations,
              learningRate, warmupSteps, warmupRatio (warmup share of the optimizer steps when warmupSteps is 0),
              lrSchedule, weightDecay, adamBeta1, adamBeta2, adamEpsilon, maxGradNorm, beta (> 0 keeps a frozen
              reference copy of the starting model), epsilon, epsilonHigh, lossType, scaleRewards,
              importanceSamplingLevel, maskTruncatedCompletions, temperature, topP, topK, minP, maxCompletionLength,
              syncRefModel, refModelMixupAlpha, refModelSyncSteps, seed, logEvery, saveEvery, saveTotalLimit
              (checkpoints kept, oldest deleted first; default all), bf16 (mixed precision on CPUs with
              AVX512-BF16: bf16 matmul operands, float32 accumulation and weights, bf16 KV cache), device
              ("auto": a GPU when usable, else "cpu"; or "cuda"), gradientCheckpointing (recompute each layer
              in backward: less memory)
              (weights go in rewards),
              logCompletions (default true here: completions.jsonl and the report's start/end tables),
              numCompletionsToPrint (completions recorded per logged step; default all), peftConfig (LoRA,
              PEFT's LoraConfig in camelCase: {"r": 16, "loraAlpha": 32, "targetModules": ["q_proj", "v_proj"]};
              only the adapters train, the reference for beta > 0 is the model with its adapters off)
  eval        optional held-out evaluation before, every 'every' steps and after training:
              {"data": ... (prompt + answer), "every": 50, "k": 8, "temperature": 0.6, "topP": 0.95,
               "maxNewTokens": (default trainer.maxCompletionLength), "answerFormat": "r1" | "addition", "seed": 0,
               "bf16": false}
  output      required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/model, output/checkpoint-N, output/grpo_logs.jsonl, output/completions.jsonl, output/eval.jsonl,
output/report.html; with trainer.peftConfig also output/adapter (PEFT's adapter folder; output/model is then
the model with the adapters merged in, and checkpoints hold the adapter).

Options: --resume [CHECKPOINT] continues the run in output (its newest complete checkpoint, or the one given),
appending to its logs; --<field> VALUE overrides a config field (--trainer.learningRate 1e-4, --eval.every 25);
Ctrl-C (SIGINT) or SIGTERM stops after the current step with a checkpoint.

Example run.json:
  {"model": "runs/sft/model", "data": {"task": "addition", "count": 8000},
   "rewards": [{"name": "accuracy"}, {"name": "format", "weight": 0.1}],
   "trainer": {"maxSteps": 200, "numGenerations": 8, "generationBatchSize": 128, "microBatchSize": 128,
               "learningRate": 3e-4, "maxCompletionLength": 40, "lossType": "dapo"},
   "eval": {"data": {"task": "addition", "split": "heldout"}, "every": 50},
   "output": "runs/grpo"}
  thinkgrad grpo --config run.json`;

export const FIELDS = [...MODEL_FIELDS, 'data', 'rewards', 'trainer', 'eval', 'output', 'overwrite'];

export interface EvalSpec { data: unknown; every: number | null; k: number; temperature: number; topP: number; maxNewTokens: number | null; answerFormat: string; seed: number; greedy: boolean; batchSize: number; bf16: boolean }
export const EVAL_FIELDS: Record<keyof EvalSpec, FieldSpec> = {
  data: { kind: 'string' }, every: { kind: 'int', min: 1, nullable: true }, k: { kind: 'int', min: 1 }, temperature: { kind: 'number', min: 1e-6 },
  topP: { kind: 'number', min: 0, max: 1 }, maxNewTokens: { kind: 'int', min: 1, nullable: true }, answerFormat: { kind: 'enum', values: ['', 'r1', 'addition'] },
  seed: { kind: 'int', min: 0 }, greedy: { kind: 'bool' }, batchSize: { kind: 'int', min: 1 }, bf16: { kind: 'bool' },
};
export const EVAL_DEFAULTS: EvalSpec = { data: undefined, every: null, k: 8, temperature: 0.6, topP: 0.95, maxNewTokens: null, answerFormat: '', seed: 0, greedy: true, batchSize: 512, bf16: false };

export interface GrpoResult {
  output: string;
  logs: LogRecord[];
  /** Held-out pass@1 at each evaluated step (empty without 'eval'). */
  evals: { step: number; passAt1: number; consAtK: number; greedyAccuracy: number | null; formatRate: number | null; meanLength: number }[];
  /** Where the run stopped when its signal aborted it (no final model or evaluation then); null when it finished. */
  interrupted: Interruption | null;
}

/** Evaluates on problems in chunks (a progress bar across them); metrics are means over problems. */
export function chunkedEvaluate(label: string | null, model: LlamaForCausalLM, tokenizer: Tokenizer, problems: EvalProblem[], e: EvalSpec, fmt: AnswerFormat, maxNewTokens: number) {
  const rules = answerRules(fmt);
  const chunk = Math.max(1, Math.floor(e.batchSize / e.k));
  const bar = label ? new ProgressBar(label, problems.length) : null;
  const acc = { passAt1: 0, consAtK: 0, greedyAccuracy: 0, formatRate: 0, meanLength: 0 };
  const samples: { prompt: EvalProblem['prompt']; answer: string; completions: string[]; correct: boolean[] }[] = [];
  for (let i = 0; i < problems.length; i += chunk) {
    const part = problems.slice(i, i + chunk);
    const r = withFloat32MatmulPrecision(e.bf16 ? 'medium' : getFloat32MatmulPrecision(), () => evaluatePolicy(model, tokenizer, part, {
      k: e.k, temperature: e.temperature, topP: e.topP, maxNewTokens, greedy: e.greedy, batchSize: e.batchSize, seed: e.seed + i * e.k,
      extractAnswer: rules.extract, isWellFormed: rules.wellFormed, kvCacheDtype: e.bf16 ? 'bfloat16' : 'float32',
    }));
    const w = part.length / problems.length;
    acc.passAt1 += r.passAt1 * w;
    acc.consAtK += r.consAtK * w;
    acc.greedyAccuracy += (r.greedyAccuracy ?? 0) * w;
    acc.formatRate += (r.formatRate ?? 0) * w;
    acc.meanLength += r.meanLength * w;
    r.samples.forEach((s, j) => samples.push({ ...s, answer: part[j].answer }));
    bar?.update(Math.min(problems.length, i + chunk), `pass@1 so far ${pct(acc.passAt1 / ((i + part.length) / problems.length))}`);
  }
  return { ...acc, greedyAccuracy: e.greedy ? acc.greedyAccuracy : null, samples };
}

/** Validates an evaluation block (the 'eval' field of grpo/distill, or the top level of eval when field is null). */
export function loadEvalSpec(src: string, field: string | null, value: unknown, fallbackMaxNew: number | null) {
  const f = (k: string) => (field ? `${field}.${k}` : k);
  const raw = expectObject(src, field ?? 'config', value);
  const e = field ? options<EvalSpec>(src, field, { ...raw, data: undefined }, EVAL_FIELDS, EVAL_DEFAULTS)
    : named(src, () => checkConfig('eval', EVAL_FIELDS, EVAL_DEFAULTS, { ...raw, data: undefined } as Partial<EvalSpec>));
  if (raw.data === undefined) throw new ConfigError(`${src}: missing required field '${f('data')}'`);
  const data = loadData(src, f('data'), raw.data, 'eval');
  const maxNewTokens = e.maxNewTokens ?? fallbackMaxNew;
  if (maxNewTokens === null) throw new ConfigError(`${src}: missing required field '${f('maxNewTokens')}'`);
  const problems = data.rows.map((r) => ({ prompt: r.prompt as EvalProblem['prompt'], answer: String(r.answer) }));
  return { e, problems, maxNewTokens, format: (e.answerFormat || data.answerFormat) as AnswerFormat, description: data.description };
}

/** Why KL and the clip ratios are 0 at every step under this config (for the report's sentences instead of flat charts). */
export function zeroReasons(t: GRPOConfig): Record<string, string> {
  const reasons: Record<string, string> = {};
  if (t.beta === 0) reasons.kl = 'beta = 0 keeps no reference model, so no KL is computed';
  if (t.numIterations === 1) {
    const why = 'with numIterations = 1 each round takes one optimizer step on the policy that sampled it, so every ratio is exactly 1 and nothing is clipped';
    for (const k of ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean']) reasons[k] = why;
  }
  return reasons;
}

/** Runs `thinkgrad grpo` on a parsed config object. */
export async function grpoCommand(config: unknown, opts: RunOptions = {}): Promise<GrpoResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['data', 'rewards', 'output']);
  const out = checkOutput(src, c, opts.resume);
  const trainerConfig = trainerOptions<GRPOConfig>(src, c, out);
  if (trainerConfig.rewardWeights !== undefined) throw new ConfigError(`${src}: field 'trainer.rewardWeights': give each reward's "weight" in 'rewards' instead`);
  const rewards = buildRewards(src, 'rewards', c.rewards);
  try {
    return await trainGrpo(src, c, out, trainerConfig, rewards, opts);
  } finally {
    rewards.dispose();
  }
}

async function trainGrpo(src: string, c: Json, out: string, trainerConfig: Partial<GRPOConfig>, rewards: BuiltRewards, opts: RunOptions): Promise<GrpoResult> {
  const resumeFrom = resumeCheckpoint(src, out, opts.resume);
  const data = loadData(src, 'data', c.data, 'prompts', rewards.columns);
  const maxCompletion = typeof trainerConfig.maxCompletionLength === 'number' ? trainerConfig.maxCompletionLength : 256;
  const ev = c.eval === undefined ? null : loadEvalSpec(src, 'eval', c.eval, maxCompletion);
  const beta = trainerConfig.beta;
  const loaded = buildModel(src, c);
  let ref: LlamaForCausalLM | null = null;
  const logged = new StartEndCompletions();
  try {
    // With LoRA the reference is the policy with its adapters disabled: no second copy.
    if (typeof beta === 'number' && beta > 0 && (trainerConfig.peftConfig ?? null) === null) ref = loaded.reload();
    const trainer = named(`${src}: field 'trainer'`, () => new GRPOTrainer(loaded.model, loaded.tokenizer, data.rows as PromptRow[], rewards.funcs,
      { logCompletions: true, ...trainerConfig, rewardWeights: rewards.weights }, { onCompletions: logged.add }, ref));
    createOutput(out, 'grpo', c, resumeFrom !== null);
    const t = trainer.config;
    const started = performance.now();
    const evals: GrpoResult['evals'] = [];
    const evalFile = path.join(out, 'eval.jsonl');
    if (resumeFrom) {
      trainer.resume(resumeFrom);
      // Evaluations after the checkpoint's step are run again by the resumed run.
      evals.push(...(truncateLogAfter(evalFile, trainer.globalStep) as unknown as GrpoResult['evals']));
      // The report's start table comes from the interrupted run's first logged completions.
      const completionsFile = path.join(out, 'completions.jsonl');
      if (fs.existsSync(completionsFile)) {
        const before = readJsonl(completionsFile) as LogRecord[];
        if (before.length > 0) logged.add(before.filter((r) => r.step === before[0].step));
      }
    }
    const runEval = (step: number) => {
      if (!ev) return;
      const { samples: _s, ...r } = chunkedEvaluate(null, loaded.model, loaded.tokenizer, ev.problems, ev.e, ev.format, ev.maxNewTokens);
      evals.push({ step, ...r });
      fs.appendFileSync(evalFile, JSON.stringify({ step, ...r }) + '\n');
    };
    if (!resumeFrom) runEval(0);
    const bar = new ProgressBar('GRPO', t.maxSteps);
    await trainer.train({ signal: opts.signal, onProgress: (step, total, log) => {
      if (ev?.e.every && step % ev.e.every === 0 && step < total) runEval(step);
      bar.update(step, `reward ${(log.reward as number).toFixed(3)}${evals.length ? `, pass@1 ${pct(evals[evals.length - 1].passAt1)}` : ''}`);
    } });
    const logs = trainer.logger.records.filter((l) => typeof l.reward === 'number');
    const interrupted = interruption(trainer, t.maxSteps);
    if (!interrupted) {
      runEval(t.maxSteps);
      const last = path.join(out, `checkpoint-${t.maxSteps}`);
      if (trainer.lastCheckpoint === null || path.resolve(trainer.lastCheckpoint) !== path.resolve(last)) trainer.save(last);
      saveTrainedModel(out, loaded, trainer.peftModel);
    }
    const seconds = (performance.now() - started) / 1000;

    const charts: Chart[] = chartsOf(logs, 'GRPO step', [
      { title: 'Reward (weighted sum)', keys: ['reward', 'reward_std'] },
      { title: 'Per-reward means', keys: rewards.names.map((n) => `rewards/${n}/mean`) },
      { title: 'KL and entropy', keys: ['kl', 'entropy'] },
      { title: 'Clip ratio', keys: ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean'] },
      { title: 'Completion length (tokens)', keys: ['completions/mean_length', 'completions/min_length', 'completions/max_length'] },
      { title: 'Loss', keys: ['loss'] }, { title: 'Gradient norm', keys: ['grad_norm'] },
    ], zeroReasons(t));
    if (evals.length) {
      charts.splice(1, 0, { title: `Held-out accuracy (k = ${ev!.e.k}, T = ${ev!.e.temperature})`, xLabel: 'GRPO step', smoothing: 0, series: [
        { name: 'pass@1', points: evals.map((e) => [e.step, e.passAt1]) }, { name: `cons@${ev!.e.k}`, points: evals.map((e) => [e.step, e.consAtK]) }] });
    }
    const [r0, r1] = firstLast(logs, 'reward');
    const rows: (string | number)[][] = [['model', loaded.description], ['data', data.description],
      ['rewards', rewards.names.map((n, i) => `${n} x ${rewards.weights[i]}`).join(', ')], ['steps', interrupted ? `${interrupted.step} of ${t.maxSteps} (stopped early)` : t.maxSteps],
      ...(resumeFrom ? [['resumed from', resumeFrom]] : []), ['reward (first step -> last)', `${r0} -> ${r1}`],
      ...rewards.names.map((n) => { const [a, b] = firstLast(logs, `rewards/${n}/mean`); return [`${n} mean (first -> last)`, `${a} -> ${b}`]; }),
      ...(evals.length ? [[`held-out pass@1 (${ev!.description})`, `${pct(evals[0].passAt1)} -> ${pct(evals[evals.length - 1].passAt1)}`],
        [`held-out cons@${ev!.e.k}`, `${pct(evals[0].consAtK)} -> ${pct(evals[evals.length - 1].consAtK)}`]] : []),
      ['device', trainer.device], ['wall time', `${seconds.toFixed(1)} s`], ...(interrupted ? [] : [['model folder', path.join(out, 'model')]]), ['logs', path.join(out, 'grpo_logs.jsonl')],
      ['report', path.join(out, 'report.html')]];
    writeReport(path.join(out, 'report.html'), 'thinkgrad grpo', [{ title: 'Summary', header: ['', 'value'], rows }], charts, [`Config: ${src}`], {
      completions: { records: logged.records, perTable: t.numGenerations, whyNone: t.logCompletions ? undefined : 'trainer.logCompletions is false, so no completions were logged.' },
      config: { ...c, trainer: t },
    });
    if (!opts.quiet) printTable(['grpo', ''], rows);
    return { output: out, logs, evals, interrupted };
  } finally {
    ref?.dispose();
    loaded.model.dispose();
  }
}
