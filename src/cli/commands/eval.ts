// `thinkgrad eval --config run.json`: DeepSeek-R1's evaluation protocol on problems with verifiable answers:
// k samples per problem (T = 0.6, top-p 0.95 by default) give pass@1 and cons@k, plus greedy accuracy, the
// format rate and the mean length. Writes eval.json, samples.jsonl and report.html (pass@k for k = 1..K).
import * as path from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { writeJsonl } from '../../io/jsonl.js';
import { meanPassAtK } from '../../eval/metrics.js';
import { writeReport } from '../report.js';
import { buildModel, checkTopLevel, checkOutput, createOutput, MODEL_FIELDS, pct, placeModel, printTable, type Json, type RunOptions } from './common.js';
import { chunkedEvaluate, loadEvalSpec } from './grpo.js';

export const EVAL_HELP = `thinkgrad eval --config run.json: pass@1, cons@k and greedy accuracy on held-out problems

Config fields (JSON):
  model | modelConfig + tokenizer (+ modelSeed)   the model to evaluate (usually a trained output/model)
  data          required: a JSONL file with columns prompt (text, or {role, content} messages) and answer (string or number),
                or {"task": "addition"} (the 128 held-out problems; "count" takes fewer)
  k             samples per problem (default 8)
  temperature   sampling temperature (default 0.6)
  topP          nucleus sampling (default 0.95)
  maxNewTokens  required: most tokens per completion
  greedy        also decode greedily once per problem (default true)
  answerFormat  "r1" (last <answer>...</answer> or \\boxed{}; R1 tags for the format rate) or "addition";
                default: "addition" for the embedded task, else "r1"
  seed          sampling seed (default 0)
  batchSize     sequences generated at once (default 512)
  bf16          mixed precision: bf16 matmul operands and KV cache, on CPUs with AVX512-BF16 (default false)
  device        "auto" (a GPU when usable, else the CPU; the default), "cpu" or "cuda"
  output        required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/eval.json (metrics), output/samples.jsonl (completions and correctness per problem),
output/report.html.

Example run.json:
  {"model": "runs/grpo/model", "data": {"task": "addition"}, "k": 8, "maxNewTokens": 40, "output": "runs/eval"}
  thinkgrad eval --config run.json`;

const OPTION_FIELDS = ['k', 'temperature', 'topP', 'maxNewTokens', 'greedy', 'answerFormat', 'seed', 'batchSize', 'bf16'];
export const FIELDS = [...MODEL_FIELDS, 'data', ...OPTION_FIELDS, 'device', 'output', 'overwrite'];

export interface EvalCommandResult {
  output: string;
  passAt1: number;
  consAtK: number;
  greedyAccuracy: number | null;
  formatRate: number;
  meanLength: number;
  k: number;
  /** pass@j for j = 1..k (unbiased estimator). */
  passAtK: number[];
}

/** Runs `thinkgrad eval` on a parsed config object. */
export async function evalCommand(config: unknown, opts: RunOptions = {}): Promise<EvalCommandResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['data', 'maxNewTokens', 'output']);
  const out = checkOutput(src, c);
  const spec = loadEvalSpec(src, null, Object.fromEntries(Object.entries(c).filter(([k]) => k === 'data' || OPTION_FIELDS.includes(k))), null);
  const loaded = buildModel(src, c);
  try {
    const device = placeModel(src, c, loaded.model);
    createOutput(out, 'eval', c);
    const started = performance.now();
    const r = chunkedEvaluate('eval', loaded.model, loaded.tokenizer, spec.problems, spec.e, spec.format, spec.maxNewTokens);
    const seconds = (performance.now() - started) / 1000;
    const correctness = r.samples.map((s) => s.correct);
    const passAtK = Array.from({ length: spec.e.k }, (_, j) => meanPassAtK(correctness, j + 1));
    const result: EvalCommandResult = { output: out, passAt1: r.passAt1, consAtK: r.consAtK, greedyAccuracy: r.greedyAccuracy, formatRate: r.formatRate,
      meanLength: r.meanLength, k: spec.e.k, passAtK };
    writeFileAtomic(path.join(out, 'eval.json'), `${JSON.stringify({ ...result, output: undefined, problems: spec.problems.length, data: spec.description,
      temperature: spec.e.temperature, topP: spec.e.topP, maxNewTokens: spec.maxNewTokens, seconds }, null, 2)}\n`);
    writeJsonl(path.join(out, 'samples.jsonl'), r.samples);
    const rows: (string | number)[][] = [['model', loaded.description], ['data', spec.description], [`pass@1 (k=${spec.e.k}, T=${spec.e.temperature})`, pct(r.passAt1)],
      [`pass@${spec.e.k}`, pct(passAtK[spec.e.k - 1])], [`cons@${spec.e.k}`, pct(r.consAtK)], ['greedy', pct(r.greedyAccuracy)], ['format', pct(r.formatRate)],
      ['mean length (tokens)', r.meanLength.toFixed(1)], ['device', device], ['wall time', `${seconds.toFixed(1)} s`], ['results', path.join(out, 'eval.json')], ['report', path.join(out, 'report.html')]];
    writeReport(path.join(out, 'report.html'), 'thinkgrad eval', [{ title: 'Evaluation', header: ['', 'value'], rows }],
      [{ title: 'pass@k (unbiased estimator)', xLabel: 'k', series: [{ name: 'pass@k', points: passAtK.map((v, j) => [j + 1, v]) }] }], [`Config: ${src}`]);
    if (!opts.quiet) printTable(['eval', ''], rows);
    return result;
  } finally {
    loaded.model.dispose();
  }
}
