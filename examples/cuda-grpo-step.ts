// The GRPO loss step on a CUDA device, for logits you already have: group advantages from the rewards, per-token
// log-probs straight from the logits, the clipped loss with its d loss / d lp, and the gradient of the logits
// written over them, all on device buffers; then the same step with the CPU autograd path to compare.
// Run: npx tsx examples/cuda-grpo-step.ts   (on a machine with a CUDA device, or, in a checkout, on the CPU
// emulator: THINKGRAD_CUDA_PATH=cuda/emulator/build/Release/thinkgrad_cuda_emulated.node npx tsx examples/cuda-grpo-step.ts)
import * as tg from 'thinkgrad';

const cuda = tg.cudaAvailable();
if (!cuda.available) {
  console.log(`no CUDA here: ${cuda.reason}`);
  process.exit(0);
}
console.log(`device: ${cuda.device?.name}`);

tg.manualSeed(3);
const [prompts, G, L, V] = [2, 4, 8, 512]; // prompts, completions per prompt, completion tokens, vocabulary
const S = prompts * G, N = S * L;
const logits = tg.randn([S, L, V]).mul(2);
const ids = tg.randint(0, V, [S, L], { dtype: 'int32' });
const rewards = [1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5]; // one per completion; the second group's are all equal
const mask = tg.tensor(Array.from({ length: S }, (_, s) => Array.from({ length: L }, (_, t) => (t < 3 + s % 5 ? 1 : 0))));
const options = { lossType: 'dapo', importanceSampling: 'token', beta: 0, epsLow: 0.2, epsHigh: 0.28 } as const;
const oldLogps = tg.noGrad(() => tg.selectiveLogSoftmax(logits, ids).add(tg.randn([S, L]).mul(0.3)));

// On the device. The logits' buffer receives their gradient (in place: no second N x V buffer).
const onDevice = (t: tg.Tensor) => tg.CudaBuffer.from(t.data() as Float32Array);
const X = onDevice(logits), ids32 = tg.CudaBuffer.from(ids.data() as Int32Array);
const lp = new tg.CudaBuffer(N, 'float32'), lse = new tg.CudaBuffer(N, 'float32'), adv = new tg.CudaBuffer(S, 'float32');
const old = onDevice(oldLogps), m = onDevice(mask), dlp = new tg.CudaBuffer(N, 'float32');
const stats = tg.cudaGrpo.groupAdvantages(adv, null, Float32Array.from(rewards), Float32Array.from([1]), S, 1, G);
tg.cudaGrpo.selectiveLogSoftmaxForward(lp, lse, null, X, V, ids32, N, V, 1);
const result = tg.cudaGrpo.grpoLoss(dlp, lp, old, null, adv, false, m, null, S, L, { ...options, normalizer: 0, maxCompletionLength: 0 });
tg.cudaGrpo.selectiveLogSoftmaxBackward(X, X, V, ids32, lse, dlp, null, null, N, V, 1);
const deviceGrad = X.download();
for (const b of [X, ids32, lp, lse, adv, old, m, dlp]) b.dispose();
console.log(`cuda: loss ${result.loss.toFixed(6)}, clipped ${(100 * result.clipRegion).toFixed(1)}% of tokens, ` +
  `${stats.zeroStdGroups} zero-std groups`);

// The same step on the CPU with autograd.
const leaf = logits.detach().requiresGrad_();
const cpuLoss = tg.tidy(() => {
  const { advantages } = tg.groupAdvantages(rewards, { groupSize: G });
  const logps = tg.selectiveLogSoftmax(leaf, ids);
  const { loss } = tg.grpoLoss(logps, { oldLogps, advantages: tg.tensor(advantages), mask }, options);
  loss.backward();
  return loss.item();
});
const cpuGrad = leaf.grad!.data() as Float32Array;
let maxDiff = 0;
for (let i = 0; i < cpuGrad.length; i++) maxDiff = Math.max(maxDiff, Math.abs(cpuGrad[i] - deviceGrad[i]));
console.log(`cpu:  loss ${cpuLoss.toFixed(6)}; max |d logits, cuda - cpu| = ${maxDiff.toExponential(2)}`);
