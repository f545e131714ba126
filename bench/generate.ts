// W4 (../shared/anchors): the W2 small Llama (vocab 64, d 256, 4 layers, 4 heads, SwiGLU 688, untied) samples
// 64 sequences x 128 new tokens from a 16-token prompt, temperature 1.0, top-p 0.95, with the KV cache;
// tokens/s with 1 and 2 threads beside PyTorch measured the same way in the same run (bench/torch/w4_generate.py).
// Run alone with `npx tsx bench/generate.ts`, or as the `generate` suite of bench/run.ts.
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { printTable, type Row, runTorch } from './lib.js';

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

export async function benchGenerate(threadCounts = [1, 2], reps = 3): Promise<Row[]> {
  const model = new nn.LlamaForCausalLM({ vocabSize: 64, hiddenSize: 256, intermediateSize: 688, numHiddenLayers: 4,
    numAttentionHeads: 4, rmsNormEps: 1e-5, maxPositionEmbeddings: 256, initializerRange: 0.02 }, { seed: 0 });
  tg.manualSeed(0);
  const prompts = Array.from({ length: B }, () => Array.from(tg.tidy(() => tg.randint(0, 64, [P]).data())));
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const threads of threadCounts) {
    tg.setNumThreads(threads);
    generate(model, prompts, { maxNewTokens: 8, topP: 0.95, seed: 1 }); // warm-up: tables, allocator, JIT
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const out = generate(model, prompts, { maxNewTokens: NEW, temperature: 1, topP: 0.95, seed: r });
      times.push((performance.now() - t0) / 1e3);
      if (out.completionLengths.some((n) => n !== NEW)) throw new Error('W4: every sequence must generate 128 tokens');
    }
    const ours = (B * NEW) / median(times);
    const torch = runTorch<TorchW4>('w4_generate.py', threads, [String(reps)]);
    rows.push({ workload: `W4 generate 64x128, top-p 0.95, KV cache, ${threads}T`, ours, theirs: torch ? (B * NEW) / torch.median_s : null,
      unit: 'tokens/s', source: torch ? `PyTorch, same run (BLAS: ${torch.blas})` : '-', higherIsBetter: true });
    rows.push({ workload: `W4 ms per decode step (min), ${threads}T`, ours: (Math.min(...times) / NEW) * 1e3,
      theirs: torch ? (torch.min_s / NEW) * 1e3 : null, unit: 'ms', source: torch ? 'PyTorch, same run' : '-', higherIsBetter: false });
    if (threads === 2) {
      rows.push({ workload: 'W4 generate 64x128, 2T, vs the recorded anchor', ours, theirs: ANCHOR_2T_TOKENS_PER_S, unit: 'tokens/s',
        source: 'anchor (recorded, other machine)', higherIsBetter: true });
    }
    notes.push(`${threads}T: ours ${times.map((t) => t.toFixed(3)).join(', ')} s; PyTorch median ${torch ? torch.median_s.toFixed(3) : '-'} s`);
  }
  model.dispose();
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W4 generation (small model, 64 sequences x 128 new tokens)', rows);
  for (const n of notes) console.log(`- ${n}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGenerate();
