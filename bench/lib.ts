// Shared benchmark plumbing: tinybench timing (median), PyTorch runs through Debian's python3-torch in a
// child process (measured in the same run), the recorded anchor figure as a fallback, and table output.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import * as tg from '../src/index.js';

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** Median wall time in milliseconds of `fn` after warm-up, over at least `minTimeMs` of samples. */
export async function medianMs(fn: () => void, minTimeMs = 400, minIterations = 5): Promise<number> {
  const bench = new Bench({ time: minTimeMs, iterations: minIterations, warmupTime: 100, warmupIterations: 2 });
  bench.add('task', fn);
  await bench.run();
  const result = bench.tasks[0].result as { latency?: { p50?: number }; state?: string; error?: unknown };
  if (!result.latency?.p50) throw new Error(`benchmark failed: ${String(result.error ?? result.state)}`);
  return result.latency.p50;
}

/** Rounds of PyTorch and ours, alternating, in the suites that compare whole workloads (W1, W2); each side keeps its
 * fastest median. On a shared VM a noisy period can slow either side's 2-thread figure by half for a while (one pair of
 * W2 runs on the same code gave the medium step 1.08x, then 1.61x): with three alternating rounds such a period rarely
 * decides a ratio, and both sides are treated alike. */
export const ALTERNATING_ROUNDS = 3;

/** CPU seconds spent so far by the whole machine (/proc/stat, stolen time included) and by this process with its
 * finished children (/proc/self/stat); null where /proc is missing. */
export interface CpuClock {
  wall: number;
  machine: number;
  self: number;
}

// USER_HZ: the unit of /proc/stat and /proc/<pid>/stat on every Linux architecture node runs on.
const CLOCK_TICKS = 100;

export function cpuClock(): CpuClock | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait kept a CPU from us.
    const machine = cpu.reduce((a, v, i) => (i === 3 || i === 4 || i > 7 ? a : a + v), 0);
    // Fields after the parenthesized command: utime, stime, cutime, cstime are the 12th to 15th.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { wall: performance.now() / 1e3, machine: machine / CLOCK_TICKS, self: (f[11] + f[12] + f[13] + f[14]) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/**
 * CPUs that other processes (or the hypervisor) kept busy on average between two cpuClock() readings, e.g. "1.0"
 * on a 2-CPU machine where a compile held one CPU: a 2-thread figure measured then ran on about one CPU.
 */
export function otherLoad(from: CpuClock | null, to: CpuClock | null): string {
  if (from === null || to === null || to.wall <= from.wall) return '?';
  const others = (to.machine - from.machine - (to.self - from.self)) / (to.wall - from.wall);
  return Math.max(0, others).toFixed(1);
}

const PYTHON = '/usr/bin/python3';

/** True when Debian's python3 can import torch. */
export function torchAvailable(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0;
}

/** The CPU model and its flags, from /proc/cpuinfo (empty where there is none). */
export function cpuInfo(text = readCpuinfo()): { model: string; flags: Set<string> } {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1].trim();
  return { model: field('model name') ?? process.arch, flags: new Set((field('flags') ?? '').split(/\s+/).filter(Boolean)) };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Why a suite has no bf16 rows: medium precision runs the float32 kernel (see matmulKernel). */
export const NO_BF16_KERNEL = 'medium precision runs the float32 GEMM kernel here (no AMX or AVX512-BF16, a CPU where the AVX512-BF16 ' +
  'kernel is the slower, or THINKGRAD_GEMM; THINKGRAD_GEMM=avx512-bf16 forces that one)';

/** The vector extensions that decide which kernels both sides can run. */
export function vectorFeatures(flags: Set<string>): string {
  if (flags.has('avx512f')) return flags.has('avx512_bf16') ? 'AVX-512 + AVX512-BF16' : 'AVX-512 (no AVX512-BF16)';
  if (flags.has('avx2') && flags.has('fma')) return 'AVX2 + FMA (no AVX-512)';
  return 'no AVX2';
}

/**
 * The OPENBLAS_CORETYPE that gives OpenBLAS its best kernels on this CPU. OpenBLAS 0.3.21 does not recognize
 * recent CPUs (Zen 4/5) and falls back to SSE kernels there; forcing a core it cannot run would crash it.
 */
export function openblasCoretypeFor(flags: Set<string>): string | undefined {
  if (flags.has('avx512f') && flags.has('avx512vl') && flags.has('avx512bw') && flags.has('avx512dq')) {
    return flags.has('avx512_bf16') ? 'Cooperlake' : 'SkylakeX';
  }
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  return undefined;
}

/** What the PyTorch side runs (bench/torch/environment.py) and whether its figures are worth comparing with. */
export interface TorchEnvironment {
  torch: string;
  blas_paths: string[];
  openblas_core: string | null;
  openblas_config: string | null;
  gemm_gflops: number;
  threads: number;
  /** The OPENBLAS_CORETYPE it ran under, and where that came from. */
  coretype: string;
}

// Debian's reference BLAS (libblas3) runs a float32 GEMM at ~2 GFLOP/s; any tuned BLAS is above 20 per core.
const MIN_TUNED_GFLOPS = 10;

/** Why PyTorch's figures must not be compared with (the reference BLAS), or null when they may. */
export function torchRefusal(env: Pick<TorchEnvironment, 'blas_paths' | 'gemm_gflops'>): string | null {
  // Debian installs the reference BLAS as .../blas/libblas.so.3; a tuned one may still be loaded beside it (for LAPACK).
  const reference = env.blas_paths.find((p) => /\/blas\/libblas\.so/.test(p));
  if (!reference && env.gemm_gflops >= MIN_TUNED_GFLOPS) return null;
  return `PyTorch runs ${reference ? `the reference BLAS (${reference})` : 'an untuned BLAS'} at ` +
    `${env.gemm_gflops.toFixed(1)} GFLOP/s for a 1024^3 float32 GEMM, so no ratio against it means anything: ` +
    'apt-get install libopenblas0-pthread';
}

function torchEnv(threads: number): NodeJS.ProcessEnv {
  // OpenBLAS's pthread build keeps its own pool, which torch.set_num_threads does not size.
  const coretype = process.env.OPENBLAS_CORETYPE ?? openblasCoretypeFor(cpuInfo().flags);
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  return env;
}

function runPython(script: string, threads: number, args: string[]): { ok: true; stdout: string } | { ok: false; error: string } {
  const r = spawnSync(PYTHON, [join(benchDir, 'torch', script), String(threads), ...args], { encoding: 'utf8', env: torchEnv(threads), maxBuffer: 1 << 24 });
  if (r.status !== 0) return { ok: false, error: (r.stderr || String(r.error ?? r.signal)).split('\n').slice(-3).join(' ') };
  return { ok: true, stdout: r.stdout };
}

const lastJsonLine = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T;

const environments = new Map<number, TorchEnvironment | null>();
const refusalsPrinted = new Set<string>();

/** PyTorch's BLAS, OpenBLAS kernel and GEMM rate at `threads` (probed once per thread count); null without torch. */
export function torchEnvironment(threads: number): TorchEnvironment | null {
  if (!environments.has(threads)) {
    let env: TorchEnvironment | null = null;
    if (torchAvailable()) {
      const r = runPython('environment.py', threads, []);
      if (r.ok) {
        const explicit = process.env.OPENBLAS_CORETYPE;
        const coretype = explicit ? `${explicit} (from the environment)` : (openblasCoretypeFor(cpuInfo().flags) ?? 'unset (OpenBLAS detects)');
        env = { ...lastJsonLine<Omit<TorchEnvironment, 'coretype'>>(r.stdout), coretype };
      } else process.stderr.write(`bench: environment.py failed: ${r.error}\n`);
    }
    environments.set(threads, env);
  }
  return environments.get(threads)!;
}

/**
 * Runs bench/torch/<script> <threads> [args] with the strong PyTorch configuration and parses its last stdout line as JSON;
 * null when torch is unavailable, runs the reference BLAS (said once, with the fix), or the script fails.
 */
export function runTorch<T>(script: string, threads: number, args: string[] = []): T | null {
  const stdout = runTorchScript(script, threads, args);
  return stdout === null ? null : lastJsonLine<T>(stdout);
}

/** runTorch for scripts that report as they go, one JSON record per stdout line: all of them, in order. */
export function runTorchLines<T>(script: string, threads: number, args: string[] = []): T[] | null {
  const stdout = runTorchScript(script, threads, args);
  return stdout === null ? null : stdout.trim().split('\n').map((line) => JSON.parse(line) as T);
}

function runTorchScript(script: string, threads: number, args: string[]): string | null {
  const env = torchEnvironment(threads);
  if (!env) return null;
  const refusal = torchRefusal(env);
  if (refusal) {
    if (!refusalsPrinted.has(refusal)) console.log(`\nbench: ${refusal}`);
    refusalsPrinted.add(refusal);
    return null;
  }
  const r = runPython(script, threads, args);
  if (!r.ok) {
    process.stderr.write(`bench: ${script} failed: ${r.error}\n`);
    return null;
  }
  return r.stdout;
}

/** One line naming the CPU, our kernel and PyTorch's BLAS and kernel, printed under every table. */
export function environmentLine(oursKernel: string): string {
  const cpu = cpuInfo();
  const probed = [...environments.values()].filter((e): e is TorchEnvironment => e !== null);
  let theirs = 'PyTorch: not run (apt-get install python3-torch libopenblas0-pthread)';
  if (probed.length > 0) {
    const e = probed[0];
    const refusal = torchRefusal(e);
    const blas = refusal ? `not compared: ${refusal}`
      : e.openblas_core ? `${e.openblas_config ?? 'OpenBLAS'}, kernel ${e.openblas_core}` : e.blas_paths.join(', ') || 'no BLAS loaded';
    const rates = probed.map((p) => `${p.gemm_gflops.toFixed(0)} GFLOP/s at ${p.threads}T`).join(', ');
    // ATen picks its vector kernels at run time too; ATEN_CPU_CAPABILITY=avx2 compares with our AVX2 paths.
    const aten = process.env.ATEN_CPU_CAPABILITY ? `, ATEN_CPU_CAPABILITY ${process.env.ATEN_CPU_CAPABILITY}` : '';
    theirs = `PyTorch ${e.torch}: ${blas}, OPENBLAS_CORETYPE ${e.coretype}${aten}, GEMM 1024^3 ${rates}`;
  }
  return `CPU: ${cpu.model} (${vectorFeatures(cpu.flags)}) · ours: ${oursKernel} · ${theirs}`;
}

export interface Row {
  workload: string;
  ours: number;
  theirs: number | null;
  unit: string;
  /** Where the comparison figure comes from ("PyTorch, same run" or "anchor (recorded)"). */
  source: string;
  /** true when a larger number is better (throughput), false for times. */
  higherIsBetter: boolean;
}

export function fmt(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/**
 * Prints a Markdown table: workload, ours, PyTorch, ratio (ours relative to PyTorch, >1 = we are faster), and
 * under it the CPU and both sides' kernels (`oursKernel`: what our side ran, default the float32 GEMM kernel).
 */
export function printTable(title: string, rows: Row[], oursKernel = `GEMM kernel ${tg.withFloat32MatmulPrecision('highest', () => tg.matmulKernel())}`): void {
  console.log(`\n## ${title}\n`);
  console.log('| workload | ours | PyTorch | unit | ours vs PyTorch | PyTorch figure |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = r.theirs === null ? '-' : `${fmt(r.higherIsBetter ? r.ours / r.theirs : r.theirs / r.ours)}x`;
    console.log(`| ${r.workload} | ${fmt(r.ours)} | ${r.theirs === null ? '-' : fmt(r.theirs)} | ${r.unit} | ${ratio} | ${r.source} |`);
  }
  console.log(`\n${environmentLine(oursKernel)}`);
}
