// `thinkgrad rm --config run.json`: trains a reward model (LlamaForSequenceClassification) on pairwise
// preferences with the Bradley-Terry loss. Writes the reward model (Hugging Face folder), checkpoints,
// rm_logs.jsonl, eval.jsonl-style metrics inside the logs, and report.html with loss, accuracy and margin.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../../io/tokenizers/index.js';
import type { Tokenizer } from '../../io/tokenizers/types.js';
import { LlamaForSequenceClassification, loadSequenceClassifier, saveSequenceClassifier } from '../../nn/sequence-classification.js';
import { RewardTrainer, type PreferencePair, type RewardConfig } from '../../train/reward-trainer.js';
import type { LogRecord } from '../../train/logger.js';
import { ProgressBar } from '../progress.js';
import { writeReport } from '../report.js';
import { buildModel, buildTokenizer, chartsOf, checkOutput, checkTopLevel, ConfigError, createOutput, expectString, firstLast, fmt, interruption, type Interruption,
  loadData, MODEL_FIELDS, named, pct, printTable, resumeCheckpoint, type Json, type RunOptions } from './common.js';
import { trainerOptions } from './sft.js';

export const RM_HELP = `thinkgrad rm --config run.json: train a reward model on pairwise preferences (Bradley-Terry)

Config fields (JSON):
  model        a Hugging Face folder: a reward model (LlamaForSequenceClassification, score.weight) to continue,
               or a causal LM (e.g. an SFT output/model) whose decoder starts the reward model with a freshly
               initialized head (the log says so); its tokenizer.json unless 'tokenizer' is given; or
  modelConfig  LlamaConfig options for a fresh model, with 'tokenizer' (+ 'modelSeed'), as in thinkgrad sft
  data         required: a JSONL file with columns prompt, chosen, rejected (text, or TRL's conversational
               {role, content} message lists) and an optional number column margin (loss -log sigmoid(r_chosen - r_rejected - margin)), or {"path": F, "limit": N}
  evalData     optional, same form: loss, pairwise accuracy and mean margin every trainer.evalEvery steps,
               before training and at the end
  trainer      RewardConfig options: maxSteps, batchSize (pairs per step), learningRate, warmupSteps,
               warmupRatio (warmup share of the steps when warmupSteps is 0), lrSchedule, minLrRatio,
               weightDecay, adamBeta1, adamBeta2, adamEpsilon, maxGradNorm, maxLength, appendEos,
               centerRewardsCoefficient, seed, logEvery, evalEvery, evalBatchSize, saveEvery, saveTotalLimit
               (checkpoints kept, oldest deleted first; default all), device ("auto": a GPU when usable,
               else "cpu"; or "cuda"), peftConfig (LoRA, PEFT's LoraConfig in camelCase: {"r": 16}; taskType
               SEQ_CLS, so the score head trains whole), gradientCheckpointing (recompute each layer in backward:
               less memory)
  headSeed     seed of the fresh score head when starting from a causal LM (default 0)
  output       required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/model (the reward model + tokenizer), output/checkpoint-N, output/rm_logs.jsonl, output/report.html,
output/run_config.json; with trainer.peftConfig also output/adapter (PEFT's adapter folder; output/model then
has the adapters merged in). Use the model in GRPO with rewards.rewardModel(loadSequenceClassifier(dir), tokenizer).

Options: --resume [CHECKPOINT] continues the run in output (its newest complete checkpoint, or the one given),
appending to its logs; --<field> VALUE overrides a config field (--trainer.learningRate 1e-4); Ctrl-C (SIGINT)
or SIGTERM stops after the current step with a checkpoint.

Example run.json:
  {"model": "runs/sft/model", "data": "prefs.jsonl", "evalData": "prefs-heldout.jsonl",
   "trainer": {"maxSteps": 200, "batchSize": 32, "learningRate": 1e-3, "evalEvery": 50},
   "output": "runs/rm"}
  thinkgrad rm --config run.json`;

export const FIELDS = [...MODEL_FIELDS, 'headSeed', 'data', 'evalData', 'trainer', 'output', 'overwrite'];
const PAIR_COLUMNS = { chosen: 'chat', rejected: 'chat', margin: { type: 'number', optional: true } } as const;

export interface RmResult {
  output: string;
  logs: LogRecord[];
  /** Held-out metrics before training and after (null without evalData). */
  evalBefore: { eval_loss: number; eval_accuracy: number; eval_margin: number } | null;
  evalAfter: { eval_loss: number; eval_accuracy: number; eval_margin: number } | null;
  /** Where the run stopped when its signal aborted it (no final model or evaluation then); null when it finished. */
  interrupted: Interruption | null;
}

function buildRewardModel(src: string, c: Json): { model: LlamaForSequenceClassification; tokenizer: Tokenizer; description: string; notice: string | null } {
  const headSeed = c.headSeed;
  if (headSeed !== undefined && (typeof headSeed !== 'number' || !Number.isInteger(headSeed) || headSeed < 0)) {
    throw new ConfigError(`${src}: field 'headSeed' must be a non-negative integer, got ${JSON.stringify(headSeed)}`);
  }
  if (c.model !== undefined && c.modelConfig === undefined) {
    const folder = expectString(src, 'model', c.model);
    if (c.modelSeed !== undefined) throw new ConfigError(`${src}: field 'modelSeed' only applies to a fresh model ('modelConfig')`);
    if (!fs.existsSync(path.join(folder, 'config.json'))) throw new ConfigError(`${src}: field 'model': ${folder} is not a model folder (no config.json)`);
    let tokenizer: Tokenizer;
    if (c.tokenizer !== undefined) tokenizer = buildTokenizer(src, 'tokenizer', c.tokenizer);
    else if (fs.existsSync(path.join(folder, 'tokenizer.json'))) tokenizer = named(`${src}: field 'model'`, () => loadTokenizer(folder));
    else throw new ConfigError(`${src}: ${folder} has no tokenizer.json; give field 'tokenizer'`);
    let notice: string | null = null;
    const model = named(`${src}: field 'model'`, () => loadSequenceClassifier(folder, { seed: (headSeed as number | undefined) ?? 0, log: (m) => { notice = m; } }));
    if (tokenizer.vocabSize > model.config.vocabSize) {
      model.dispose();
      throw new ConfigError(`${src}: the tokenizer has ${tokenizer.vocabSize} tokens but the model in ${folder} only ${model.config.vocabSize}`);
    }
    return { model, tokenizer, notice, description: `${folder}${notice ? ' (causal LM, fresh score head)' : ''} (${model.numParameters().toLocaleString()} parameters)` };
  }
  // A fresh model: buildModel validates modelConfig + tokenizer; its decoder (random) takes a head seeded by modelSeed.
  const loaded = buildModel(src, c);
  try {
    const model = LlamaForSequenceClassification.fromCausalLM(loaded.model, { seed: (headSeed as number | undefined) ?? (c.modelSeed as number | undefined) ?? 0, log: () => {} });
    return { model, tokenizer: loaded.tokenizer, notice: null, description: loaded.description.replace('fresh Llama', 'fresh Llama reward model') };
  } finally {
    loaded.model.dispose();
  }
}

/** Runs `thinkgrad rm` on a parsed config object. */
export async function rmCommand(config: unknown, opts: RunOptions = {}): Promise<RmResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['data', 'output']);
  const out = checkOutput(src, c, opts.resume);
  const resumeFrom = resumeCheckpoint(src, out, opts.resume);
  const trainerConfig = trainerOptions<RewardConfig>(src, c, out);
  const data = loadData(src, 'data', c.data, 'prompts', PAIR_COLUMNS);
  const evalData = c.evalData === undefined ? null : loadData(src, 'evalData', c.evalData, 'prompts', PAIR_COLUMNS);
  const built = buildRewardModel(src, c);
  try {
    const trainer = named(`${src}: field 'trainer'`, () => new RewardTrainer(built.model, built.tokenizer, data.rows as unknown as PreferencePair[], trainerConfig, {},
      (evalData?.rows ?? []) as unknown as PreferencePair[]));
    createOutput(out, 'rm', c, resumeFrom !== null);
    if (built.notice && !opts.quiet) console.error(built.notice);
    const t = trainer.config;
    const started = performance.now();
    type EvalMetrics = NonNullable<RmResult['evalBefore']>;
    let evalBefore: EvalMetrics | null = null;
    if (resumeFrom) {
      trainer.resume(resumeFrom);
      // The evaluation before training was logged at step 0 by the run being resumed.
      const before = trainer.logger.records.find((r) => r.step === 0 && typeof r.eval_accuracy === 'number');
      evalBefore = before ? { eval_loss: before.eval_loss as number, eval_accuracy: before.eval_accuracy as number, eval_margin: before.eval_margin as number } : null;
    } else if (evalData) {
      evalBefore = trainer.evaluate();
      trainer.logger.write({ step: 0, ...evalBefore });
    }
    const bar = new ProgressBar('reward model', t.maxSteps);
    await trainer.train({ signal: opts.signal, onProgress: (step, _total, log) => bar.update(step, log ? `loss ${(log.loss as number).toFixed(3)}, acc ${pct(log.accuracy as number)}` : '') });
    const logs = trainer.logger.records.filter((r) => r.step !== 0);
    const interrupted = interruption(trainer, t.maxSteps);
    let evalAfter = null;
    if (evalData && !interrupted) {
      const last = trainer.logger.records.at(-1);
      evalAfter = typeof last?.eval_accuracy === 'number' && last.step === t.maxSteps
        ? { eval_loss: last.eval_loss as number, eval_accuracy: last.eval_accuracy as number, eval_margin: last.eval_margin as number } : trainer.evaluate();
      if (!(typeof last?.eval_accuracy === 'number' && last.step === t.maxSteps)) trainer.logger.write({ step: t.maxSteps, ...evalAfter });
    }
    if (!interrupted) {
      const last = path.join(out, `checkpoint-${t.maxSteps}`);
      if (trainer.lastCheckpoint === null || path.resolve(trainer.lastCheckpoint) !== path.resolve(last)) trainer.save(last);
      if (trainer.peftModel) {
        trainer.peftModel.savePretrained(path.join(out, 'adapter'));
        trainer.peftModel.mergeAndUnload();
      }
      saveSequenceClassifier(built.model, path.join(out, 'model'), { tokenizer: built.tokenizer });
    }
    const seconds = (performance.now() - started) / 1000;
    const all = trainer.logger.records;
    const charts = chartsOf(all, 'step', [
      { title: 'Bradley-Terry loss', keys: ['loss', 'eval_loss'] }, { title: 'Pairwise accuracy', keys: ['accuracy', 'eval_accuracy'] },
      { title: 'Mean margin r_chosen - r_rejected', keys: ['margin', 'eval_margin'] }, { title: 'Rewards', keys: ['rewards/chosen', 'rewards/rejected'] },
      { title: 'Learning rate', keys: ['learning_rate'], smoothing: 0 }, { title: 'Gradient norm', keys: ['grad_norm'] },
    ]);
    const [l0, l1] = firstLast(logs, 'loss');
    const rows: (string | number)[][] = [['model', built.description], ['data', data.description],
      ['steps', interrupted ? `${interrupted.step} of ${t.maxSteps} (stopped early)` : t.maxSteps], ...(resumeFrom ? [['resumed from', resumeFrom]] : []), ['train loss (first log -> last)', `${l0} -> ${l1}`],
      ...(evalBefore && evalAfter ? [[`held-out accuracy (${evalData!.description})`, `${pct(evalBefore.eval_accuracy)} -> ${pct(evalAfter.eval_accuracy)}`],
        ['held-out mean margin', `${fmt(evalBefore.eval_margin)} -> ${fmt(evalAfter.eval_margin)}`], ['held-out loss', `${fmt(evalBefore.eval_loss)} -> ${fmt(evalAfter.eval_loss)}`]] : []),
      ['device', trainer.device], ['wall time', `${seconds.toFixed(1)} s`], ...(interrupted ? [] : [['model folder', path.join(out, 'model')]]), ['logs', path.join(out, 'rm_logs.jsonl')],
      ['report', path.join(out, 'report.html')]];
    writeReport(path.join(out, 'report.html'), 'thinkgrad rm', [{ title: 'Summary', header: ['', 'value'], rows }], charts,
      [`Config: ${src}`, ...(built.notice ? [built.notice] : [])]);
    if (!opts.quiet) printTable(['rm', ''], rows);
    return { output: out, logs, evalBefore, evalAfter, interrupted };
  } finally {
    built.model.dispose();
  }
}
