// Training checkpoints: model weights, optimizer and scheduler state, the RNG state, step and config in one
// folder, written whole to a temporary sibling and swapped in only when complete, so a crash mid-save keeps
// the previous checkpoint; every file's sha256 (trainer_state.json's too) is recorded in SHA256SUMS and checked on load.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getRngState, setRngState } from '../ops/creation.js';
import { Tensor } from '../tensor.js';
import { findAsideFolders, fsyncDir, removeInterruptedWrites, replaceFolder, tempSibling, writeChunksSync } from './atomic.js';
import { readSafetensors, serializeSafetensors } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'thinkgrad-checkpoint';
// Version 2 added SHA256SUMS, which covers trainer_state.json too and marks the folder complete.
export const CHECKPOINT_VERSION = 2;
const STATE_FILE = 'trainer_state.json';
const MODEL_FILE = 'model.safetensors';
// `sha256sum -c SHA256SUMS` checks a checkpoint by hand. Written last: a folder holding it is complete.
const SUMS_FILE = 'SHA256SUMS';
const CHECKPOINT_NAME = /^checkpoint-(\d+)$/;

/** Anything with named tensors (an nn.Module, or a plain object in tests). */
export interface HasStateDict {
  stateDict(): Record<string, Tensor>;
}

/** Optimizers and schedulers: a state of JSON values and Tensors, restored by loadStateDict. */
export interface Stateful {
  stateDict(): unknown;
  loadStateDict(state: unknown): void;
}

export interface SaveCheckpointOptions {
  model: HasStateDict;
  /** The model's safetensors file. Default model.safetensors (a LoRA trainer writes PEFT's adapter_model.safetensors). */
  modelFile?: string;
  /** Further small files (name -> text), listed and hashed like the others, e.g. a LoRA run's adapter_config.json. */
  files?: Record<string, string>;
  optimizer?: Stateful;
  scheduler?: Stateful;
  /** Optimizer steps taken so far. */
  step: number;
  /** The run's configuration (JSON). */
  config?: unknown;
  /** Anything else to restore (JSON values and Tensors), e.g. data-loader position or metrics. */
  extra?: unknown;
}

export interface LoadCheckpointOptions {
  /** Receives the saved weights. NOTE: it must copy them; loadCheckpoint disposes the loaded tensors after. */
  model: { loadStateDict(stateDict: Record<string, Tensor>): void };
  /** The model's safetensors file, as given to saveCheckpoint. Default model.safetensors. */
  modelFile?: string;
  optimizer?: Stateful;
  scheduler?: Stateful;
  /** Restore the global RNG (setRngState) so random draws continue as in the uninterrupted run. Default true. */
  restoreRng?: boolean;
  /** Check each file's size and sha256 before loading. Default true. */
  verify?: boolean;
}

export interface CheckpointInfo {
  format: string;
  version: number;
  step: number;
  config: unknown;
  extra: unknown;
  rng: { seed: number; counter: number };
  savedAt: string;
  files: Record<string, { bytes: number; sha256: string }>;
  /** The folder actually read (an interrupted save's set-aside copy when `dir` itself was missing). */
  dir: string;
}

// JSON trees with tensors: each Tensor becomes {"__tensor__": name} and goes into a safetensors file.
function splitTensors(value: unknown, where: string[], tensors: Record<string, Tensor>, seen: Set<unknown>): unknown {
  if (value instanceof Tensor) {
    let name = where.join('.') || 'tensor';
    for (let i = 1; Object.prototype.hasOwnProperty.call(tensors, name); i++) name = `${where.join('.')}#${i}`;
    tensors[name] = value;
    return { __tensor__: name };
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return { __number__: String(value) };
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
      throw new TypeError(`saveCheckpoint: ${where.join('.') || 'value'} is a ${typeof value}, which cannot be saved`);
    }
    return value;
  }
  if (seen.has(value)) throw new TypeError(`saveCheckpoint: ${where.join('.')} refers back to itself`);
  seen.add(value);
  const out = Array.isArray(value)
    ? value.map((v, i) => splitTensors(v, [...where, String(i)], tensors, seen))
    : Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, splitTensors(v, [...where, k], tensors, seen)]));
  seen.delete(value);
  return out;
}

function joinTensors(value: unknown, tensors: Record<string, Tensor>, source: string): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => joinTensors(v, tensors, source));
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1 && typeof obj.__tensor__ === 'string') {
    if (!Object.prototype.hasOwnProperty.call(tensors, obj.__tensor__)) throw new Error(`loadCheckpoint: ${source} refers to tensor '${obj.__tensor__}', which its safetensors file lacks`);
    return tensors[obj.__tensor__];
  }
  if (keys.length === 1 && typeof obj.__number__ === 'string') return Number(obj.__number__);
  return Object.fromEntries(keys.map((k) => [k, joinTensors(obj[k], tensors, source)]));
}

function hashing(chunks: Iterable<Uint8Array>, hash: ReturnType<typeof createHash>): Iterable<Uint8Array> {
  return (function* () {
    for (const c of chunks) {
      hash.update(c);
      yield c;
    }
  })();
}

function hashFile(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Saves a resumable training checkpoint into the folder `dir`:
 * model.safetensors, optimizer.safetensors + optimizer.json, scheduler.json (when given) and
 * trainer_state.json (step, config, extra, RNG state, and each file's size and sha256), then SHA256SUMS (every
 * file's sha256, trainer_state.json's included). Everything is written and fsynced in a temporary sibling
 * folder first; an existing `dir` is replaced only once the new one is complete, and then what earlier
 * interrupted saves left beside it (`.*.tmp-*`, superseded `.*.old-*`) is removed. On any error the temporary
 * folder is removed and `dir` is left as it was.
 */
export function saveCheckpoint(dir: string, options: SaveCheckpointOptions): void {
  if (!options || typeof options.model?.stateDict !== 'function') throw new TypeError('saveCheckpoint: options.model must have stateDict()');
  if (!Number.isInteger(options.step) || options.step < 0) throw new RangeError(`saveCheckpoint: step must be an integer >= 0, got ${options.step}`);
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const staged = tempSibling(target, 'tmp');
  fs.mkdirSync(staged);
  try {
    const files: CheckpointInfo['files'] = {};
    const write = (name: string, chunks: Iterable<Uint8Array>) => {
      const hash = createHash('sha256');
      const bytes = writeChunksSync(path.join(staged, name), hashing(chunks, hash));
      files[name] = { bytes, sha256: hash.digest('hex') };
    };
    const writeJson = (name: string, value: unknown) => write(name, [Buffer.from(`${JSON.stringify(value, null, 1)}\n`, 'utf8')]);

    const modelState = options.model.stateDict();
    for (const [k, v] of Object.entries(modelState)) if (!(v instanceof Tensor)) throw new TypeError(`saveCheckpoint: model.stateDict()['${k}'] is not a Tensor`);
    const modelFile = options.modelFile ?? MODEL_FILE;
    const extraFiles = Object.entries(options.files ?? {});
    for (const name of [modelFile, ...extraFiles.map(([n]) => n)]) {
      if (!/^[\w-][\w.-]*$/.test(name) || name === STATE_FILE || name === SUMS_FILE) throw new RangeError(`saveCheckpoint: invalid file name '${name}'`);
    }
    write(modelFile, serializeSafetensors(modelState, { format: 'pt' }));
    for (const [name, text] of extraFiles) write(name, [Buffer.from(text, 'utf8')]);
    for (const [key, part] of [['optimizer', options.optimizer], ['scheduler', options.scheduler]] as const) {
      if (!part) continue;
      if (typeof part.stateDict !== 'function') throw new TypeError(`saveCheckpoint: options.${key} must have stateDict()`);
      const tensors: Record<string, Tensor> = {};
      const tree = splitTensors(part.stateDict(), [], tensors, new Set());
      if (Object.keys(tensors).length > 0) write(`${key}.safetensors`, serializeSafetensors(tensors));
      writeJson(`${key}.json`, tree);
    }
    const extraTensors: Record<string, Tensor> = {};
    const extra = splitTensors(options.extra ?? null, ['extra'], extraTensors, new Set());
    if (Object.keys(extraTensors).length > 0) write('extra.safetensors', serializeSafetensors(extraTensors));
    const configTensors: Record<string, Tensor> = {};
    const info = {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: options.step,
      config: splitTensors(options.config ?? null, ['config'], configTensors, new Set()), extra, rng: getRngState(),
      savedAt: new Date().toISOString(), files,
    };
    if (Object.keys(configTensors).length > 0) throw new TypeError('saveCheckpoint: config must be plain JSON (it holds a Tensor)');
    const sums: Record<string, string> = Object.fromEntries(Object.entries(files).map(([name, meta]) => [name, meta.sha256]));
    const stateHash = createHash('sha256');
    writeChunksSync(path.join(staged, STATE_FILE), hashing([Buffer.from(`${JSON.stringify(info, null, 1)}\n`, 'utf8')], stateHash));
    sums[STATE_FILE] = stateHash.digest('hex');
    const sumsText = Object.keys(sums).sort().map((name) => `${sums[name]}  ${name}\n`).join('');
    writeChunksSync(path.join(staged, SUMS_FILE), [Buffer.from(sumsText, 'utf8')]);
    fsyncDir(staged);
    replaceFolder(staged, target);
    removeInterruptedWrites(path.dirname(target));
  } catch (err) {
    fs.rmSync(staged, { recursive: true, force: true });
    throw err;
  }
}

function readSums(dir: string): Map<string, string> {
  const file = path.join(dir, SUMS_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(`loadCheckpoint: ${dir} is not a complete checkpoint (${SUMS_FILE} is missing: its save was interrupted, or it predates checkpoint version ${CHECKPOINT_VERSION})`);
  }
  const sums = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`loadCheckpoint: ${file} is corrupt: bad line ${JSON.stringify(line)}`);
    sums.set(m[2], m[1]);
  }
  return sums;
}

// trainer_state.json, checked against SHA256SUMS (unless verify is false), and the files it lists against the sums.
function readInfo(dir: string, verify = true): CheckpointInfo {
  const file = path.join(dir, STATE_FILE);
  const sums = readSums(dir);
  if (!sums.has(STATE_FILE)) throw new Error(`loadCheckpoint: ${path.join(dir, SUMS_FILE)} does not cover ${STATE_FILE}`);
  if (!fs.existsSync(file)) throw new Error(`loadCheckpoint: ${dir} is not a complete checkpoint (${STATE_FILE} is missing)`);
  if (verify && hashFile(file) !== sums.get(STATE_FILE)) throw new Error(`loadCheckpoint: ${file} is corrupt: sha256 does not match ${SUMS_FILE}`);
  let info: CheckpointInfo;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`loadCheckpoint: ${file} is corrupt: ${(err as Error).message}`);
  }
  if (!info || info.format !== CHECKPOINT_FORMAT) throw new Error(`loadCheckpoint: ${file} is not a thinkgrad checkpoint`);
  if (info.version !== CHECKPOINT_VERSION) throw new Error(`loadCheckpoint: ${file} has version ${info.version}; this thinkgrad reads version ${CHECKPOINT_VERSION}`);
  if (!Number.isInteger(info.step) || !info.files || typeof info.files !== 'object' || !info.rng) throw new Error(`loadCheckpoint: ${file} lacks step, files or rng`);
  for (const [name, meta] of Object.entries(info.files)) {
    if (sums.get(name) !== meta?.sha256) throw new Error(`loadCheckpoint: ${SUMS_FILE} and ${STATE_FILE} in ${dir} disagree about ${name}`);
  }
  return { ...info, dir };
}

// Every file trainer_state.json lists: present, and (when verifying) of the recorded size and sha256.
function checkFiles(folder: string, info: CheckpointInfo, verify: boolean): void {
  for (const [name, meta] of Object.entries(info.files)) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new Error(`loadCheckpoint: ${STATE_FILE} names an invalid file '${name}'`);
    const file = path.join(folder, name);
    if (!fs.existsSync(file)) throw new Error(`loadCheckpoint: ${file} is missing`);
    if (verify) {
      const size = fs.statSync(file).size;
      if (size !== meta.bytes) throw new Error(`loadCheckpoint: ${file} is corrupt: ${size} bytes, expected ${meta.bytes}`);
      if (hashFile(file) !== meta.sha256) throw new Error(`loadCheckpoint: ${file} is corrupt: sha256 does not match`);
    }
  }
}

/** The step of a checkpoint folder named `checkpoint-<step>` (the path's last part), else null. */
export function checkpointStep(folder: string): number | null {
  const m = CHECKPOINT_NAME.exec(path.basename(folder));
  return m ? Number(m[1]) : null;
}

// The names `checkpoint-<step>` among `names`, oldest (smallest step) first.
function checkpointNames(names: readonly string[]): { name: string; step: number }[] {
  return names.flatMap((name) => {
    const step = checkpointStep(name);
    return step === null ? [] : [{ name, step }];
  }).sort((a, b) => a.step - b.step || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The newest complete checkpoint (`checkpoint-N` with the largest N whose files are all present and match
 * their sha256) in a trainer's output folder, or null when there is none (TRL's get_last_checkpoint).
 * Folders of interrupted saves and corrupt checkpoints are skipped. `verify: false` checks only that each
 * folder's SHA256SUMS and files are present (no hashing).
 */
export function latestCheckpoint(outputDir: string, options: { verify?: boolean } = {}): string | null {
  if (typeof outputDir !== 'string' || outputDir === '') throw new TypeError(`latestCheckpoint: outputDir must be a non-empty string, got ${JSON.stringify(outputDir)}`);
  let names: string[];
  try {
    names = fs.readdirSync(outputDir);
  } catch {
    return null;
  }
  for (const { name } of checkpointNames(names).reverse()) {
    const folder = path.join(outputDir, name);
    try {
      if (!fs.statSync(folder).isDirectory()) continue;
      const verify = options.verify ?? true;
      checkFiles(folder, readInfo(folder, verify), verify);
      return folder;
    } catch {
      continue;
    }
  }
  return null;
}

/**
 * Keeps at most `limit` checkpoints in a trainer's output folder (transformers' save_total_limit): deletes the
 * oldest `checkpoint-<step>` folders (smallest step first) directly inside `outputDir` beyond `limit`, never
 * `keep` (the one just written). Anything else there, including symbolic links named like checkpoints, is left
 * alone. Each folder loses its SHA256SUMS first, so one whose deletion is interrupted reads as incomplete.
 * Returns the folders deleted.
 */
export function pruneCheckpoints(outputDir: string, limit: number, keep: string | null = null): string[] {
  if (typeof outputDir !== 'string' || outputDir === '') throw new TypeError(`pruneCheckpoints: outputDir must be a non-empty string, got ${JSON.stringify(outputDir)}`);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`pruneCheckpoints: limit must be an integer >= 1, got ${limit}`);
  let names: string[];
  try {
    names = fs.readdirSync(outputDir);
  } catch {
    return [];
  }
  const kept = keep === null ? null : path.resolve(keep);
  const folders = checkpointNames(names).map(({ name }) => path.join(outputDir, name)).filter((folder) => {
    try {
      return fs.lstatSync(folder).isDirectory();
    } catch {
      return false;
    }
  });
  const removable = folders.filter((folder) => path.resolve(folder) !== kept);
  const removed = removable.slice(0, Math.max(0, folders.length - limit));
  for (const folder of removed) {
    fs.rmSync(path.join(folder, SUMS_FILE), { force: true });
    fs.rmSync(folder, { recursive: true, force: true });
  }
  if (removed.length > 0) fsyncDir(outputDir);
  return removed;
}

/** Reads a checkpoint's trainer_state.json (step, config, extra, RNG, files) without loading tensors. */
export function readCheckpointInfo(dir: string): CheckpointInfo {
  return readInfo(locate(dir));
}

// `dir`, or when it is missing because a save was interrupted between its two renames, the set-aside copy.
function locate(dir: string): string {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) return target;
  for (const aside of findAsideFolders(target)) if (fs.existsSync(path.join(aside, SUMS_FILE))) return aside;
  throw new Error(`loadCheckpoint: checkpoint folder ${target} does not exist`);
}

/**
 * Restores a checkpoint saved by saveCheckpoint: the model's weights (model.loadStateDict), optimizer and
 * scheduler state, and the RNG state; returns step, config and extra. Files are verified (size, sha256)
 * and parsed before anything is restored, so a corrupt checkpoint throws without touching the model.
 */
export function loadCheckpoint(dir: string, options: LoadCheckpointOptions): CheckpointInfo {
  if (!options || typeof options.model?.loadStateDict !== 'function') throw new TypeError('loadCheckpoint: options.model must have loadStateDict()');
  const folder = locate(dir);
  const info = readInfo(folder, options.verify ?? true);
  const has = (name: string) => Object.prototype.hasOwnProperty.call(info.files, name);
  checkFiles(folder, info, options.verify ?? true);
  const modelFile = options.modelFile ?? MODEL_FILE;
  if (!has(modelFile)) {
    const other = Object.keys(info.files).find((name) => name !== modelFile && /^(?:adapter_)?model\.safetensors$/.test(name));
    throw new Error(`loadCheckpoint: ${folder} has no ${modelFile}${other ? ` (it holds ${other} instead: ${other === MODEL_FILE ? 'a whole model' : 'a LoRA adapter'})` : ''}`);
  }
  for (const key of ['optimizer', 'scheduler'] as const) {
    if (options[key] && !has(`${key}.json`)) throw new Error(`loadCheckpoint: an ${key} was given but ${folder} holds no ${key} state`);
  }
  const owned: Record<string, Tensor>[] = []; // loaded tensors that loadCheckpoint frees after restoring
  let extraTensors: Record<string, Tensor> = {};
  const readTensors = (name: string) => {
    const t = has(name) ? readSafetensors(path.join(folder, name)) : {};
    owned.push(t);
    return t;
  };
  const readJson = (name: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8'));
    } catch (err) {
      throw new Error(`loadCheckpoint: ${path.join(folder, name)} is corrupt: ${(err as Error).message}`);
    }
  };
  const free = (parts: Record<string, Tensor>[]) => {
    for (const part of parts) for (const t of Object.values(part)) t.dispose();
  };
  try {
    const model = readTensors(modelFile);
    const parts = (['optimizer', 'scheduler'] as const).filter((k) => options[k]).map((k) => ({
      target: options[k]!, state: joinTensors(readJson(`${k}.json`), readTensors(`${k}.safetensors`), `${k}.json`),
    }));
    if (has('extra.safetensors')) extraTensors = readSafetensors(path.join(folder, 'extra.safetensors'));
    const extra = joinTensors(info.extra, extraTensors, STATE_FILE);
    options.model.loadStateDict(model);
    for (const { target, state } of parts) target.loadStateDict(state);
    if (options.restoreRng ?? true) setRngState(info.rng);
    free(owned);
    // Tensors inside `extra` now belong to the caller.
    return { ...info, extra, config: joinTensors(info.config, {}, STATE_FILE), dir: folder };
  } catch (err) {
    free([...owned, extraTensors]);
    throw err;
  }
}
