// Issue 13 §4 on a GPU (run by bench/gpu.sh): a model with Qwen2.5-0.5B's exact configuration (random weights made
// here, bf16 with float32 master weights in AdamW) trained and sampled on the device, beside PyTorch on the same GPU (bench/torch/gpu_train.py: eager bf16
// autocast, torch.compile where it runs, transformers' generate):
//   W2 training step (forward, backward, AdamW) on 16 x 512 tokens: tokens/s;
//   W4 sampling 64 x 256 and 256 x 512 new tokens from 64-token prompts, top-p 0.95: tokens/s;
//   W5 one GRPO iteration: 64 prompts x 8 completions x 256 tokens, a toy reward, group advantages, reference and
//      policy passes (micro-batches with gradient accumulation), AdamW: seconds and the phase breakdown;
// and the peak device memory of each. Plain Node on dist/ (the GPU machine has no npm).
// Usage: node bench/gpu-train.mjs <thinkgrad_cuda.node> [outDir] [--small]
// --small: a tiny model and short runs, no PyTorch: the whole script on the CPU emulator (tests/grpo-cuda-emulated.test.ts).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const small = args.includes('--small');
const [addonPath = 'build-cuda/Release/thinkgrad_cuda.node', outDir = process.env.OUT ?? '.'] = args.filter((a) => !a.startsWith('--'));
process.env.THINKGRAD_CUDA_PATH = resolve(addonPath);
const here = dirname(fileURLToPath(import.meta.url));
const tg = await import(join(here, '..', 'dist', 'index.js'));

const status = tg.cudaAvailable();
if (!status.available) {
  console.log(`no CUDA device: ${status.reason}`);
  process.exit(2);
}
console.log(`device: ${status.device.name ?? 'unnamed'} (compute ${status.device.computeCapability}, ${status.device.multiprocessors} SMs)`);

// Qwen2.5-0.5B's config.json in thinkgrad's names; --small keeps its shape (GQA 7:1, q/k/v bias, tied head) in miniature.
const QWEN_05B = {
  modelType: 'qwen2', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: 24, numAttentionHeads: 14,
  numKeyValueHeads: 2, maxPositionEmbeddings: 32768, ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, qkvBias: true,
  initializerRange: 0.02, eosTokenId: null,
};
const cases = small
  ? {
    config: { ...QWEN_05B, vocabSize: 96, hiddenSize: 28, intermediateSize: 40, numHiddenLayers: 2, numAttentionHeads: 7, numKeyValueHeads: 1 },
    w2: { batch: 2, seq: 12, steps: 1 },
    w4: { '4 x 6 new': { batch: 4, prompt: 5, newTokens: 6 } },
    w5: { prompts: 2, group: 2, prompt: 5, newTokens: 6, microBatch: 2 },
  }
  : {
    config: QWEN_05B,
    w2: { batch: 16, seq: 512, steps: 5 },
    w4: { '64 x 256 new': { batch: 64, prompt: 64, newTokens: 256 }, '256 x 512 new': { batch: 256, prompt: 64, newTokens: 512 } },
    w5: { prompts: 64, group: 8, prompt: 64, newTokens: 256, microBatch: 32 },
  };

tg.setDefaultDevice('cuda');
const results = { device: status.device, config: cases.config, w2: null, w4: {}, w5: null, torch: null };
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const peakGiB = () => tg.memory().devices.cuda.peakBytes / 2 ** 30;
const randomIds = (rows, cols) => tg.tidy(() => Array.from({ length: rows }, (_, r) =>
  Array.from(tg.randint(0, cases.config.vocabSize, [cols]).data())));

// bf16 weights, as the trainers' `bf16: true` makes them: AdamW keeps a float32 master copy of each.
function newPolicy(seed) {
  return new tg.nn.LlamaForCausalLM(cases.config, { seed }).to('bfloat16');
}

// W2: mixed precision as a user of the trainers gets it with `bf16: true` (bf16 weights and tensor-core products,
// float32 accumulation, master weights and optimizer state).
{
  const { batch, seq, steps } = cases.w2;
  const model = newPolicy(0);
  const opt = new tg.AdamW(model.parameters(), { lr: 1e-5, weightDecay: 0 });
  const ids = tg.randint(0, cases.config.vocabSize, [batch, seq + 1]);
  const inputs = tg.contiguous(tg.narrow(ids, 1, 0, seq));
  const labels = tg.contiguous(tg.narrow(ids, 1, 1, seq));
  const step = () => tg.withFloat32MatmulPrecision('medium', () => {
    tg.tidy(() => {
      const logits = model.forward(inputs);
      const loss = tg.crossEntropy(tg.reshape(logits, [batch * seq, cases.config.vocabSize]), tg.reshape(labels, [batch * seq]));
      opt.zeroGrad();
      loss.backward();
    });
    opt.step();
  });
  step();
  tg.synchronize('cuda');
  tg.resetPeakMemory();
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    tg.synchronize('cuda');
    times.push((performance.now() - t0) / 1e3);
  }
  const seconds = median(times);
  results.w2 = { batch, seq, seconds, tokensPerSecond: (batch * seq) / seconds, peakGiB: peakGiB() };
  opt.zeroGrad();
  for (const t of [ids, inputs, labels]) t.dispose();
  model.dispose();
}

// W4: batched KV-cache sampling (bf16 cache, top-p 0.95, T 1), no EOS so every row runs to the end.
{
  const model = newPolicy(0);
  for (const [name, { batch, prompt, newTokens }] of Object.entries(cases.w4)) {
    const prompts = randomIds(batch, prompt);
    const run = () => tg.generate(model, prompts, {
      maxNewTokens: newTokens, temperature: 1, topP: 0.95, eosTokenId: null, kvCacheDtype: 'bfloat16', matmulPrecision: 'medium', seed: 1,
    });
    run();
    tg.resetPeakMemory();
    const t0 = performance.now();
    run();
    tg.synchronize('cuda');
    const seconds = (performance.now() - t0) / 1e3;
    results.w4[name] = { batch, prompt, newTokens, seconds, tokensPerSecond: (batch * newTokens) / seconds, peakGiB: peakGiB() };
  }
  model.dispose();
}

// W5: one GRPO iteration built from the library's pieces, as bench/grpo-iteration.ts on the CPU.
{
  const { prompts: nPrompts, group, prompt: P, newTokens: L, microBatch } = cases.w5;
  const S = nPrompts * group;
  const policy = newPolicy(0);
  const ref = newPolicy(0);
  ref.freeze();
  const opt = new tg.AdamW(policy.parameters(), { lr: 1e-6, weightDecay: 0 });
  const iteration = () => tg.withFloat32MatmulPrecision('medium', () => {
    const t0 = performance.now();
    const promptIds = randomIds(nPrompts, P).flatMap((p) => Array.from({ length: group }, () => p));
    const out = tg.generate(policy, promptIds, {
      maxNewTokens: L, temperature: 1, topP: 0.95, eosTokenId: null, kvCacheDtype: 'bfloat16', matmulPrecision: 'medium', seed: 2,
    });
    const t1 = performance.now();
    // Toy reward: the share of completion tokens within 2 of the prompt's last token.
    const rewards = out.completionIds.map((ids, i) => ids.filter((t) => Math.abs(t - promptIds[i][P - 1]) <= 2).length / L);
    const advantages = tg.tensor(tg.groupAdvantages(rewards, { groupSize: group }).advantages, [S]);
    const flat = new Int32Array(S * (P + L));
    promptIds.forEach((p, i) => {
      flat.set(p, i * (P + L));
      flat.set(out.completionIds[i], i * (P + L) + P);
    });
    const seqs = tg.tensor(flat, [S, P + L], { dtype: 'int32' });
    const mask = tg.ones([microBatch, L]);
    const t2 = performance.now();
    const micro = (start, fn) => tg.tidy(() => {
      const rows = tg.narrow(seqs, 0, start, microBatch);
      const inp = tg.contiguous(tg.narrow(rows, 1, 0, P + L - 1));
      const ids = tg.contiguous(tg.narrow(rows, 1, P, L));
      return fn(inp, ids);
    });
    const logpsOf = (model, inp, ids) => tg.selectiveLogSoftmax(tg.narrow(model.forward(inp, { logitsToKeep: L }), 1, 0, L), ids);
    const refLogps = [];
    for (let s = 0; s < S; s += microBatch) refLogps.push(tg.keep(micro(s, (inp, ids) => tg.noGrad(() => logpsOf(ref, inp, ids)))));
    tg.synchronize('cuda');
    const t3 = performance.now();
    opt.zeroGrad();
    for (let s = 0, m = 0; s < S; s += microBatch, m++) {
      micro(s, (inp, ids) => {
        const logps = logpsOf(policy, inp, ids);
        const { loss } = tg.grpoLoss(logps, { refLogps: refLogps[m], advantages: tg.narrow(advantages, 0, s, microBatch), mask },
          { lossType: 'grpo', beta: 0.04, epsLow: 0.2 });
        tg.mul(loss, microBatch / S).backward();
      });
    }
    tg.synchronize('cuda');
    const t4 = performance.now();
    opt.step();
    tg.synchronize('cuda');
    const t5 = performance.now();
    for (const t of [...refLogps, advantages, seqs, mask]) t.dispose();
    return { gen: t1 - t0, reward: t2 - t1, ref_fwd: t3 - t2, policy_fwd_bwd: t4 - t3, adamw: t5 - t4, total: t5 - t0 };
  });
  iteration();
  tg.resetPeakMemory();
  const phases = Object.fromEntries(Object.entries(iteration()).map(([k, ms]) => [k, ms / 1e3]));
  results.w5 = { prompts: nPrompts, group, prompt: P, newTokens: L, microBatch, seconds: phases, peakGiB: peakGiB() };
  opt.zeroGrad();
  policy.dispose();
  ref.dispose();
}

if (!small) {
  const r = spawnSync('python3', [join(here, 'torch', 'gpu_train.py'), JSON.stringify(cases)], { encoding: 'utf8', timeout: 150_000, killSignal: 'SIGKILL' });
  // The script prints everything so far after each workload: a timeout keeps the workloads it finished.
  const last = (r.stdout ?? '').trim().split('\n').filter((line) => line.startsWith('{')).pop();
  if (last) results.torch = JSON.parse(last);
  if (r.status !== 0) console.log(`PyTorch comparison ${last ? 'cut short' : 'failed'}: ${(r.stderr || r.error?.message || '').split('\n').slice(-5).join(' | ')}`);
}

// ---- report --------------------------------------------------------------------------------------------------
const fmt = (x) => (typeof x === 'number' ? (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3)) : '-');
const ratio = (ours, theirs) => (typeof theirs === 'number' ? `${fmt(ours / theirs)}x` : '-');
const torch = results.torch;
const c = cases.config;
console.log(`\nModel: hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads} heads / ${c.numKeyValueHeads} KV heads, ` +
  `intermediate ${c.intermediateSize}, vocabulary ${c.vocabSize}, tied head; torch ${torch?.torch ?? 'not run'}`);
const w2 = results.w2;
console.log(`W2 training step ${w2.batch} x ${w2.seq}: ours ${fmt(w2.tokensPerSecond)} tokens/s, peak ${fmt(w2.peakGiB)} GiB`);
for (const [name, t] of Object.entries(torch?.w2 ?? {})) {
  if (typeof t === 'string') console.log(`  torch ${name}: ${t}`);
  else console.log(`  torch ${name.padEnd(18)} ${fmt(t.tokensPerSecond)} tokens/s, peak ${fmt(t.peakGiB)} GiB; ours/torch ${ratio(w2.tokensPerSecond, t.tokensPerSecond)}`);
}
for (const [name, o] of Object.entries(results.w4)) {
  console.log(`W4 sampling ${name}: ours ${fmt(o.tokensPerSecond)} tokens/s (${fmt(o.seconds)} s), peak ${fmt(o.peakGiB)} GiB`);
  for (const [variant, t] of Object.entries(torch?.w4?.[name] ?? {})) {
    if (typeof t === 'string') console.log(`  transformers ${variant}: ${t}`);
    else console.log(`  transformers ${variant.padEnd(14)} ${fmt(t.tokensPerSecond)} tokens/s, peak ${fmt(t.peakGiB)} GiB; ours/theirs ${ratio(o.tokensPerSecond, t.tokensPerSecond)}`);
  }
}
const w5 = results.w5;
const phaseLine = (p) => Object.entries(p).map(([k, s]) => `${k} ${fmt(s)}`).join(', ');
console.log(`W5 GRPO iteration ${w5.prompts} x ${w5.group} x ${w5.newTokens} tokens (s): ours ${phaseLine(w5.seconds)}; peak ${fmt(w5.peakGiB)} GiB`);
if (torch?.w5?.error) console.log(`  torch: ${torch.w5.error}`);
else if (torch?.w5) {
  console.log(`  torch ${phaseLine(torch.w5.seconds)}; peak ${fmt(torch.w5.peakGiB)} GiB; ours/torch speed ${ratio(torch.w5.seconds.total, w5.seconds.total)}`);
}
writeFileSync(join(outDir, 'gpu-train.json'), JSON.stringify(results, null, 2));
