// Shared benchmark plumbing: tinybench timing (median), PyTorch runs through Debian's python3-torch in a
// child process (measured in the same run), the recorded anchor figure as a fallback, and table output.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

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

const PYTHON = '/usr/bin/python3';

/** True when Debian's python3 can import torch. */
export function torchAvailable(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Runs bench/torch/<script> <threads> [args] with the strong PyTorch configuration and parses its last stdout line as JSON;
 * null when torch is unavailable or the script fails.
 */
export function runTorch<T>(script: string, threads: number, args: string[] = []): T | null {
  // OpenBLAS's pthread build keeps its own pool, which torch.set_num_threads does not size.
  const r = spawnSync(PYTHON, [join(benchDir, 'torch', script), String(threads), ...args], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_CORETYPE: 'Cooperlake', OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: String(threads),
      OMP_NUM_THREADS: String(threads) },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    if (r.stderr) process.stderr.write(`bench: ${script} failed: ${r.stderr.split('\n').slice(-3).join(' ')}\n`);
    return null;
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
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

/** Prints a Markdown table: workload, ours, PyTorch, ratio (ours relative to PyTorch, >1 = we are faster). */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n## ${title}\n`);
  console.log('| workload | ours | PyTorch | unit | ours vs PyTorch | PyTorch figure |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = r.theirs === null ? '-' : `${fmt(r.higherIsBetter ? r.ours / r.theirs : r.theirs / r.ours)}x`;
    console.log(`| ${r.workload} | ${fmt(r.ours)} | ${r.theirs === null ? '-' : fmt(r.theirs)} | ${r.unit} | ${ratio} | ${r.source} |`);
  }
}
