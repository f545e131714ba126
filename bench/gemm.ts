// W1: fp32 GEMM GFLOP/s at the anchor shapes, ours vs PyTorch, with 1 and 2 threads measured side by side; then
// the same at "medium" float32 matmul precision (bfloat16 operands, float32 accumulation) beside PyTorch's
// bfloat16 matmul (oneDNN), where medium runs a bf16 kernel (AMX tiles, or AVX512-BF16 on AMD's CPUs).
import * as tg from '../src/index.js';
import { ALTERNATING_ROUNDS, medianMs, NO_BF16_KERNEL, printTable, type Row, runTorch } from './lib.js';

const SHAPES: [number, number, number][] = [
  [256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [2048, 256, 1024], [2048, 1024, 256],
];
// PyTorch 2-thread medians recorded in ../shared/anchors/RESULTS.md (used only when torch cannot run here).
const ANCHOR_2T: Record<string, number> = {
  '[256x256]@[256x256]': 168, '[512x512]@[512x512]': 189, '[1024x1024]@[1024x1024]': 281,
  '[2048x2048]@[2048x2048]': 240, '[2048x256]@[256x1024]': 181, '[2048x1024]@[1024x256]': 213,
};

async function gemmRows(threadCounts: number[], precision: tg.Float32MatmulPrecision): Promise<Row[]> {
  const rows: Row[] = [];
  tg.setFloat32MatmulPrecision(precision);
  const label = precision === 'highest' ? '' : ` ${tg.matmulKernel()}`;
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    const oursMs = new Map<string, number>();
    let torch: Record<string, number> | null = null;
    for (let round = 0; round < ALTERNATING_ROUNDS; round++) {
      const theirs = runTorch<Record<string, number>>('w1_gemm.py', threads, [precision === 'highest' ? 'float32' : 'bfloat16']);
      if (theirs) {
        const best: Record<string, number> | null = torch;
        torch = best ? Object.fromEntries(Object.entries(theirs).map(([name, s]) => [name, Math.min(best[name], s)])) : theirs;
      }
      for (const [M, K, N] of SHAPES) {
        const name = `[${M}x${K}]@[${K}x${N}]`;
        const a = tg.rand([M, K]);
        const b = tg.rand([K, N]);
        const ms = await medianMs(() => tg.tidy(() => {
          tg.matmul(a, b);
        }));
        a.dispose();
        b.dispose();
        oursMs.set(name, Math.min(oursMs.get(name) ?? Infinity, ms));
      }
    }
    for (const [M, K, N] of SHAPES) {
      const name = `[${M}x${K}]@[${K}x${N}]`;
      const gflops = (2 * M * N * K) / (oursMs.get(name)! * 1e6);
      const anchor = precision === 'highest' && threads === 2 ? ANCHOR_2T[name] : null;
      const theirs = torch ? (2 * M * N * K) / (torch[name] * 1e9) : anchor;
      rows.push({
        workload: `W1${label} ${name}, ${threads} thread${threads > 1 ? 's' : ''}`,
        ours: gflops,
        theirs,
        unit: 'GFLOP/s',
        source: torch ? `PyTorch ${precision === 'highest' ? 'float32' : 'bfloat16'}, same run, best of ${ALTERNATING_ROUNDS} alternating medians each` : theirs ? 'anchor (recorded)' : '-',
        higherIsBetter: true,
      });
    }
  }
  tg.setFloat32MatmulPrecision('highest');
  return rows;
}

export async function benchGemm(threadCounts = [1, 2]): Promise<Row[]> {
  const rows = await gemmRows(threadCounts, 'highest');
  printTable('W1 GEMM fp32', rows);
  tg.setFloat32MatmulPrecision('medium');
  const bf16Kernel = tg.matmulKernel();
  const bf16 = bf16Kernel.endsWith('-bf16');
  tg.setFloat32MatmulPrecision('highest');
  if (bf16) {
    const mixed = await gemmRows(threadCounts, 'medium');
    printTable('W1 GEMM at medium precision (bfloat16 operands, float32 accumulation) vs PyTorch bfloat16', mixed,
      `GEMM kernel ${bf16Kernel} (PyTorch: oneDNN bfloat16)`);
    rows.push(...mixed);
  } else {
    console.log(`\n(${NO_BF16_KERNEL}: bf16 rows skipped)`);
  }
  tg.setNumThreads(Math.max(...threadCounts));
  return rows;
}
