// The fused GRPO loss on logits that your own code produces (here a two-layer head of its own over random
// features, not a thinkgrad model): per-token log-probs straight from the logits, the clipped surrogate with a
// k3 KL penalty, checked against the same formula written in plain float64 JavaScript, then one AdamW step.
// Run: npx tsx examples/fused-loss-own-logits.ts
import * as tg from 'thinkgrad';

tg.manualSeed(1);
const [B, L, H, V] = [4, 6, 16, 50]; // sequences, completion tokens, feature size, vocabulary
const T = 0.8; // the sampling temperature the completions were drawn at
const beta = 0.04; // KL coefficient
const eps = 0.2; // clip range [1 - eps, 1 + eps]

// "Your model": any code that ends in a [B, L, V] float32 tensor with a graph back to your parameters.
const w1 = tg.randn([H, 32]).mul(0.3).detach().requiresGrad_();
const w2 = tg.randn([32, V]).mul(0.3).detach().requiresGrad_();
const features = tg.randn([B, L, H]);
const myLogits = () => tg.matmul(tg.matmul(features, w1).tanh(), w2);

// What the rollout gave: sampled ids, the sampling policy's and the reference model's log-probs, the mask.
const ids = tg.randint(0, V, [B, L]);
const oldLogps = tg.noGrad(() => tg.selectiveLogSoftmax(myLogits(), ids, { temperature: T }).add(tg.randn([B, L]).mul(0.1)));
const refLogps = oldLogps.sub(tg.rand([B, L]).mul(0.2));
const lengths = [6, 4, 5, 2];
const mask = tg.tensor(lengths.map((n) => Array.from({ length: L }, (_, t) => (t < n ? 1 : 0))));
const advantages = tg.tensor([1.2, -0.4, 0.3, -1.1]);

const opt = new tg.AdamW([w1, w2], { lr: 1e-2 });
const { loss, metrics, logits } = tg.tidy(() => {
  const logits = myLogits();
  const logps = tg.selectiveLogSoftmax(logits, ids, { temperature: T }); // [B, L], never a [B, L, V] log-softmax
  const { loss, metrics } = tg.grpoLoss(logps, { oldLogps, refLogps, advantages, mask }, { lossType: 'grpo', beta, epsLow: eps, epsHigh: eps });
  loss.backward();
  return { loss: loss.item(), metrics, logits: logits.detach().toArray() as number[][][] };
});

// The same loss in plain float64 JavaScript: log-softmax of logits / T, ratio, clipped surrogate, k3 KL,
// per-sequence masked mean, then the mean over sequences (lossType 'grpo').
const idsA = ids.toArray() as number[][];
const oldA = oldLogps.toArray() as number[][];
const refA = refLogps.toArray() as number[][];
const advA = advantages.toArray() as number[];
let reference = 0;
for (let b = 0; b < B; b++) {
  let seq = 0;
  for (let t = 0; t < lengths[b]; t++) {
    const row = logits[b][t].map((z) => z / T);
    const max = Math.max(...row);
    const lp = row[idsA[b][t]] - max - Math.log(row.reduce((s, z) => s + Math.exp(z - max), 0));
    const ratio = Math.exp(lp - oldA[b][t]);
    const clipped = Math.min(Math.max(ratio, 1 - eps), 1 + eps);
    const kl = Math.exp(refA[b][t] - lp) - (refA[b][t] - lp) - 1;
    seq += -Math.min(ratio * advA[b], clipped * advA[b]) + beta * kl;
  }
  reference += seq / lengths[b] / B;
}
console.log(`fused loss ${loss.toFixed(6)}, plain float64 ${reference.toFixed(6)}, |difference| ${Math.abs(loss - reference).toExponential(1)}`);
console.log(`kl ${metrics.kl.toFixed(4)}, clipped fraction ${metrics['clip_ratio/region_mean'].toFixed(3)}, tokens ${metrics.num_tokens}`);
console.log(`gradient norms: w1 ${w1.grad!.square().sum().sqrt().item().toFixed(4)}, w2 ${w2.grad!.square().sum().sqrt().item().toFixed(4)}`);
opt.step();
opt.zeroGrad();
if (Math.abs(loss - reference) > 1e-4 * (1 + Math.abs(reference))) throw new Error('the fused loss disagrees with the reference');
