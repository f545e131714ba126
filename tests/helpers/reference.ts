// Test helpers: seeded float64 data, closeness checks that report the worst element, and a loop over
// every available backend so each test body runs on all of them.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type Device, setDefaultDevice, type Tensor, tensor } from '../../src/index.js';
import { native } from '../../src/native.js';
import { storageDevices } from './devices.js';

/** Deterministic PRNG (mulberry32) for test data, independent of the engine's generator. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n normal draws (Box-Muller) scaled by `scale`, rounded to float32 so engine and reference see the same values. */
export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - r();
    const v = r();
    out[i] = Math.fround(scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }
  return out;
}

export function randomInts(n: number, high: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * high));
}

/** A float32 tensor holding `values` (float64 data rounded to float32). */
export function fromArray(values: ArrayLike<number>, shape: number[], requiresGrad = false): Tensor {
  return tensor(Float32Array.from(values), shape, { requiresGrad });
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Asserts |actual - expected| <= atol + rtol*|expected| everywhere (NaN must match NaN), naming the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) {
        worst = i;
        worstExcess = Infinity;
      }
      continue;
    }
    if (!Number.isFinite(e)) {
      if (a !== e) {
        worst = i;
        worstExcess = Infinity;
      }
      continue;
    }
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

// THINKGRAD_TEST_DEVICES (e.g. "cpu") narrows the op tests' devices; by default every device tensors can live on
// here (cuda: a real device, else the emulator).
const testDevices = (process.env.THINKGRAD_TEST_DEVICES ?? storageDevices.join(',')).split(',').map((d) => d.trim()) as Device[];

/**
 * The CPU's kernel sets below the best one this machine runs (on an AVX-512 CPU: AVX2), each the vector loops
 * (simdKernels) and the GEMM (gemmKernel) an older CPU would run, so their op tests run here too. Empty when the
 * tests are narrowed to one set by THINKGRAD_SIMD.
 */
function lesserCpuKernelSets(): string[] {
  if (process.env.THINKGRAD_SIMD !== undefined && process.env.THINKGRAD_SIMD !== 'auto') return [];
  return native.simdKernels() === 'avx512' ? ['avx2'] : [];
}

/** Runs `body` with the CPU's vector kernels and GEMM forced to `set`, restoring the ones in use after. */
function withCpuKernelSet(set: string, body: () => void): void {
  let simd = '';
  let gemm = '';
  beforeAll(() => {
    simd = native.simdKernels();
    gemm = native.gemmKernel();
    native.simdKernels(set);
    native.gemmKernel(set);
  });
  afterAll(() => {
    native.simdKernels(simd);
    native.gemmKernel(gemm);
  });
  body();
}

/**
 * Runs `body` once per backend the op tests run on: cpu (again for each lesser CPU kernel set, see
 * lesserCpuKernelSets), and cuda (a real device, else the emulator), with that device the default for tensors
 * its tests create.
 */
export function forEachBackend(body: (device: Device) => void): void {
  for (const device of storageDevices) {
    if (!testDevices.includes(device)) continue;
    describe(`[${device}]`, () => {
      beforeAll(() => setDefaultDevice(device));
      afterAll(() => setDefaultDevice('cpu'));
      body(device);
    });
    if (device !== 'cpu') continue;
    for (const set of lesserCpuKernelSets()) {
      describe(`[cpu ${set}]`, () => {
        beforeAll(() => setDefaultDevice('cpu'));
        withCpuKernelSet(set, () => body(device));
      });
    }
  }
}

/** Row-major strides of a shape. */
export function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** Multi-index -> flat index for a row-major shape. */
export function flatIndex(shape: number[], index: number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + index[d];
  return f;
}

/** Iterates all multi-indices of a shape in row-major order. */
export function* indices(shape: number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    yield [...idx];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** Row-major values of x.permute(dims). */
export function permuteRef(x: ArrayLike<number>, shape: number[], dims: number[]): Float64Array {
  const out = new Float64Array(x.length);
  let f = 0;
  for (const idx of indices(dims.map((d) => shape[d]))) {
    const src = new Array<number>(shape.length);
    dims.forEach((d, i) => (src[d] = idx[i]));
    out[f++] = x[flatIndex(shape, src)];
  }
  return out;
}
