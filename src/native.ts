// Loads the CPU engine's N-API addon, types its surface and warns once when its thread count exceeds the
// CPUs. Binding families declare their functions by augmenting `NativeAddon` next to their backend code
// (see src/backend/cpu.ts).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Buffer ids are positive integers handed out by `alloc`; dtype codes match native/core/dtype.h. */
export interface NativeAddon {
  alloc(numel: number, dtype: number): number;
  free(id: number): boolean;
  write(id: number, offset: number, data: Float32Array | Int32Array): void;
  read(id: number, offset: number, out: Float32Array | Int32Array): void;
  stats(): { liveBytes: number; liveBuffers: number; cachedBytes: number; peakBytes: number };
  emptyCache(): void;
  resetPeak(): void;
  setNumThreads(n: number): void;
  numThreads(): number;
  cpuFeatures(): { arch: string; avx2: boolean; avx512: boolean };
  fill(id: number, offset: number, count: number, value: number): void;
  arange(id: number, count: number, start: number, step: number): void;
  randomFill(id: number, count: number, kind: number, seed: number, counter: number, a: number, b: number): void;
  unary(op: number, out: number, x: number, xOffset: number, shape: number[], xStrides: number[], p0: number, p1: number): void;
  binary(op: number, out: number, a: number, aOffset: number, aStrides: number[], b: number, bOffset: number,
    bStrides: number[], shape: number[]): void;
  where(out: number, cond: number, condOffset: number, condStrides: number[], a: number, aOffset: number,
    aStrides: number[], b: number, bOffset: number, bStrides: number[], shape: number[]): void;
  copy(dst: number, dstOffset: number, dstStrides: number[], src: number, srcOffset: number, srcStrides: number[],
    shape: number[]): void;
  reduceRows(op: number, out: number, x: number, xOffset: number, rows: number, cols: number): void;
  reduceCols(op: number, out: number, x: number, xOffset: number, rows: number, cols: number): void;
  indexSelect(out: number, x: number, xOffset: number, outer: number, dim: number, inner: number, index: number,
    indexOffset: number, count: number): void;
  indexAdd(out: number, src: number, srcOffset: number, outer: number, dim: number, inner: number, index: number,
    indexOffset: number, count: number): void;
  gather(out: number, x: number, xOffset: number, outer: number, dim: number, inner: number, index: number,
    indexOffset: number, count: number): void;
  scatterAdd(out: number, src: number, srcOffset: number, outer: number, dim: number, inner: number, index: number,
    indexOffset: number, count: number): void;
  matmul(out: number, a: number, aOffsets: Float64Array, lda: number, transA: boolean, b: number,
    bOffsets: Float64Array, ldb: number, transB: boolean, M: number, N: number, K: number, batch: number,
    alpha: number, beta: number, precision?: string): void;
  gemmKernel(name?: string): string;
  matmulPrecision(precision?: string): { precision: string; kernel: string; kernels: { highest: string; medium: string } };
  gemmPackedSize(K: number, N: number, precision?: string): number;
  gemmPackB(dst: number, b: number, bOffset: number, ldb: number, transB: boolean, K: number, N: number, precision?: string): void;
  matmulPackedB(out: number, a: number, aOffset: number, lda: number, transA: boolean, packed: number, M: number, N: number,
    K: number, precision?: string): void;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// THINKGRAD_NATIVE_PATH, when set, is the only place looked at: an explicit choice must not silently
// fall back to another build.
function candidatePaths(): string[] {
  if (process.env.THINKGRAD_NATIVE_PATH) return [resolve(process.env.THINKGRAD_NATIVE_PATH)];
  return ['Release', 'Debug'].map((config) => join(packageRoot, 'build', config, 'thinkgrad_native.node'));
}

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of candidatePaths()) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      return require(path) as NativeAddon;
    } catch (err) {
      // A file that cannot be loaded is reported with the others; an error the engine raised while
      // starting (an invalid THINKGRAD_NUM_THREADS) is the caller's to see as it is.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_DLOPEN_FAILED') throw err;
      tried.push(`${path} (${(err as Error).message.split('\n')[0]})`);
    }
  }
  throw new Error(
    'thinkgrad: the native engine is not built or failed to load.\nTried:\n  ' + tried.join('\n  ') +
      `\nFix: run \`npm rebuild thinkgrad\` (or \`npm run build\` in a checkout); it needs python3, make and a ` +
      'C++20 compiler. Set THINKGRAD_NATIVE_PATH to use a .node file elsewhere.',
  );
}

export const native: NativeAddon = load();

let warnedOversubscribed = false;

/** @internal Warns once per process when the CPU engine runs more threads than this process has CPUs. */
export function warnIfOversubscribed(source: string): void {
  const threads = native.numThreads();
  const cpus = availableParallelism();
  if (warnedOversubscribed || threads <= cpus) return;
  warnedOversubscribed = true;
  process.emitWarning(
    `thinkgrad: ${threads} threads (${source}) exceed the ${cpus} CPUs this process may run on; kernels will wait ` +
      'for each other and run slower',
    { code: 'THINKGRAD_THREADS_OVERSUBSCRIBED' },
  );
}

if (process.env.THINKGRAD_NUM_THREADS !== undefined) warnIfOversubscribed('THINKGRAD_NUM_THREADS');
