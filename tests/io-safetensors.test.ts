// safetensors: files built byte by byte for every dtype (checked against float64 constants), our writer's
// layout, hostile headers refused with specific messages, and sharded folders with path traversal refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { readSafetensorsIndex } from '../src/io/safetensors.js';
import { randomArray } from './helpers/reference.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-safetensors-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file from a header (object or raw JSON text) and a data section; lengthOverride forges the u64. */
function buildFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(words: number[], bytesPerWord: 1 | 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(words.length * bytesPerWord);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => {
    if (bytesPerWord === 1) view.setUint8(i, w);
    else if (bytesPerWord === 2) view.setUint16(2 * i, w, true);
    else if (bytesPerWord === 4) view.setUint32(4 * i, w >>> 0, true);
    else view.setBigInt64(8 * i, BigInt(w), true);
  });
  return out;
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** A header + data for the named tensors laid out back to back in the given order. */
function layout(tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[], metadata?: Record<string, string>) {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  return buildFile(header, concat(tensors.map((t) => t.bytes)));
}

function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Object.is(actual[i], expected[i]) || (Number.isNaN(actual[i]) && Number.isNaN(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBe(true);
  }
}

describe('safetensors dtypes', () => {
  // Bit patterns with their exact float64 values.
  const f16: [number, number][] = [[0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x0400, 2 ** -14],
    [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x7e00, NaN], [0x8000, -0], [0x03ff, 1023 * 2 ** -24]];
  const bf16: [number, number][] = [[0x3f80, 1], [0xc040, -3], [0x3eaa, 0.33203125], [0x7f7f, 3.3895313892515355e38],
    [0x0001, 2 ** -133], [0x7f80, Infinity], [0xff80, -Infinity], [0x7fc0, NaN], [0x8000, -0]];
  const i64 = [0, 1, -1, 2147483647, -2147483648, 123456789, -987654321];
  const f32 = Array.from(randomArray(12, 7));
  const f64 = [1 / 3, -2.5, 1e-40, 1e300];
  const i32 = [0, -1, 2147483647, -2147483648, 42, 7];

  function allDtypesFile(): Uint8Array {
    const f32Bytes = new Uint8Array(Float32Array.from(f32).buffer);
    const f64Bytes = new Uint8Array(Float64Array.from(f64).buffer);
    // The 1-byte tensor first leaves every later tensor unaligned, which the reader must handle.
    return layout([
      { name: 'a.bool', dtype: 'BOOL', shape: [3], bytes: bytesOf([1, 0, 1], 1) },
      { name: 'b.f16', dtype: 'F16', shape: [f16.length], bytes: bytesOf(f16.map(([b]) => b), 2) },
      { name: 'c.bf16', dtype: 'BF16', shape: [bf16.length], bytes: bytesOf(bf16.map(([b]) => b), 2) },
      { name: 'd.f32', dtype: 'F32', shape: [3, 4], bytes: f32Bytes },
      { name: 'e.i64', dtype: 'I64', shape: [i64.length], bytes: bytesOf(i64, 8) },
      { name: 'f.i32', dtype: 'I32', shape: [2, 3], bytes: bytesOf(i32, 4) },
      { name: 'g.f64', dtype: 'F64', shape: [2, 2], bytes: f64Bytes },
      { name: 'h.u8', dtype: 'U8', shape: [2], bytes: bytesOf([0, 255], 1) },
      { name: 'i.i8', dtype: 'I8', shape: [2], bytes: bytesOf([0x80, 0x7f], 1) },
      { name: 'j.i16', dtype: 'I16', shape: [2], bytes: bytesOf([0x8000, 0x7fff], 2) },
      { name: 'k.scalar', dtype: 'F32', shape: [], bytes: new Uint8Array(Float32Array.of(2.5).buffer) },
      { name: 'l.empty', dtype: 'F16', shape: [0, 3], bytes: new Uint8Array(0) },
    ], { format: 'pt', note: 'made by the test' });
  }

  function checkAll(t: Record<string, tg.Tensor>): void {
    expect(Object.keys(t).sort()).toEqual(['a.bool', 'b.f16', 'c.bf16', 'd.f32', 'e.i64', 'f.i32', 'g.f64', 'h.u8', 'i.i8', 'j.i16', 'k.scalar', 'l.empty']);
    expect(t['b.f16'].dtype).toBe('float32');
    expectSame(t['b.f16'].data(), f16.map(([, v]) => v), 'f16');
    expectSame(t['c.bf16'].data(), bf16.map(([, v]) => v), 'bf16');
    expect(t['d.f32'].shape).toEqual([3, 4]);
    expectSame(t['d.f32'].data(), f32, 'f32');
    expect(t['e.i64'].dtype).toBe('int32');
    expectSame(t['e.i64'].data(), i64, 'i64');
    expectSame(t['f.i32'].data(), i32, 'i32');
    expectSame(t['g.f64'].data(), f64.map(Math.fround), 'f64');
    expectSame(t['a.bool'].data(), [1, 0, 1], 'bool');
    expectSame(t['h.u8'].data(), [0, 255], 'u8');
    expectSame(t['i.i8'].data(), [-128, 127], 'i8');
    expectSame(t['j.i16'].data(), [-32768, 32767], 'i16');
    expect(t['k.scalar'].shape).toEqual([]);
    expect(t['k.scalar'].item()).toBe(2.5);
    expect(t['l.empty'].shape).toEqual([0, 3]);
    for (const x of Object.values(t)) x.dispose();
  }

  it('reads every dtype from a file built byte by byte (float types -> float32, integers -> int32)', () => {
    const bytes = allDtypesFile();
    checkAll(tg.parseSafetensors(bytes));
    const file = path.join(tmp, 'all.safetensors');
    fs.writeFileSync(file, bytes);
    checkAll(tg.readSafetensors(file));
    expect(tg.readSafetensorsHeader(file).metadata).toEqual({ format: 'pt', note: 'made by the test' });
  });

  it('loads only the filtered tensors', () => {
    const t = tg.parseSafetensors(allDtypesFile(), { filter: (n) => n.endsWith('16') });
    expect(Object.keys(t).sort()).toEqual(['b.f16', 'c.bf16', 'j.i16']);
    for (const x of Object.values(t)) x.dispose();
  });

  it('range-checks int64 and uint64 values that int32 cannot hold', () => {
    for (const [dtype, v] of [['I64', 2 ** 31], ['I64', -(2 ** 31) - 1], ['U64', 2 ** 32]] as const) {
      const bytes = layout([{ name: 'ids', dtype, shape: [2], bytes: bytesOf([5, v], 8) }]);
      expect(() => tg.parseSafetensors(bytes)).toThrow(new RegExp(`tensor 'ids' \\(${dtype}\\) element 1 = ${v} does not fit in int32`));
    }
  });

  it('writes float32/int32 that read back exactly, with sorted keys and an 8-byte aligned, space-padded header', () => {
    const values = randomArray(2 * 3 * 5, 11);
    const w = tg.tensor(Float32Array.from(values), [2, 3, 5]);
    const ids = tg.tensor(Int32Array.of(3, -1, 2147483647), [3]);
    const strided = w.transpose(0, 2); // non-contiguous input is written in logical (row-major) order
    const file = path.join(tmp, 'written.safetensors');
    tg.writeSafetensors(file, { 'z.weight': w, 'a.ids': ids, 'm.t': strided }, { step: '7' });
    const raw = fs.readFileSync(file);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const headerText = raw.subarray(8, 8 + n).toString('utf8');
    expect(headerText).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(headerText);
    expect(Object.keys(header)).toEqual(['__metadata__', 'a.ids', 'm.t', 'z.weight']);
    expect(header.__metadata__).toEqual({ format: 'pt', step: '7' });
    expect(header['a.ids']).toEqual({ dtype: 'I32', shape: [3], data_offsets: [0, 12] });
    expect(header['m.t'].shape).toEqual([5, 3, 2]);
    const back = tg.readSafetensors(file);
    expectSame(back['z.weight'].data(), Array.from(values, Math.fround), 'z.weight');
    expectSame(back['a.ids'].data(), [3, -1, 2147483647], 'a.ids');
    expectSame(back['m.t'].data(), strided.data(), 'm.t');
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
    for (const x of [w, ids, strided, ...Object.values(back)]) x.dispose();
  });

  it('refuses bad arguments to the writer', () => {
    const t = tg.zeros([2]);
    expect(() => tg.writeSafetensors(path.join(tmp, 'x.safetensors'), { a: 3 as unknown as tg.Tensor })).toThrow(/'a' is not a Tensor/);
    expect(() => tg.writeSafetensors(path.join(tmp, 'x.safetensors'), { __metadata__: t })).toThrow(/invalid tensor name/);
    expect(() => tg.writeSafetensors(path.join(tmp, 'x.safetensors'), { a: t }, { k: 1 as unknown as string })).toThrow(/metadata 'k' must be a string/);
    t.dispose();
    expect(() => tg.writeSafetensors(path.join(tmp, 'x.safetensors'), { a: t })).toThrow(/disposed/);
    expect(fs.existsSync(path.join(tmp, 'x.safetensors'))).toBe(false);
    const live = tg.zeros([1]);
    expect(() => tg.writeSafetensors(path.join(tmp, 'no', 'such', 'x.safetensors'), { live })).toThrow(/folder .*no\/such does not exist/);
    live.dispose();
  });
});

describe('safetensors hostile headers', () => {
  const f32 = (n: number) => new Uint8Array(4 * n);
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['file shorter than 8 bytes', () => new Uint8Array(5), /too short for the 8-byte header length/],
    ['huge header length', () => buildFile({}, new Uint8Array(0), 2n ** 63n), /header length 9223372036854775808 exceeds the 100000000-byte limit/],
    ['header length past the end of the file', () => buildFile({}, new Uint8Array(0), 64n), /header length 64 runs past the end of the 10-byte file/],
    ['bad JSON', () => buildFile('{"a": {"dtype": "F32",', new Uint8Array(0)), /header is not valid JSON/],
    ['a JSON array', () => buildFile('[1, 2]', new Uint8Array(0)), /header must be a JSON object/],
    ['invalid UTF-8', () => buildFile('{"\xff"}', new Uint8Array(0)).map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/],
    ['offsets outside the file', () => buildFile({ a: { dtype: 'F32', shape: [100], data_offsets: [0, 400] } }, f32(4)), /tensor 'a': data_offsets \[0, 400\] lie outside the 16-byte data section/],
    ['begin > end', () => buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, f32(4)), /tensor 'a': data_offsets begin 8 > end 4/],
    ['overlapping tensors', () => buildFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /tensor 'b' \[4, 12\] overlaps tensor 'a' \[0, 8\]/],
    ['a gap in the data section', () => buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)), /starts at 4, leaving a gap after byte 0/],
    ['trailing bytes', () => buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)), /data section is 8 bytes but the tensors cover 4/],
    ['dtype size x shape != byte length', () => buildFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)),
      /tensor 'a': F32 shape \[3\] needs 3 x 4 = 12 bytes but data_offsets span 8/],
    ['bf16 labelled with float32 bytes', () => buildFile({ a: { dtype: 'BF16', shape: [2], data_offsets: [0, 8] } }, f32(2)), /BF16 shape \[2\] needs 2 x 2 = 4 bytes but data_offsets span 8/],
    ['negative shape', () => buildFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /tensor 'a': shape entries must be non-negative integers, got \[-1\]/],
    ['fractional shape', () => buildFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)), /shape entries must be non-negative integers, got \[1.5\]/],
    ['string shape', () => buildFile({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, f32(2)), /shape entries must be non-negative integers/],
    ['shape product beyond 2^53', () => buildFile({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] } }, f32(1)), /has too many elements/],
    ['negative offsets', () => buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, f32(1)), /data_offsets must be non-negative integers/],
    ['missing offsets', () => buildFile({ a: { dtype: 'F32', shape: [1] } }, f32(1)), /data_offsets must be \[begin, end\]/],
    ['unknown dtype', () => buildFile({ a: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 4] } }, f32(1)), /tensor 'a': unknown dtype 'Q4_K'/],
    ['unsupported float8', () => buildFile({ a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, f32(1)), /dtype F8_E4M3 is not supported/],
    ['non-string metadata', () => buildFile({ __metadata__: { step: 3 } }, new Uint8Array(0)), /__metadata__ value of 'step' must be a string, got number/],
    ['metadata not an object', () => buildFile({ __metadata__: 'x' }, new Uint8Array(0)), /__metadata__ must be an object of strings/],
    ['entry not an object', () => buildFile({ a: 5 }, new Uint8Array(0)), /tensor 'a': entry must be an object/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}`, () => {
      const bytes = make();
      expect(() => tg.parseSafetensors(bytes)).toThrow(message);
      const file = path.join(tmp, 'hostile.safetensors');
      fs.writeFileSync(file, bytes);
      expect(() => tg.readSafetensors(file)).toThrow(message);
      expect(() => tg.readSafetensors(file)).toThrow(file);
    });
  }

  it('refuses truncated files (cut in the data, cut in the header)', () => {
    const t = tg.tensor([1, 2, 3, 4], [4]);
    const file = path.join(tmp, 'whole.safetensors');
    tg.writeSafetensors(file, { t });
    t.dispose();
    const whole = fs.readFileSync(file);
    expect(() => tg.parseSafetensors(whole.subarray(0, whole.length - 4))).toThrow(/tensor 't': data_offsets \[0, 16\] lie outside the 12-byte data section/);
    expect(() => tg.parseSafetensors(whole.subarray(0, 20))).toThrow(/runs past the end of the 20-byte file/);
  });

  it('keeps a tensor named __proto__ as an ordinary entry', () => {
    const bytes = buildFile('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', new Uint8Array(Float32Array.of(5).buffer));
    const t = tg.parseSafetensors(bytes);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(t, '__proto__')!.value.item()).toBe(5);
  });
});

describe('sharded safetensors', () => {
  function makeTensors(): Record<string, tg.Tensor> {
    return Object.fromEntries(['model.embed_tokens.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.0.self_attn.q_proj.weight',
      'model.norm.weight', 'lm_head.weight'].map((name, i) => [name, tg.tensor(Float32Array.from(randomArray(16 * (i + 1), 20 + i)), [i + 1, 16])]));
  }

  it('writes HF-named shards + index and reads them back', () => {
    const dir = path.join(tmp, 'sharded');
    const tensors = makeTensors();
    // Sizes (sorted by name): lm_head 320, embed 64, up_proj 128, q_proj 192, norm 256 bytes -> shards of <= 400.
    const index = tg.writeShardedSafetensors(dir, tensors, 400);
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
    expect(index.metadata).toEqual({ total_size: 960 });
    expect(index.weight_map['lm_head.weight']).toBe('model-00001-of-00003.safetensors');
    expect(index.weight_map['model.layers.0.self_attn.q_proj.weight']).toBe('model-00002-of-00003.safetensors');
    expect(index.weight_map['model.norm.weight']).toBe('model-00003-of-00003.safetensors');
    expect(readSafetensorsIndex(dir)).toEqual(index);
    for (const read of [tg.readShardedSafetensors, tg.readSafetensorsFolder]) {
      const back = read(dir);
      expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
      for (const [k, t] of Object.entries(tensors)) {
        expect(back[k].shape).toEqual(t.shape);
        expectSame(back[k].data(), t.data(), k);
        back[k].dispose();
      }
    }
    // Saving again in fewer shards removes the stale ones.
    tg.writeShardedSafetensors(dir, tensors, 1e9);
    expect(fs.readdirSync(dir).sort()).toEqual(['model-00001-of-00001.safetensors', 'model.safetensors.index.json']);
    for (const t of Object.values(tensors)) t.dispose();
  });

  function writeIndex(dir: string, weightMap: Record<string, unknown>): void {
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }

  it('refuses index entries that leave the folder, are missing, or lie about their shard', () => {
    const outside = path.join(tmp, 'outside');
    const dir = path.join(outside, 'model');
    fs.mkdirSync(dir, { recursive: true });
    const a = tg.tensor([1, 2], [2]);
    tg.writeSafetensors(path.join(outside, 'secret.safetensors'), { a });
    tg.writeSafetensors(path.join(dir, 'model-00001-of-00001.safetensors'), { a });
    a.dispose();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ a: '../secret.safetensors' }, /shard '..\/secret.safetensors' lies outside .* \(path traversal refused\)/],
      [{ a: 'sub/../../secret.safetensors' }, /lies outside/],
      [{ a: path.join(outside, 'secret.safetensors') }, /must be a relative path inside/],
      [{ a: 'model-00002-of-00002.safetensors' }, /shard 'model-00002-of-00002.safetensors' does not exist/],
      [{ a: 'link.safetensors' }, /resolves outside .* \(symlink refused\)/],
      [{ b: 'model-00001-of-00001.safetensors' }, /tensor 'b' is mapped to model-00001-of-00001.safetensors but that shard does not contain it/],
      [{ a: 7 }, /weight_map\['a'\] must be a file name/],
    ];
    fs.symlinkSync(path.join(outside, 'secret.safetensors'), path.join(dir, 'link.safetensors'));
    for (const [map, message] of cases) {
      writeIndex(dir, map);
      expect(() => tg.readShardedSafetensors(dir), JSON.stringify(map)).toThrow(message);
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    expect(() => tg.readShardedSafetensors(dir)).toThrow(/index is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"metadata": {}}');
    expect(() => tg.readShardedSafetensors(dir)).toThrow(/index has no weight_map object/);
    fs.rmSync(path.join(dir, 'model.safetensors.index.json'));
    expect(() => tg.readShardedSafetensors(dir)).toThrow(/cannot read index/);
    expect(() => tg.readSafetensorsFolder(dir)).toThrow(/has neither model.safetensors nor model.safetensors.index.json/);
  });
});
