// A training loop that never calls tidy() or dispose() (a tiny Llama, cross-entropy, AdamW), awaiting
// setImmediate every few steps so finalizers can run; prints RSS at the start, its peak and the end.
// Run with `npx tsx bench/untidy-training.ts [--steps 3000] [--yield-every 10] [--json]`.
import { pathToFileURL } from 'node:url';
import * as tg from '../src/index.js';
import { nn } from '../src/index.js';

export interface UntidyRun {
  steps: number;
  yieldEvery: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  /** Native bytes held by live buffers and by the allocator's cache at the end. */
  liveMiB: number;
  cachedMiB: number;
  firstLoss: number;
  lastLoss: number;
  seconds: number;
}

const B = 8, T = 32, VOCAB = 64;
const MiB = 1 << 20;

/** Trains `steps` steps without tidy or dispose, yielding to the event loop every `yieldEvery` steps. */
export async function runUntidyTraining(steps: number, yieldEvery: number): Promise<UntidyRun> {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`runUntidyTraining: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(yieldEvery) || yieldEvery < 1)
    throw new RangeError(`runUntidyTraining: yieldEvery must be a positive integer, got ${yieldEvery}`);
  const model = new nn.LlamaForCausalLM({ vocabSize: VOCAB, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2,
    numAttentionHeads: 4, maxPositionEmbeddings: T, tieWordEmbeddings: false }, { seed: 0 });
  const opt = new tg.AdamW(model.parameters(), { lr: 3e-3 });
  tg.manualSeed(0);
  // A fixed batch the model can memorize, so the loss shows that the steps really train.
  const data = tg.randint(0, VOCAB, [B, T + 1], { dtype: 'int32' });
  const inputs = tg.contiguous(tg.narrow(data, 1, 0, T));
  const targets = tg.contiguous(tg.narrow(data, 1, 1, T));
  const rssStart = process.memoryUsage.rss();
  let rssPeak = rssStart;
  let firstLoss = NaN, lastLoss = NaN;
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const loss = tg.crossEntropy(model.forward(inputs), targets);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    if (step === 0) firstLoss = loss.item();
    if (step === steps - 1) lastLoss = loss.item();
    if ((step + 1) % yieldEvery === 0) {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const rssEnd = process.memoryUsage.rss();
  const mem = tg.memory();
  return {
    steps, yieldEvery, rssStartMiB: rssStart / MiB, rssPeakMiB: Math.max(rssPeak, rssEnd) / MiB, rssEndMiB: rssEnd / MiB,
    liveMiB: mem.numBytes / MiB, cachedMiB: mem.cachedBytes / MiB, firstLoss, lastLoss, seconds,
  };
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const run = await runUntidyTraining(option('--steps', 3000), option('--yield-every', 10));
  if (process.argv.includes('--json')) console.log(JSON.stringify(run));
  else {
    const f = (x: number) => x.toFixed(0);
    console.log(`${run.steps} steps without tidy/dispose, awaiting setImmediate every ${run.yieldEvery} steps, ${run.seconds.toFixed(1)} s`);
    console.log(`RSS start ${f(run.rssStartMiB)} MiB, peak ${f(run.rssPeakMiB)} MiB, end ${f(run.rssEndMiB)} MiB; ` +
      `native live ${f(run.liveMiB)} MiB, cached ${f(run.cachedMiB)} MiB; loss ${run.firstLoss.toFixed(3)} -> ${run.lastLoss.toFixed(3)}`);
  }
}
