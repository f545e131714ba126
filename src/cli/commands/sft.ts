// `thinkgrad sft --config run.json`: supervised fine-tuning (the R1 cold start) of a model on prompt/completion
// pairs. Writes the trained model (Hugging Face folder), checkpoints, sft_logs.jsonl and report.html.
import * as path from 'node:path';
import type { Device } from '../../backend/backend.js';
import { SFTTrainer, type SFTConfig, type SFTExample } from '../../train/sft.js';
import type { LogRecord } from '../../train/logger.js';
import { ProgressBar } from '../progress.js';
import { writeReport } from '../report.js';
import { buildModel, chartsOf, checkOutput, checkTopLevel, ConfigError, createOutput, expectObject, firstLast, fmt, interruption, type Interruption, loadData, MODEL_FIELDS,
  named, printTable, resumeCheckpoint, saveTrainedModel, type Json, type LoadedModel, type RunOptions } from './common.js';

export const SFT_HELP = `thinkgrad sft --config run.json: supervised fine-tuning on prompt/completion pairs

Config fields (JSON):
  model        a Hugging Face model folder to start from (config.json, *.safetensors, tokenizer.json), or
  modelConfig  LlamaConfig options for a fresh model (hiddenSize, intermediateSize, numHiddenLayers,
               numAttentionHeads, ...; vocabSize and special ids default to the tokenizer's), with
  tokenizer    {"type": "addition"}, {"type": "char", "chars": "..."} or a folder with tokenizer.json
  modelSeed    initialization seed of a fresh model (default 0)
  data         required: a JSONL file ({"path": F, "limit": N}) with columns prompt and completion (text, or
               both {role, content} message lists) or messages (a conversation, loss on every token),
               or the embedded task {"task": "addition", "count": 2000, "seed": 1, "noise": 0.5}
  evalData     optional, same form: evaluation loss every trainer.evalEvery steps and at the end
  trainer      SFTConfig options: maxSteps, batchSize, gradientAccumulationSteps, learningRate, warmupSteps,
               warmupRatio (warmup share of the steps when warmupSteps is 0), lrSchedule, minLrRatio,
               weightDecay, adamBeta1, adamBeta2, adamEpsilon, maxGradNorm, completionOnlyLoss, appendEos,
               maxLength, seed, logEvery, evalEvery, saveEvery, saveTotalLimit (checkpoints kept, oldest
               deleted first; default all), bf16 (mixed precision: bf16 matmul operands, float32
               accumulation and weights, on CPUs with AVX512-BF16), device ("auto": a GPU when usable,
               else "cpu"; or "cuda"), peftConfig (LoRA, PEFT's LoraConfig in camelCase:
               {"r": 16, "loraAlpha": 32, "targetModules": ["q_proj", "v_proj"]}; only the adapters train),
               gradientCheckpointing (recompute each layer in backward: less memory)
  output       required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/model (the trained model + tokenizer), output/checkpoint-N (resumable), output/sft_logs.jsonl,
output/report.html, output/run_config.json; with trainer.peftConfig also output/adapter (PEFT's adapter
folder; output/model is then the model with the adapters merged in, and checkpoints hold the adapter).

Options: --resume [CHECKPOINT] continues the run in output (its newest complete checkpoint, or the one given),
appending to its logs; --<field> VALUE overrides a config field (--trainer.learningRate 1e-4,
--trainer.bf16 true, --output runs/b). Ctrl-C (SIGINT) or SIGTERM stops after the current step with a checkpoint.

Example run.json:
  {"modelConfig": {"hiddenSize": 64, "intermediateSize": 176, "numHiddenLayers": 2, "numAttentionHeads": 2},
   "tokenizer": {"type": "addition"}, "data": {"task": "addition", "count": 2000, "noise": 0.5},
   "trainer": {"maxSteps": 300, "batchSize": 32, "learningRate": 3e-3, "lrSchedule": "cosine"},
   "output": "runs/sft"}
  thinkgrad sft --config run.json`;

export const FIELDS = [...MODEL_FIELDS, 'data', 'evalData', 'trainer', 'output', 'overwrite'];

export interface SftResult {
  output: string;
  /** The run's log records (a resumed run's earlier ones too). */
  logs: LogRecord[];
  evalLoss: number | null;
  /** Where the run stopped when its signal aborted it (no final model or evaluation then); null when it finished. */
  interrupted: Interruption | null;
  /** Where the model trained (the trainer's `device` resolved). */
  device: Device;
}

/** Checks a trainer block and returns it with outputDir set (a trainer.outputDir is refused: use 'output'). */
export function trainerOptions<C>(src: string, c: Json, out: string): Partial<C> {
  const t = c.trainer === undefined ? {} : expectObject(src, 'trainer', c.trainer);
  if (t.outputDir !== undefined) throw new ConfigError(`${src}: field 'trainer.outputDir' is set by the top-level 'output'; remove it`);
  return { ...t, outputDir: out } as unknown as Partial<C>;
}

/** Builds the trainer (validating its config) and runs it, from `resumeFrom` when given; shared by sft and distill. */
export async function runSftTraining(src: string, label: string, loaded: LoadedModel, data: SFTExample[],
  evalData: SFTExample[], trainerConfig: Partial<SFTConfig>, out: string, config: Json, command: string,
  resumeFrom: string | null = null, signal?: AbortSignal): Promise<SftResult> {
  // The trainer checks its config and data before it creates anything (its log file comes last).
  const trainer = named(`${src}: field 'trainer'`, () => new SFTTrainer(loaded.model, loaded.tokenizer, data, trainerConfig, {}, evalData));
  createOutput(out, command, config, resumeFrom !== null);
  const c = trainer.config;
  const bar = new ProgressBar(label, c.maxSteps);
  await trainer.train({ resumeFromCheckpoint: resumeFrom ?? false, signal, onProgress: (step, _total, log) => bar.update(step, log ? `loss ${(log.loss as number).toFixed(3)}` : '') });
  const interrupted = interruption(trainer, c.maxSteps);
  if (interrupted) return { output: out, logs: [...trainer.logger.records], evalLoss: null, interrupted, device: trainer.device };
  const evalLoss = evalData.length > 0 ? trainer.evaluate() : null;
  const last = path.join(out, `checkpoint-${c.maxSteps}`);
  if (trainer.lastCheckpoint === null || path.resolve(trainer.lastCheckpoint) !== path.resolve(last)) trainer.save(last);
  saveTrainedModel(out, loaded, trainer.peftModel);
  return { output: out, logs: [...trainer.logger.records], evalLoss, interrupted: null, device: trainer.device };
}

export function sftReport(out: string, title: string, res: SftResult, rows: (string | number)[][], notes: string[], config: Json): void {
  const charts = chartsOf(res.logs, 'step', [
    { title: 'Loss', keys: ['loss', 'eval_loss'] }, { title: 'Learning rate', keys: ['learning_rate'], smoothing: 0 }, { title: 'Gradient norm', keys: ['grad_norm'] },
  ]);
  writeReport(path.join(out, 'report.html'), title, [{ title: 'Summary', header: ['', 'value'], rows }], charts, notes, { config });
}

/** Runs `thinkgrad sft` on a parsed config object. */
export async function sftCommand(config: unknown, opts: RunOptions = {}): Promise<SftResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['data', 'output']);
  const out = checkOutput(src, c, opts.resume);
  const resumeFrom = resumeCheckpoint(src, out, opts.resume);
  const trainerConfig = trainerOptions<SFTConfig>(src, c, out);
  const data = loadData(src, 'data', c.data, 'sft');
  const evalData = c.evalData === undefined ? null : loadData(src, 'evalData', c.evalData, 'sft');
  const loaded = buildModel(src, c);
  try {
    const started = performance.now();
    const res = await runSftTraining(src, 'SFT', loaded, data.rows as never, (evalData?.rows ?? []) as never, trainerConfig, out, c, 'sft', resumeFrom, opts.signal);
    const seconds = (performance.now() - started) / 1000;
    const [loss0, loss1] = firstLast(res.logs, 'loss');
    const rows: (string | number)[][] = [['model', loaded.description], ['data', data.description], ['steps', fmt(res.logs.at(-1)?.step)],
      ['loss (first log -> last)', `${loss0} -> ${loss1}`], ['eval loss', fmt(res.evalLoss)], ['device', res.device], ['wall time', `${seconds.toFixed(1)} s`],
      ...(resumeFrom ? [['resumed from', resumeFrom]] : []), ...(res.interrupted ? [['stopped early at step', res.interrupted.step]] : [['model folder', path.join(out, 'model')]]),
      ['logs', path.join(out, 'sft_logs.jsonl')], ['report', path.join(out, 'report.html')]];
    sftReport(out, 'thinkgrad sft', res, rows, [`Config: ${src}`], c);
    if (!opts.quiet) printTable(['sft', ''], rows);
    return res;
  } finally {
    loaded.model.dispose();
  }
}
