// `thinkgrad generate --config run.json`: sample completions of prompts with a model (KV-cache generation).
// Prints them, and writes completions.jsonl and report.html.
import * as path from 'node:path';
import { writeJsonl } from '../../io/jsonl.js';
import { generate } from '../../generate/generate.js';
import { stopTokenIds, withoutStopToken } from '../../generate/stop-tokens.js';
import { encodePrompt, type Prompt, promptText } from '../../io/tokenizers/conversation.js';
import { getFloat32MatmulPrecision, withFloat32MatmulPrecision } from '../../ops/matmul.js';
import type { FieldSpec } from '../../train/config.js';
import { ProgressBar } from '../progress.js';
import { writeReport } from '../report.js';
import { buildModel, checkOutput, checkTopLevel, ConfigError, createOutput, loadData, MODEL_FIELDS, named, options, placeModel, printTable, type RunOptions } from './common.js';

export const GENERATE_HELP = `thinkgrad generate --config run.json: sample completions of prompts

Config fields (JSON):
  model | modelConfig + tokenizer (+ modelSeed)   the model to sample from
  prompts     required: a list of strings, a JSONL file ({"path": F, "limit": N}) with a column prompt
              (text or {role, content} messages),
              or {"task": "addition", "count": N, "split": "heldout"}
  sampling    {"maxNewTokens": (required), "temperature": 1, "topP": 1, "topK": null, "minP": null,
               "greedy": false, "numReturnSequences": 1, "seed": 0, "batchSize": 256, "bf16": false}
              bf16: mixed precision (bf16 matmul operands and KV cache, on CPUs with AVX512-BF16)
  device      "auto" (a GPU when usable, else the CPU; the default), "cpu" or "cuda"
  output      required: the output folder (must not exist or be empty, unless "overwrite": true)

Writes: output/completions.jsonl ({"prompt", "completion", "tokens", "stop"} per sample), output/report.html.

Example run.json:
  {"model": "runs/grpo/model", "prompts": ["123+456=", "999+1="], "sampling": {"maxNewTokens": 40, "greedy": true},
   "output": "runs/gen"}
  thinkgrad generate --config run.json`;

interface GenSpec { maxNewTokens: number | null; temperature: number; topP: number; topK: number | null; minP: number | null; greedy: boolean; numReturnSequences: number; seed: number; batchSize: number; bf16: boolean }
const GEN_FIELDS: Record<keyof GenSpec, FieldSpec> = {
  maxNewTokens: { kind: 'int', min: 1, nullable: true }, temperature: { kind: 'number', min: 1e-6 }, topP: { kind: 'number', min: 0, max: 1 },
  topK: { kind: 'int', min: 0, nullable: true }, minP: { kind: 'number', min: 0, max: 1, nullable: true }, greedy: { kind: 'bool' },
  numReturnSequences: { kind: 'int', min: 1 }, seed: { kind: 'int', min: 0 }, batchSize: { kind: 'int', min: 1 }, bf16: { kind: 'bool' },
};
const GEN_DEFAULTS: GenSpec = { maxNewTokens: null, temperature: 1, topP: 1, topK: null, minP: null, greedy: false, numReturnSequences: 1, seed: 0, batchSize: 256, bf16: false };

export const FIELDS = [...MODEL_FIELDS, 'prompts', 'sampling', 'device', 'output', 'overwrite'];

export interface GenerateCommandResult {
  output: string;
  /** Each prompt as given (text, or a conversation), its completion's text. */
  completions: { prompt: Prompt; completion: string; tokens: number; stop: string }[];
}

/** Runs `thinkgrad generate` on a parsed config object. */
export async function generateCommand(config: unknown, opts: RunOptions = {}): Promise<GenerateCommandResult> {
  const src = opts.source ?? 'config';
  const c = checkTopLevel(src, config, FIELDS, ['prompts', 'sampling', 'output']);
  const out = checkOutput(src, c);
  const s = options<GenSpec>(src, 'sampling', c.sampling, GEN_FIELDS, GEN_DEFAULTS);
  if (s.maxNewTokens === null) throw new ConfigError(`${src}: missing required field 'sampling.maxNewTokens'`);
  let prompts: Prompt[];
  if (Array.isArray(c.prompts)) {
    if (c.prompts.length === 0) throw new ConfigError(`${src}: field 'prompts' is empty`);
    c.prompts.forEach((p, i) => { if (typeof p !== 'string' || p === '') throw new ConfigError(`${src}: field 'prompts[${i}]' must be a non-empty string, got ${JSON.stringify(p)}`); });
    prompts = c.prompts as string[];
  } else {
    prompts = loadData(src, 'prompts', c.prompts, 'prompts').rows.map((r) => r.prompt as Prompt);
  }
  const loaded = buildModel(src, c);
  try {
    const { model, tokenizer } = loaded;
    const device = placeModel(src, c, model);
    const encoded = named(`${src}: field 'prompts'`, () => prompts.map((p, i) => {
      const ids = encodePrompt(tokenizer, p);
      if (ids.length === 0) throw new Error(`prompt ${i} encodes to no tokens`);
      if (ids.length + s.maxNewTokens! > model.config.maxPositionEmbeddings) throw new Error(`prompt ${i} (${ids.length} tokens) + maxNewTokens ${s.maxNewTokens} exceeds the model's ${model.config.maxPositionEmbeddings} positions`);
      return ids;
    }));
    createOutput(out, 'generate', c);
    const all = encoded.flatMap((ids, i) => Array.from({ length: s.numReturnSequences }, () => ({ ids, prompt: prompts[i] })));
    const stops = stopTokenIds(model, tokenizer);
    const completions: GenerateCommandResult['completions'] = [];
    const bar = new ProgressBar('generate', all.length);
    for (let i = 0; i < all.length; i += s.batchSize) {
      const part = all.slice(i, i + s.batchSize);
      const r = withFloat32MatmulPrecision(s.bf16 ? 'medium' : getFloat32MatmulPrecision(), () => generate(model, part.map((p) => p.ids), {
        maxNewTokens: s.maxNewTokens!, eosTokenId: stops, seed: s.seed + i, kvCacheDtype: s.bf16 ? 'bfloat16' : 'float32',
        ...(s.greedy ? { greedy: true } : { temperature: s.temperature, topP: s.topP, ...(s.topK !== null ? { topK: s.topK } : {}), ...(s.minP !== null ? { minP: s.minP } : {}) }),
      }));
      r.completionIds.forEach((ids, j) => {
        const used = ids.slice(0, r.completionLengths[j]);
        const text = tokenizer.decode(withoutStopToken(used, stops));
        completions.push({ prompt: part[j].prompt, completion: text, tokens: r.completionLengths[j], stop: r.stopReasons[j] });
      });
      bar.update(Math.min(all.length, i + s.batchSize));
    }
    writeJsonl(path.join(out, 'completions.jsonl'), completions);
    const shown = completions.slice(0, 20).map((x) => [promptText(tokenizer, x.prompt), x.completion, x.tokens, x.stop]);
    const meanLen = completions.reduce((a, x) => a + x.tokens, 0) / completions.length;
    writeReport(path.join(out, 'report.html'), 'thinkgrad generate', [{ title: `Completions (first ${shown.length} of ${completions.length})`, header: ['prompt', 'completion', 'tokens', 'stop'], rows: shown }],
      [{ title: 'Completion length (tokens)', xLabel: 'sample', series: [{ name: 'tokens', points: completions.map((x, i) => [i, x.tokens]) }] }],
      [`Config: ${src}; model ${loaded.description} on ${device}; mean length ${meanLen.toFixed(1)} tokens; ${s.greedy ? 'greedy' : `T = ${s.temperature}, top-p ${s.topP}`}.`]);
    if (!opts.quiet) {
      printTable(['prompt', 'completion', 'tokens', 'stop'], shown.map((r) => r.map((v) => String(v).replace(/\|/g, '\\|').replace(/\n/g, '\\n'))));
      if (completions.length > shown.length) console.log(`... ${completions.length - shown.length} more in ${path.join(out, 'completions.jsonl')}`);
      console.log(`completions: ${path.join(out, 'completions.jsonl')}; report: ${path.join(out, 'report.html')}`);
    }
    return { output: out, completions };
  } finally {
    loaded.model.dispose();
  }
}
