// The README's quickstart: train a tiny Llama on a fixed batch, sample from it, and score samples with the
// fused GRPO loss. Run: npx tsx examples/quickstart.ts
import * as tg from 'thinkgrad';

tg.manualSeed(0);
const model = new tg.nn.LlamaForCausalLM({ vocabSize: 32, hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2, numAttentionHeads: 4 });
const opt = new tg.AdamW(model.parameters(), { lr: 3e-3 });
const ids = tg.randint(0, 32, [8, 16]);
for (let step = 0; step < 100; step++) {
  const loss = tg.tidy(() => {
    const l = model.loss(ids); // next-token cross-entropy; tidy frees every intermediate tensor
    l.backward();
    return l.item();
  });
  opt.step();
  opt.zeroGrad();
  if (step % 25 === 0) console.log(`step ${step}: loss ${loss.toFixed(3)}`);
}
const out = tg.generate(model, [[1, 2, 3], [4, 5]], { maxNewTokens: 8, temperature: 0.7, topP: 0.95, seed: 1 });
console.log('samples:', out.completionIds);
// GRPO on those samples: advantages from rewards (one group of 2), the fused loss from the policy's logits.
const { advantages } = tg.groupAdvantages([1, 0], { groupSize: 2 });
const loss = tg.tidy(() => {
  const seqs = tg.tensor(out.sequences.map((s) => s.slice(-9)).flat(), [2, 9], { dtype: 'int32' });
  const logits = model.forward(seqs).narrow(1, 0, 8);
  const logps = tg.selectiveLogSoftmax(logits, seqs.narrow(1, 1, 8));
  const { loss } = tg.grpoLoss(logps, { advantages: tg.tensor(advantages, [2]), mask: tg.ones([2, 8]) }, { lossType: 'dapo' });
  loss.backward();
  return loss.item();
});
console.log(`GRPO loss ${loss.toFixed(4)}; gradients reached ${model.parameters().filter((p) => p.grad).length} parameters`);
