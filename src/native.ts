// Loads the CPU engine's N-API addon (typed by the list of entry points in native-entry-points.ts) and warns
// once when its thread count exceeds the CPUs.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type { NativeAddon } from './native-entry-points.js';
import type { NativeAddon } from './native-entry-points.js';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// node-gyp-build picks build/Release, then build/Debug, then the prebuilds/<platform>-<arch> binary whose tags
// (napi, libc) match this Node; it throws when none does.
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

/** What the baseline-compiled probe (native/cpu-probe) reports: the CPU's name and the x86-64-v3 features it lacks. */
export interface CpuReport {
  model: string;
  missing: string[];
}

/**
 * The one line to fail with when the CPU cannot run the engine, or undefined when it can. On x86-64 the engine
 * is compiled for x86-64-v3 (AVX2, FMA, BMI2, ...), and without those features it would die of an illegal
 * instruction at its first kernel instead of saying why.
 */
export function cpuRequirementError(report: CpuReport): string | undefined {
  if (report.missing.length === 0) return undefined;
  const model = report.model.trim() || 'unknown model';
  return `thinkgrad: this CPU (${model}) lacks ${report.missing.join(', ')}; the native engine is built for x86-64-v3 ` +
    '(AVX2 and FMA: Intel Haswell, AMD Excavator / Zen or newer) and cannot run on it.';
}

// The probe is loaded before the engine, since merely loading v3 code may execute it (static constructors).
// A probe that cannot be loaded counts as a broken build, recorded in `tried`.
function cpuError(tried: string[]): string | undefined {
  if (process.arch !== 'x64') return undefined;
  const dir = join(packageRoot, 'native', 'cpu-probe');
  try {
    const probe = require(nodeGypBuild.path(dir)) as { x86_64_v3(): CpuReport };
    return cpuRequirementError(probe.x86_64_v3());
  } catch (err) {
    tried.push(`the CPU probe in ${dir} (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

// THINKGRAD_NATIVE_PATH, when set, is the only place looked at: an explicit choice must not silently
// fall back to another build.
function enginePath(tried: string[]): string | undefined {
  if (process.env.THINKGRAD_NATIVE_PATH) {
    const path = resolve(process.env.THINKGRAD_NATIVE_PATH);
    if (existsSync(path)) return path;
    tried.push(`${path} (missing)`);
    return undefined;
  }
  try {
    return nodeGypBuild.path(packageRoot);
  } catch (err) {
    tried.push(`build/Release, build/Debug and prebuilds/ in ${packageRoot} (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

function load(): NativeAddon {
  const tried: string[] = [];
  const path = enginePath(tried);
  if (path) {
    // Rebuilding cannot fix the CPU, so its line is the whole message.
    const unsupported = cpuError(tried);
    if (unsupported) throw new Error(unsupported);
    if (tried.length === 0) {
      try {
        return require(path) as NativeAddon;
      } catch (err) {
        // A file that cannot be loaded is reported; an error the engine raised while starting (an invalid
        // THINKGRAD_NUM_THREADS) is the caller's to see as it is.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_DLOPEN_FAILED') throw err;
        tried.push(`${path} (${(err as Error).message.split('\n')[0]})`);
      }
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

// A forced kernel this CPU or build cannot run (or an unknown name) falls back to the best one: said once, here.
// The engine is asked only when the variable is set.
function warnIfForcedKernelUnavailable(variable: string, kernelsInUse: () => string[]): void {
  const wanted = process.env[variable];
  if (wanted === undefined || wanted === 'auto') return;
  const inUse = kernelsInUse();
  if (inUse.includes(wanted)) return;
  process.emitWarning(`thinkgrad: ${variable}=${wanted} is unknown or not supported on this CPU/build; using ${[...new Set(inUse)].join(' and ')}`,
    { code: 'THINKGRAD_KERNEL_UNAVAILABLE' });
}
// THINKGRAD_GEMM=avx512-bf16 names the kernel of medium precision.
warnIfForcedKernelUnavailable('THINKGRAD_GEMM', () => Object.values(native.matmulPrecision().kernels));
warnIfForcedKernelUnavailable('THINKGRAD_SIMD', () => [native.simdKernels()]);
