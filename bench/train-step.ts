// W2 (../shared/anchors): one training step (forward + cross-entropy + backward + AdamW) of the tiny Llama at
// batch 16 x 128 tokens, small (d 256, 4 layers) and medium (d 512, 8 layers), tokens/s with 1 and 2 threads,
// beside PyTorch written the same way (bench/torch/w2_train_step.py) measured in the same run, in alternating
// rounds of ours and theirs for each config and thread count so machine load hits both alike. Then mixed
// precision on both sides, where medium runs a bf16 kernel (AMX or AVX512-BF16): ours at "medium" float32
// matmul precision vs PyTorch's autocast to bfloat16 (float32 weights, gradients and AdamW state in both).
// Run alone with `npx tsx bench/train-step.ts`, or as the `train` suite of bench/run.ts.
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { ALTERNATING_ROUNDS, NO_BF16_KERNEL, printTable, type Row, runTorch } from './lib.js';

const B = 16, T = 128, VOCAB = 64;
const CONFIGS = {
  small: { hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 688, label: 'small d256 L4' },
  medium: { hiddenSize: 512, numHiddenLayers: 8, numAttentionHeads: 8, intermediateSize: 1376, label: 'medium d512 L8' },
} as const;
type ConfigName = keyof typeof CONFIGS;
// PyTorch's W2 figures recorded in ../shared/anchors (2 threads, strong configuration), tokens/s.
const ANCHOR_2T: Record<ConfigName, number> = { small: 4512, medium: 932 };

type Precision = 'float32' | 'bf16';
interface TorchW2Entry { median_s: number; min_s: number; times: number[] }
type TorchW2 = Partial<Record<ConfigName, TorchW2Entry>> & { threads: number; blas: string };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Times `steps` train steps (after 3 warm-up steps) of one config; seconds per step. */
export function timeOurTrainSteps(name: ConfigName, steps: number): number[] {
  const c = CONFIGS[name];
  const model = new nn.LlamaForCausalLM({ vocabSize: VOCAB, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize,
    numHiddenLayers: c.numHiddenLayers, numAttentionHeads: c.numAttentionHeads, rmsNormEps: 1e-5, maxPositionEmbeddings: 256,
    initializerRange: 0.02, tieWordEmbeddings: false }, { seed: 0 });
  const opt = new tg.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
  tg.manualSeed(0);
  const data = tg.randint(0, VOCAB, [B, T + 1], { dtype: 'int32' });
  const inp = tg.contiguous(tg.narrow(data, 1, 0, T));
  const tgt = tg.contiguous(tg.narrow(data, 1, 1, T));
  const step = () => tg.tidy(() => {
    const loss = tg.crossEntropy(model.forward(inp), tgt);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  });
  for (let i = 0; i < 3; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1e3);
  }
  opt.zeroGrad();
  for (const t of [data, inp, tgt]) t.dispose();
  model.dispose();
  return times;
}

export async function benchTrainStep(threadCounts = [1, 2], steps = 8, configs: ConfigName[] = ['small', 'medium']): Promise<Row[]> {
  tg.setFloat32MatmulPrecision('medium');
  const precisions: Precision[] = tg.matmulKernel().endsWith('-bf16') ? ['float32', 'bf16'] : ['float32'];
  const rows: Record<Precision, Row[]> = { float32: [], bf16: [] };
  const notes: string[] = [];
  for (const precision of precisions) {
    tg.setFloat32MatmulPrecision(precision === 'bf16' ? 'medium' : 'highest');
    for (const threads of threadCounts) {
      tg.setNumThreads(threads);
      for (const name of configs) {
        let ours = Infinity;
        let torch: TorchW2 | null = null;
        for (let round = 0; round < ALTERNATING_ROUNDS; round++) {
          ours = Math.min(ours, median(timeOurTrainSteps(name, steps)));
          const run = runTorch<TorchW2>('w2_train_step.py', threads, [String(steps), name, precision]);
          const best = torch?.[name];
          if (run?.[name] && (!best || run[name]!.median_s < best.median_s)) torch = run;
        }
        const theirs = torch?.[name];
        const label = `W2 ${precision === 'bf16' ? 'mixed bf16 ' : ''}train step ${CONFIGS[name].label}, 16x128, ${threads}T`;
        rows[precision].push({ workload: label, ours: (B * T) / ours, theirs: theirs ? (B * T) / theirs.median_s : null, unit: 'tokens/s',
          source: theirs ? `PyTorch${precision === 'bf16' ? ' autocast bf16' : ''}, same run, best of ${ALTERNATING_ROUNDS} alternating medians each (BLAS: ${torch!.blas})` : '-', higherIsBetter: true });
        if (precision === 'bf16') {
          const fp32 = rows.float32.find((r) => r.workload === `W2 train step ${CONFIGS[name].label}, 16x128, ${threads}T`);
          rows.bf16.push({ workload: `${label}, vs PyTorch float32`, ours: (B * T) / ours, theirs: fp32?.theirs ?? null, unit: 'tokens/s',
            source: 'PyTorch float32, same run (different precision)', higherIsBetter: true });
        } else if (threads === 2) {
          rows.float32.push({ workload: `W2 ${CONFIGS[name].label}, 2T, vs the recorded anchor`, ours: (B * T) / ours, theirs: ANCHOR_2T[name],
            unit: 'tokens/s', source: 'anchor (recorded, other machine)', higherIsBetter: true });
        }
        notes.push(`${precision} ${name} ${threads}T: ours best median ${(ours * 1e3).toFixed(1)} ms/step; PyTorch best median ${theirs ? (theirs.median_s * 1e3).toFixed(1) : '-'} ms/step`);
      }
    }
  }
  tg.setFloat32MatmulPrecision('highest');
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W2 train step (forward + backward + AdamW, batch 16 x 128 tokens)', rows.float32);
  if (precisions.includes('bf16')) {
    printTable(`W2 mixed precision: ours at medium float32 matmul precision (${tg.matmulKernel('medium')}) vs PyTorch autocast bf16`, rows.bf16);
  } else {
    console.log(`\n(${NO_BF16_KERNEL}: bf16 rows skipped)`);
  }
  for (const n of notes) console.log(`- ${n}`);
  return [...rows.float32, ...rows.bf16];
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTrainStep();
