// Issue 14 §6: one GRPO step with LoRA (r 16 on q/k/v/o) on a bfloat16 model of Qwen2.5-0.5B's configuration
// (random weights made here, saved as a BF16 checkpoint and loaded with loadPretrained({ dtype: 'bfloat16' })):
// 8 prompts x 4 completions x 64 new tokens sampled with the KV cache (T 1, top-p 0.95), a toy reward, group
// advantages, the reference log-probs from the base with adapters disabled (beta 0.04: no second copy of the
// weights), the policy's forward + backward in micro-batches and AdamW on the adapters. Peak RSS and tokens/s beside
// the same step in plain PyTorch (bench/torch/lora_grpo.py: the same Qwen2 in bf16, the same LoRA) in the same run.
// Each side runs in its own process, so each peak RSS is its own; two steps run, the second is measured.
// `npx tsx bench/lora-grpo.ts [--threads 2] [--gradient-checkpointing] [--no-torch] [--tiny] [--json]` (--tiny: a
// 2-layer model, a dry run; --gradient-checkpointing: both sides recompute each decoder layer in backward, as TRL's
// gradient_checkpointing does, commonly on with LoRA).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { QWEN25_05B } from './checkpointing.js';
import { environmentLine, fmt, runTorch } from './lib.js';

const TINY: nn.LlamaConfigOptions = { ...QWEN25_05B, vocabSize: 512, hiddenSize: 64, intermediateSize: 160, numHiddenLayers: 2,
  numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 1024 };

/** The step's shape: issue 14 §6's 8 prompts x 4 completions x 64 tokens; LoRA r 16, alpha 32 on q/k/v/o. */
export const STEP = { prompts: 8, group: 4, promptTokens: 16, newTokens: 64, microBatch: 8, r: 16, alpha: 32, beta: 0.04 } as const;

export interface LoraStepResult {
  side: 'thinkgrad' | 'PyTorch';
  /** RSS with the bf16 base loaded and the adapters made, before any step. */
  rssModelMiB: number;
  /** The process's peak RSS (getrusage's maxrss). */
  peakRssMiB: number;
  trainableParameters: number;
  /** Seconds of the measured step: sampling, reference log-probs, policy forward + backward, AdamW, and the total. */
  seconds: { gen: number; ref: number; policy: number; adamw: number; total: number };
  /** New tokens sampled per second, and completion tokens trained per second (policy forward + backward). */
  sampledTokensPerSecond: number;
  trainedTokensPerSecond: number;
  losses: number[];
}

const MiB = 2 ** 20;
const rss = () => process.memoryUsage.rss() / MiB;

function measureOurs(dir: string, checkpointing: boolean): LoraStepResult {
  const { prompts, group, promptTokens: P, newTokens: L, microBatch, r, alpha, beta } = STEP;
  const S = prompts * group;
  const model = tg.loadPretrained(dir, { dtype: 'bfloat16' });
  if (checkpointing) model.gradientCheckpointingEnable();
  tg.manualSeed(0);
  const peft = tg.getPeftModel(model, { r, loraAlpha: alpha, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
  const adapters = peft.parameters().filter((p) => p.requiresGrad);
  const optimizer = new tg.AdamW(adapters, { lr: 1e-5, weightDecay: 0 });
  const V = model.config.vocabSize;
  const rssModelMiB = rss();
  const losses: number[] = [];
  let seconds = { gen: 0, ref: 0, policy: 0, adamw: 0, total: 0 };
  const step = () => tg.withFloat32MatmulPrecision('medium', () => {
    const t0 = performance.now();
    const promptIds = Array.from({ length: prompts }, () => Array.from(tg.tidy(() => tg.randint(0, V, [P]).data())))
      .flatMap((p) => Array.from({ length: group }, () => p));
    const out = tg.generate(model, promptIds, { maxNewTokens: L, temperature: 1, topP: 0.95, eosTokenId: null, kvCacheDtype: 'bfloat16' });
    const t1 = performance.now();
    // Toy reward: the share of completion tokens within 1000 ids of the prompt's last one.
    const rewards = out.completionIds.map((ids, i) => ids.filter((t) => Math.abs(t - promptIds[i][P - 1]) < 1000).length / L);
    const advantages = tg.tensor(tg.groupAdvantages(rewards, { groupSize: group }).advantages, [S]);
    const flat = new Int32Array(S * (P + L));
    promptIds.forEach((p, i) => {
      flat.set(p, i * (P + L));
      flat.set(out.completionIds[i], i * (P + L) + P);
    });
    const seqs = tg.tensor(flat, [S, P + L], { dtype: 'int32' });
    const mask = tg.ones([microBatch, L]);
    const micro = <T>(start: number, fn: (inp: tg.Tensor, ids: tg.Tensor) => T): T => tg.tidy(() => {
      const rows = tg.narrow(seqs, 0, start, microBatch);
      return fn(tg.contiguous(tg.narrow(rows, 1, 0, P + L - 1)), tg.contiguous(tg.narrow(rows, 1, P, L)));
    });
    const logps = (inp: tg.Tensor, ids: tg.Tensor) => tg.selectiveLogSoftmax(tg.narrow(model.forward(inp, { logitsToKeep: L }), 1, 0, L), ids);
    const refLogps: tg.Tensor[] = [];
    for (let s = 0; s < S; s += microBatch) {
      refLogps.push(tg.keep(micro(s, (inp, ids) => tg.noGrad(() => peft.withAdaptersDisabled(() => logps(inp, ids))))));
    }
    const t2 = performance.now();
    optimizer.zeroGrad();
    let loss = 0;
    for (let s = 0, m = 0; s < S; s += microBatch, m++) {
      loss += micro(s, (inp, ids) => {
        const { loss: l } = tg.grpoLoss(logps(inp, ids), { refLogps: refLogps[m], advantages: tg.narrow(advantages, 0, s, microBatch), mask },
          { lossType: 'grpo', beta, epsLow: 0.2 });
        const scaled = tg.mul(l, microBatch / S);
        scaled.backward();
        return scaled.item();
      });
    }
    const t3 = performance.now();
    optimizer.step();
    const t4 = performance.now();
    for (const t of [...refLogps, advantages, seqs, mask]) t.dispose();
    losses.push(loss);
    seconds = { gen: (t1 - t0) / 1e3, ref: (t2 - t1) / 1e3, policy: (t3 - t2) / 1e3, adamw: (t4 - t3) / 1e3, total: (t4 - t0) / 1e3 };
  });
  step();
  step();
  return {
    side: 'thinkgrad', rssModelMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024,
    trainableParameters: adapters.reduce((n, p) => n + p.numel, 0), seconds,
    sampledTokensPerSecond: (S * L) / seconds.gen, trainedTokensPerSecond: (S * L) / seconds.policy, losses,
  };
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench/lora-grpo: ${name} must be a positive integer, got ${args[i + 1]}`);
  return v;
}

const args = process.argv.slice(2);
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const threads = option(args, '--threads', 2);
  const tiny = args.includes('--tiny');
  const config = tiny ? TINY : QWEN25_05B;
  const childAt = args.indexOf('--child');
  if (childAt >= 0) {
    tg.setNumThreads(threads);
    console.log(JSON.stringify(measureOurs(args[childAt + 1], args.includes('--gradient-checkpointing'))));
  } else {
    // The base checkpoint: float32 random weights made once, saved as BF16 (what a Hugging Face folder holds).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-lora-grpo-'));
    try {
      const base = new nn.LlamaForCausalLM(config, { seed: 0 }).to('bfloat16');
      tg.savePretrained(base, dir);
      base.dispose();
      const runs: LoraStepResult[] = [];
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--child', dir],
        { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`bench/lora-grpo: the child failed: ${(r.stderr || String(r.signal)).slice(-2000)}`);
      runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as LoraStepResult);
      if (!args.includes('--no-torch')) {
        const cfg = [config.vocabSize, config.hiddenSize, config.intermediateSize, config.numHiddenLayers, config.numAttentionHeads,
          config.numKeyValueHeads, config.ropeTheta, config.rmsNormEps].map(String);
        const torch = runTorch<LoraStepResult>('lora_grpo.py', threads, [JSON.stringify({ ...STEP, checkpointing: args.includes('--gradient-checkpointing') }), ...cfg]);
        if (torch) runs.push(torch);
      }
      if (args.includes('--json')) {
        console.log(JSON.stringify({ threads, tiny, step: STEP, runs }));
      } else {
        const c = new nn.LlamaConfig(config);
        console.log(`\n## One GRPO step with LoRA (r ${STEP.r} on q/k/v/o) on a bf16 ${tiny ? 'tiny Qwen2 (dry run)' : "model of Qwen2.5-0.5B's configuration"} ` +
          `(${(c.parameterCount() / 1e6).toFixed(0)}M parameters): ${STEP.prompts} prompts x ${STEP.group} completions x ${STEP.newTokens} tokens, ` +
          `beta ${STEP.beta} (reference = adapters disabled), gradient checkpointing ${args.includes('--gradient-checkpointing') ? 'on' : 'off'}, ${threads} threads\n`);
        console.log('| side | RSS, model + adapters | peak RSS | trainable | sampling | reference | policy fwd+bwd | AdamW | step | sampled tokens/s | trained tokens/s |');
        console.log('|---|---|---|---|---|---|---|---|---|---|---|');
        for (const x of runs) {
          const s = x.seconds;
          console.log(`| ${x.side} | ${fmt(x.rssModelMiB)} MiB | ${fmt(x.peakRssMiB)} MiB | ${x.trainableParameters.toLocaleString()} | ${fmt(s.gen)} s | ` +
            `${fmt(s.ref)} s | ${fmt(s.policy)} s | ${fmt(s.adamw)} s | ${fmt(s.total)} s | ${fmt(x.sampledTokensPerSecond)} | ${fmt(x.trainedTokensPerSecond)} |`);
        }
        console.log(`\nThe second of two steps is measured. ${environmentLine(`GEMM kernel ${tg.withFloat32MatmulPrecision('medium', () => tg.matmulKernel())} (medium)`)}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
