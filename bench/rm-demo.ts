// R1's last RL stage in miniature: a reward model learned from seeded synthetic preferences, then GRPO on a
// mix of reasoning rows (3-digit addition, rule rewards: accuracy + format) and general rows (scored by the
// reward model on the answer only + format), routed by the `task` column.
// Run: npx tsx bench/rm-demo.ts [--rm-steps N] [--sft-steps N] [--grpo-steps N] [--out DIR]
//
// The hidden preference on general prompts `d,d,d=`: answers whose digits are mostly even are better
// (score = share of even digits). The reward model never sees that rule, only pairs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tg from '../src/index.js';
import { LlamaForSequenceClassification, saveSequenceClassifier } from '../src/nn/sequence-classification.js';
import { RewardTrainer, type PreferencePair } from '../src/train/reward-trainer.js';
import { rewardModel, rewardModelStats, scoreWithRewardModel, answerPart } from '../src/rl/rewards/reward-model.js';
import { routeRewards } from '../src/rl/rewards/routing.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { SFTTrainer } from '../src/train/sft.js';
import { generate } from '../src/generate/generate.js';
import { additionAnswer, additionExamples, additionHeldOut, additionTokenizer, additionTrainProblems, additionWellFormed } from '../src/tasks/addition.js';
import { seededRandom, randomInt } from '../src/tasks/seeded-random.js';
import type { LogRecord } from '../src/train/logger.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const OUT = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : '/tmp/thinkgrad-rm-demo';
const RM_STEPS = arg('rm-steps', 300);
const SFT_STEPS = arg('sft-steps', 2000);
const GRPO_STEPS = arg('grpo-steps', 150);
const EVAL_EVERY = arg('eval-every', 25);
const SEED = arg('seed', 1);
const NOISE = arg('noise', 0.1);
const MAX_NEW = 40;

const tok = additionTokenizer();
const evenShare = (answer: string) => (answer.length ? [...answer].filter((d) => Number(d) % 2 === 0).length / answer.length : 0);

// ---- The synthetic general task and its preference pairs --------------------------------------------------
function generalPrompt(r: () => number): string {
  return `${randomInt(r, 0, 9)},${randomInt(r, 0, 9)},${randomInt(r, 0, 9)}=`;
}
const digits = (r: () => number, n: number) => Array.from({ length: n }, () => String(randomInt(r, 0, 9))).join('');
/** Pairs of answers to general prompts: the one with the larger share of even digits is chosen. */
function preferencePairs(count: number, seed: number): (PreferencePair & { prompt: string; chosen: string; rejected: string })[] {
  const r = seededRandom(seed);
  const out: (PreferencePair & { prompt: string; chosen: string; rejected: string })[] = [];
  while (out.length < count) {
    const prompt = generalPrompt(r);
    const a = digits(r, randomInt(r, 3, 4));
    const b = digits(r, randomInt(r, 3, 4));
    if (evenShare(a) === evenShare(b)) continue;
    const [chosen, rejected] = evenShare(a) > evenShare(b) ? [a, b] : [b, a];
    out.push({ prompt, chosen: `<answer>${chosen}</answer>`, rejected: `<answer>${rejected}</answer>` });
  }
  return out;
}
/** Cold-start examples for general prompts: echo the list in the think block, then a random 3-4 digit answer. */
function generalExamples(count: number, seed: number) {
  const r = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const prompt = generalPrompt(r);
    return { prompt, completion: `<think>${prompt.slice(0, -1)}</think><answer>${digits(r, randomInt(r, 3, 4))}</answer>` };
  });
}

const fmt = (x: number) => x.toFixed(3);
const t0 = performance.now();
const since = () => ((performance.now() - t0) / 1000).toFixed(1);

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  tg.manualSeed(SEED);
  const results: Record<string, unknown> = { seed: SEED };

  // ---- 1. Reward model from preferences ---------------------------------------------------------------------
  const train = preferencePairs(4000, SEED + 100);
  const heldOut = preferencePairs(500, SEED + 200);
  const rmCfg = { vocabSize: tok.vocabSize, hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2, numAttentionHeads: 2, tieWordEmbeddings: true,
    maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId };
  const rm = new LlamaForSequenceClassification(rmCfg, { seed: SEED });
  const rmCurve: { step: number; seconds: number; accuracy: number; margin: number }[] = [];
  const rmStart = performance.now();
  const rmTrainer = new RewardTrainer(rm, tok, train, {
    maxSteps: RM_STEPS, batchSize: 32, learningRate: 2e-3, warmupSteps: 20, lrSchedule: 'cosine', logEvery: 25, evalEvery: 25, seed: SEED,
    outputDir: path.join(OUT, 'rm'),
  }, {
    onEvaluate: (m) => {
      rmCurve.push({ step: m.step as number, seconds: (performance.now() - rmStart) / 1000, accuracy: m.eval_accuracy as number, margin: m.eval_margin as number });
      console.log(`RM step ${m.step}: held-out accuracy ${(100 * (m.eval_accuracy as number)).toFixed(1)}%, margin ${fmt(m.eval_margin as number)} (${rmCurve.at(-1)!.seconds.toFixed(1)} s)`);
    },
  }, heldOut);
  const before = rmTrainer.evaluate();
  rmCurve.unshift({ step: 0, seconds: 0, accuracy: before.eval_accuracy, margin: before.eval_margin });
  rmTrainer.fit();
  const rmSeconds = (performance.now() - rmStart) / 1000;
  saveSequenceClassifier(rm, path.join(OUT, 'rm', 'model'), { tokenizer: tok });
  results.rm = { params: rm.numParameters(), trainPairs: train.length, heldOutPairs: heldOut.length, seconds: rmSeconds, curve: rmCurve };
  console.log(`reward model: ${rm.numParameters().toLocaleString()} parameters, ${RM_STEPS} steps in ${rmSeconds.toFixed(1)} s, held-out accuracy ` +
    `${(100 * before.eval_accuracy).toFixed(1)}% -> ${(100 * rmCurve.at(-1)!.accuracy).toFixed(1)}%`);

  // ---- 2. Cold-start policy: addition worked examples + general examples ----------------------------------
  const policy = new tg.nn.LlamaForCausalLM({ ...rmCfg, hiddenSize: 128, intermediateSize: 352, numAttentionHeads: 4 }, { seed: SEED });
  const cold = [...additionExamples(2000, { seed: SEED, noise: NOISE }).map(({ prompt, completion }) => ({ prompt, completion })), ...generalExamples(1000, SEED + 300)];
  const sftStart = performance.now();
  new SFTTrainer(policy, tok, cold, { maxSteps: SFT_STEPS, batchSize: 32, learningRate: 3e-3, warmupSteps: 50, lrSchedule: 'cosine', logEvery: 100, seed: SEED }).fit();
  const sftSeconds = (performance.now() - sftStart) / 1000;
  console.log(`cold-start SFT: ${SFT_STEPS} steps in ${sftSeconds.toFixed(1)} s (at ${since()} s)`);

  // ---- 3. Held-out evaluation: RM score of general samples, rule rewards of reasoning samples --------------
  const r = seededRandom(SEED + 400);
  const heldGeneral = Array.from({ length: 48 }, () => generalPrompt(r));
  const heldAdd = additionHeldOut(48);
  const K = 4;
  const sample = (prompts: string[], seed: number) => {
    const ids = prompts.flatMap((p) => Array.from({ length: K }, () => tok.encode(p)));
    const g = tg.noGrad(() => generate(policy, ids, { maxNewTokens: MAX_NEW, temperature: 1, eosTokenId: tok.eosTokenId, seed }));
    return g.completionIds.map((c, i) => tok.decode(c.slice(0, g.completionLengths[i]).filter((t) => t !== tok.eosTokenId)));
  };
  const evaluate = (step: number) => {
    const gen = sample(heldGeneral, SEED + 1000);
    const prompts = heldGeneral.flatMap((p) => Array.from({ length: K }, () => p));
    const scores = scoreWithRewardModel(rm, tok, prompts, gen.map(answerPart));
    const answers = gen.map((c) => /<answer>(\d*)<\/answer>$/.exec(c)?.[1] ?? '');
    const add = sample(heldAdd.map((p) => p.prompt), SEED + 2000);
    const correct = add.map((c, i) => additionAnswer(c) === heldAdd[Math.floor(i / K)].answer ? 1 : 0);
    const e = {
      step, seconds: Number(since()),
      rmScore: scores.reduce((a, b) => a + b, 0) / scores.length,
      trueEvenShare: answers.reduce((a, s) => a + evenShare(s), 0) / answers.length,
      generalFormat: gen.filter((c) => tg.rewards.hasR1Format(c)).length / gen.length,
      additionAccuracy: correct.reduce((a: number, b) => a + b, 0) / correct.length,
      additionFormat: add.filter(additionWellFormed).length / add.length,
    };
    console.log(`eval @${step}: RM score ${fmt(e.rmScore)}, even share ${fmt(e.trueEvenShare)}, addition pass@1 ${(100 * e.additionAccuracy).toFixed(1)}%, ` +
      `format ${(100 * e.additionFormat).toFixed(0)}% / ${(100 * e.generalFormat).toFixed(0)}% (${e.seconds} s)`);
    return e;
  };
  const evals = [evaluate(0)];

  // ---- 4. GRPO on mixed rows, rewards routed by task -----------------------------------------------------
  const stats = rewardModelStats(rm, tok, heldOut.map((p) => p.prompt).flatMap((p) => [p, p]), heldOut.flatMap((p) => [p.chosen, p.rejected]));
  const helpful = rewardModel(rm, tok, { name: 'helpfulness', input: 'answer', normalize: stats });
  const accuracy = tg.rewards.accuracy();
  const format = tg.rewards.format();
  const funcs = routeRewards({ column: 'task', routes: { reasoning: [accuracy, format], general: [helpful, format] } });
  const weights = funcs.map((f) => (f.name === 'format' ? 0.1 : 1));
  const gr = seededRandom(SEED + 500);
  const rows = [
    ...additionTrainProblems(2000, SEED + 1).map((p) => ({ prompt: p.prompt, answer: p.answer, task: 'reasoning' })),
    ...Array.from({ length: 2000 }, () => ({ prompt: generalPrompt(gr), answer: '', task: 'general' })),
  ];
  const grpoStart = performance.now();
  const trainer = new GRPOTrainer(policy, tok, rows, funcs, {
    maxSteps: GRPO_STEPS, numGenerations: 8, generationBatchSize: 128, microBatchSize: 128, learningRate: 3e-4, warmupSteps: 10,
    lrSchedule: 'constant_with_warmup', rewardWeights: weights, maxCompletionLength: MAX_NEW, temperature: 1, beta: 0, lossType: 'dapo', seed: SEED,
    outputDir: path.join(OUT, 'grpo'),
  });
  const logs: LogRecord[] = await trainer.train((step) => {
    const l = trainer.logger.records.at(-1)!;
    if (step % 5 === 0) {
      console.log(`GRPO step ${step}: reward ${fmt(l.reward as number)}, ${funcs.map((f) => `${f.name} ${l[`rewards/${f.name}/mean`] === null ? '-' : fmt(l[`rewards/${f.name}/mean`] as number)}`).join(', ')} (${since()} s)`);
    }
    if (step % EVAL_EVERY === 0) evals.push(evaluate(step));
  });
  const grpoSeconds = (performance.now() - grpoStart) / 1000;
  results.sft = { steps: SFT_STEPS, seconds: sftSeconds };
  results.grpo = {
    steps: GRPO_STEPS, seconds: grpoSeconds, rewardWeights: Object.fromEntries(funcs.map((f, i) => [f.name, weights[i]])), rmNormalization: stats,
    curve: logs.map((l) => ({ step: l.step, reward: l.reward, ...Object.fromEntries(funcs.map((f) => [f.name, l[`rewards/${f.name}/mean`]])) })),
  };
  results.evals = evals;
  results.totalSeconds = Number(since());
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`\n| step | wall s | held-out RM score | true even share | addition pass@1 | addition format |\n|---|---|---|---|---|---|`);
  for (const e of evals) console.log(`| ${e.step} | ${e.seconds} | ${fmt(e.rmScore)} | ${fmt(e.trueEvenShare)} | ${(100 * e.additionAccuracy).toFixed(1)}% | ${(100 * e.additionFormat).toFixed(1)}% |`);
  console.log(`\nresults: ${path.join(OUT, 'results.json')}; total ${since()} s`);
  policy.dispose();
  rm.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
