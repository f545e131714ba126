// PEFT's adapter folder: adapter_config.json (LoraConfig with PEFT's snake_case keys) and adapter_model.safetensors
// (the adapter's tensors under PEFT's saved names). Written atomically; read back with every field and tensor
// checked before the model is touched, so a hostile or mismatched folder fails with one clear error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type LoraConfig, resolveLoraConfig } from '../nn/lora.js';
import type { Tensor } from '../tensor.js';
import { writeFileAtomic } from './atomic.js';
import { readSafetensorsHeader, type SafetensorsHeader, writeSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
// A real adapter_config.json is about 1 KB; refuse to parse anything large.
const MAX_CONFIG_BYTES = 1 << 20;
// Floating-point dtypes readSafetensors converts to float32.
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** `config` as PEFT writes adapter_config.json (its LoraConfig fields, snake_case; inference_mode true, as PEFT saves it). */
export function adapterConfigJson(config: LoraConfig): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: config.baseModelNameOrPath,
    bias: config.bias,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: config.initLoraWeights,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: config.loraAlpha,
    lora_dropout: config.loraDropout,
    modules_to_save: config.modulesToSave,
    peft_type: 'LORA',
    r: config.r,
    rank_pattern: {},
    revision: null,
    target_modules: config.targetModules,
    task_type: config.taskType,
    use_dora: false,
    use_rslora: config.useRslora,
  };
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === false || (typeof v === 'object' && Object.keys(v as object).length === 0);

/**
 * The LoraConfig in a parsed adapter_config.json. Keys this package does not use are ignored (PEFT adds keys
 * across versions), but any setting it cannot honour (DoRA, fan_in_fan_out, per-layer ranks, layer selection,
 * initializations that change the base weights) is refused by name.
 */
export function parseAdapterConfig(json: unknown, source = ADAPTER_CONFIG_FILE): LoraConfig {
  const fail = (message: string): never => {
    throw new Error(`loadPeftModel: ${source}: ${message}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('must hold a JSON object');
  const j = json as Record<string, unknown>;
  if (j.peft_type !== 'LORA') fail(`peft_type is ${JSON.stringify(j.peft_type)}; only "LORA" adapters are supported`);
  const unsupported: [string, string][] = [
    ['use_dora', 'DoRA'], ['fan_in_fan_out', 'fan_in_fan_out (Conv1D weights)'], ['rank_pattern', 'per-layer ranks (rank_pattern)'],
    ['alpha_pattern', 'per-layer alphas (alpha_pattern)'], ['layers_to_transform', 'layers_to_transform'], ['layers_pattern', 'layers_pattern'],
    ['layer_replication', 'layer_replication'], ['lora_bias', 'lora_bias'], ['exclude_modules', 'exclude_modules'], ['megatron_config', 'Megatron layers'],
  ];
  for (const [key, what] of unsupported) if (!isEmpty(j[key])) fail(`${what} is not supported (${key} = ${JSON.stringify(j[key])})`);
  const init = j.init_lora_weights;
  if (init !== undefined && typeof init !== 'boolean' && init !== 'gaussian') {
    fail(`init_lora_weights ${JSON.stringify(init)} is not supported (it changes the base weights); true, false or "gaussian" are`);
  }
  const read = (key: string, fallback: unknown) => (j[key] === undefined ? fallback : j[key]);
  return resolveLoraConfig({
    r: read('r', 8) as number,
    loraAlpha: read('lora_alpha', 8) as number,
    loraDropout: read('lora_dropout', 0) as number,
    targetModules: read('target_modules', null) as string[] | string | null,
    bias: read('bias', 'none') as LoraConfig['bias'],
    modulesToSave: read('modules_to_save', null) as string[] | null,
    useRslora: read('use_rslora', false) as boolean,
    initLoraWeights: init !== false,
    taskType: read('task_type', null) as LoraConfig['taskType'],
    baseModelNameOrPath: read('base_model_name_or_path', null) as string | null,
    inferenceMode: read('inference_mode', true) as boolean,
  }, `loadPeftModel: ${source}`);
}

/** Reads and checks `dir`/adapter_config.json. */
export function readAdapterConfig(dir: string): LoraConfig {
  const file = path.join(dir, ADAPTER_CONFIG_FILE);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new Error(`loadPeftModel: ${dir} has no ${ADAPTER_CONFIG_FILE} (not a PEFT adapter folder)`);
  }
  if (!stat.isFile()) throw new Error(`loadPeftModel: ${file} is not a file`);
  if (stat.size > MAX_CONFIG_BYTES) throw new Error(`loadPeftModel: ${file} is ${stat.size} bytes; an adapter config is at most ${MAX_CONFIG_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`loadPeftModel: ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseAdapterConfig(json, file);
}

/**
 * The validated header of `dir`/adapter_model.safetensors, checked against the names and shapes the adapter must
 * have (`expected`): every tensor present with its shape and a floating-point dtype, nothing else. Reads no
 * tensor data.
 */
export function checkAdapterWeights(dir: string, expected: Map<string, number[]>): { file: string; header: SafetensorsHeader } {
  const file = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(file)) {
    const bin = fs.existsSync(path.join(dir, 'adapter_model.bin')) ? ' (adapter_model.bin, a pickle, is not read: convert it to safetensors)' : '';
    throw new Error(`loadPeftModel: ${dir} has no ${ADAPTER_WEIGHTS_FILE}${bin}`);
  }
  const header = readSafetensorsHeader(file);
  const found = new Map(header.entries.map((e) => [e.name, e]));
  const problems: string[] = [];
  const missing = [...expected.keys()].filter((k) => !found.has(k));
  const unexpected = [...found.keys()].filter((k) => !expected.has(k));
  const shapes = [...expected].filter(([k, shape]) => found.has(k) && found.get(k)!.shape.join() !== shape.join())
    .map(([k, shape]) => `${k}: file [${found.get(k)!.shape.join(', ')}] vs model [${shape.join(', ')}]`);
  const dtypes = header.entries.filter((e) => expected.has(e.name) && !FLOAT_DTYPES.has(e.dtype)).map((e) => `${e.name} (${e.dtype})`);
  if (missing.length > 0) problems.push(`missing ${missing.length} tensor(s): ${missing.slice(0, 20).join(', ')}`);
  if (unexpected.length > 0) problems.push(`unexpected ${unexpected.length} tensor(s): ${unexpected.slice(0, 20).join(', ')}`);
  if (shapes.length > 0) problems.push(`shape mismatch (is adapter_config.json's r or target_modules that of these weights, and the base model the one they were trained on?): ${shapes.slice(0, 20).join('; ')}`);
  if (dtypes.length > 0) problems.push(`not floating point: ${dtypes.join(', ')}`);
  if (problems.length > 0) throw new Error(`loadPeftModel: ${file} does not fit the model: ${problems.join('. ')}`);
  return { file, header };
}

/** Writes `tensors` (PEFT's saved names) and `config` into `dir` as PEFT's adapter folder; each file atomically. */
export function writePeftAdapter(dir: string, config: LoraConfig, tensors: Record<string, Tensor>): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors);
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(adapterConfigJson(config), null, 2)}\n`);
}
