// W4 (../shared/anchors): the W2 small Llama (vocab 64, d 256, 4 layers, 4 heads, SwiGLU 688, untied) samples
// 64 sequences x 128 new tokens from a 16-token prompt, temperature 1.0, top-p 0.95, with the KV cache;
// tokens/s with 1 and 2 threads beside PyTorch measured the same way in the same run (bench/torch/w4_generate.py).
// Then mixed precision, where medium runs a bf16 kernel (AMX or AVX512-BF16): ours at medium float32 matmul
// precision with a bfloat16 KV cache beside PyTorch with bfloat16 weights and cache (and beside its float32 figure).
// Then one sampling step at Qwen's vocabulary (64 rows x 151,936, top-p 0.95): the native sampler generate() uses
// (sampleTokens) beside the host sampler it replaced (read the logits, then src/generate/sampling.ts per row).
// Run alone with `npx tsx bench/generate.ts`, or as the `generate` suite of bench/run.ts.
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { sampleTokens } from '../src/generate/sample-tokens.js';
import { resolveSampling, sampleIndex, samplingDistribution, tokenLogprob } from '../src/generate/sampling.js';
import { cpuClock, fmt, NO_BF16_KERNEL, otherLoad, printTable, type Row, runTorch } from './lib.js';

const B = 64, P = 16, NEW = 128;
// PyTorch's W4 figure recorded in ../shared/anchors (2 threads, strong configuration, Intel machine).
const ANCHOR_2T_TOKENS_PER_S = 3666;

interface TorchW4 {
  median_s: number;
  min_s: number;
  blas: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Precision = 'float32' | 'bf16';

export async function benchGenerate(threadCounts = [1, 2], reps = 3): Promise<Row[]> {
  const model = new nn.LlamaForCausalLM({ vocabSize: 64, hiddenSize: 256, intermediateSize: 688, numHiddenLayers: 4,
    numAttentionHeads: 4, rmsNormEps: 1e-5, maxPositionEmbeddings: 256, initializerRange: 0.02 }, { seed: 0 });
  tg.manualSeed(0);
  const prompts = Array.from({ length: B }, () => Array.from(tg.tidy(() => tg.randint(0, 64, [P]).data())));
  tg.setFloat32MatmulPrecision('medium');
  const precisions: Precision[] = tg.matmulKernel().endsWith('-bf16') ? ['float32', 'bf16'] : ['float32'];
  const rows: Record<Precision, Row[]> = { float32: [], bf16: [] };
  const notes: string[] = [];
  const fp32Torch = new Map<number, number>();
  for (const precision of precisions) {
    tg.setFloat32MatmulPrecision(precision === 'bf16' ? 'medium' : 'highest');
    const kvCacheDtype = precision === 'bf16' ? 'bfloat16' : 'float32';
    const label = precision === 'bf16' ? 'W4 mixed bf16' : 'W4';
    for (const threads of threadCounts) {
      tg.setNumThreads(threads);
      generate(model, prompts, { maxNewTokens: 8, topP: 0.95, seed: 1, kvCacheDtype }); // warm-up: tables, allocator, JIT
      const times: number[] = [];
      const c0 = cpuClock();
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const out = generate(model, prompts, { maxNewTokens: NEW, temperature: 1, topP: 0.95, seed: r, kvCacheDtype });
        times.push((performance.now() - t0) / 1e3);
        if (out.completionLengths.some((n) => n !== NEW)) throw new Error('W4: every sequence must generate 128 tokens');
      }
      const ours = (B * NEW) / median(times);
      const c1 = cpuClock();
      const torch = runTorch<TorchW4>('w4_generate.py', threads, [String(reps), precision]);
      const c2 = cpuClock();
      const theirs = torch ? (B * NEW) / torch.median_s : null;
      if (precision === 'float32' && theirs !== null) fp32Torch.set(threads, theirs);
      const torchLabel = precision === 'bf16' ? 'PyTorch bf16' : 'PyTorch';
      rows[precision].push({ workload: `${label} generate 64x128, top-p 0.95, KV cache, ${threads}T`, ours, theirs,
        unit: 'tokens/s', source: torch ? `${torchLabel}, same run (BLAS: ${torch.blas})` : '-', higherIsBetter: true });
      rows[precision].push({ workload: `${label} ms per decode step (min), ${threads}T`, ours: (Math.min(...times) / NEW) * 1e3,
        theirs: torch ? (torch.min_s / NEW) * 1e3 : null, unit: 'ms', source: torch ? `${torchLabel}, same run` : '-', higherIsBetter: false });
      if (precision === 'bf16') {
        rows.bf16.push({ workload: `${label} generate, ${threads}T, vs PyTorch float32`, ours, theirs: fp32Torch.get(threads) ?? null,
          unit: 'tokens/s', source: 'PyTorch float32, same run (different precision)', higherIsBetter: true });
      } else if (threads === 2) {
        rows.float32.push({ workload: 'W4 generate 64x128, 2T, vs the recorded anchor', ours, theirs: ANCHOR_2T_TOKENS_PER_S, unit: 'tokens/s',
          source: 'anchor (recorded, other machine)', higherIsBetter: true });
      }
      notes.push(`${precision} ${threads}T: ours ${times.map((t) => t.toFixed(3)).join(', ')} s; PyTorch median ${torch ? torch.median_s.toFixed(3) : '-'} s; ` +
        `CPUs busy with other processes: ${otherLoad(c0, c1)} during ours, ${torch ? otherLoad(c1, c2) : '-'} during PyTorch's`);
    }
  }
  model.dispose();
  tg.setFloat32MatmulPrecision('highest');
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W4 generation (small model, 64 sequences x 128 new tokens)', rows.float32);
  if (precisions.includes('bf16')) {
    printTable('W4 mixed precision: ours at medium matmul precision with a bf16 KV cache vs PyTorch bf16', rows.bf16);
  } else {
    console.log(`\n(${NO_BF16_KERNEL}: bf16 rows skipped)`);
  }
  for (const n of notes) console.log(`- ${n}`);
  benchSampling(threadCounts, reps);
  return [...rows.float32, ...rows.bf16];
}

/**
 * One decode step's sampling of 64 x 151,936 logits (top-p 0.95) on the CPU backend: the native sampler beside the
 * host one it replaced, in its own table (no PyTorch figure). Returns the median ms of each per thread count.
 */
export function benchSampling(threadCounts = [1, 2], reps = 5): { threads: number; nativeMs: number; hostMs: number }[] {
  const rows = 64, V = 151936;
  const options = { temperature: 1, topP: 0.95 };
  const resolved = resolveSampling(options);
  const logits = tg.randn([rows, V], { generator: new tg.RandomGenerator(1), std: 3 });
  const uniforms = tg.rand([rows], { generator: new tg.RandomGenerator(2) });
  const u = uniforms.data();
  const out: { threads: number; nativeMs: number; hostMs: number }[] = [];
  const time = (fn: () => void) => {
    fn();
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      fn();
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    let agree = true;
    const host: number[] = [];
    const theirs = time(() => {
      const data = logits.data();
      const p = new Float64Array(V), scratch = new Float64Array(V);
      host.length = 0;
      for (let r = 0; r < rows; r++) {
        const row = data.subarray(r * V, (r + 1) * V);
        const tok = sampleIndex(samplingDistribution(row, resolved, p, scratch), u[r]);
        tokenLogprob(row, tok, resolved.temperature);
        host.push(tok);
      }
    });
    const ours = time(() => tg.tidy(() => {
      const ids = sampleTokens(logits, uniforms, options).ids.data();
      agree &&= ids.every((id, r) => id === host[r]);
    }));
    if (!agree) throw new Error('sampling bench: the native sampler disagrees with the host sampler');
    out.push({ threads, nativeMs: ours, hostMs: theirs });
  }
  logits.dispose();
  uniforms.dispose();
  tg.setNumThreads(Math.max(...threadCounts));
  console.log('\n## One sampling step, 64 x 151,936 logits, top-p 0.95 (CPU backend; the same tokens)\n');
  console.log('| threads | native sampler (sampleTokens) | host sampler (read + sampling.ts) | unit | speedup |');
  console.log('|---|---|---|---|---|');
  for (const r of out) console.log(`| ${r.threads} | ${fmt(r.nativeMs)} | ${fmt(r.hostMs)} | ms | ${fmt(r.hostMs / r.nativeMs)}x |`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGenerate();
