// Issue 14 §6: the memory of one full fine-tuning step (forward, cross-entropy, backward, gradient clipping, AdamW)
// of a model with Qwen2.5-0.5B's configuration (random weights made here), with and without gradient
// checkpointing, beside PyTorch's torch.utils.checkpoint (bench/torch/checkpointing.py) in the same run. Each
// configuration runs in its own process, so each peak RSS is its own; two steps run, the second measured (AdamW's
// state then exists throughout, as in training).
// `npx tsx bench/checkpointing.ts [--batch 2] [--seq 256] [--threads 2] [--no-torch] [--tiny] [--json]`
// (--tiny: a 2-layer model of the same shape family, for a dry run).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';
import { cpuInfo, environmentLine, fmt, runTorch, vectorFeatures } from './lib.js';

/** Qwen2.5-0.5B's config.json, in LlamaConfig's names. */
export const QWEN25_05B: nn.LlamaConfigOptions = {
  modelType: 'qwen2', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: 24, numAttentionHeads: 14,
  numKeyValueHeads: 2, maxPositionEmbeddings: 32768, ropeTheta: 1000000, rmsNormEps: 1e-6, tieWordEmbeddings: true,
};

const TINY: nn.LlamaConfigOptions = { ...QWEN25_05B, vocabSize: 512, hiddenSize: 64, intermediateSize: 160, numHiddenLayers: 2,
  numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 1024 };

export interface StepMemory {
  side: 'thinkgrad' | 'PyTorch';
  checkpointing: boolean;
  /** RSS once the model and optimizer exist, before any step. */
  rssModelMiB: number;
  /** RSS at the end of the measured step's forward (loss computed, backward not yet run). */
  rssAfterForwardMiB: number;
  /** The process's peak RSS (getrusage's maxrss). */
  peakRssMiB: number;
  /** Ours only: native bytes held by live tensors at the end of the forward, and their peak over the step. */
  liveAfterForwardMiB: number | null;
  peakNativeMiB: number | null;
  /** Wall time of the measured step, one sample (the figure here is memory). */
  stepSeconds: number;
  /** The loss of each step. */
  losses: number[];
}

const MiB = 2 ** 20;
const rss = () => process.memoryUsage.rss() / MiB;

/** One child's run: builds the model, takes two AdamW steps on a fixed random batch, measures the second. */
function measureOurs(config: nn.LlamaConfigOptions, checkpointing: boolean, B: number, T: number): StepMemory {
  const model = new nn.LlamaForCausalLM(config, { seed: 0 });
  if (checkpointing) model.gradientCheckpointingEnable();
  const optimizer = new tg.AdamW(model.parameters(), { lr: 1e-5 });
  const ids = tg.randint(0, config.vocabSize!, [B, T], { dtype: 'int32' });
  const rssModelMiB = rss();
  const losses: number[] = [];
  let rssAfterForwardMiB = 0, liveAfterForwardMiB = 0, peakNativeMiB = 0, stepSeconds = 0;
  for (let step = 0; step < 2; step++) {
    tg.resetPeakMemory();
    const started = performance.now();
    tg.tidy(() => {
      const loss = model.loss(ids);
      rssAfterForwardMiB = rss();
      liveAfterForwardMiB = tg.memory().numBytes / MiB;
      loss.backward();
      losses.push(loss.item());
    });
    tg.clipGradNorm(model.parameters(), 1.0);
    optimizer.step();
    optimizer.zeroGrad();
    stepSeconds = (performance.now() - started) / 1000;
    peakNativeMiB = tg.memory().peakBytes / MiB;
  }
  return {
    side: 'thinkgrad', checkpointing, rssModelMiB, rssAfterForwardMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024,
    liveAfterForwardMiB, peakNativeMiB, stepSeconds, losses,
  };
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench/checkpointing: ${name} must be a positive integer, got ${args[i + 1]}`);
  return v;
}

const args = process.argv.slice(2);
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const B = option(args, '--batch', 2), T = option(args, '--seq', 256), threads = option(args, '--threads', 2);
  const tiny = args.includes('--tiny');
  const config = tiny ? TINY : QWEN25_05B;
  if (args.includes('--child')) {
    tg.setNumThreads(threads);
    console.log(JSON.stringify(measureOurs(config, args.includes('--checkpointing'), B, T)));
  } else {
    const runs: StepMemory[] = [];
    for (const checkpointing of [false, true]) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', ...args,
        ...(checkpointing ? ['--checkpointing'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`bench/checkpointing: the child failed: ${(r.stderr || String(r.signal)).slice(-2000)}`);
      runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as StepMemory);
    }
    if (!args.includes('--no-torch')) {
      for (const checkpointing of [false, true]) {
        const cfg = [config.vocabSize, config.hiddenSize, config.intermediateSize, config.numHiddenLayers, config.numAttentionHeads,
          config.numKeyValueHeads, config.ropeTheta, config.rmsNormEps].map(String);
        const r = runTorch<StepMemory>('checkpointing.py', threads, [String(B), String(T), checkpointing ? '1' : '0', ...cfg]);
        if (r) runs.push(r);
      }
    }
    if (args.includes('--json')) {
      console.log(JSON.stringify({ B, T, threads, tiny, runs }));
    } else {
      const c = new nn.LlamaConfig(config);
      console.log(`\n## Full fine-tuning step, ${tiny ? 'a tiny Qwen2 (dry run)' : "Qwen2.5-0.5B's configuration"} ` +
        `(${(c.parameterCount() / 1e6).toFixed(0)}M parameters, float32, AdamW), batch ${B} x ${T} tokens, ${threads} threads\n`);
      console.log('| side | gradient checkpointing | RSS, model + optimizer | RSS after forward | peak RSS | live native after forward | peak native | step | losses |');
      console.log('|---|---|---|---|---|---|---|---|---|');
      for (const r of runs) {
        const mib = (x: number | null) => (x === null ? '-' : `${fmt(x)} MiB`);
        console.log(`| ${r.side} | ${r.checkpointing ? 'on' : 'off'} | ${mib(r.rssModelMiB)} | ${mib(r.rssAfterForwardMiB)} | ${mib(r.peakRssMiB)} | ` +
          `${mib(r.liveAfterForwardMiB)} | ${mib(r.peakNativeMiB)} | ${fmt(r.stepSeconds)} s | ${r.losses.map((l) => l.toFixed(4)).join(', ')} |`);
      }
      const cpu = cpuInfo();
      console.log(`\nThe second of two steps is measured (AdamW's moments exist throughout); RSS includes the allocator's cache of ` +
        `freed blocks (ours: up to 2 GiB). ${environmentLine(`GEMM kernel ${tg.withFloat32MatmulPrecision('highest', () => tg.matmulKernel())}`)} (${vectorFeatures(cpu.flags)})`);
    }
  }
}
