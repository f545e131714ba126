// `npm run bench [suite ...]`: runs the benchmark suites (all by default) and prints their tables.
// Suites: gemm (W1), elementwise, train (W2), grpo (W3), generate (W4), iteration (W5). PyTorch figures are measured in the same run when /usr/bin/python3 has torch.
import '../src/index.js';
import { benchElementwise } from './elementwise.js';
import { benchGemm } from './gemm.js';
import { benchGenerate } from './generate.js';
import { benchGrpo } from './grpo.js';
import { benchGrpoIteration } from './grpo-iteration.js';
import { cpuInfo, torchAvailable, vectorFeatures } from './lib.js';
import { benchTrainStep } from './train-step.js';

const suites: Record<string, () => Promise<unknown>> = {
  gemm: () => benchGemm(),
  elementwise: () => benchElementwise(),
  train: () => benchTrainStep(),
  grpo: () => benchGrpo(),
  generate: () => benchGenerate(),
  iteration: () => benchGrpoIteration(),
};

const wanted = process.argv.slice(2);
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
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) await suites[name]();
