// Training on a GPU: the trainers' `device` option puts the policy, the reference model, their gradients and the
// AdamW state on the device, and sampling runs there too (only token ids and rewards cross to the host). A cold-start
// SFT then GRPO with a KL penalty on the embedded addition task, on cuda and again on the CPU: the two runs give the
// same losses to float32 rounding (the kernels sum in different orders).
// Run: npx tsx examples/gpu-training.ts   (on a machine with a CUDA device, or, in a checkout, on the CPU emulator:
// THINKGRAD_CUDA_PATH=cuda/emulator/build/Release/thinkgrad_cuda_emulated.node npx tsx examples/gpu-training.ts)
import * as tg from 'thinkgrad';

const cuda = tg.cudaAvailable();
if (!cuda.available) {
  console.log(`no CUDA here: ${cuda.reason}`);
  process.exit(0);
}
console.log(`device: ${cuda.device?.name}${cuda.device?.emulated ? ' (the CPU emulator: small sizes, slow)' : ''}`);

const tok = tg.additionTokenizer();
const examples = tg.additionExamples(64, { seed: 1, noise: 0.5 }).map(({ prompt, completion }) => ({ prompt, completion }));
const problems = tg.additionTrainProblems(64, 2).map(({ prompt, answer }) => ({ prompt, answer }));
const newModel = () => new tg.nn.LlamaForCausalLM({
  vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
  tieWordEmbeddings: true, maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
}, { seed: 3 });

async function run(device: tg.Device): Promise<number[]> {
  const started = performance.now();
  const policy = newModel(); // made on the CPU; each trainer moves what it trains to `device`
  const ref = newModel();
  const sft = new tg.SFTTrainer(policy, tok, examples, { maxSteps: 4, batchSize: 8, learningRate: 1e-2, logEvery: 1, seed: 1, device }).fit();
  const grpo = new tg.GRPOTrainer(policy, tok, problems, [tg.rewards.accuracy(), tg.rewards.format()], {
    maxSteps: 2, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 10, learningRate: 1e-3, beta: 0.04,
    seed: 1, device,
  }, {}, ref);
  const logs = await grpo.train();
  console.log(`${device}: trained on ${grpo.device}; SFT loss ${sft.map((l) => (l.loss as number).toFixed(4)).join(' ')}; ` +
    `GRPO loss ${logs.map((l) => (l.loss as number).toFixed(4)).join(' ')}, reward ${logs.map((l) => (l.reward as number).toFixed(3)).join(' ')}; ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`);
  policy.dispose();
  ref.dispose();
  return [...sft, ...logs].map((l) => l.loss as number);
}

const onGpu = await run('cuda');
const onCpu = await run('cpu');
console.log(`largest loss difference, cuda vs cpu: ${Math.max(...onGpu.map((l, i) => Math.abs(l - onCpu[i]))).toExponential(1)}`);
