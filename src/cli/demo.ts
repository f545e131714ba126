// `npm run demo` / `thinkgrad demo`: the R1 recipe in miniature on the embedded addition task, on a 2-core
// CPU in minutes: cold-start SFT on noisy worked examples, GRPO with accuracy + format rewards, rejection
// sampling from the GRPO policy, distillation into a 4x smaller student (against the same student trained
// on the cold-start data), and evaluation of every model (pass@1 over k = 8 at T = 0.6, cons@8, greedy).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Device } from '../backend/backend.js';
import { resolveDevice } from '../backend/registry.js';
import { manualSeed } from '../ops/creation.js';
import { LlamaForCausalLM } from '../nn/llama.js';
import type { LlamaConfigOptions } from '../nn/config.js';
import { savePretrained } from '../io/pretrained.js';
import { evaluatePolicy, type EvaluateResult } from '../eval/evaluate.js';
import { SFTTrainer } from '../train/sft.js';
import { GRPOTrainer } from '../train/grpo.js';
import { accuracy, format } from '../rl/rewards/index.js';
import { rejectionSample } from '../train/rejection-sampling.js';
import type { LogRecord } from '../train/logger.js';
import { additionAnswer, additionExamples, additionHeldOut, additionTokenizer, additionTrainProblems, additionWellFormed } from '../tasks/addition.js';
import { ProgressBar } from './progress.js';
import { type Chart, StartEndCompletions, writeReport } from './report.js';
import { zeroReasons } from './commands/grpo.js';

export interface DemoOptions {
  seed: number;
  outputDir: string;
  coldStartExamples: number;
  sftSteps: number;
  grpoSteps: number;
  /** Evaluate the policy on the held-out set every this many GRPO steps (for the report's accuracy curve). */
  evalEvery: number;
  studentSteps: number;
  rejectionPrompts: number;
  /** Where every model trains and samples: 'auto' (a usable GPU, else the CPU), 'cpu' or 'cuda'. */
  device: 'auto' | Device;
}

export const DEMO_DEFAULTS: DemoOptions = {
  seed: 1, outputDir: 'thinkgrad-demo', coldStartExamples: 2000, sftSteps: 1000, grpoSteps: 400, evalEvery: 50,
  studentSteps: 2000, rejectionPrompts: 4000, device: 'auto',
};

const MAX_NEW_TOKENS = 40;

/** What the demo writes inside its output folder (names without spaces, so paths paste into a shell as they are). */
export const DEMO_FOLDERS = {
  coldStart: 'cold-start-sft', grpo: 'grpo', grpoPolicy: 'grpo-policy', rejectionSampled: 'rejection-sampled.jsonl',
  distill: 'distill', studentSft: 'student-sft', student: 'student',
} as const;

function modelConfig(size: 'teacher' | 'student', vocabSize: number, eos: number | null, pad: number | null): LlamaConfigOptions {
  const dims = size === 'teacher' ? { hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 2, numAttentionHeads: 4 }
    : { hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2, numAttentionHeads: 2 };
  return { ...dims, vocabSize, tieWordEmbeddings: true, maxPositionEmbeddings: 64, eosTokenId: eos, padTokenId: pad };
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

/** Runs the whole demo and returns the evaluation of each model. */
export async function runDemo(options: Partial<DemoOptions> = {}): Promise<Record<string, EvaluateResult>> {
  const o = { ...DEMO_DEFAULTS, ...options };
  const device = resolveDevice(o.device);
  const started = performance.now();
  fs.mkdirSync(o.outputDir, { recursive: true });
  manualSeed(o.seed);
  const tok = additionTokenizer();
  const heldOut = additionHeldOut();
  const coldStart = additionExamples(o.coldStartExamples, { seed: o.seed, noise: 0.5 }).map(({ prompt, completion }) => ({ prompt, completion }));
  const newModel = (size: 'teacher' | 'student', seed: number) =>
    new LlamaForCausalLM(modelConfig(size, tok.vocabSize, tok.eosTokenId, tok.padTokenId), { seed }).to(device);
  const evaluate = (model: LlamaForCausalLM) => evaluatePolicy(model, tok, heldOut, {
    k: 8, temperature: 0.6, topP: 0.95, maxNewTokens: MAX_NEW_TOKENS, extractAnswer: additionAnswer, isWellFormed: additionWellFormed, seed: o.seed,
  });
  const sft = (model: LlamaForCausalLM, data: { prompt: string; completion: string }[], steps: number, label: string, folder: string) => {
    const bar = new ProgressBar(label, steps);
    const trainer = new SFTTrainer(model, tok, data, {
      maxSteps: steps, batchSize: 32, learningRate: 3e-3, warmupSteps: 50, lrSchedule: 'cosine', logEvery: 10, seed: o.seed, device,
      outputDir: path.join(o.outputDir, folder),
    });
    return trainer.fit((step, total, log) => bar.update(step, log ? `loss ${(log.loss as number).toFixed(3)}` : ''));
  };
  const results: Record<string, EvaluateResult> = {};
  console.log(`thinkgrad demo: 3-digit addition, ${coldStart.length} noisy cold-start examples (each column sum off by 1 with p = 0.5), ${heldOut.length} held-out problems, seed ${o.seed}, on ${device}`);

  // 1. Cold start.
  const policy = newModel('teacher', o.seed);
  console.log(`policy: Llama-style, d 128, 2 layers, 4 heads, ${policy.numParameters().toLocaleString()} parameters`);
  const sftLogs = sft(policy, coldStart, o.sftSteps, 'cold-start SFT', DEMO_FOLDERS.coldStart);
  results['cold start'] = evaluate(policy);

  // 2. GRPO with rule rewards.
  const rows = additionTrainProblems(8000, o.seed + 1).map((p) => ({ prompt: p.prompt, answer: p.answer }));
  const samples = new StartEndCompletions();
  const grpo = new GRPOTrainer(policy, tok, rows, [accuracy(), format()], {
    maxSteps: o.grpoSteps, numGenerations: 8, generationBatchSize: 128, microBatchSize: 128, learningRate: 3e-4, warmupSteps: 40,
    lrSchedule: 'constant_with_warmup', rewardWeights: [1, 0.1], maxCompletionLength: MAX_NEW_TOKENS, temperature: 1, beta: 0,
    lossType: 'dapo', seed: o.seed, device, outputDir: path.join(o.outputDir, DEMO_FOLDERS.grpo), logCompletions: true, numCompletionsToPrint: 8,
  }, { onCompletions: samples.add });
  const accuracyCurve: [number, number][] = [[0, results['cold start'].passAt1]];
  const bar = new ProgressBar('GRPO', o.grpoSteps);
  const grpoLogs: LogRecord[] = await grpo.train((step, total, log) => {
    if (step % o.evalEvery === 0 && step < total) accuracyCurve.push([step, evaluate(policy).passAt1]);
    bar.update(step, `reward ${(log.reward as number).toFixed(2)}`);
  });
  results.GRPO = evaluate(policy);
  accuracyCurve.push([o.grpoSteps, results.GRPO.passAt1]);
  savePretrained(policy, path.join(o.outputDir, DEMO_FOLDERS.grpoPolicy), { tokenizer: tok });

  // 3. Rejection sampling from the GRPO policy, then distillation into a small student.
  const problems = additionTrainProblems(o.rejectionPrompts, o.seed + 2).map((p) => ({ prompt: p.prompt, answer: p.answer }));
  const sampled = rejectionSample(policy, tok, problems, {
    k: 1, temperature: 0.6, topP: 0.95, maxNewTokens: MAX_NEW_TOKENS, seed: o.seed,
    isCorrect: (c, row) => additionAnswer(c) === row.answer, isWellFormed: additionWellFormed,
    outputFile: path.join(o.outputDir, DEMO_FOLDERS.rejectionSampled),
  });
  console.log(`rejection sampling: kept ${sampled.accepted} of ${sampled.sampled} samples (correct and well-formed)`);
  const student = newModel('student', o.seed + 10);
  const distillLogs = sft(student, sampled.examples, o.studentSteps, 'distill', DEMO_FOLDERS.distill);
  results['student, distilled'] = evaluate(student);
  const baseline = newModel('student', o.seed + 10);
  sft(baseline, coldStart, o.studentSteps, 'student SFT', DEMO_FOLDERS.studentSft);
  results['student, cold-start data'] = evaluate(baseline);
  savePretrained(student, path.join(o.outputDir, DEMO_FOLDERS.student), { tokenizer: tok });

  // 4. Summary.
  const seconds = (performance.now() - started) / 1000;
  const header = ['model', 'parameters', 'pass@1 (k=8, T=0.6)', 'cons@8', 'greedy', 'format', 'mean length'];
  const params: Record<string, number> = {
    'cold start': policy.numParameters(), GRPO: policy.numParameters(),
    'student, distilled': student.numParameters(), 'student, cold-start data': baseline.numParameters(),
  };
  const rowsOut = Object.entries(results).map(([name, r]) => [name, params[name].toLocaleString(), pct(r.passAt1), pct(r.consAtK), pct(r.greedyAccuracy), pct(r.formatRate), r.meanLength.toFixed(1)]);
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const r of rowsOut) console.log(`| ${r.join(' | ')} |`);
  const gain = results.GRPO.passAt1 - results['cold start'].passAt1;
  const distillGain = results['student, distilled'].passAt1 - results['student, cold-start data'].passAt1;
  console.log(`\nGRPO: ${gain >= 0 ? '+' : ''}${(100 * gain).toFixed(1)} points pass@1; distillation: ${distillGain >= 0 ? '+' : ''}${(100 * distillGain).toFixed(1)} points over the same student on cold-start data.`);

  const series = (logs: LogRecord[], key: string): [number, number][] => logs.filter((l) => typeof l[key] === 'number').map((l) => [l.step as number, l[key] as number]);
  const why = zeroReasons(grpo.config);
  const charts: Chart[] = [
    { title: 'GRPO reward (weighted: accuracy + 0.1 format)', xLabel: 'GRPO step', series: [{ name: 'reward', points: series(grpoLogs, 'reward') }] },
    { title: 'Held-out pass@1 (k = 8, T = 0.6)', xLabel: 'GRPO step', smoothing: 0, series: [{ name: 'pass@1', points: accuracyCurve }] },
    { title: 'Per-reward means', xLabel: 'GRPO step', series: [{ name: 'accuracy', points: series(grpoLogs, 'rewards/accuracy/mean') }, { name: 'format', points: series(grpoLogs, 'rewards/format/mean') }] },
    { title: 'Completion length (tokens)', xLabel: 'GRPO step', series: [{ name: 'mean length', points: series(grpoLogs, 'completions/mean_length') }] },
    { title: 'Entropy and KL', xLabel: 'GRPO step', series: [{ name: 'entropy', points: series(grpoLogs, 'entropy') }, { name: 'kl', points: series(grpoLogs, 'kl'), whyZero: why.kl }] },
    { title: 'Clip ratio (region)', xLabel: 'GRPO step', series: [{ name: 'clip_ratio/region_mean', points: series(grpoLogs, 'clip_ratio/region_mean'), whyZero: why['clip_ratio/region_mean'] }] },
    { title: 'SFT loss', xLabel: 'SFT step', series: [{ name: 'cold start', points: series(sftLogs, 'loss') }, { name: 'distill', points: series(distillLogs, 'loss') }] },
  ];
  const report = path.join(o.outputDir, 'report.html');
  writeReport(report, 'thinkgrad demo: the R1 recipe on 3-digit addition', [{ title: 'Held-out evaluation (128 problems)', header, rows: rowsOut }], charts,
    [`Seed ${o.seed}; finished in ${seconds.toFixed(0)} s. GRPO ${gain >= 0 ? '+' : ''}${(100 * gain).toFixed(1)} points pass@1.`],
    { completions: { records: samples.records }, config: { demo: o, grpo: grpo.config } });
  console.log(`report: ${report}\ncheckpoints: ${path.join(o.outputDir, DEMO_FOLDERS.grpoPolicy)} (GRPO policy), ${path.join(o.outputDir, DEMO_FOLDERS.student)} (distilled student); logs: ${o.outputDir}/*/\*_logs.jsonl`);
  console.log(`wall time: ${seconds.toFixed(0)} s`);
  return results;
}
