// What the CLI commands share: reading and validating a JSON run config (errors name the file and the field),
// building the model + tokenizer, reading datasets (JSONL or the embedded task), reward functions from names,
// the output folder (checked before anything is written), the stdout summary table and the report charts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Device } from '../../backend/backend.js';
import { resolveDevice } from '../../backend/registry.js';
import { checkConfig, type FieldSpec } from '../../train/config.js';
import { TRAINING_ARGS_FIELDS } from '../../train/training-args.js';
import type { LogRecord } from '../../train/logger.js';
import { LlamaForCausalLM } from '../../nn/llama.js';
import { loadSequenceClassifier, type LlamaForSequenceClassification } from '../../nn/sequence-classification.js';
import type { LlamaConfigOptions } from '../../nn/config.js';
import { loadPretrained, savePretrained } from '../../io/pretrained.js';
import type { PeftModel } from '../../nn/peft-model.js';
import { latestCheckpoint } from '../../io/checkpoint.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { CharTokenizer, loadTokenizer } from '../../io/tokenizers/index.js';
import type { Tokenizer } from '../../io/tokenizers/types.js';
import { readJsonl, type ColumnSpec, type ColumnType } from '../../io/jsonl.js';
import { additionAnswer, additionExamples, additionHeldOut, additionTokenizer, additionTrainProblems, additionWellFormed, ADDITION_HELD_OUT_SIZE } from '../../tasks/addition.js';
import * as rewardFactories from '../../rl/rewards/index.js';
import type { RewardFunction } from '../../rl/rewards/types.js';
import { answersEqual, extractAnswer } from '../../rl/rewards/math-answer.js';
import { hasR1Format } from '../../rl/rewards/format.js';
import type { Chart } from '../report.js';

/** A bad config or data file: main prints the message alone (no stack trace). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface RunOptions {
  /** The config's name in messages (its file path). Default 'config'. */
  source?: string;
  /** No summary table on stdout (progress bars still go to stderr). */
  quiet?: boolean;
  /** Training commands: continue from the newest complete checkpoint in the output folder (true) or from this one. */
  resume?: string | true;
  /** Training commands: aborting it stops training after the step in progress, with a checkpoint (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** Where a training command stopped when its signal aborted: the step reached and its checkpoint (null before any step). */
export interface Interruption {
  step: number;
  maxSteps: number;
  checkpoint: string | null;
}

export type Json = Record<string, unknown>;

/** Reads a JSON config file; errors name the file. */
export function readConfigFile(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return json as Json;
}

/** Re-throws any error of `fn` as a ConfigError prefixed with `where`. */
export function named<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${where}: ${(err as Error).message}`);
  }
}

/** Checks the top level of a config: an object with only `known` fields and all of `required`. */
export function checkTopLevel(src: string, config: unknown, known: readonly string[], required: readonly string[]): Json {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ConfigError(`${src}: the config must be a JSON object`);
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw new ConfigError(`${src}: unknown field '${key}' (known fields: ${known.join(', ')})`);
  }
  for (const key of required) {
    if ((config as Json)[key] === undefined) throw new ConfigError(`${src}: missing required field '${key}'`);
  }
  return config as Json;
}

/** A nested object of scalar options, checked by checkConfig (unknown fields, types, ranges) and merged over defaults. */
export function options<C extends object>(src: string, field: string, value: unknown, fields: Record<keyof C, FieldSpec>, defaults: C): C {
  if (value === undefined) return { ...defaults };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${src}: field '${field}' must be an object, got ${JSON.stringify(value)}`);
  return named(`${src}: field '${field}'`, () => checkConfig(field, fields, defaults, value as Partial<C>));
}

export function expectString(src: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${src}: field '${field}' must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

export function expectObject(src: string, field: string, v: unknown): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${src}: field '${field}' must be an object, got ${JSON.stringify(v)}`);
  return v as Json;
}

// ---------------------------------------------------------------------------------------------------------
// Model and tokenizer.

/** Config fields that choose the model: a folder to load, or a fresh model from modelConfig + tokenizer. */
export const MODEL_FIELDS = ['model', 'modelConfig', 'modelSeed', 'tokenizer'] as const;

const LLAMA_FIELDS: Record<keyof LlamaConfigOptions, FieldSpec> = {
  modelType: { kind: 'enum', values: ['llama', 'qwen2'] }, vocabSize: { kind: 'int', min: 1 }, hiddenSize: { kind: 'int', min: 1 },
  intermediateSize: { kind: 'int', min: 1 }, numHiddenLayers: { kind: 'int', min: 1 }, numAttentionHeads: { kind: 'int', min: 1 },
  numKeyValueHeads: { kind: 'int', min: 1 }, headDim: { kind: 'int', min: 2 }, ropeTheta: { kind: 'number', min: 1e-9 },
  rmsNormEps: { kind: 'number', min: 0 }, maxPositionEmbeddings: { kind: 'int', min: 1 }, tieWordEmbeddings: { kind: 'bool' },
  qkvBias: { kind: 'bool' }, oBias: { kind: 'bool' }, mlpBias: { kind: 'bool' }, initializerRange: { kind: 'number', min: 0 },
  bosTokenId: { kind: 'int', min: 0, nullable: true }, eosTokenId: { kind: 'int', min: 0, nullable: true }, padTokenId: { kind: 'int', min: 0, nullable: true },
};
const LLAMA_REQUIRED = ['hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads'] as const;

interface TokenizerSpec { type: string; chars: string | null; addBosToken: boolean }

/** `"dir"` (a folder with tokenizer.json), `{"type": "addition"}` or `{"type": "char", "chars": "abc..."}`. */
export function buildTokenizer(src: string, field: string, spec: unknown): Tokenizer {
  if (typeof spec === 'string') {
    if (!fs.existsSync(path.join(spec, 'tokenizer.json'))) throw new ConfigError(`${src}: field '${field}': ${path.join(spec, 'tokenizer.json')} does not exist`);
    return named(`${src}: field '${field}'`, () => loadTokenizer(spec));
  }
  const o = options<TokenizerSpec>(src, field, spec, { type: { kind: 'enum', values: ['addition', 'char'] }, chars: { kind: 'string', nullable: true }, addBosToken: { kind: 'bool' } },
    { type: '', chars: null, addBosToken: false });
  if (o.type === '') throw new ConfigError(`${src}: field '${field}' needs "type": "addition" or "char" (or give a folder with tokenizer.json)`);
  if (o.type === 'addition') return additionTokenizer();
  if (!o.chars) throw new ConfigError(`${src}: field '${field}.chars' is required for a char tokenizer (the alphabet, e.g. "0123456789+=")`);
  return named(`${src}: field '${field}'`, () => new CharTokenizer({ chars: o.chars!, addBosToken: o.addBosToken }));
}

export interface LoadedModel {
  model: LlamaForCausalLM;
  tokenizer: Tokenizer;
  /** A fresh copy of the starting weights (for a reference model). */
  reload: () => LlamaForCausalLM;
  description: string;
}

/**
 * Writes the trained model to output/model (a Hugging Face folder with the tokenizer). After a LoRA run (the
 * trainer's peftConfig) PEFT's adapter folder goes to output/adapter first, and output/model holds the base
 * with the adapters merged in (the model is merged in place).
 */
export function saveTrainedModel(out: string, loaded: LoadedModel, peftModel: PeftModel<LlamaForCausalLM> | null): void {
  if (peftModel) {
    peftModel.savePretrained(path.join(out, 'adapter'));
    peftModel.mergeAndUnload();
  }
  savePretrained(loaded.model, path.join(out, 'model'), { tokenizer: loaded.tokenizer });
}

/**
 * The model of a config: `model` (a Hugging Face folder; its tokenizer.json unless `tokenizer` is given) or
 * `modelConfig` (LlamaConfig options, vocabSize and special ids defaulting to the tokenizer's) + `tokenizer`
 * + optional `modelSeed`. Reads files only.
 */
export function buildModel(src: string, c: Json, prefix = ''): LoadedModel {
  const f = (name: string) => `${prefix}${name}`;
  const [dir, mc, seed, tspec] = [c.model, c.modelConfig, c.modelSeed, c.tokenizer];
  if (dir !== undefined && mc !== undefined) throw new ConfigError(`${src}: give either '${f('model')}' (a folder to load) or '${f('modelConfig')}' (a fresh model), not both`);
  if (dir === undefined && mc === undefined) throw new ConfigError(`${src}: missing required field '${f('model')}' (a model folder) or '${f('modelConfig')}' (with '${f('tokenizer')}') for a fresh model`);
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0)) throw new ConfigError(`${src}: field '${f('modelSeed')}' must be a non-negative integer, got ${JSON.stringify(seed)}`);
  if (dir !== undefined) {
    const folder = expectString(src, f('model'), dir);
    if (seed !== undefined) throw new ConfigError(`${src}: field '${f('modelSeed')}' only applies to a fresh model ('${f('modelConfig')}')`);
    if (!fs.existsSync(path.join(folder, 'config.json'))) throw new ConfigError(`${src}: field '${f('model')}': ${folder} is not a model folder (no config.json)`);
    let tokenizer: Tokenizer;
    if (tspec !== undefined) tokenizer = buildTokenizer(src, f('tokenizer'), tspec);
    else if (fs.existsSync(path.join(folder, 'tokenizer.json'))) tokenizer = named(`${src}: field '${f('model')}'`, () => loadTokenizer(folder));
    else throw new ConfigError(`${src}: ${folder} has no tokenizer.json; give field '${f('tokenizer')}'`);
    const load = () => named(`${src}: field '${f('model')}'`, () => loadPretrained(folder));
    const model = load();
    if (tokenizer.vocabSize > model.config.vocabSize) {
      model.dispose();
      throw new ConfigError(`${src}: the tokenizer has ${tokenizer.vocabSize} tokens but the model in ${folder} only ${model.config.vocabSize}`);
    }
    return { model, tokenizer, reload: load, description: `${folder} (${model.numParameters().toLocaleString()} parameters)` };
  }
  if (tspec === undefined) throw new ConfigError(`${src}: missing required field '${f('tokenizer')}' (needed with '${f('modelConfig')}'), e.g. {"type": "addition"}`);
  const given = expectObject(src, f('modelConfig'), mc);
  const tokenizer = buildTokenizer(src, f('tokenizer'), tspec);
  const o = named(`${src}: field '${f('modelConfig')}'`, () => checkConfig('modelConfig', LLAMA_FIELDS, {
    vocabSize: tokenizer.vocabSize, bosTokenId: tokenizer.bosTokenId, eosTokenId: tokenizer.eosTokenId, padTokenId: tokenizer.padTokenId, tieWordEmbeddings: true,
  } as LlamaConfigOptions, given as Partial<LlamaConfigOptions>));
  for (const k of LLAMA_REQUIRED) if (o[k] === undefined) throw new ConfigError(`${src}: missing required field '${f('modelConfig')}.${k}'`);
  if (o.vocabSize < tokenizer.vocabSize) throw new ConfigError(`${src}: field '${f('modelConfig')}.vocabSize' is ${o.vocabSize} but the tokenizer has ${tokenizer.vocabSize} tokens`);
  const make = () => named(`${src}: field '${f('modelConfig')}'`, () => new LlamaForCausalLM(o, { seed: (seed as number | undefined) ?? 0 }));
  const model = make();
  return { model, tokenizer, reload: make, description: `fresh Llama, d ${o.hiddenSize}, ${o.numHiddenLayers} layers, ${model.numParameters().toLocaleString()} parameters` };
}

/**
 * Moves `model` to the config's top-level `device` (the commands that run a model without a trainer: eval,
 * sample, generate; the trainers take theirs in 'trainer'): 'auto' when absent, as the trainers' option.
 */
export function placeModel(src: string, c: Json, model: LlamaForCausalLM): Device {
  const { values } = TRAINING_ARGS_FIELDS.device as Extract<FieldSpec, { kind: 'enum' }>;
  const given = c.device ?? 'auto';
  if (typeof given !== 'string' || !values.includes(given)) {
    throw new ConfigError(`${src}: field 'device' must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(c.device)}`);
  }
  const resolved = resolveDevice(given as 'auto' | Device);
  named(`${src}: field 'device'`, () => model.to(resolved));
  return resolved;
}

// ---------------------------------------------------------------------------------------------------------
// Data.

export type AnswerFormat = 'r1' | 'addition';

export interface Dataset<R> {
  rows: R[];
  description: string;
  /** How answers are read from completions by default: the embedded task's own format, else R1 tags / \boxed{}. */
  answerFormat: AnswerFormat;
}

interface DataSpec { path: string; limit: number | null; task: string; split: string; count: number | null; seed: number; noise: number }
const DATA_FIELDS: Record<keyof DataSpec, FieldSpec> = {
  path: { kind: 'string' }, limit: { kind: 'int', min: 1, nullable: true }, task: { kind: 'enum', values: ['addition'] },
  split: { kind: 'enum', values: ['train', 'heldout'] }, count: { kind: 'int', min: 1, nullable: true }, seed: { kind: 'int', min: 0 }, noise: { kind: 'number', min: 0, max: 1 },
};

/**
 * Rows with prompt/completion (sft), prompt + columns (grpo, rm, generate), prompt + answer from the training
 * split (problems: sample, distill's prompts) or prompt + answer from the held-out split (eval). The prompts of
 * grpo, rm, generate, eval and problems rows may be conversations (lists of {role, content} messages), and sft
 * rows prompt/completion conversations or `messages`. Only 'eval'
 * defaults to the held-out split; the others read it only when a config names `"split": "heldout"`, so
 * evaluation problems never leak into training data by default.
 */
export type DataKind = 'sft' | 'prompts' | 'problems' | 'eval';

/**
 * A dataset field: `"file.jsonl"`, `{"path": "file.jsonl", "limit": N}`, or the embedded task
 * `{"task": "addition", "count": N, "seed": S, "noise": p, "split": "train" | "heldout"}`.
 * `columns` are the columns every JSONL row must have besides the kind's own.
 */
export function loadData(src: string, field: string, spec: unknown, kind: DataKind, columns: Record<string, ColumnType | ColumnSpec> = {}): Dataset<Json> {
  const s: DataSpec = typeof spec === 'string' ? { ...DATA_DEFAULTS, path: spec } : options<DataSpec>(src, field, spec, DATA_FIELDS, DATA_DEFAULTS);
  if (!s.path && !s.task) throw new ConfigError(`${src}: field '${field}' needs "path" (a JSONL file) or "task": "addition"`);
  if (s.path && s.task) throw new ConfigError(`${src}: field '${field}' has both "path" and "task"; give one`);
  if (s.path) {
    for (const k of ['split', 'count', 'noise'] as const) if (typeof spec === 'object' && (spec as Json)[k] !== undefined) throw new ConfigError(`${src}: field '${field}.${k}' only applies to "task"`);
    // Prompts may be conversations (TRL's format) wherever the command feeds them to a trainer, generate or evaluation.
    // An SFT file is in one of TRL's formats, which its first row tells: prompt/completion, or messages.
    const sftColumns = (): Record<string, ColumnType> => {
      const first = named(`${src}: field '${field}'`, () => readJsonl(s.path, { limit: 1 }))[0];
      return first.messages !== undefined && first.prompt === undefined ? { messages: 'chat' } : { prompt: 'chat', completion: 'chat' };
    };
    const own: Record<string, ColumnType> = kind === 'sft' ? sftColumns() : kind === 'eval' || kind === 'problems' ? { prompt: 'chat', answer: 'scalar' } : { prompt: 'chat' };
    const rows = named(`${src}: field '${field}'`, () => readJsonl(s.path, { columns: { ...columns, ...own }, limit: s.limit ?? undefined }));
    return { rows, description: `${s.path} (${rows.length} rows)`, answerFormat: 'r1' };
  }
  if (s.limit !== null) throw new ConfigError(`${src}: field '${field}.limit' only applies to "path" (use "count")`);
  const split = s.split || (kind === 'eval' ? 'heldout' : 'train');
  if (split === 'heldout') {
    if (kind === 'sft') throw new ConfigError(`${src}: field '${field}.split': "heldout" is for evaluation; SFT data comes from "train"`);
    const count = s.count ?? ADDITION_HELD_OUT_SIZE;
    if (count > ADDITION_HELD_OUT_SIZE) throw new ConfigError(`${src}: field '${field}.count' is at most ${ADDITION_HELD_OUT_SIZE} for the held-out split, got ${count}`);
    const rows = additionHeldOut(count).map((p) => ({ prompt: p.prompt, answer: p.answer }));
    return { rows, description: `addition, held-out split (${rows.length} problems)`, answerFormat: 'addition' };
  }
  const count = s.count ?? (kind === 'sft' ? 2000 : 1000);
  if (kind === 'sft') {
    const rows = additionExamples(count, { seed: s.seed, noise: s.noise }).map(({ prompt, completion }) => ({ prompt, completion }));
    return { rows, description: `addition, ${rows.length} worked examples (seed ${s.seed}, noise ${s.noise})`, answerFormat: 'addition' };
  }
  if (s.noise !== 0) throw new ConfigError(`${src}: field '${field}.noise' only applies to SFT data`);
  const rows = additionTrainProblems(count, s.seed).map((p) => ({ prompt: p.prompt, answer: p.answer }));
  for (const name of Object.keys(columns)) {
    const c = columns[name];
    if (name !== 'answer' && !(typeof c === 'object' && c.optional)) throw new ConfigError(`${src}: field '${field}': the addition task has columns prompt, answer; column '${name}' is needed`);
  }
  return { rows, description: `addition, ${rows.length} problems (seed ${s.seed})`, answerFormat: 'addition' };
}
const DATA_DEFAULTS: DataSpec = { path: '', limit: null, task: '', split: '', count: null, seed: 1, noise: 0 };

/** The answer a completion gives and whether it is well formed, per format. */
export function answerRules(fmt: AnswerFormat): { extract: (c: string) => string | null; wellFormed: (c: string) => boolean; correct: (c: string, answer: unknown) => boolean } {
  const extract = fmt === 'addition' ? additionAnswer : extractAnswer;
  const wellFormed = fmt === 'addition' ? additionWellFormed : (c: string) => hasR1Format(c);
  return { extract, wellFormed, correct: (c, answer) => answersEqual(extract(c), String(answer)) };
}

// ---------------------------------------------------------------------------------------------------------
// Rewards.

type RewardName = 'accuracy' | 'format' | 'tagCount' | 'languageConsistency' | 'cosineScaledLength' | 'softOverlongPunishment' | 'repetitionPenalty' | 'code'
  | 'rewardModel';

// The JSON-expressible options of each reward factory (functions such as `correctness` or `words` are code-only).
const REWARD_OPTIONS: Record<RewardName, { fields: Record<string, FieldSpec>; column?: (o: Json) => [string, ColumnType] | null }> = {
  accuracy: { fields: { column: { kind: 'string' }, rtol: { kind: 'number', min: 0 } }, column: (o) => [(o.column as string) ?? 'answer', 'scalar'] },
  format: { fields: { allowEmptyThink: { kind: 'bool' } } },
  tagCount: { fields: { newlines: { kind: 'bool' } } },
  languageConsistency: { fields: { language: { kind: 'string' }, column: { kind: 'string' }, whenNoWords: { kind: 'number', nullable: true }, wholeCompletion: { kind: 'bool' } },
    column: (o) => (o.language === undefined ? [(o.column as string) ?? 'language', 'string'] : null) },
  cosineScaledLength: { fields: { maxLength: { kind: 'number', min: 1e-9 }, maxValueCorrect: { kind: 'number' }, minValueCorrect: { kind: 'number' }, minValueWrong: { kind: 'number' },
    maxValueWrong: { kind: 'number' }, lengthUnit: { kind: 'enum', values: ['tokens', 'chars'] } }, column: () => ['answer', 'scalar'] },
  softOverlongPunishment: { fields: { maxLength: { kind: 'number', min: 1e-9 }, cache: { kind: 'number', min: 1e-9 }, lengthUnit: { kind: 'enum', values: ['tokens', 'chars'] } } },
  repetitionPenalty: { fields: { ngramSize: { kind: 'int', min: 1 }, maxPenalty: { kind: 'number', max: 0 } } },
  code: { fields: { language: { kind: 'enum', values: ['javascript', 'typescript', 'python'] }, column: { kind: 'string' }, timeoutMs: { kind: 'number', min: 1 },
    memoryMb: { kind: 'number', min: 16 }, concurrency: { kind: 'int', min: 1 }, bubblewrap: { kind: 'string' }, unsafeWithoutBubblewrap: { kind: 'bool' } }, column: (o) => [(o.column as string) ?? 'testCases', 'any'] },
  rewardModel: { fields: { model: { kind: 'string' }, name: { kind: 'string' }, input: { kind: 'enum', values: ['answer', 'completion'] },
    batchSize: { kind: 'int', min: 1 }, normalize: { kind: 'enum', values: ['batch'], nullable: true }, clip: { kind: 'number', min: 1e-9, nullable: true },
    appendEos: { kind: 'bool' }, maxLength: { kind: 'int', min: 1, nullable: true } } },
};

export interface BuiltRewards {
  funcs: RewardFunction[];
  weights: number[];
  names: string[];
  /** Dataset columns the rewards read (optional where only rows selected by a 'when' need them). */
  columns: Record<string, ColumnType | ColumnSpec>;
  /** Frees the reward models the rewards loaded. */
  dispose(): void;
}

// A reward model folder written by `thinkgrad rm` (model + tokenizer.json) as a reward function.
function rewardModelReward(src: string, where: string, o: Json, models: LlamaForSequenceClassification[]): RewardFunction {
  if (typeof o.model !== 'string') {
    throw new ConfigError(`${src}: field '${where}.options.model' is required: the folder of a reward model (thinkgrad rm's output/model)`);
  }
  const folder = o.model;
  const model = named(`${src}: field '${where}.options.model'`, () => loadSequenceClassifier(folder));
  models.push(model);
  const tokenizer = named(`${src}: field '${where}.options.model'`, () => loadTokenizer(folder));
  const { model: _folder, ...rest } = o;
  return named(`${src}: field '${where}'`, () => rewardFactories.rewardModel(model, tokenizer, rest as rewardFactories.RewardModelOptions));
}

// 'when': {"column": C, "in": [values]}: the reward scores only rows whose column C holds one of the values.
function whenClause(src: string, where: string, spec: unknown): { column: string; values: unknown[] } {
  const w = expectObject(src, where, spec);
  for (const k of Object.keys(w)) if (k !== 'column' && k !== 'in') throw new ConfigError(`${src}: unknown field '${where}.${k}' (known: column, in)`);
  const column = expectString(src, `${where}.column`, w.column);
  if (!Array.isArray(w.in) || w.in.length === 0 || w.in.some((v) => typeof v !== 'string' && typeof v !== 'number')) {
    throw new ConfigError(`${src}: field '${where}.in' must be a non-empty array of strings or numbers, got ${JSON.stringify(w.in)}`);
  }
  return { column, values: w.in };
}

function addColumn(columns: BuiltRewards['columns'], name: string, type: ColumnType, optional: boolean): void {
  const prev = columns[name];
  const prevRequired = prev !== undefined && !(typeof prev === 'object' && prev.optional);
  columns[name] = optional && !prevRequired ? { type, optional: true } : type;
}

/** `[{"name": "accuracy"}, {"name": "format", "weight": 0.1, "options": {...}}]` -> reward functions + weights. */
export function buildRewards(src: string, field: string, spec: unknown): BuiltRewards {
  if (!Array.isArray(spec) || spec.length === 0) throw new ConfigError(`${src}: field '${field}' must be a non-empty array like [{"name": "accuracy"}, {"name": "format", "weight": 0.1}]`);
  const models: LlamaForSequenceClassification[] = [];
  const out: BuiltRewards = { funcs: [], weights: [], names: [], columns: {}, dispose: () => models.forEach((m) => m.dispose()) };
  try {
    spec.forEach((entry, i) => {
      const where = `${field}[${i}]`;
      const e = expectObject(src, where, entry);
      for (const k of Object.keys(e)) if (!['name', 'weight', 'options', 'when'].includes(k)) throw new ConfigError(`${src}: unknown field '${where}.${k}' (known: name, weight, options, when)`);
      const name = expectString(src, `${where}.name`, e.name);
      const known = REWARD_OPTIONS[name as RewardName];
      if (!known) throw new ConfigError(`${src}: field '${where}.name': unknown reward '${name}' (rewards: ${Object.keys(REWARD_OPTIONS).join(', ')})`);
      if (e.weight !== undefined && (typeof e.weight !== 'number' || !Number.isFinite(e.weight))) throw new ConfigError(`${src}: field '${where}.weight' must be a number, got ${JSON.stringify(e.weight)}`);
      const when = e.when === undefined ? null : whenClause(src, `${where}.when`, e.when);
      const opts = options<Json>(src, `${where}.options`, e.options, known.fields as Record<string, FieldSpec>, {});
      const factory = (rewardFactories as unknown as Record<string, (o: Json) => RewardFunction>)[name];
      const fn = name === 'rewardModel' ? rewardModelReward(src, where, opts, models) : named(`${src}: field '${where}'`, () => factory(opts));
      out.funcs.push(when ? rewardFactories.onlyWhere(fn, (args, row) => {
        const col = args[when.column];
        return when.values.includes(Array.isArray(col) ? col[row] : col);
      }) : fn);
      out.weights.push((e.weight as number | undefined) ?? 1);
      out.names.push(fn.name || name);
      const col = known.column?.(opts);
      if (col) addColumn(out.columns, col[0], col[1], when !== null);
      if (when) addColumn(out.columns, when.column, 'any', false);
    });
  } catch (err) {
    out.dispose();
    throw err;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Output.

/** Refuses an output folder that exists and is not empty (unless overwrite, or resuming the run in it). Writes nothing. */
export function checkOutput(src: string, c: Json, resume?: string | true): string {
  const out = expectString(src, 'output', c.output);
  if (c.overwrite !== undefined && typeof c.overwrite !== 'boolean') throw new ConfigError(`${src}: field 'overwrite' must be true or false, got ${JSON.stringify(c.overwrite)}`);
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new ConfigError(`${src}: field 'output': ${out} exists and is not a folder`);
    if (fs.readdirSync(out).length > 0 && c.overwrite !== true && resume === undefined) {
      throw new ConfigError(`${src}: field 'output': ${out} already exists and is not empty; choose another folder, set "overwrite": true, or continue its run with --resume`);
    }
  }
  return out;
}

/** The checkpoint a training command resumes from: `resume` itself, or with true the newest complete one in `out`. */
export function resumeCheckpoint(src: string, out: string, resume: string | true | undefined): string | null {
  if (resume === undefined) return null;
  if (resume !== true) {
    if (!fs.existsSync(resume)) throw new ConfigError(`--resume: checkpoint folder ${resume} does not exist`);
    return resume;
  }
  const found = latestCheckpoint(out);
  if (!found) throw new ConfigError(`--resume: ${src}'s output folder ${out} holds no complete checkpoint to resume from`);
  return found;
}

/**
 * Creates the output folder and records the run's config in it (run_config.json). A fresh run with
 * "overwrite": true first removes the previous run's checkpoints (and leftovers of interrupted saves) and its
 * eval.jsonl, which a new run would otherwise append to; a resumed run keeps everything.
 */
export function createOutput(out: string, command: string, config: Json, resuming = false): void {
  fs.mkdirSync(out, { recursive: true });
  if (config.overwrite === true && !resuming) {
    for (const name of fs.readdirSync(out)) {
      if (/^\.?checkpoint-\d+($|\.(tmp|old)-)/.test(name) || name === 'eval.jsonl') fs.rmSync(path.join(out, name), { recursive: true, force: true });
    }
  }
  writeFileAtomic(path.join(out, 'run_config.json'), `${JSON.stringify({ command, ...config }, null, 2)}\n`);
}

/** How a training command ended: null when it ran to the end, else where it stopped. */
export function interruption(trainer: { stopped: boolean; globalStep: number; lastCheckpoint: string | null }, maxSteps: number): Interruption | null {
  return trainer.stopped ? { step: trainer.globalStep, maxSteps, checkpoint: trainer.lastCheckpoint } : null;
}

/** A markdown-style table on stdout. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

export const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
export const fmt = (x: unknown) => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4)) : x === undefined || x === null ? '-' : String(x));

/** The (step, value) points of `key` in logs. */
export function series(logs: readonly LogRecord[], key: string): [number, number][] {
  return logs.filter((l) => typeof l[key] === 'number' && typeof l.step === 'number').map((l) => [l.step as number, l[key] as number]);
}

/**
 * One chart per group of logged metrics that are present (`smoothing` as Chart's; 0 for curves without noise, such
 * as a schedule); `whyZero` gives, per metric, the reason it can only be 0 in this run, said in place of a flat line.
 */
export function chartsOf(logs: readonly LogRecord[], xLabel: string, groups: { title: string; keys: string[]; smoothing?: number }[], whyZero: Record<string, string> = {}): Chart[] {
  return groups.map((g) => ({ title: g.title, xLabel, smoothing: g.smoothing, series: g.keys.map((k) => ({ name: k, points: series(logs, k), whyZero: whyZero[k] })).filter((s) => s.points.length > 0) }))
    .filter((c) => c.series.length > 0);
}

/** The first and last value of a logged metric, for summary tables. */
export function firstLast(logs: readonly LogRecord[], key: string): [string, string] {
  const pts = series(logs, key);
  return pts.length ? [fmt(pts[0][1]), fmt(pts[pts.length - 1][1])] : ['-', '-'];
}
