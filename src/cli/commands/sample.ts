// `thinkgrad sample --config run.json`: rejection sampling (DeepSeek-R1 stage 3): k completions per prompt from
// a model, keeping the correct and well-formed ones, written as a prompt/completion JSONL dataset for SFT or
// distillation. Also writes per-batch acceptance metrics (sample_logs.jsonl) and report.html.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenizer } from '../../io/tokenizers/types.js';
import { getFloat32MatmulPrecision, withFloat32MatmulPrecision } from '../../ops/matmul.js';
import { writeJsonl } from '../../io/jsonl.js';
import type { LlamaForCausalLM } from '../../nn/llama.js';
import { rejectionSample, type SampledExample } from '../../train/rejection-sampling.js';
import { completionText, type Prompt } from '../../io/tokenizers/conversation.js';
import type { FieldSpec } from '../../train/config.js';
import { ProgressBar } from '../progress.js';
import { writeReport } from '../report.js';
import { answerRules, buildModel, checkOutput, checkTopLevel, ConfigError, createOutput, loadData, MODEL_FIELDS, options, pct, placeModel, printTable,
  type AnswerFormat, type Json, type RunOptions } from './common.js';

export const SAMPLE_HELP = `thinkgrad sample --config run.json: rejection sampling into an SFT dataset

Config fields (JSON):
  model | modelConfig + tokenizer (+ modelSeed)   the model to sample from (e.g. runs/grpo/model)
  data        required: a JSONL file with columns prompt (text, or {role, content} messages) and answer (string or number),
              or {"task": "addition", "count": N, "seed": S} (training problems; the held-out ones only
              with "split": "heldout")
  sampling    {"k": 4, "temperature": 0.6, "topP": 0.95, "maxNewTokens": (required), "shortestOnly": false,
               "requireFormat": true, "answerFormat": "r1" | "addition", "seed": 0, "batchSize": 512, "bf16": false}
              k samples per prompt; a sample is kept when it ends (not truncated), its answer equals the
              row's answer and (requireFormat) it is well formed; shortestOnly keeps the shortest per prompt;
              bf16: mixed precision (bf16 matmul operands and KV cache, on CPUs with AVX512-BF16)
  device      "auto" (a GPU when usable, else the CPU; the default), "cpu" or "cuda"
  output      required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/samples.jsonl ({"prompt", "completion"} per kept sample: the data of thinkgrad sft/distill),
output/sample_logs.jsonl, output/report.html.

Example run.json:
  {"model": "runs/grpo/model", "data": {"task": "addition", "count": 2000, "seed": 3},
   "sampling": {"k": 2, "maxNewTokens": 40}, "output": "runs/samples"}
  thinkgrad sample --config run.json`;

export interface SamplingSpec { k: number; temperature: number; topP: number; maxNewTokens: number | null; shortestOnly: boolean; requireFormat: boolean; answerFormat: string; seed: number; batchSize: number; bf16: boolean }
export const SAMPLING_FIELDS: Record<keyof SamplingSpec, FieldSpec> = {
  k: { kind: 'int', min: 1 }, temperature: { kind: 'number', min: 1e-6 }, topP: { kind: 'number', min: 0, max: 1 }, maxNewTokens: { kind: 'int', min: 1, nullable: true },
  shortestOnly: { kind: 'bool' }, requireFormat: { kind: 'bool' }, answerFormat: { kind: 'enum', values: ['', 'r1', 'addition'] }, seed: { kind: 'int', min: 0 }, batchSize: { kind: 'int', min: 1 },
  bf16: { kind: 'bool' },
};
const SAMPLING_DEFAULTS: SamplingSpec = { k: 4, temperature: 0.6, topP: 0.95, maxNewTokens: null, shortestOnly: false, requireFormat: true, answerFormat: '', seed: 0, batchSize: 512, bf16: false };

export const FIELDS = [...MODEL_FIELDS, 'data', 'sampling', 'device', 'output', 'overwrite'];

export interface SampleResult {
  output: string;
  /** Kept samples: text rows, or conversational ones ({ prompt: messages, completion: [{ role: 'assistant', content }] }). */
  examples: SampledExample[];
  sampled: number;
  accepted: number;
}

/** Checks a 'sampling' block (maxNewTokens required). */
export function samplingSpec(src: string, field: string, value: unknown): SamplingSpec & { maxNewTokens: number } {
  if (value === undefined) throw new ConfigError(`${src}: missing required field '${field}' (at least {"maxNewTokens": N})`);
  const s = options<SamplingSpec>(src, field, value, SAMPLING_FIELDS, SAMPLING_DEFAULTS);
  if (s.maxNewTokens === null) throw new ConfigError(`${src}: missing required field '${field}.maxNewTokens'`);
  return s as SamplingSpec & { maxNewTokens: number };
}

/** Rejection-samples `rows` in chunks (progress bar, per-chunk logs); shared by sample and distill. */
export function sampleInChunks(label: string, model: LlamaForCausalLM, tokenizer: Tokenizer, rows: Json[], s: SamplingSpec & { maxNewTokens: number }, fmt: AnswerFormat,
  logFile: string | null): SampleResult & { logs: Record<string, number>[] } {
  const rules = answerRules(fmt);
  const chunk = Math.max(1, Math.floor(s.batchSize / s.k));
  const bar = new ProgressBar(label, rows.length);
  const examples: SampledExample[] = [];
  const logs: Record<string, number>[] = [];
  let sampled = 0;
  let accepted = 0;
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk) as { prompt: Prompt; answer: unknown }[];
    const r = withFloat32MatmulPrecision(s.bf16 ? 'medium' : getFloat32MatmulPrecision(), () => rejectionSample(model, tokenizer, part, {
      k: s.k, temperature: s.temperature, topP: s.topP, maxNewTokens: s.maxNewTokens, shortestOnly: s.shortestOnly, batchSize: s.batchSize, seed: s.seed + i * s.k,
      isCorrect: (c, row) => rules.correct(c, row.answer), isWellFormed: s.requireFormat ? rules.wellFormed : undefined,
      kvCacheDtype: s.bf16 ? 'bfloat16' : 'float32',
    }));
    examples.push(...r.examples);
    sampled += r.sampled;
    accepted += r.accepted;
    const log = { step: logs.length + 1, prompts: Math.min(rows.length, i + chunk), acceptance_rate: r.accepted / r.sampled, cumulative_acceptance_rate: accepted / sampled,
      mean_completion_chars: r.examples.length ? r.examples.reduce((a, e) => a + completionText(e.completion).length, 0) / r.examples.length : 0 };
    logs.push(log);
    if (logFile) fs.appendFileSync(logFile, JSON.stringify(log) + '\n');
    bar.update(log.prompts, `kept ${accepted}/${sampled}`);
  }
  return { output: '', examples, sampled, accepted, logs };
}

/** Runs `thinkgrad sample` on a parsed config object. */
export async function sampleCommand(config: unknown, opts: RunOptions = {}): Promise<SampleResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['data', 'sampling', 'output']);
  const out = checkOutput(src, c);
  const s = samplingSpec(src, 'sampling', c.sampling);
  const data = loadData(src, 'data', c.data, 'problems');
  const loaded = buildModel(src, c);
  try {
    const device = placeModel(src, c, loaded.model);
    createOutput(out, 'sample', c);
    const started = performance.now();
    const r = sampleInChunks('sample', loaded.model, loaded.tokenizer, data.rows, s, (s.answerFormat || data.answerFormat) as AnswerFormat, path.join(out, 'sample_logs.jsonl'));
    writeJsonl(path.join(out, 'samples.jsonl'), r.examples);
    const seconds = (performance.now() - started) / 1000;
    const prompts = new Set(r.examples.map((e) => JSON.stringify(e.prompt))).size;
    const rows: (string | number)[][] = [['model', loaded.description], ['data', data.description], ['samples', `${r.sampled} (k = ${s.k}, T = ${s.temperature})`],
      ['kept', `${r.accepted} (${pct(r.accepted / r.sampled)})`], ['written', `${r.examples.length} examples from ${prompts} of ${data.rows.length} prompts`],
      ['device', device], ['wall time', `${seconds.toFixed(1)} s`], ['dataset', path.join(out, 'samples.jsonl')], ['report', path.join(out, 'report.html')]];
    writeReport(path.join(out, 'report.html'), 'thinkgrad sample', [{ title: 'Rejection sampling', header: ['', 'value'], rows }],
      [{ title: 'Acceptance rate per batch of prompts', xLabel: 'batch', series: [{ name: 'batch', points: r.logs.map((l) => [l.step, l.acceptance_rate]) },
        { name: 'cumulative', points: r.logs.map((l) => [l.step, l.cumulative_acceptance_rate]) }] }], [`Config: ${src}`]);
    if (!opts.quiet) printTable(['sample', ''], rows);
    return { output: out, examples: r.examples, sampled: r.sampled, accepted: r.accepted };
  } finally {
    loaded.model.dispose();
  }
}
