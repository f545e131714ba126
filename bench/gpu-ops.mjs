// The GPU engine's benchmarks beside PyTorch on the same device (issue 12 §5, run by bench/gpu.sh): GEMM at 4096^3,
// 8192^3 and a 0.5B model's shapes (Qwen2.5-0.5B: hidden 896, intermediate 4864, vocabulary 151,936; 16 x 512
// tokens) with each kernel the addon has at both float32 precisions; copy and elementwise bandwidth; causal GQA
// attention forward+backward at T = 1024 and 4096; one decode step's token sampling at the 0.5B model's vocabulary
// (issue 13: 64 rows, top-p 0.95, with and without top-k 50, greedy) beside Hugging Face's logits warpers and
// torch.multinomial. Plain Node on dist/ (the GPU machine has no npm).
// Usage: node bench/gpu-ops.mjs <thinkgrad_cuda.node> [outDir] [--small]
// --small: tiny shapes, no PyTorch: the whole script on the CPU emulator (tests/grpo-cuda-emulated.test.ts).
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
const { cudaAddon } = await import(join(here, '..', 'dist', 'backend', 'cuda.js'));
const { sampleTokens } = await import(join(here, '..', 'dist', 'generate', 'sample-tokens.js'));

const status = tg.cudaAvailable();
if (!status.available) {
  console.log(`no CUDA device: ${status.reason}`);
  process.exit(2);
}
const addon = cudaAddon('gpu-ops');
console.log(`device: ${status.device.name ?? 'unnamed'} (compute ${status.device.computeCapability}, ${status.device.multiprocessors} SMs)`);

const tokens = 16 * 512;
const cases = small
  ? {
    gemm: { 'tail 37x45x53': [37, 45, 53], 'square 64': [64, 64, 64] },
    bandwidth: { numel: 5000 },
    attention: { 'T=24': [1, 4, 2, 24, 16] },
    sampling: { '3x1000': [3, 1000] },
  }
  : {
    gemm: {
      '4096^3': [4096, 4096, 4096],
      '8192^3': [8192, 8192, 8192],
      '0.5B q_proj 8192x896x896': [tokens, 896, 896],
      '0.5B k/v_proj 8192x128x896': [tokens, 128, 896],
      '0.5B gate/up 8192x4864x896': [tokens, 4864, 896],
      '0.5B down 8192x896x4864': [tokens, 896, 4864],
      '0.5B lm_head 8192x151936x896': [tokens, 151936, 896],
    },
    bandwidth: { numel: 1 << 28 },
    // [B, Hq, Hkv, T, D]: the 0.5B model's 14 query heads over 2 kv heads of 64
    attention: { 'T=1024 (B=8)': [8, 14, 2, 1024, 64], 'T=4096 (B=2)': [2, 14, 2, 4096, 64] },
    sampling: { '64x151936': [64, 151936] },
  };
// The sampling modes timed, as generate() options (PyTorch: the same warpers in HF's order).
const samplingModes = { 'top-p 0.95': { topP: 0.95 }, 'top-k 50, top-p 0.95': { topK: 50, topP: 0.95 }, greedy: { greedy: true } };

// Median milliseconds per call: calls are batched between synchronizations so launch queues stay full.
function timeMs(fn) {
  const reps = small ? 1 : 5;
  for (let i = 0; i < (small ? 1 : 3); i++) tg.tidy(fn);
  tg.synchronize('cuda');
  let perBatch = 1;
  if (!small) {
    const t0 = performance.now();
    tg.tidy(fn);
    tg.synchronize('cuda');
    perBatch = Math.max(1, Math.min(200, Math.floor(50 / Math.max(performance.now() - t0, 1e-3))));
  }
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) tg.tidy(fn);
    tg.synchronize('cuda');
    samples.push((performance.now() - t0) / perBatch);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

const results = { device: status.device, gemm: {}, bandwidth: {}, attention: {}, sampling: {}, torch: null };
const randn = (shape) => tg.randn(shape, { device: 'cuda' });

// Each kernel the addon can run at each precision: cuBLASLt where it loads, and our own (mma tensor cores at
// medium, SIMT float32 at highest). The default at each precision is timed first.
const defaults = addon.matmulPrecision().kernels;
const own = { highest: 'simt', medium: 'mma' };
const kernelsOf = (precision) => [...new Set([defaults[precision], ...(defaults[precision].startsWith('cublaslt') ? [own[precision]] : [])])];
console.log(`GEMM kernels: highest ${defaults.highest}, medium ${defaults.medium}`);
for (const [name, [M, N, K]] of Object.entries(cases.gemm)) {
  const a = randn([M, K]), b = randn([K, N]);
  const row = {};
  for (const precision of ['highest', 'medium']) {
    for (const kernel of kernelsOf(precision)) {
      try {
        addon.gemmKernel(kernel);
        row[`${precision} ${kernel}`] = timeMs(() => tg.matmul(a, b, { precision }));
      } catch (err) {
        row[`${precision} ${kernel}`] = `${err.message}`;
      } finally {
        addon.gemmKernel('auto');
      }
    }
  }
  results.gemm[name] = { shape: [M, N, K], ms: row };
  a.dispose();
  b.dispose();
}

{
  const n = cases.bandwidth.numel;
  const x = randn([n]), y = randn([n]);
  results.bandwidth = {
    numel: n,
    copy: timeMs(() => x.clone()),
    add: timeMs(() => tg.add(x, y)),
    silu: timeMs(() => tg.silu(x)),
  };
  x.dispose();
  y.dispose();
}

for (const [name, [B, Hq, Hkv, T, D]] of Object.entries(cases.attention)) {
  const q = tg.randn([B, Hq, T, D], { device: 'cuda', requiresGrad: true });
  const k = tg.randn([B, Hkv, T, D], { device: 'cuda', requiresGrad: true });
  const v = tg.randn([B, Hkv, T, D], { device: 'cuda', requiresGrad: true });
  const g = randn([B, Hq, T, D]);
  const row = {};
  for (const precision of ['highest', 'medium']) {
    row[precision] = {
      forward: timeMs(() => tg.noGrad(() => tg.scaledDotProductAttention(q, k, v, { causal: true, precision }))),
      forwardBackward: timeMs(() => {
        for (const t of [q, k, v]) t.grad?.dispose();
        for (const t of [q, k, v]) t.grad = null;
        tg.scaledDotProductAttention(q, k, v, { causal: true, precision }).backward(g);
      }),
    };
  }
  results.attention[name] = { shape: [B, Hq, Hkv, T, D], ms: row };
  for (const t of [q, k, v, g]) t.dispose();
}

for (const [name, [rows, V]] of Object.entries(cases.sampling)) {
  const logits = tg.randn([rows, V], { device: 'cuda', std: 3 });
  const u = tg.rand([rows], { device: 'cuda' });
  const ms = {};
  for (const [mode, options] of Object.entries(samplingModes)) {
    // the ids' copy to the host included, as generate() makes it every step
    ms[mode] = timeMs(() => sampleTokens(logits, u, options).ids.data());
  }
  results.sampling[name] = { shape: [rows, V], ms };
  logits.dispose();
  u.dispose();
}

if (!small) {
  const r = spawnSync('python3', [join(here, 'torch', 'gpu_ops.py'), JSON.stringify(cases)], { encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0) results.torch = JSON.parse(r.stdout.trim().split('\n').pop());
  else console.log(`PyTorch comparison failed: ${(r.stderr || r.error?.message || '').split('\n').slice(-5).join(' | ')}`);
}

// ---- report --------------------------------------------------------------------------------------------------
const fmt = (x) => (typeof x === 'number' ? (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3)) : String(x));
const torch = results.torch;
console.log(`\nGEMM (ms, TFLOP/s; torch ${torch?.torch ?? 'not run'}: float32 without TF32, TF32, bf16 tensors)`);
for (const [name, { shape: [M, N, K], ms }] of Object.entries(results.gemm)) {
  const flops = 2 * M * N * K;
  const tf = (t) => (typeof t === 'number' ? `${fmt(t)} ms ${fmt(flops / t / 1e9)} TF/s` : t);
  const tr = torch?.gemm[name];
  console.log(`  ${name}`);
  for (const [kernel, t] of Object.entries(ms)) {
    const ref = kernel.startsWith('highest') ? tr?.float32 : tr?.bfloat16;
    console.log(`    ours ${kernel.padEnd(28)} ${tf(t).padEnd(28)}${ref ? ` torch ${tf(ref)}  ours/torch ${fmt(ref / t)}x` : ''}`);
  }
  if (tr) console.log(`    torch tf32 ${tf(tr.tf32)}`);
}
const bw = results.bandwidth;
const gbs = (bytes, ms) => `${fmt(bytes / ms / 1e6)} GB/s`;
console.log(`\nBandwidth, ${bw.numel} floats (copy: 2 x 4 bytes per element, add: 3 x 4, silu: 2 x 4)`);
for (const [op, bytes] of [['copy', 8], ['add', 12], ['silu', 8]]) {
  const ref = torch?.bandwidth[op];
  console.log(`  ${op.padEnd(5)} ours ${fmt(bw[op])} ms ${gbs(bytes * bw.numel, bw[op])}` +
    (ref ? `  torch ${fmt(ref)} ms ${gbs(bytes * bw.numel, ref)}  ours/torch ${fmt(ref / bw[op])}x` : '') +
    `  (${fmt((bytes * bw.numel / bw[op]) / (8 * bw.numel / bw.copy) * 100)}% of our copy rate)`);
}
console.log('\nCausal GQA attention (ms; torch scaled_dot_product_attention in float32 and bf16)');
for (const [name, { ms }] of Object.entries(results.attention)) {
  const tr = torch?.attention[name];
  for (const precision of ['highest', 'medium']) {
    const ref = tr?.[precision === 'highest' ? 'float32' : 'bfloat16'];
    const o = ms[precision];
    console.log(`  ${name} ${precision.padEnd(7)} fwd ${fmt(o.forward)} fwd+bwd ${fmt(o.forwardBackward)}` +
      (ref ? `  torch fwd ${fmt(ref.forward)} fwd+bwd ${fmt(ref.forwardBackward)}  ours/torch fwd+bwd ${fmt(ref.forwardBackward / o.forwardBackward)}x` : ''));
  }
}
console.log("\nSampling one token per row (ms, the ids' copy to the host included; torch: HF's TopK/TopP warpers, softmax, multinomial)");
for (const [name, { ms }] of Object.entries(results.sampling)) {
  for (const [mode, t] of Object.entries(ms)) {
    const ref = torch?.sampling?.[name]?.[mode];
    console.log(`  ${name} ${mode.padEnd(20)} ours ${fmt(t)}` + (ref ? `  torch ${fmt(ref)}  ours/torch ${fmt(ref / t)}x` : ''));
  }
}
writeFileSync(join(outDir, 'gpu-ops.json'), JSON.stringify(results, null, 2));
