// `thinkgrad distill --config run.json`: distillation as in DeepSeek-R1: SFT of a (smaller) student on a
// teacher's rejection-sampled completions, either a ready dataset (thinkgrad sample's samples.jsonl) or
// sampled here from a teacher folder; optionally evaluates the student. Writes the student model,
// checkpoints, sft_logs.jsonl, samples.jsonl (when sampling), eval.json and report.html.
import * as path from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { readJsonl, writeJsonl } from '../../io/jsonl.js';
import { loadPretrained } from '../../io/pretrained.js';
import { SFTTrainer, type SFTConfig, type SFTExample } from '../../train/sft.js';
import { buildModel, checkOutput, checkTopLevel, ConfigError, createOutput, expectString, firstLast, fmt, type Interruption, loadData, MODEL_FIELDS, named, pct, printTable,
  resumeCheckpoint, type AnswerFormat, type RunOptions } from './common.js';
import { chunkedEvaluate, loadEvalSpec } from './grpo.js';
import { sampleInChunks, samplingSpec } from './sample.js';
import { runSftTraining, sftReport, trainerOptions } from './sft.js';
import * as fs from 'node:fs';
import { CharTokenizer, loadTokenizer } from '../../io/tokenizers/index.js';
import { encodePrompt, isMessageList, type Prompt } from '../../io/tokenizers/conversation.js';

// An example in the prompt's format (text or conversational) that only lets the SFT trainer check its config.
const throwawayExample = (prompt: Prompt): SFTExample =>
  (isMessageList(prompt) ? { prompt, completion: [{ role: 'assistant', content: '' }] } : { prompt, completion: '' });

export const DISTILL_HELP = `thinkgrad distill --config run.json: SFT a student on a teacher's rejection-sampled completions

Config fields (JSON):
  model | modelConfig + tokenizer (+ modelSeed)   the student (usually a fresh, smaller model)
  data        a JSONL file of prompt/completion pairs from the teacher (thinkgrad sample's samples.jsonl), or
  teacher     a teacher model folder to sample from here, with
  prompts     its prompts: a JSONL file with prompt and answer columns, or {"task": "addition", "count": N, "seed": S}
              (training problems; the held-out ones only with "split": "heldout")
  sampling    rejection sampling options as in thinkgrad sample (k, temperature, topP, maxNewTokens (required),
              shortestOnly, requireFormat, answerFormat, seed, batchSize)
  trainer     SFTConfig options as in thinkgrad sft (maxSteps, batchSize, learningRate, ...)
  eval        optional evaluation of the student after training, as in thinkgrad grpo's eval
              ({"data": ..., "k": 8, "maxNewTokens": N, ...})
  output      required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/model (the student), output/checkpoint-N, output/sft_logs.jsonl, output/samples.jsonl (teacher
samples, when sampled here), output/eval.json (with eval), output/report.html.

Options: --resume [CHECKPOINT] continues the run in output (a resumed run trains on its samples.jsonl instead of
sampling again); --<field> VALUE overrides a config field (--trainer.maxSteps 800); Ctrl-C (SIGINT) or SIGTERM
stops after the current step with a checkpoint.

Example run.json:
  {"teacher": "runs/grpo/model", "prompts": {"task": "addition", "count": 2000, "seed": 3},
   "sampling": {"k": 1, "maxNewTokens": 40},
   "modelConfig": {"hiddenSize": 64, "intermediateSize": 176, "numHiddenLayers": 2, "numAttentionHeads": 2},
   "tokenizer": {"type": "addition"}, "trainer": {"maxSteps": 500, "learningRate": 3e-3},
   "eval": {"data": {"task": "addition"}, "maxNewTokens": 40}, "output": "runs/student"}
  thinkgrad distill --config run.json`;

export const FIELDS = [...MODEL_FIELDS, 'data', 'teacher', 'prompts', 'sampling', 'trainer', 'eval', 'output', 'overwrite'];

export interface DistillResult {
  output: string;
  examples: number;
  /** Where training stopped when its signal aborted it (no final model or evaluation then); null when it finished. */
  interrupted: Interruption | null;
  evalResult: { passAt1: number; consAtK: number; greedyAccuracy: number | null; formatRate: number; meanLength: number } | null;
}

/** Runs `thinkgrad distill` on a parsed config object. */
export async function distillCommand(config: unknown, opts: RunOptions = {}): Promise<DistillResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['output']);
  const out = checkOutput(src, c, opts.resume);
  const resumeFrom = resumeCheckpoint(src, out, opts.resume);
  const samplesFile = path.join(out, 'samples.jsonl');
  if ((c.data === undefined) === (c.teacher === undefined)) throw new ConfigError(`${src}: give either 'data' (teacher samples as prompt/completion JSONL) or 'teacher' (a model folder) with 'prompts' and 'sampling'`);
  if (c.data !== undefined) for (const k of ['prompts', 'sampling']) if (c[k] !== undefined) throw new ConfigError(`${src}: field '${k}' only applies with 'teacher'`);
  const trainerConfig = trainerOptions<SFTConfig>(src, c, out);
  let teacherPlan: { dir: string; rows: Record<string, unknown>[]; format: AnswerFormat; spec: ReturnType<typeof samplingSpec>; description: string } | null = null;
  let data: SFTExample[] = [];
  let dataDescription = '';
  if (c.teacher !== undefined) {
    const dir = expectString(src, 'teacher', c.teacher);
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new ConfigError(`${src}: field 'teacher': ${dir} is not a model folder (no config.json)`);
    if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) throw new ConfigError(`${src}: field 'teacher': ${dir} has no tokenizer.json`);
    if (c.prompts === undefined) throw new ConfigError(`${src}: missing required field 'prompts' (needed with 'teacher')`);
    const spec = samplingSpec(src, 'sampling', c.sampling);
    const prompts = loadData(src, 'prompts', c.prompts, 'problems');
    teacherPlan = { dir, rows: prompts.rows, format: (spec.answerFormat || prompts.answerFormat) as AnswerFormat, spec, description: prompts.description };
  } else {
    const d = loadData(src, 'data', c.data, 'sft');
    data = d.rows as typeof data;
    dataDescription = d.description;
  }
  const ev = c.eval === undefined ? null : loadEvalSpec(src, 'eval', c.eval, null);
  const student = buildModel(src, c);
  try {
    if (teacherPlan && resumeFrom && fs.existsSync(samplesFile)) {
      data = named(`--resume: ${samplesFile}`, () => readJsonl(samplesFile, { columns: { prompt: 'chat', completion: 'chat' } })) as typeof data;
      dataDescription = `${data.length} teacher samples from ${teacherPlan.dir} (read back from ${samplesFile})`;
    } else if (teacherPlan) {
      const plan = teacherPlan;
      // Check the trainer config now, not after minutes of sampling (a throwaway trainer that writes nothing).
      named(`${src}: field 'trainer'`, () => new SFTTrainer(student.model, student.tokenizer, [throwawayExample(plan.rows[0].prompt as Prompt)], { ...trainerConfig, outputDir: null }));
      const teacher = named(`${src}: field 'teacher'`, () => loadPretrained(plan.dir));
      try {
        // The teacher samples where the student trains (the throwaway trainer above placed the student there).
        teacher.to(student.model.device);
        const tok = named(`${src}: field 'teacher'`, () => loadTokenizer(plan.dir));
        // Check the student can read the teacher's text before sampling (a char tokenizer without <unk> would throw later).
        if (student.tokenizer instanceof CharTokenizer && student.tokenizer.unkTokenId === null) {
          named(`${src}: the student's tokenizer`, () => plan.rows.forEach((r) => encodePrompt(student.tokenizer, r.prompt as Prompt)));
        }
        const r = sampleInChunks('teacher samples', teacher, tok, plan.rows, plan.spec, plan.format, null);
        if (r.examples.length === 0) throw new ConfigError(`${src}: the teacher ${plan.dir} produced no accepted samples out of ${r.sampled}; nothing to distill`);
        data = r.examples;
        dataDescription = `${r.examples.length} teacher samples (${pct(r.accepted / r.sampled)} of ${r.sampled} kept) from ${plan.dir} on ${plan.description}`;
      } finally {
        teacher.dispose();
      }
    }
    const started = performance.now();
    // The samples are written before training, so that a resumed run trains on the very same data.
    if (teacherPlan && !(resumeFrom && fs.existsSync(samplesFile))) {
      fs.mkdirSync(out, { recursive: true });
      writeJsonl(samplesFile, data);
    }
    const res = await runSftTraining(src, 'distill', student, data, [], trainerConfig, out, c, 'distill', resumeFrom, opts.signal);
    let evalResult: DistillResult['evalResult'] = null;
    if (ev && !res.interrupted) {
      const { samples: _s, ...r } = chunkedEvaluate('eval student', student.model, student.tokenizer, ev.problems, ev.e, ev.format, ev.maxNewTokens);
      evalResult = r;
      writeFileAtomic(path.join(out, 'eval.json'), `${JSON.stringify({ ...r, k: ev.e.k, data: ev.description }, null, 2)}\n`);
    }
    const seconds = (performance.now() - started) / 1000;
    const [l0, l1] = firstLast(res.logs, 'loss');
    const rows: (string | number)[][] = [['student', student.description], ['data', dataDescription], ['loss (first log -> last)', `${l0} -> ${l1}`], ['device', res.device],
      ...(evalResult ? [[`student pass@1 (k=${ev!.e.k})`, pct(evalResult.passAt1)], [`student cons@${ev!.e.k}`, pct(evalResult.consAtK)], ['student greedy', pct(evalResult.greedyAccuracy)],
        ['student format', pct(evalResult.formatRate)], ['student mean length', fmt(evalResult.meanLength)]] : []),
      ['wall time (training + eval)', `${seconds.toFixed(1)} s`], ...(resumeFrom ? [['resumed from', resumeFrom]] : []),
      ...(res.interrupted ? [['stopped early at step', res.interrupted.step]] : [['model folder', path.join(out, 'model')]]), ['report', path.join(out, 'report.html')]];
    sftReport(out, 'thinkgrad distill', res, rows, [`Config: ${src}`], c);
    if (!opts.quiet) printTable(['distill', ''], rows);
    return { output: out, examples: data.length, interrupted: res.interrupted, evalResult };
  } finally {
    student.model.dispose();
  }
}
