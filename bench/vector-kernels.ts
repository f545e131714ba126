// The CPU's vector kernel sets side by side (native/kernels/: AVX-512 and AVX2 on an AVX-512 CPU), one thread,
// operands in L2 so the loops' arithmetic is measured rather than memory: each path's AVX2 throughput as a share
// of its AVX-512 one, beside the same share for the GEMM micro-kernels (the hardware's ratio of vector
// arithmetic). A path far below the GEMM's share is an AVX2 code-generation problem, as GRPO's rows once were.
import * as tg from '../src/index.js';
import { native } from '../src/native.js';
import { cpuInfo, fmt, medianMs, vectorFeatures } from './lib.js';

interface Case {
  name: string;
  run: () => void;
}

function cases(): { list: Case[]; dispose: () => void } {
  const n = 1 << 18; // 1 MiB of float32 per operand
  const a = tg.randn([n]);
  const b = tg.randn([n]);
  const rows = tg.randn([256, 1024]);
  const weight = tg.randn([1024]);
  const logits = tg.randn([64, 32000]);
  const ids = tg.randint(0, 32000, [64]);
  const q = tg.randn([8, 8, 1, 64]);
  const kv = tg.randn([8, 8, 512, 64]);
  const grad = tg.randn([n]);
  const m = tg.zeros([n]);
  const v = tg.zeros([n]);
  const x = tg.randn([4, 64, 8, 64]);
  const { cos, sin } = tg.rotaryTables(64, 64);
  const positions = tg.arange(0, 64, 1, { dtype: 'int32' });
  const gemmA = tg.randn([512, 512]);
  const positive = tg.abs(a);
  // Leaves for the backward rows, and the gradients their outputs receive.
  const leafA = tg.randn([n]).requiresGrad_();
  const leafB = tg.randn([n]).requiresGrad_();
  const leafRows = tg.randn([256, 1024]).requiresGrad_();
  const leafWeight = tg.randn([1024]).requiresGrad_();
  const leafLogits = tg.randn([64, 32000]).requiresGrad_();
  const qkv = [0, 1, 2].map(() => tg.randn([4, 8, 128, 64]).requiresGrad_());
  const gRows = tg.randn([256, 1024]);
  const gAttention = tg.randn([4, 8, 128, 64]);
  const gLogps = tg.randn([64]);
  const leaves = [leafA, leafB, leafRows, leafWeight, leafLogits, ...qkv];
  // One forward and backward per call, the leaves' gradients cleared first so no accumulation is timed.
  const backward = (f: () => void) => () => {
    for (const t of leaves) t.zeroGrad();
    tg.tidy(f);
  };
  const keep = [a, b, rows, weight, logits, ids, q, kv, grad, m, v, x, cos, sin, positions, gemmA, positive, ...leaves, gRows,
    gAttention, gLogps];
  const list: Case[] = [
    { name: 'GEMM 512^3 (the hardware ratio)', run: () => tg.tidy(() => { tg.matmul(gemmA, gemmA); }) },
    { name: 'exp, 256Ki', run: () => tg.tidy(() => { tg.exp(a); }) },
    { name: 'log, 256Ki', run: () => tg.tidy(() => { tg.log(positive); }) },
    { name: 'sigmoid, 256Ki', run: () => tg.tidy(() => { tg.sigmoid(a); }) },
    { name: 'tanh, 256Ki', run: () => tg.tidy(() => { tg.tanh(a); }) },
    { name: 'silu, 256Ki', run: () => tg.tidy(() => { tg.silu(a); }) },
    { name: 'gelu, 256Ki', run: () => tg.tidy(() => { tg.gelu(a); }) },
    { name: 'add, 256Ki', run: () => tg.tidy(() => { tg.add(a, b); }) },
    { name: 'swiglu, 256Ki', run: () => tg.tidy(() => { tg.swiglu(a, b); }) },
    { name: 'sum, 256Ki', run: () => tg.tidy(() => { tg.sum(a); }) },
    { name: 'max, 256Ki', run: () => tg.tidy(() => { tg.max(a); }) },
    { name: 'to bfloat16, 256Ki', run: () => tg.tidy(() => { a.to('bfloat16'); }) },
    { name: 'softmax, 256 x 1024', run: () => tg.tidy(() => { tg.softmax(rows); }) },
    { name: 'logSoftmax, 256 x 1024', run: () => tg.tidy(() => { tg.logSoftmax(rows); }) },
    { name: 'rmsNorm, 256 x 1024', run: () => tg.tidy(() => { tg.rmsNorm(rows, weight); }) },
    { name: 'applyRotary, 4 x 64 x 8 x 64', run: () => tg.tidy(() => { tg.applyRotary(x, cos, sin, positions); }) },
    { name: 'crossEntropy, 64 x 32000', run: () => tg.tidy(() => { tg.crossEntropy(logits, ids); }) },
    { name: 'selectiveLogSoftmax (GRPO rows), 64 x 32000', run: () => tg.tidy(() => { tg.selectiveLogSoftmax(logits, ids); }) },
    { name: 'attention decode, 8 x 8 heads x 512 keys', run: () => tg.tidy(() => { tg.scaledDotProductAttention(q, kv, kv); }) },
    { name: 'adamwStep, 256Ki', run: () => tg.adamwStep(a, grad, m, v, { lr: 1e-9, step: 1 }) },
    { name: 'silu forward + backward, 256Ki', run: backward(() => tg.silu(leafA).backward(grad)) },
    { name: 'swiglu forward + backward, 256Ki', run: backward(() => tg.swiglu(leafA, leafB).backward(grad)) },
    { name: 'softmax forward + backward, 256 x 1024', run: backward(() => tg.softmax(leafRows).backward(gRows)) },
    { name: 'rmsNorm forward + backward, 256 x 1024', run: backward(() => tg.rmsNorm(leafRows, leafWeight).backward(gRows)) },
    { name: 'crossEntropy forward + backward, 64 x 32000', run: backward(() => tg.crossEntropy(leafLogits, ids).backward()) },
    {
      name: 'selectiveLogSoftmax forward + backward, 64 x 32000',
      run: backward(() => tg.selectiveLogSoftmax(leafLogits, ids).backward(gLogps)),
    },
    {
      name: 'causal attention forward + backward, 4 x 8 heads x 128 tokens',
      run: backward(() => tg.scaledDotProductAttention(qkv[0], qkv[1], qkv[2], { causal: true }).backward(gAttention)),
    },
  ];
  return { list, dispose: () => keep.forEach((t) => t.dispose()) };
}

export async function benchVectorKernels(): Promise<void> {
  const sets = native.cpuFeatures().avx512 ? ['avx512', 'avx2'] : [native.simdKernels('auto')];
  const before = { simd: native.simdKernels(), gemm: native.gemmKernel() };
  const threads = tg.getNumThreads();
  tg.setNumThreads(1);
  const { list, dispose } = cases();
  console.log(`\n## Vector kernel sets side by side, 1 thread (${sets.join(' vs ')})\n`);
  console.log(`| path | ${sets.map((s) => `${s} (us)`).join(' | ')} |${sets.length > 1 ? ` ${sets[1]} / ${sets[0]} throughput |` : ''}`);
  console.log(`|---|${sets.map(() => '---|').join('')}${sets.length > 1 ? '---|' : ''}`);
  try {
    for (const c of list) {
      // Each set twice, alternating, and the better median of the two: machine noise hits both sides alike.
      const best = new Map<string, number>();
      for (let round = 0; round < 2; round++) {
        for (const set of sets) {
          native.simdKernels(set);
          native.gemmKernel(set);
          const ms = await medianMs(c.run, 200);
          best.set(set, Math.min(best.get(set) ?? Infinity, ms));
        }
      }
      const us = sets.map((s) => best.get(s)! * 1e3);
      const share = sets.length > 1 ? ` ${fmt(us[0] / us[1])} |` : '';
      console.log(`| ${c.name} | ${us.map(fmt).join(' | ')} |${share}`);
    }
  } finally {
    dispose();
    native.simdKernels(before.simd);
    native.gemmKernel(before.gemm);
    tg.setNumThreads(threads);
  }
  const cpu = cpuInfo();
  console.log(`\nCPU: ${cpu.model} (${vectorFeatures(cpu.flags)}); the GEMM row runs each set's GEMM micro-kernel, the others its vector loops.`);
}
