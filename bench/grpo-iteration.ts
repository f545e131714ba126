// W5 (../shared/anchors): one GRPO iteration of the W2 small Llama, built from the library's pieces as a
// hand-written trainer would: 8 prompts x G = 8 completions x 64 tokens sampled with the KV cache (T 1, top-p
// 0.95), a toy reward (share of completion tokens up to the first EOS within 2 of the prompt's last token),
// group advantages, the frozen reference's log-probs, the policy forward + backward through the fused
// selectiveLogSoftmax + grpoLoss (beta 0.04, eps 0.2, 'grpo' per-sequence mean), and AdamW. Phase times beside
// PyTorch's (bench/torch/w5_grpo_iteration.py) in the same run; then mixed precision (medium matmul precision
// and a bf16 KV cache vs PyTorch autocast) where medium runs a bf16 kernel (AMX or AVX512-BF16).
// Run alone with `npx tsx bench/grpo-iteration.ts`, or as the `iteration` suite of bench/run.ts.
import * as tg from '../src/index.js';
import { generate, nn } from '../src/index.js';
import { printTable, type Row, runTorch } from './lib.js';

const N_PROMPTS = 8, G = 8, P = 16, LC = 64, EOS = 0, VOCAB = 64, S = N_PROMPTS * G;
const PHASES = ['gen', 'reward', 'ref_fwd', 'policy_fwd_bwd', 'adamw', 'total'] as const;
type Phase = (typeof PHASES)[number];
type Times = Record<Phase, number>;
type Precision = 'float32' | 'bf16';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median phase times (seconds) over `iters` iterations after 2 warm-ups. */
export function timeGrpoIterations(iters: number, precision: Precision): Times {
  const config = { vocabSize: VOCAB, hiddenSize: 256, intermediateSize: 688, numHiddenLayers: 4, numAttentionHeads: 4, rmsNormEps: 1e-5,
    maxPositionEmbeddings: 256, initializerRange: 0.02, tieWordEmbeddings: false };
  const policy = new nn.LlamaForCausalLM(config, { seed: 0 });
  const ref = new nn.LlamaForCausalLM(config, { seed: 1 });
  ref.loadStateDict(policy.stateDict());
  ref.freeze();
  const opt = new tg.AdamW(policy.parameters(), { lr: 1e-5, weightDecay: 0 });
  tg.manualSeed(0);
  const kvCacheDtype = precision === 'bf16' ? 'bfloat16' : 'float32';

  const iteration = (): Times => tg.withFloat32MatmulPrecision(precision === 'bf16' ? 'medium' : 'highest', () => {
    const t0 = performance.now();
    const prompts = Array.from({ length: N_PROMPTS }, () => Array.from(tg.tidy(() => tg.randint(1, VOCAB, [P]).data())));
    const promptIds = prompts.flatMap((p) => Array.from({ length: G }, () => p));
    const out = generate(policy, promptIds, { maxNewTokens: LC, temperature: 1, topP: 0.95, eosTokenId: null, kvCacheDtype });
    const t1 = performance.now();
    const mask = new Float32Array(S * LC);
    const rewards = out.completionIds.map((ids, i) => {
      const end = ids.indexOf(EOS) < 0 ? LC : ids.indexOf(EOS) + 1;
      mask.fill(1, i * LC, i * LC + end);
      const target = promptIds[i][P - 1];
      return ids.slice(0, end).filter((t) => Math.abs(t - target) <= 2).length / end;
    });
    const { advantages } = tg.groupAdvantages(rewards, { groupSize: G });
    const flat = new Int32Array(S * (P + LC));
    promptIds.forEach((p, i) => {
      flat.set(p, i * (P + LC));
      flat.set(out.completionIds[i], i * (P + LC) + P);
    });
    const t2 = performance.now();
    const times = tg.tidy(() => {
      const seqs = tg.tensor(flat, [S, P + LC], { dtype: 'int32' });
      const inp = tg.contiguous(tg.narrow(seqs, 1, 0, P + LC - 1));
      const ids = tg.contiguous(tg.narrow(seqs, 1, P, LC));
      const refLogps = tg.noGrad(() => tg.selectiveLogSoftmax(tg.narrow(ref.forward(inp), 1, P - 1, LC), ids));
      const t3 = performance.now();
      const logps = tg.selectiveLogSoftmax(tg.narrow(policy.forward(inp), 1, P - 1, LC), ids);
      const { loss } = tg.grpoLoss(logps, { refLogps, advantages: tg.tensor(advantages, [S]), mask: tg.tensor(mask, [S, LC]) },
        { lossType: 'grpo', beta: 0.04, epsLow: 0.2 });
      opt.zeroGrad();
      loss.backward();
      return { t3, t4: performance.now() };
    });
    opt.step();
    const t5 = performance.now();
    return { gen: t1 - t0, reward: t2 - t1, ref_fwd: times.t3 - t2, policy_fwd_bwd: times.t4 - times.t3, adamw: t5 - times.t4, total: t5 - t0 };
  });

  for (let i = 0; i < 2; i++) iteration();
  const recs = Array.from({ length: iters }, () => iteration());
  opt.zeroGrad();
  policy.dispose();
  ref.dispose();
  return Object.fromEntries(PHASES.map((k) => [k, median(recs.map((r) => r[k])) / 1e3])) as Times;
}

type TorchW5 = Times & { blas: string };

export async function benchGrpoIteration(threadCounts = [1, 2], iters = 5): Promise<Row[]> {
  tg.setFloat32MatmulPrecision('medium');
  const precisions: Precision[] = tg.matmulKernel().endsWith('-bf16') ? ['float32', 'bf16'] : ['float32'];
  tg.setFloat32MatmulPrecision('highest');
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const precision of precisions) {
    for (const threads of threadCounts) {
      tg.setNumThreads(threads);
      const ours = timeGrpoIterations(iters, precision);
      const torch = runTorch<TorchW5>('w5_grpo_iteration.py', threads, [String(iters), precision]);
      const label = precision === 'bf16' ? 'W5 mixed bf16' : 'W5';
      rows.push({ workload: `${label} GRPO iteration (64 x 64 tokens), ${threads}T`, ours: ours.total, theirs: torch?.total ?? null, unit: 's',
        source: torch ? `PyTorch${precision === 'bf16' ? ' autocast bf16' : ''}, same run` : '-', higherIsBetter: false });
      notes.push(`${label} ${threads}T phases (ours / PyTorch, ms): ${PHASES.filter((k) => k !== 'total')
        .map((k) => `${k} ${(ours[k] * 1e3).toFixed(0)} / ${torch ? (torch[k] * 1e3).toFixed(0) : '-'}`).join(', ')}`);
    }
  }
  tg.setNumThreads(Math.max(...threadCounts));
  printTable('W5 one GRPO iteration (generate, reward, reference forward, policy forward + backward, AdamW)', rows);
  for (const n of notes) console.log(`- ${n}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGrpoIteration();
