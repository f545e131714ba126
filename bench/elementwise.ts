// Memory-bound elementwise ops on 256 MiB tensors: effective GB/s (bytes read + written / time), ours vs
// PyTorch, and ours as a share of the copy bandwidth measured in the same run.
import * as tg from '../src/index.js';
import { fmt, medianMs, printTable, type Row, runTorch } from './lib.js';

const N = 1 << 26;

export async function benchElementwise(threadCounts = [1, 2]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    const torch = runTorch<Record<string, number>>('elementwise.py', threads);
    const a = tg.randn([N]);
    const b = tg.randn([N]);
    const GB = (tensors: number) => (tensors * N * 4) / 1e9;
    const cases: [string, () => void, number][] = [
      ['copy', () => tg.tidy(() => { tg.clone(a); }), GB(2)],
      ['add', () => tg.tidy(() => { tg.add(a, b); }), GB(3)],
      ['mul_scalar', () => tg.tidy(() => { tg.mul(a, 2); }), GB(2)],
      ['exp', () => tg.tidy(() => { tg.exp(a); }), GB(2)],
      ['silu', () => tg.tidy(() => { tg.silu(a); }), GB(2)],
      ['sum', () => tg.tidy(() => { tg.sum(a); }), GB(1)],
    ];
    let copyGBs = 0;
    for (const [name, fn, gb] of cases) {
      const ms = await medianMs(fn, 500);
      const ours = gb / (ms / 1e3);
      if (name === 'copy') copyGBs = ours;
      rows.push({
        workload: `${name} 64Mi floats, ${threads}T (${fmt((100 * ours) / copyGBs)}% of our copy)`,
        ours,
        theirs: torch ? gb / torch[name] : null,
        unit: 'GB/s',
        source: torch ? 'PyTorch, same run' : '-',
        higherIsBetter: true,
      });
    }
    a.dispose();
    b.dispose();
  }
  tg.setNumThreads(Math.max(...threadCounts));
  tg.emptyCache();
  printTable('Elementwise, memory-bound', rows);
  return rows;
}
