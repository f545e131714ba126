// W1: fp32 GEMM GFLOP/s at the anchor shapes, ours vs PyTorch, with 1 and 2 threads measured side by side.
import * as tg from '../src/index.js';
import { medianMs, printTable, type Row, runTorch } from './lib.js';

const SHAPES: [number, number, number][] = [
  [256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [2048, 256, 1024], [2048, 1024, 256],
];
// PyTorch 2-thread medians recorded in ../shared/anchors/RESULTS.md (used only when torch cannot run here).
const ANCHOR_2T: Record<string, number> = {
  '[256x256]@[256x256]': 168, '[512x512]@[512x512]': 189, '[1024x1024]@[1024x1024]': 281,
  '[2048x2048]@[2048x2048]': 240, '[2048x256]@[256x1024]': 181, '[2048x1024]@[1024x256]': 213,
};

export async function benchGemm(threadCounts = [1, 2]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    const torch = runTorch<Record<string, number>>('w1_gemm.py', threads);
    for (const [M, K, N] of SHAPES) {
      const name = `[${M}x${K}]@[${K}x${N}]`;
      const a = tg.rand([M, K]);
      const b = tg.rand([K, N]);
      const ms = await medianMs(() => tg.tidy(() => {
        tg.matmul(a, b);
      }));
      a.dispose();
      b.dispose();
      const gflops = (2 * M * N * K) / (ms * 1e6);
      const theirs = torch ? (2 * M * N * K) / (torch[name] * 1e9) : threads === 2 ? ANCHOR_2T[name] : null;
      rows.push({
        workload: `W1 ${name}, ${threads} thread${threads > 1 ? 's' : ''}`,
        ours: gflops,
        theirs,
        unit: 'GFLOP/s',
        source: torch ? 'PyTorch, same run' : theirs ? 'anchor (recorded)' : '-',
        higherIsBetter: true,
      });
    }
  }
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W1 GEMM fp32', rows);
  return rows;
}
