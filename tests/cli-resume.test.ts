// The training commands stopped and resumed as TRL users expect: SIGINT to the real binary stops after a step
// with a checkpoint and exit 130, and --resume continues bit-identically with the logs appended (sft, grpo,
// rm, distill); "overwrite" removes the previous run's checkpoints; --<field> VALUE overrides config fields.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyOverrides, parseRunArgs } from '../src/cli/args.js';
import { resumeCommandLine, runConfigCommand, sftCommand } from '../src/cli/commands/index.js';
import { loadPretrained } from '../src/io/pretrained.js';
import { readSafetensors } from '../src/io/safetensors.js';
import type { LogRecord } from '../src/train/logger.js';
import { additionExamples } from '../src/tasks/addition.js';
import { DEMO_FOLDERS } from '../src/cli/demo.js';

const repo = path.resolve(__dirname, '..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cli-resume-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);
const tiny = { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
const sftData = at('sft.jsonl');
fs.writeFileSync(sftData, additionExamples(32, { seed: 3 }).map(({ prompt, completion }) => JSON.stringify({ prompt, completion })).join('\n') + '\n');
const prefData = at('prefs.jsonl');
fs.writeFileSync(prefData, additionExamples(24, { seed: 4 }).map(({ prompt }) => {
  const answer = prompt.split('+').reduce((a, b) => a + Number(b.replace('=', '')), 0);
  return JSON.stringify({ prompt, chosen: String(answer), rejected: String(answer + 10) });
}).join('\n') + '\n');

const writeConfig = (name: string, config: object) => {
  fs.writeFileSync(at(name), JSON.stringify(config));
  return at(name);
};
// Log lines without wall-clock timings, which no two runs share.
const logLines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
  .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as LogRecord).filter(([k]) => !k.includes('time'))));
const tensorsOf = (file: string) => Object.fromEntries(Object.entries(readSafetensors(file)).map(([k, t]) => {
  const values = Array.from(t.data());
  t.dispose();
  return [k, values];
}));
// Runs a command with its stdout table silenced; returns the exit code.
async function quietly(command: string, args: string[]): Promise<number> {
  const log = console.log;
  console.log = () => {};
  try {
    return await runConfigCommand(command, args);
  } finally {
    console.log = log;
  }
}

/**
 * Runs `config` to the end in `<name>-straight`; copies that folder to `<name>-resumed` less its last
 * checkpoint, model and report (a run that died after checkpoint `resumeStep`), resumes it with --resume and
 * expects the same final checkpoint bit for bit and the same log.
 */
async function expectResumeMatchesStraight(command: string, name: string, config: object, lastStep: number, resumeStep: number, log: string): Promise<void> {
  const straight = at(`${name}-straight`);
  const resumed = at(`${name}-resumed`);
  const file = writeConfig(`${name}.json`, config);
  expect(await quietly(command, ['--config', file, '--output', straight])).toBe(0);
  fs.cpSync(straight, resumed, { recursive: true });
  for (const gone of [`checkpoint-${lastStep}`, 'model', 'report.html']) fs.rmSync(path.join(resumed, gone), { recursive: true });
  expect(await quietly(command, ['--config', file, '--output', resumed, '--resume'])).toBe(0);
  const last = `checkpoint-${lastStep}`;
  expect(tensorsOf(path.join(resumed, last, 'model.safetensors'))).toEqual(tensorsOf(path.join(straight, last, 'model.safetensors')));
  expect(tensorsOf(path.join(resumed, last, 'optimizer.safetensors'))).toEqual(tensorsOf(path.join(straight, last, 'optimizer.safetensors')));
  expect(logLines(path.join(resumed, log))).toEqual(logLines(path.join(straight, log)));
  expect(fs.readFileSync(path.join(resumed, 'report.html'), 'utf8')).toContain(`checkpoint-${resumeStep}`);
}

describe('command-line overrides', () => {
  it('parses values as JSON where they parse, else strings; a bare flag is true', () => {
    const parsed = parseRunArgs('sft', ['--config', 'run.json', '--trainer.learningRate', '1e-4', '--trainer.bf16', 'true', '--output=runs/b',
      '--overwrite', '--data', '{"task": "addition", "count": 8}', '--tokenizer.chars', '0123', '--resume', '--trainer.seed', '-3']);
    // '0123' is not JSON (a leading zero), so the alphabet stays a string.
    expect(parsed.configFile).toBe('run.json');
    expect(parsed.resume).toBe(true);
    expect(parsed.overrides).toEqual([['trainer.learningRate', 1e-4], ['trainer.bf16', true], ['output', 'runs/b'], ['overwrite', true],
      ['data', { task: 'addition', count: 8 }], ['tokenizer.chars', '0123'], ['trainer.seed', -3]]);
    expect(parseRunArgs('sft', ['--resume', 'runs/a/checkpoint-3', '-c', 'x.json'])).toMatchObject({ resume: 'runs/a/checkpoint-3', configFile: 'x.json' });
    expect(parseRunArgs('sft', ['--help']).help).toBe(true);
    expect(() => parseRunArgs('sft', ['-x'])).toThrow(/unknown option -x \(thinkgrad sft takes --config FILE, --resume/);
    expect(() => parseRunArgs('sft', ['--trainer..lr', '1'])).toThrow(/unknown option --trainer..lr/);
    expect(() => parseRunArgs('sft', ['--config'])).toThrow(/--config needs a file/);
  });

  it('sets fields by dotted path, creating objects and indexing arrays, without touching the original', () => {
    const config = { trainer: { maxSteps: 3 }, rewards: [{ name: 'accuracy' }], data: 'train.jsonl' };
    const merged = applyOverrides(config, [['trainer.learningRate', 0.1], ['rewards.0.weight', 2], ['rewards.1', { name: 'format' }], ['eval.every', 5]], 'run.json');
    expect(merged).toEqual({ trainer: { maxSteps: 3, learningRate: 0.1 }, rewards: [{ name: 'accuracy', weight: 2 }, { name: 'format' }], data: 'train.jsonl', eval: { every: 5 } });
    expect(config.trainer).toEqual({ maxSteps: 3 });
    expect(() => applyOverrides(config, [['data.limit', 3]], 'run.json')).toThrow(/--data.limit: field 'data' of run.json is "train.jsonl", not an object/);
    expect(() => applyOverrides(config, [['rewards.5.name', 'x']], 'run.json')).toThrow(/--rewards.5.name: field 'rewards' is an array of 1/);
    expect(() => applyOverrides(config, [['trainer.0', 1]], 'run.json')).toThrow(/field 'trainer' is not an array/);
  });

  it('runs sft from a file plus overrides; unknown fields are refused by name', async () => {
    const file = writeConfig('over.json', { modelConfig: tiny, tokenizer: { type: 'addition' }, data: sftData, trainer: { maxSteps: 5, batchSize: 8 }, output: at('never') });
    expect(await quietly('sft', ['--config', file, '--trainer.maxSteps', '2', '--trainer.logEvery', '1', '--output', at('over')])).toBe(0);
    expect(fs.existsSync(at('over', 'checkpoint-2', 'SHA256SUMS'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(at('over', 'run_config.json'), 'utf8')).trainer).toEqual({ maxSteps: 2, batchSize: 8, logEvery: 1 });
    expect(fs.existsSync(at('never'))).toBe(false);
    await expect(runConfigCommand('sft', ['--config', file, '--trainr.maxSteps', '2'])).rejects.toThrow(/unknown option --trainr.maxSteps: thinkgrad sft has no config field 'trainr'/);
    await expect(runConfigCommand('sft', ['--config', file, '--trainer.learningrate', '1'])).rejects.toThrow(/with command-line overrides.*unknown config field 'learningrate'/);
    await expect(runConfigCommand('sft', ['--config', file, '--trainer.maxSteps', 'many'])).rejects.toThrow(/'maxSteps' must be an integer in \[1, inf\], got "many"/);
    await expect(runConfigCommand('eval', ['--config', file, '--resume'])).rejects.toThrow(/--resume applies to the training commands \(sft, grpo, distill, rm\), not eval/);
    await expect(runConfigCommand('sft', ['--config', file, '--output', at('over-empty'), '--resume'])).rejects.toThrow(/output folder .*over-empty holds no complete checkpoint/);
  });

  it('quotes the resume command line for the shell', () => {
    expect(resumeCommandLine('sft', ['--config', 'my run.json', '--resume', 'old/checkpoint-1', '--trainer.learningRate', '1e-4'], 'out/checkpoint-7'))
      .toBe("thinkgrad sft --config 'my run.json' --trainer.learningRate 1e-4 --resume out/checkpoint-7");
  });
});

describe('overwrite and demo folders', () => {
  it('"overwrite": true removes the previous run\'s checkpoints and leftovers instead of leaving them beside the new ones', async () => {
    const config = { modelConfig: tiny, tokenizer: { type: 'addition' }, data: sftData, trainer: { maxSteps: 3, batchSize: 8, saveEvery: 1 }, output: at('ow') };
    await sftCommand(config, { quiet: true });
    expect(fs.readdirSync(at('ow')).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-1', 'checkpoint-2', 'checkpoint-3']);
    fs.mkdirSync(at('ow', '.checkpoint-4.tmp-1-0123abcd'));
    fs.writeFileSync(at('ow', 'notes.txt'), 'mine');
    await sftCommand({ ...config, trainer: { maxSteps: 2, batchSize: 8, saveEvery: 2 }, overwrite: true }, { quiet: true });
    expect(fs.readdirSync(at('ow')).sort()).toEqual(['checkpoint-2', 'model', 'notes.txt', 'report.html', 'run_config.json', 'sft_logs.jsonl']);
  });

  it('the demo names its output folders without spaces', () => {
    expect(Object.values(DEMO_FOLDERS).length).toBeGreaterThan(3);
    for (const folder of Object.values(DEMO_FOLDERS)) expect(folder).toMatch(/^[a-z0-9-]+(\.jsonl)?$/);
  });
});

describe('stopping and resuming the training commands', () => {
  it('sft: SIGINT to the binary after a step writes a checkpoint, prints how to resume, exits 130; --resume ends where a straight run does', async () => {
    const config = { modelConfig: tiny, modelSeed: 2, tokenizer: { type: 'addition' }, data: sftData,
      trainer: { maxSteps: 60, batchSize: 8, learningRate: 1e-2, warmupSteps: 5, lrSchedule: 'cosine', logEvery: 1, seed: 4 } };
    const file = writeConfig('sigint.json', config);
    await sftCommand({ ...config, output: at('sigint-straight') }, { quiet: true });

    const out = at('sigint');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sft', '--config', file, '--output', out], { cwd: repo });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logFile = path.join(out, 'sft_logs.jsonl');
    for (let waited = 0; !(fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').length > 0); waited += 20) {
      if (waited > 60_000) throw new Error('the first step was never logged');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const m = /stopped by SIGINT after step (\d+) of 60; checkpoint: (\S+)\nResume with: thinkgrad sft --config \S+ --output \S+ --resume (\S+)/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(60);
    expect(m![2]).toBe(path.join(out, `checkpoint-${step}`));
    expect(m![3]).toBe(m![2]);
    // No final model, but the report of the steps taken.
    expect(fs.existsSync(path.join(out, 'model'))).toBe(false);
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toContain(`stopped early at step`);
    expect(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-'))).toEqual([`checkpoint-${step}`]);
    expect(logLines(logFile).at(-1)!.step).toBe(step);

    expect(await quietly('sft', ['--config', file, '--output', out, '--resume', m![3]])).toBe(0);
    expect(logLines(logFile)).toEqual(logLines(path.join(at('sigint-straight'), 'sft_logs.jsonl')));
    const [a, b] = [loadPretrained(path.join(out, 'model')), loadPretrained(at('sigint-straight', 'model'))];
    for (const [k, t] of Object.entries(a.stateDict())) expect(Array.from(t.data()), k).toEqual(Array.from(b.stateDict()[k].data()));
    a.dispose();
    b.dispose();
  }, 90_000);

  it('grpo: --resume from the newest checkpoint ends bit-identical to a straight run, evaluations and logs appended', async () => {
    await expectResumeMatchesStraight('grpo', 'grpo', {
      modelConfig: tiny, modelSeed: 3, tokenizer: { type: 'addition' }, data: { task: 'addition', count: 16, seed: 2 },
      rewards: [{ name: 'accuracy' }, { name: 'format', weight: 0.1 }, { name: 'softOverlongPunishment', options: { maxLength: 8, cache: 4 } }],
      trainer: { maxSteps: 4, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 10, learningRate: 1e-2, beta: 0.04, seed: 1, saveEvery: 2 },
      eval: { data: { task: 'addition', split: 'heldout', count: 2 }, k: 2, every: 2 },
    }, 4, 2, 'grpo_logs.jsonl');
    expect(logLines(at('grpo-resumed', 'eval.jsonl'))).toEqual(logLines(at('grpo-straight', 'eval.jsonl')));
    expect(logLines(at('grpo-resumed', 'eval.jsonl')).map((e) => e.step)).toEqual([0, 2, 4]);
  });

  it('rm: --resume ends bit-identical to a straight run', async () => {
    await expectResumeMatchesStraight('rm', 'rm', {
      modelConfig: tiny, tokenizer: { type: 'addition' }, data: prefData, evalData: { path: prefData, limit: 8 },
      trainer: { maxSteps: 4, batchSize: 4, learningRate: 3e-3, logEvery: 1, evalEvery: 2, saveEvery: 2, seed: 1 },
    }, 4, 2, 'rm_logs.jsonl');
  });

  it('distill: --resume ends bit-identical to a straight run', async () => {
    await expectResumeMatchesStraight('distill', 'distill', {
      modelConfig: { ...tiny, hiddenSize: 16, numAttentionHeads: 1 }, tokenizer: { type: 'addition' }, data: sftData,
      trainer: { maxSteps: 4, batchSize: 8, learningRate: 1e-2, logEvery: 1, saveEvery: 3 },
    }, 4, 3, 'sft_logs.jsonl');
  });
});
