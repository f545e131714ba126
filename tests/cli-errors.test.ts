// Bad configs (unknown field, wrong type, missing required) and bad data files (malformed JSONL, missing or
// ill-typed columns) stop a command with a message naming the field, line or row, and write nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distillCommand, evalCommand, generateCommand, grpoCommand, runConfigCommand, sampleCommand, sftCommand } from '../src/cli/commands/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cli-err-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);
const write = (name: string, text: string) => {
  fs.writeFileSync(at(name), text);
  return at(name);
};
const out = at('out');
const opts = { quiet: true, source: 'run.json' };
const tiny = { hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 1, maxPositionEmbeddings: 64 };
const good = write('good.jsonl', '{"prompt": "1+2=", "completion": "<think>1+2=3</think><answer>3</answer>", "answer": "3"}\n{"prompt": "2+2=", "completion": "<answer>4</answer>", "answer": 4}\n');
const sft = (over: Record<string, unknown>) => ({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: good, trainer: { maxSteps: 1, batchSize: 2 }, output: out, ...over });
const grpo = (over: Record<string, unknown>) => ({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: good, rewards: [{ name: 'accuracy' }],
  trainer: { maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4 }, output: out, ...over });

async function rejects(run: Promise<unknown>, message: RegExp) {
  await expect(run).rejects.toThrow(message);
  expect(fs.existsSync(out)).toBe(false);
}

describe('bad configs', () => {
  it('unknown fields, at the top and inside blocks', async () => {
    await rejects(sftCommand(sft({ trainr: {} }), opts), /run\.json: unknown field 'trainr' \(known fields: .*trainer/);
    await rejects(sftCommand(sft({ trainer: { maxStep: 3 } }), opts), /field 'trainer'.*unknown config field 'maxStep'/);
    await rejects(sftCommand(sft({ modelConfig: { ...tiny, hidenSize: 8 } }), opts), /field 'modelConfig'.*unknown config field 'hidenSize'/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'accuracy', wieght: 1 }] }), opts), /unknown field 'rewards\[0\]\.wieght'/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'acuracy' }] }), opts), /field 'rewards\[0\]\.name': unknown reward 'acuracy'/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'format', options: { strict: true } }] }), opts), /rewards\[0\]\.options.*unknown config field 'strict'/);
    await rejects(sampleCommand({ model: at('nope'), data: good, sampling: { maxNewTokens: 4, temp: 1 }, output: out }, opts), /field 'sampling'.*unknown config field 'temp'/);
    await rejects(evalCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: good, maxNewTokens: 4, every: 2, output: out }, opts), /unknown field 'every'/);
    await rejects(sftCommand(sft({ trainer: { maxSteps: 1, outputDir: 'x' } }), opts), /'trainer\.outputDir' is set by the top-level 'output'/);
  });

  it('wrong types and values', async () => {
    await rejects(sftCommand(sft({ trainer: { maxSteps: '10' } }), opts), /field 'trainer'.*'maxSteps' must be an integer in \[1, inf\], got "10"/);
    await rejects(sftCommand(sft({ modelConfig: { ...tiny, numHiddenLayers: 1.5 } }), opts), /'numHiddenLayers' must be an integer/);
    await rejects(sftCommand(sft({ output: 3 }), opts), /field 'output' must be a non-empty string, got 3/);
    await rejects(sftCommand(sft({ data: { task: 'countdown' } }), opts), /field 'data'.*'task' must be one of 'addition'/);
    await rejects(sftCommand(sft({ tokenizer: { type: 'bpe' } }), opts), /field 'tokenizer'.*'type' must be one of 'addition', 'char'/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'accuracy', weight: '1' }] }), opts), /'rewards\[0\]\.weight' must be a number/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'accuracy', options: { rtol: -1 } }] }), opts), /'rtol' must be a number in \[0, inf\]/);
    await rejects(grpoCommand(grpo({ trainer: { maxSteps: 1, numGenerations: 3, generationBatchSize: 4 } }), opts), /not a multiple of numGenerations 3/);
    await rejects(grpoCommand(grpo({ trainer: { rewardWeights: [1] } }), opts), /'trainer\.rewardWeights'.*"weight"/);
    await rejects(generateCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, prompts: ['1+1=', 7], sampling: { maxNewTokens: 2 }, output: out }, opts), /'prompts\[1\]' must be a non-empty string/);
    await rejects(sftCommand('not an object', opts), /the config must be a JSON object/);
  });

  it('missing required fields', async () => {
    const { data: _d, ...noData } = sft({});
    await rejects(sftCommand(noData, opts), /missing required field 'data'/);
    const { output: _o, ...noOutput } = sft({});
    await rejects(sftCommand(noOutput, opts), /missing required field 'output'/);
    await rejects(sftCommand(sft({ modelConfig: undefined }), opts), /missing required field 'model' \(a model folder\) or 'modelConfig'/);
    await rejects(sftCommand(sft({ tokenizer: undefined }), opts), /missing required field 'tokenizer'/);
    await rejects(sftCommand(sft({ modelConfig: { hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1 } }), opts), /missing required field 'modelConfig\.numAttentionHeads'/);
    await rejects(sftCommand(sft({ model: at('no-such-model') }), opts), /give either 'model'.*or 'modelConfig'.*not both/);
    await rejects(sftCommand(sft({ modelConfig: undefined, tokenizer: undefined, model: at('no-such-model') }), opts), /field 'model': .*no-such-model is not a model folder/);
    await rejects(grpoCommand(grpo({ rewards: undefined }), opts), /missing required field 'rewards'/);
    await rejects(evalCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: good, output: out }, opts), /missing required field 'maxNewTokens'/);
    await rejects(sampleCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: good, sampling: { k: 2 }, output: out }, opts), /missing required field 'sampling\.maxNewTokens'/);
    await rejects(distillCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, output: out }, opts), /give either 'data'.*or 'teacher'/);
    await rejects(grpoCommand(grpo({ eval: { k: 2 } }), opts), /missing required field 'eval\.data'/);
  });

  it('config files: missing, not JSON, no --config', async () => {
    await expect(runConfigCommand('sft', ['--config', at('missing.json')])).rejects.toThrow(/cannot read config .*missing\.json: no such file/);
    await expect(runConfigCommand('sft', ['--config', write('broken.json', '{"data": "x",}')])).rejects.toThrow(/broken\.json: not valid JSON/);
    await expect(runConfigCommand('sft', [])).rejects.toThrow(/missing --config FILE/);
    await expect(runConfigCommand('sft', ['--steps', '3'])).rejects.toThrow(/unknown option --steps/);
  });

  it('refuses a non-empty output folder unless overwrite', async () => {
    fs.mkdirSync(at('full'));
    fs.writeFileSync(at('full', 'keep.txt'), 'x');
    await expect(sftCommand(sft({ output: at('full') }), opts)).rejects.toThrow(/already exists and is not empty; choose another folder, set "overwrite": true, or continue its run with --resume/);
    expect(fs.readdirSync(at('full'))).toEqual(['keep.txt']);
    await expect(sftCommand(sft({ output: at('full'), overwrite: 'yes' }), opts)).rejects.toThrow(/'overwrite' must be true or false/);
  });
});

describe('bad data files', () => {
  it('malformed JSONL: the line number', async () => {
    const bad = write('bad.jsonl', '{"prompt": "1+1=", "completion": "2", "answer": 2}\n\n{"prompt": "1+2=", "completion": "3"\n');
    await rejects(sftCommand(sft({ data: bad }), opts), /run\.json: field 'data': .*bad\.jsonl:3: line 3 is not valid JSON/);
    await rejects(grpoCommand(grpo({ data: bad }), opts), /bad\.jsonl:3: line 3 is not valid JSON/);
    const notObject = write('array.jsonl', '{"prompt": "1+1=", "answer": "2"}\n["1+2=", "3"]\n');
    await rejects(evalCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: notObject, maxNewTokens: 4, output: out }, opts), /array\.jsonl:2: line 2 must be a JSON object/);
  });

  it('missing or ill-typed columns: the row number', async () => {
    const noCompletion = write('nocomp.jsonl', '{"prompt": "1+1=", "completion": "2"}\n{"prompt": "1+2="}\n');
    await rejects(sftCommand(sft({ data: noCompletion }), opts), /nocomp\.jsonl:2: row 2 \(line 2\) has no column 'completion'/);
    await rejects(sftCommand(sft({ evalData: noCompletion }), opts), /field 'evalData': .*row 2 \(line 2\) has no column 'completion'/);
    const noAnswer = write('noanswer.jsonl', '{"prompt": "1+1=", "answer": "2"}\n\n{"prompt": "1+2=", "answer": "3"}\n{"prompt": "2+2="}\n');
    // accuracy reads 'answer': grpo requires it of every row.
    await rejects(grpoCommand(grpo({ data: noAnswer }), opts), /noanswer\.jsonl:4: row 3 \(line 4\) has no column 'answer'/);
    await rejects(sampleCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: noAnswer, sampling: { maxNewTokens: 4 }, output: out }, opts), /row 3 \(line 4\) has no column 'answer'/);
    await rejects(grpoCommand(grpo({ rewards: [{ name: 'accuracy', options: { column: 'solution' } }] }), opts), /row 1 \(line 1\) has no column 'solution'/);
    const badType = write('badtype.jsonl', '{"prompt": ["1+1="], "answer": "2"}\n');
    await rejects(evalCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data: badType, maxNewTokens: 4, output: out }, opts), /row 1 \(line 1\): column 'prompt' must be a string or a list of \{role, content\} messages, got an array/);
    await rejects(generateCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, prompts: { path: at('none.jsonl') }, sampling: { maxNewTokens: 2 }, output: out }, opts), /cannot read .*none\.jsonl: no such file/);
    await rejects(sftCommand(sft({ data: write('empty.jsonl', '\n') }), opts), /empty\.jsonl: no rows/);
  });

  it('distill from a teacher that yields no accepted samples writes nothing', async () => {
    // A fresh (untrained) teacher folder: it cannot answer, so nothing is kept.
    const teacherRun = at('teacher-run');
    await sftCommand(sft({ output: teacherRun }), opts);
    await rejects(distillCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, teacher: path.join(teacherRun, 'model'), prompts: good,
      sampling: { k: 2, maxNewTokens: 4 }, trainer: { maxSteps: 1, batchSize: 2 }, output: out }, opts), /produced no accepted samples out of 4; nothing to distill/);
    await rejects(distillCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, teacher: path.join(teacherRun, 'model'), prompts: good,
      sampling: { k: 2, maxNewTokens: 4 }, trainer: { maxSteps: 0 }, output: out }, opts), /field 'trainer'.*'maxSteps' must be an integer/);
  });
});
