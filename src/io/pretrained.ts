// Hugging Face model folders: config.json + model.safetensors (or model-0000x-of-0000y.safetensors shards with
// model.safetensors.index.json) + optionally tokenizer.json. A folder saved by `transformers` loads here, and
// one saved here loads in `transformers`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkConfigMatchesWeights, type GenerationConfig, generationConfigFromHF, generationConfigToHF, LlamaConfig } from '../nn/config.js';
import { withoutInit } from '../nn/init.js';
import { LlamaForCausalLM } from '../nn/llama.js';
import { writeFileAtomic } from './atomic.js';
import { openSafetensorsFolder, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, writeSafetensors, writeShardedSafetensors } from './safetensors.js';
import { saveTokenizer } from './tokenizers/index.js';
import type { Tokenizer } from './tokenizers/types.js';
import { assertNoAdapters } from '../nn/lora.js';

export interface LoadPretrainedOptions {
  /** Refuse checkpoints with missing or unexpected weights. Default true. */
  strict?: boolean;
  /**
   * dtype of the model's parameters (transformers' `torch_dtype`): 'float32' (default; bf16/f16 weights are
   * widened) or 'bfloat16' (every parameter, RMSNorm weights included, held in 2 bytes; a BF16 checkpoint loads
   * without a float32 copy).
   */
  dtype?: 'float32' | 'bfloat16';
}

export interface SavePretrainedOptions {
  /** Also save this tokenizer (tokenizer.json, and tokenizer_config.json for Hugging Face tokenizers). */
  tokenizer?: Tokenizer;
  /** Split the weights into shards of at most this many bytes (with an index). Default 5 GB, as transformers. */
  maxShardBytes?: number;
}

const GENERATION_CONFIG_FILE = 'generation_config.json';

// Buffers some older checkpoints carry that are recomputed here, not parameters.
const IGNORED_KEYS = /\.rotary_emb\.inv_freq$/;

/** Reads `dir/config.json` into a LlamaConfig (rejecting unsupported options by name). */
export function readConfig(dir: string): LlamaConfig {
  const file = path.join(dir, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`loadPretrained: cannot read ${file}: ${(err as Error).message}`);
  }
  return LlamaConfig.fromHF(json as Record<string, unknown>);
}

/** Reads `dir/generation_config.json` (eos/bos/pad token ids; eos may be a list); {} when the folder has none. */
export function readGenerationConfig(dir: string): GenerationConfig {
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  if (!fs.existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`loadPretrained: cannot read ${file}: ${(err as Error).message}`);
  }
  return generationConfigFromHF(json, file);
}

/**
 * Loads a Llama / Qwen2 model from a Hugging Face folder, its parameters of `options.dtype` (float32 by default:
 * weights stored as bf16/f16 become float32). A tied-embedding checkpoint may carry lm_head.weight or not. Before
 * anything is allocated, the sizes in config.json are checked against the safetensors headers and the machine's
 * memory (a hostile config is refused with the memory it would take). generation_config.json, when present,
 * becomes `model.generationConfig` (its eos_token_id, one id or a list, is where generate() stops). The
 * tokenizer, when the folder has one, loads separately with `loadTokenizer(dir)`.
 */
export function loadPretrained(dir: string, options: LoadPretrainedOptions = {}): LlamaForCausalLM {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw new TypeError(`loadPretrained: dtype must be 'float32' or 'bfloat16', got ${String(dtype)}`);
  const config = readConfig(dir);
  const generationConfig = readGenerationConfig(dir);
  const strict = options.strict ?? true;
  const folder = openSafetensorsFolder(dir);
  checkConfigMatchesWeights(`loadPretrained(${dir})`, config, folder.shapes, IGNORED_KEYS);
  // The model's parameters are converted before the weights are read, so at most one float32-sized copy of the
  // uninitialized parameters ever exists and the checkpoint's bf16 bytes are copied as they are; the tensors are
  // then read one at a time into the parameters (one tensor beyond the weights, never a second copy of them).
  const model = withoutInit(() => new LlamaForCausalLM(config));
  try {
    model.to(dtype);
    const shapes = new Map([...folder.shapes].filter(([k]) => !IGNORED_KEYS.test(k)));
    model.loadStateDictFrom(shapes, (key) => folder.read(key, dtype), { strict }, (t) => t.dispose());
  } catch (err) {
    model.dispose();
    throw new Error(`loadPretrained(${dir}): ${(err as Error).message}`);
  }
  model.generationConfig = generationConfig;
  return model;
}

/**
 * Saves `model` as a Hugging Face folder: config.json, generation_config.json (when model.generationConfig sets
 * anything), the weights in their dtype (F32, or BF16 for a bfloat16 model, with `torch_dtype` saying so) under
 * Hugging Face names (tied
 * lm_head.weight omitted, as transformers does), sharded when larger than maxShardBytes, and the tokenizer
 * when given. Every file is written atomically; a stale single-file or sharded layout is removed.
 */
export function savePretrained(model: LlamaForCausalLM, dir: string, options: SavePretrainedOptions = {}): void {
  const maxShard = options.maxShardBytes ?? 5e9;
  assertNoAdapters('savePretrained', model);
  const config = { ...model.config.toHF(), torch_dtype: model.dtype };
  fs.mkdirSync(dir, { recursive: true });
  const sd = model.stateDict();
  const total = Object.values(sd).reduce((n, t) => n + t.numel * (t.dtype === 'bfloat16' ? 2 : 4), 0);
  const metadata = { format: 'pt' };
  if (total > maxShard) {
    writeShardedSafetensors(dir, sd, maxShard, metadata);
    fs.rmSync(path.join(dir, SAFETENSORS_FILE), { force: true });
  } else {
    writeSafetensors(path.join(dir, SAFETENSORS_FILE), sd, metadata);
    const index = path.join(dir, SAFETENSORS_INDEX_FILE);
    if (fs.existsSync(index)) {
      fs.rmSync(index);
      for (const f of fs.readdirSync(dir)) if (/^model-\d{5}-of-\d{5}\.safetensors$/.test(f)) fs.rmSync(path.join(dir, f));
    }
  }
  writeFileAtomic(path.join(dir, 'config.json'), [Buffer.from(JSON.stringify(config, null, 2) + '\n', 'utf8')]);
  const generation = generationConfigToHF(model.generationConfig);
  if (generation) writeFileAtomic(path.join(dir, GENERATION_CONFIG_FILE), `${JSON.stringify(generation, null, 2)}\n`);
  else fs.rmSync(path.join(dir, GENERATION_CONFIG_FILE), { force: true });
  if (options.tokenizer) saveTokenizer(options.tokenizer, dir);
}
