// `npm run bench [suite ...] [-- flags]`: runs the benchmark suites (all timing suites by default) and prints their tables.
// Suites: gemm (W1), elementwise, train (W2), grpo (W3), generate (W4), iteration (W5), simd (the CPU's vector
// kernel sets side by side), and learning (learning curves beside a PyTorch loop, ~15 minutes a task, so only
// when named; flags as in bench/learning.ts).
// PyTorch figures are measured in the same run when /usr/bin/python3 has torch.
import '../src/index.js';
import { benchElementwise } from './elementwise.js';
import { benchGemm } from './gemm.js';
import { benchGenerate } from './generate.js';
import { benchGrpo } from './grpo.js';
import { benchGrpoIteration } from './grpo-iteration.js';
import { benchLearning, learningArgs } from './learning.js';
import { cpuInfo, torchAvailable, vectorFeatures } from './lib.js';
import { benchTrainStep } from './train-step.js';
import { benchVectorKernels } from './vector-kernels.js';

// Suite names first, then the learning suite's flags.
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('--'));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);

const suites: Record<string, () => Promise<unknown>> = {
  gemm: () => benchGemm(),
  elementwise: () => benchElementwise(),
  train: () => benchTrainStep(),
  grpo: () => benchGrpo(),
  generate: () => benchGenerate(),
  iteration: () => benchGrpoIteration(),
  simd: () => benchVectorKernels(),
  learning: () => {
    const { options, json } = learningArgs(flags);
    return benchLearning(options, json);
  },
};
const LONG_SUITES = new Set(['learning']);

const unknown = wanted.filter((s) => !(s in suites));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; available: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
console.log(`thinkgrad benchmarks, ${new Date().toISOString()}`);
const cpu = cpuInfo();
console.log(`CPU: ${cpu.model} (${vectorFeatures(cpu.flags)})`);
console.log(torchAvailable()
  ? 'PyTorch: Debian python3-torch via /usr/bin/python3, OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE matched to this CPU, measured in this run'
  : 'PyTorch: not importable by /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread); showing recorded anchor figures where available');
if (flags.length > 0 && !wanted.includes('learning')) {
  console.error(`flags (${flags.join(' ')}) are for the learning suite only`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(suites).filter((s) => !LONG_SUITES.has(s))) await suites[name]();
