// A GRPO loop written by hand from thinkgrad's pieces (no GRPOTrainer): sample G completions per prompt with
// `generate`, score them with two custom reward functions, turn the scores into group-relative advantages,
// and take an AdamW step on the fused GRPO loss. The tiny policy learns to answer with the letter 'a'.
// Run: npx tsx examples/custom-grpo-loop.ts
import * as tg from 'thinkgrad';

tg.manualSeed(0);
const tok = new tg.CharTokenizer({ chars: 'abcd' }); // ids: 8 special tokens (<pad>, <bos>, <eos>, ...), then a-d
const model = new tg.nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1,
  numAttentionHeads: 2, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId });
const opt = new tg.AdamW(model.parameters(), { lr: 1e-2 });

// Reward functions follow the RewardFunction contract (one score per completion, null = not scored), so the
// same functions also work with GRPOTrainer.
const mostlyA: tg.rewards.RewardFunction = ({ completions }) =>
  completions.map((c) => (c.length === 0 ? 0 : [...c].filter((ch) => ch === 'a').length / c.length));
const notTooLong: tg.rewards.RewardFunction = ({ completionIds }) => completionIds!.map((ids) => (ids.length <= 4 ? 1 : 0));

const prompts = ['b', 'c', 'd', 'ab'].map((p) => tok.encode(p, { addSpecialTokens: false }));
const G = 8; // completions per prompt
const maxNewTokens = 6;
let liveAfterFirstStep = 0;
for (let step = 0; step <= 30; step++) {
  // 1. Sample: each prompt repeated G times; generation runs without autograd and keeps its own memory.
  const promptIds = prompts.flatMap((p) => Array.from({ length: G }, () => [tok.bosTokenId!, ...p]));
  const gen = tg.generate(model, promptIds, { maxNewTokens, temperature: 1, eosTokenId: tok.eosTokenId, seed: step });
  const completionIds = gen.completionIds.map((ids, i) => ids.slice(0, gen.completionLengths[i]));
  const completions = completionIds.map((ids) => tok.decode(ids, { skipSpecialTokens: true }));

  // 2. Reward: an [N][R] matrix, weighted and normalized within each group of G.
  const args = { prompts: promptIds.map((p) => tok.decode(p)), completions, completionIds };
  const scores = [mostlyA(args), notTooLong(args)] as (number | null)[][];
  const matrix = completions.map((_, i) => scores.map((s) => s[i]));
  const { advantages, metrics } = tg.groupAdvantages(matrix, { groupSize: G, weights: [1, 0.5] });

  // 3. Policy gradient: log-probs of the sampled tokens straight from the logits, then the clipped GRPO loss.
  const N = promptIds.length;
  const P = Math.max(...promptIds.map((p) => p.length));
  const L = Math.max(...gen.completionLengths);
  const ids = new Int32Array(N * (P + L)).fill(tok.padTokenId!);
  const mask = new Float32Array(N * L);
  const attentionMask = promptIds.map((p) => Array.from({ length: P + L }, (_, j) => (j < P - p.length ? 0 : 1)));
  promptIds.forEach((p, i) => {
    ids.set(p, i * (P + L) + P - p.length); // left-padded prompt
    ids.set(completionIds[i], i * (P + L) + P);
    mask.fill(1, i * L, i * L + completionIds[i].length);
  });
  const loss = tg.tidy(() => {
    const seqs = tg.tensor(ids, [N, P + L], { dtype: 'int32' });
    const logits = model.forward(seqs, { attentionMask }).narrow(1, P - 1, L); // position t predicts token t + 1
    const logps = tg.selectiveLogSoftmax(logits, seqs.narrow(1, P, L));
    const { loss } = tg.grpoLoss(logps, { advantages: tg.tensor(advantages, [N]), mask: tg.tensor(mask, [N, L]) }, { lossType: 'dapo' });
    loss.backward();
    return loss.item();
  });
  tg.clipGradNorm(model.parameters(), 1);
  opt.step();
  opt.zeroGrad();
  if (step === 0) liveAfterFirstStep = tg.memory().numTensors;
  if (step % 10 === 0) {
    const fractionA = (scores[0] as number[]).reduce((a, b) => a + b, 0) / N;
    console.log(`step ${step}: reward ${metrics.reward.toFixed(3)}  fraction of 'a' ${fractionA.toFixed(3)}` +
      `  loss ${loss.toFixed(4)}  e.g. ${JSON.stringify(completions[0])}`);
  }
}
console.log(`live tensors: ${liveAfterFirstStep} after the first step, ${tg.memory().numTensors} at the end (tidy freed the rest)`);
