// safetensors read/write (https://github.com/huggingface/safetensors format): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the data.
// Every header field is validated before any byte is trusted; sharded folders use model.safetensors.index.json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tensor } from '../ops/creation.js';
import { formatShape, Tensor } from '../tensor.js';
import { writeFileAtomic } from './atomic.js';

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';
export const SAFETENSORS_FILE = 'model.safetensors';

// Bytes per element of every dtype the format defines. Floats load as float32, integers and BOOL as int32.
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
const UNSUPPORTED_DTYPES = new Set(['F8_E4M3', 'F8_E5M2']);

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Byte position of the data section in the file (8 + header length). */
  dataStart: number;
}

export interface ReadSafetensorsOptions {
  /** Load only the tensors whose name passes (the header is still validated whole). */
  filter?: (name: string) => boolean;
  /**
   * dtype of the floating tensors: 'float32' (default) or 'bfloat16' (BF16 data kept as it is, no float32 copy;
   * F32/F16/F64 rounded to nearest even). Integer tensors load as int32 either way.
   */
  dtype?: 'float32' | 'bfloat16';
}

// NOTE: typed-array views below read the host's byte order; the format is little-endian.
if (os.endianness() !== 'LE') throw new Error('thinkgrad safetensors: big-endian hosts are not supported');

function fail(source: string, message: string): never {
  throw new Error(`safetensors: ${source}: ${message}`);
}

/** Reads the header length from the first 8 bytes and checks it against the limit and the file size. */
export function headerLength(first8: Uint8Array, fileSize: number, source = '<bytes>'): number {
  if (fileSize < 8 || first8.byteLength < 8) fail(source, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(source, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8n + n > BigInt(fileSize)) fail(source, `header length ${n} runs past the end of the ${fileSize}-byte file (truncated or corrupt)`);
  if (n < 2n) fail(source, `header length ${n} is too small for a JSON object`);
  return Number(n);
}

function isSafeIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the JSON header. `headerBytes` is exactly the N header bytes; `fileSize` is the whole
 * file's size. Checks: JSON syntax, object shape, dtypes, shapes (non-negative safe integers, safe product),
 * offsets (begin <= end, inside the data section, dtype size x elements == byte length), no overlaps or gaps,
 * and the data section ending exactly at the last tensor; `__metadata__` must map strings to strings.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, source = '<bytes>'): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(source, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(source, `header is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(source, 'header must be a JSON object');
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(source, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__ value of '${k}' must be a string, got ${v === null ? 'null' : typeof v}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (name.length === 0) fail(source, 'empty tensor name');
    if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(source, `${where}: entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(source, `${where}: dtype must be a string`);
    const size = Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
    if (size === undefined) fail(source, `${where}: unknown dtype '${dtype}'`);
    if (!Array.isArray(shape)) fail(source, `${where}: shape must be an array`);
    let numel = 1;
    for (const d of shape) {
      if (!isSafeIndex(d)) fail(source, `${where}: shape entries must be non-negative integers, got ${JSON.stringify(shape)}`);
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(source, `${where}: shape ${JSON.stringify(shape)} has too many elements`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(source, `${where}: data_offsets must be [begin, end]`);
    const [begin, end] = offsets;
    if (!isSafeIndex(begin) || !isSafeIndex(end)) fail(source, `${where}: data_offsets must be non-negative integers, got ${JSON.stringify(offsets)}`);
    if (begin > end) fail(source, `${where}: data_offsets begin ${begin} > end ${end}`);
    if (end > dataSize) fail(source, `${where}: data_offsets [${begin}, ${end}] lie outside the ${dataSize}-byte data section`);
    if (numel * size !== end - begin) {
      fail(source, `${where}: ${dtype} shape ${JSON.stringify(shape)} needs ${numel} x ${size} = ${numel * size} bytes but data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The data section must be covered exactly once, in order of offsets (as the reference loader requires).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: SafetensorsEntry | null = null;
  for (const e of sorted) {
    if (e.begin < cursor) fail(source, `tensor '${e.name}' [${e.begin}, ${e.end}] overlaps tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`);
    if (e.begin > cursor) fail(source, `tensor '${e.name}' starts at ${e.begin}, leaving a gap after byte ${cursor} of the data section`);
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataSize) fail(source, `data section is ${dataSize} bytes but the tensors cover ${cursor} (trailing bytes or truncated header)`);
  return { entries, metadata, dataStart };
}

let halfTable: Float32Array | null = null;

// float16 bits -> float32 for all 65536 patterns (subnormals, infinities and NaNs included).
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    halfTable[h] = e === 0 ? sign * f * 2 ** -24 : e === 31 ? (f ? NaN : sign * Infinity) : sign * (1 + f / 1024) * 2 ** (e - 15);
  }
  return halfTable;
}

// The bytes' own buffer when they span all of it (offset 0 is aligned for every type), else a copy.
function aligned(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

/**
 * Converts one tensor's raw bytes (exactly end - begin of them) to a Tensor: floating ones of `floatDtype`,
 * integer ones int32.
 */
export function decodeEntry(entry: SafetensorsEntry, bytes: Uint8Array, source = '<bytes>',
  floatDtype: 'float32' | 'bfloat16' = 'float32'): Tensor {
  const { dtype, shape, name } = entry;
  if (UNSUPPORTED_DTYPES.has(dtype)) fail(source, `tensor '${name}': dtype ${dtype} is not supported (float32, float16, bfloat16, float64 and integer types are)`);
  if (floatDtype !== 'float32' && floatDtype !== 'bfloat16') throw new TypeError(`safetensors: dtype must be 'float32' or 'bfloat16', got ${String(floatDtype)}`);
  const n = shape.reduce((a, b) => a * b, 1);
  const buf = aligned(bytes);
  if (dtype === 'BF16' && floatDtype === 'bfloat16') {
    return tensor(new Uint16Array(buf, 0, n), shape, { dtype: 'bfloat16' });
  }
  let floats: Float32Array | null = null;
  let ints: Int32Array | null = null;
  const outOfRange = (i: number, value: bigint | number): never =>
    fail(source, `tensor '${name}' (${dtype}) element ${i} = ${value} does not fit in int32`);
  switch (dtype) {
    case 'F32': floats = new Float32Array(buf); break;
    case 'F64': floats = Float32Array.from(new Float64Array(buf)); break;
    case 'BF16': { // bfloat16 is the top half of a float32
      const src = new Uint16Array(buf);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
      floats = new Float32Array(bits.buffer);
      break;
    }
    case 'F16': {
      const src = new Uint16Array(buf);
      const table = halfToFloatTable();
      floats = new Float32Array(n);
      for (let i = 0; i < n; i++) floats[i] = table[src[i]];
      break;
    }
    case 'I32': ints = new Int32Array(buf); break;
    case 'I64': case 'U64': { // little-endian words (lo, hi); int32 iff hi is lo's sign extension (U64: hi == 0, lo >= 0)
      const w = new Int32Array(buf);
      ints = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = w[2 * i];
        const hi = w[2 * i + 1];
        if (dtype === 'I64' ? hi !== lo >> 31 : hi !== 0 || lo < 0) {
          outOfRange(i, dtype === 'I64' ? (BigInt(hi) << 32n) | BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
        }
        ints[i] = lo;
      }
      break;
    }
    case 'U32': {
      const src = new Uint32Array(buf);
      ints = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (src[i] > 0x7fffffff) outOfRange(i, src[i]);
        ints[i] = src[i];
      }
      break;
    }
    case 'I16': ints = Int32Array.from(new Int16Array(buf)); break;
    case 'U16': ints = Int32Array.from(new Uint16Array(buf)); break;
    case 'I8': ints = Int32Array.from(new Int8Array(buf)); break;
    case 'U8': ints = Int32Array.from(new Uint8Array(buf)); break;
    case 'BOOL': ints = Int32Array.from(new Uint8Array(buf), (b) => (b ? 1 : 0)); break;
    default: fail(source, `tensor '${name}': unknown dtype '${dtype}'`);
  }
  return floats ? tensor(floats, shape, { dtype: floatDtype }) : tensor(ints!, shape, { dtype: 'int32' });
}

function collect(entries: SafetensorsEntry[], load: (e: SafetensorsEntry) => Tensor, filter?: (name: string) => boolean): Record<string, Tensor> {
  const out: [string, Tensor][] = [];
  try {
    for (const e of entries) if (!filter || filter(e.name)) out.push([e.name, load(e)]);
  } catch (err) {
    for (const [, t] of out) t.dispose();
    throw err;
  }
  // fromEntries defines own properties, so a tensor named "__proto__" cannot touch the prototype.
  return Object.fromEntries(out);
}

/** Parses a whole safetensors file held in memory into tensors (float types -> float32, integers -> int32). */
export function parseSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Record<string, Tensor> {
  const { entries, dataStart } = parseSafetensorsHeader(bytes);
  return collect(entries, (e) => decodeEntry(e, bytes.subarray(dataStart + e.begin, dataStart + e.end), '<bytes>', options.dtype),
    options.filter);
}

/** The validated header of an in-memory safetensors file. */
export function parseSafetensorsHeader(bytes: Uint8Array, source = '<bytes>'): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`parseSafetensors: expected a Uint8Array, got ${typeof bytes}`);
  const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, source);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, source);
}

function readExactly(fd: number, length: number, position: number, source: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const got = fs.readSync(fd, out, done, length - done, position + done);
    if (got === 0) fail(source, `file ended early at byte ${position + done}`);
    done += got;
  }
  return out;
}

/** Reads the validated header of a safetensors file without loading any tensor. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = fs.openSync(file, 'r');
  try {
    return readHeaderFd(fd, fs.fstatSync(fd).size, file);
  } finally {
    fs.closeSync(fd);
  }
}

function readHeaderFd(fd: number, size: number, file: string): SafetensorsHeader {
  const n = headerLength(readExactly(fd, Math.min(8, size), 0, file), size, file);
  return parseHeader(readExactly(fd, n, 8, file), size, file);
}

/**
 * Loads a .safetensors file: float32/float16/bfloat16/float64 tensors become float32 (or bfloat16: `options.dtype`),
 * integer ones int32 (int64 values are range-checked). Tensors are read one at a time, so peak memory is one tensor's bytes
 * beyond the results. A corrupt or hostile file throws an Error naming the file and the problem.
 */
export function readSafetensors(file: string, options: ReadSafetensorsOptions = {}): Record<string, Tensor> {
  const fd = fs.openSync(file, 'r');
  try {
    const { entries, dataStart } = readHeaderFd(fd, fs.fstatSync(fd).size, file);
    return collect(entries, (e) => decodeEntry(e, readExactly(fd, e.end - e.begin, dataStart + e.begin, file), file, options.dtype),
      options.filter);
  } finally {
    fs.closeSync(fd);
  }
}

function checkTensorMap(op: string, tensors: Record<string, Tensor>): [string, Tensor][] {
  if (tensors === null || typeof tensors !== 'object') throw new TypeError(`${op}: tensors must be an object of name -> Tensor`);
  const items = Object.entries(tensors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, t] of items) {
    if (name.length === 0 || name === '__metadata__') throw new RangeError(`${op}: invalid tensor name '${name}'`);
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: '${name}' is not a Tensor`);
    t.assertLive(`${op} '${name}'`);
  }
  return items;
}

function checkMetadata(op: string, metadata: Record<string, string> | undefined): void {
  if (metadata === undefined) return;
  if (metadata === null || typeof metadata !== 'object') throw new TypeError(`${op}: metadata must be an object of strings`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TypeError(`${op}: metadata '${k}' must be a string, got ${typeof v}`);
  }
}

const tensorBytes = (t: Tensor) => t.numel * (t.dtype === 'bfloat16' ? 2 : 4);
const FILE_DTYPE = { float32: 'F32', int32: 'I32', bfloat16: 'BF16' } as const;

/**
 * The file as chunks: header (keys sorted, `__metadata__` first, padded with spaces to a multiple of 8 bytes),
 * then each tensor's data in key order. Tensor data is read lazily as the chunks are consumed.
 */
export function* serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Generator<Uint8Array> {
  const items = checkTensorMap('writeSafetensors', tensors);
  checkMetadata('writeSafetensors', metadata);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of items) {
    const n = tensorBytes(t);
    header[name] = { dtype: FILE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  yield prefix;
  yield headerBytes;
  for (const [name, t] of items) {
    const live = t.assertLive(`writeSafetensors '${name}'`);
    const data = live.dtype === 'bfloat16' ? live.bf16Bits() : live.data();
    yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
}

/**
 * Writes float32/int32/bfloat16 tensors (F32, I32, BF16) to `file` atomically (temporary file in the same folder, fsync, rename).
 * Metadata gets `format: 'pt'` unless given, which `transformers` expects when it loads the file.
 */
export function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  checkTensorMap('writeSafetensors', tensors);
  checkMetadata('writeSafetensors', metadata);
  writeFileAtomic(file, serializeSafetensors(tensors, { format: 'pt', ...metadata }));
}

export interface SafetensorsIndex {
  metadata?: Record<string, unknown>;
  weight_map: Record<string, string>;
}

// Resolves a shard name from an index, refusing absolute paths, '..' escapes and symlinks that leave `dir`.
function shardPath(dir: string, realDir: string, file: unknown, indexFile: string): string {
  if (typeof file !== 'string' || file.length === 0) fail(indexFile, `weight_map values must be file names, got ${JSON.stringify(file)}`);
  if (path.isAbsolute(file) || file.includes('\0')) fail(indexFile, `shard '${file}' must be a relative path inside ${dir}`);
  const full = path.resolve(dir, file);
  const rel = path.relative(path.resolve(dir), full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) fail(indexFile, `shard '${file}' lies outside ${dir} (path traversal refused)`);
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch {
    fail(indexFile, `shard '${file}' does not exist in ${dir}`);
  }
  const realRel = path.relative(realDir, real);
  if (realRel === '' || realRel.startsWith('..') || path.isAbsolute(realRel)) fail(indexFile, `shard '${file}' resolves outside ${dir} (symlink refused)`);
  if (!fs.statSync(real).isFile()) fail(indexFile, `shard '${file}' is not a regular file`);
  return real;
}

/** Reads and validates `dir/model.safetensors.index.json`. */
export function readSafetensorsIndex(dir: string, indexName = SAFETENSORS_INDEX_FILE): SafetensorsIndex {
  const indexFile = path.join(dir, indexName);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw new Error(`safetensors: cannot read index ${indexFile}: ${(err as Error).message}`);
    fail(indexFile, `index is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(indexFile, 'index must be a JSON object');
  const map = (json as Record<string, unknown>).weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) fail(indexFile, 'index has no weight_map object');
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string') fail(indexFile, `weight_map['${name}'] must be a file name, got ${JSON.stringify(file)}`);
  }
  return json as SafetensorsIndex;
}

/**
 * Loads a sharded checkpoint through `dir/model.safetensors.index.json`: every shard named in weight_map must
 * exist inside `dir` (no path traversal, no escaping symlinks) and hold the tensors mapped to it.
 */
export function readShardedSafetensors(dir: string, options: ReadSafetensorsOptions & { indexName?: string } = {}): Record<string, Tensor> {
  const indexName = options.indexName ?? SAFETENSORS_INDEX_FILE;
  const indexFile = path.join(dir, indexName);
  const index = readSafetensorsIndex(dir, indexName);
  const realDir = fs.realpathSync(dir);
  const byFile = new Map<string, Set<string>>();
  for (const [name, file] of Object.entries(index.weight_map)) {
    if (options.filter && !options.filter(name)) continue;
    const real = shardPath(dir, realDir, file, indexFile);
    if (!byFile.has(real)) byFile.set(real, new Set());
    byFile.get(real)!.add(name);
  }
  // Validate every shard path before loading any tensor, then load shard by shard.
  const loaded: Record<string, Tensor>[] = [];
  try {
    for (const [file, names] of byFile) {
      const part = readSafetensors(file, { filter: (n) => names.has(n), dtype: options.dtype });
      loaded.push(part);
      for (const name of names) {
        if (!Object.prototype.hasOwnProperty.call(part, name)) fail(indexFile, `tensor '${name}' is mapped to ${path.basename(file)} but that shard does not contain it`);
      }
    }
  } catch (err) {
    for (const part of loaded) for (const t of Object.values(part)) t.dispose();
    throw err;
  }
  return Object.fromEntries(loaded.flatMap((part) => Object.entries(part)));
}

/** Loads a model folder's weights: the sharded index when present, else `model.safetensors`. */
export function readSafetensorsFolder(dir: string, options: ReadSafetensorsOptions = {}): Record<string, Tensor> {
  if (fs.existsSync(path.join(dir, SAFETENSORS_INDEX_FILE))) return readShardedSafetensors(dir, options);
  const single = path.join(dir, SAFETENSORS_FILE);
  if (!fs.existsSync(single)) throw new Error(`safetensors: ${dir} has neither ${SAFETENSORS_FILE} nor ${SAFETENSORS_INDEX_FILE}`);
  return readSafetensors(single, options);
}

/**
 * The shapes of a model folder's tensors (name -> shape), read from the headers alone (the sharded index's
 * shards checked as readSafetensorsFolder checks them): what a loader compares a config against before it
 * allocates anything.
 */
export function readSafetensorsFolderShapes(dir: string): Map<string, number[]> {
  return openSafetensorsFolder(dir).shapes;
}

/** A model folder's tensors by name, read one at a time (see openSafetensorsFolder). */
export interface SafetensorsFolder {
  /** Every tensor's shape, from the validated headers. */
  shapes: Map<string, number[]>;
  /** Reads one tensor (float types as `dtype`, default float32; integers as int32) from its file. */
  read(name: string, dtype?: 'float32' | 'bfloat16'): Tensor;
}

/**
 * Opens a model folder (the sharded index when present, else `model.safetensors`; shards checked as
 * readSafetensorsFolder checks them) by its headers alone, so a loader can check names and shapes before it
 * allocates anything and then read tensor by tensor, holding one beyond what it keeps.
 */
export function openSafetensorsFolder(dir: string): SafetensorsFolder {
  const located = new Map<string, { file: string; entry: SafetensorsEntry; dataStart: number }>();
  const add = (file: string, names: ((name: string) => boolean) | null) => {
    const header = readSafetensorsHeader(file);
    for (const e of header.entries) if (!names || names(e.name)) located.set(e.name, { file, entry: e, dataStart: header.dataStart });
  };
  if (fs.existsSync(path.join(dir, SAFETENSORS_INDEX_FILE))) {
    const index = readSafetensorsIndex(dir);
    const indexFile = path.join(dir, SAFETENSORS_INDEX_FILE);
    const realDir = fs.realpathSync(dir);
    const byFile = new Map<string, Set<string>>();
    for (const [name, file] of Object.entries(index.weight_map)) {
      const real = shardPath(dir, realDir, file, indexFile);
      if (!byFile.has(real)) byFile.set(real, new Set());
      byFile.get(real)!.add(name);
    }
    for (const [file, names] of byFile) {
      add(file, (n) => names.has(n));
      for (const name of names) {
        if (!located.has(name)) fail(indexFile, `tensor '${name}' is mapped to ${path.basename(file)} but that shard does not contain it`);
      }
    }
  } else {
    const single = path.join(dir, SAFETENSORS_FILE);
    if (!fs.existsSync(single)) throw new Error(`safetensors: ${dir} has neither ${SAFETENSORS_FILE} nor ${SAFETENSORS_INDEX_FILE}`);
    add(single, null);
  }
  return {
    shapes: new Map([...located].map(([name, { entry }]) => [name, entry.shape])),
    read(name, dtype) {
      const at = located.get(name);
      if (at === undefined) throw new RangeError(`safetensors: ${dir} has no tensor '${name}'`);
      const fd = fs.openSync(at.file, 'r');
      try {
        return decodeEntry(at.entry, readExactly(fd, at.entry.end - at.entry.begin, at.dataStart + at.entry.begin, at.file), at.file, dtype);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

/**
 * Writes `tensors` as Hugging Face shards `model-00001-of-0000N.safetensors` (keys sorted, each shard at most
 * `maxShardBytes` of tensor data unless one tensor alone is larger) plus `model.safetensors.index.json`.
 * Shards are written first and the index last, each atomically; shard files of an earlier save that the new
 * index does not name are removed afterwards.
 */
export function writeShardedSafetensors(dir: string, tensors: Record<string, Tensor>, maxShardBytes: number,
  metadata?: Record<string, string>): SafetensorsIndex {
  if (!(typeof maxShardBytes === 'number' && maxShardBytes > 0)) throw new RangeError(`writeShardedSafetensors: maxShardBytes must be > 0, got ${maxShardBytes}`);
  const items = checkTensorMap('writeShardedSafetensors', tensors);
  checkMetadata('writeShardedSafetensors', metadata);
  const shards: [string, Tensor][][] = [];
  let current: [string, Tensor][] = [];
  let currentBytes = 0;
  let total = 0;
  for (const item of items) {
    const n = tensorBytes(item[1]);
    if (current.length > 0 && currentBytes + n > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += n;
    total += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  fs.mkdirSync(dir, { recursive: true });
  const count = shards.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const names: string[] = [];
  shards.forEach((shard, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(count)}.safetensors`;
    names.push(name);
    writeSafetensors(path.join(dir, name), Object.fromEntries(shard), metadata);
    for (const [key] of shard) weightMap[key] = name;
  });
  const index: SafetensorsIndex = { metadata: { total_size: total }, weight_map: weightMap };
  writeFileAtomic(path.join(dir, SAFETENSORS_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  for (const f of fs.readdirSync(dir)) if (SHARD_NAME.test(f) && !names.includes(f)) fs.rmSync(path.join(dir, f), { force: true });
  return index;
}
