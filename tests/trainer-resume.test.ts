// Stopping and resuming the trainers as TRL users expect: stop() or an aborted signal ends training after the
// step in progress with a checkpoint; train({ resumeFromCheckpoint: true }) finds the newest complete one and
// continues bit-identically, appending to the JSONL log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { SFTTrainer } from '../src/train/sft.js';
import { RewardTrainer } from '../src/train/reward-trainer.js';
import { LlamaForSequenceClassification } from '../src/nn/sequence-classification.js';
import { truncateLogAfter, type LogRecord } from '../src/train/logger.js';
import { named, type RewardArgs } from '../src/rl/rewards/types.js';
import { additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';

const tok = additionTokenizer();
const modelConfig = {
  vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, tieWordEmbeddings: true,
  maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
};
const tiny = (seed: number) => new tg.nn.LlamaForCausalLM(modelConfig, { seed });
const data = additionExamples(48, { seed: 3 }).map(({ prompt, completion }) => ({ prompt, completion }));
const rows = additionTrainProblems(32, 5).map((p) => ({ prompt: p.prompt, answer: p.answer }));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-trainer-resume-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const weights = (m: { stateDict(): Record<string, tg.Tensor> }) => Object.values(m.stateDict()).flatMap((t) => Array.from(t.data()));
// The log lines without their wall-clock timings (step_time, generation_time_share), which no two runs share.
const logLines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
  .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as LogRecord).filter(([k]) => !k.includes('time'))));

describe('stop and resume', () => {
  it('SFT: stop() after step 2 writes checkpoint-2; train({ resumeFromCheckpoint: true }) ends where a straight run does, log appended', async () => {
    const config = { maxSteps: 5, batchSize: 8, learningRate: 1e-2, warmupSteps: 1, lrSchedule: 'cosine' as const, seed: 3, logEvery: 1 };
    const straight = tiny(7);
    const straightDir = path.join(root, 'sft-straight');
    await new SFTTrainer(straight, tok, data, { ...config, outputDir: straightDir }).train();

    const out = path.join(root, 'sft-stopped');
    const first = tiny(7);
    const a = new SFTTrainer(first, tok, data, { ...config, outputDir: out });
    const logsA = await a.train({ onProgress: (step) => { if (step === 2) a.stop(); } });
    expect(logsA.map((l) => l.step)).toEqual([1, 2]);
    expect(a.stopped).toBe(true);
    expect(a.lastCheckpoint).toBe(path.join(out, 'checkpoint-2'));
    expect(tg.latestCheckpoint(out)).toBe(path.join(out, 'checkpoint-2'));
    // The interrupted run got one step further after its checkpoint; resuming drops that line and re-logs it.
    fs.appendFileSync(path.join(out, 'sft_logs.jsonl'), `${JSON.stringify({ step: 3, loss: 123 })}\n{"step": 4, "lo`);

    const second = tiny(99);
    const b = new SFTTrainer(second, tok, data, { ...config, outputDir: out });
    const logsB = await b.train({ resumeFromCheckpoint: true });
    expect(b.stopped).toBe(false);
    expect(logsB.map((l) => l.step)).toEqual([3, 4, 5]);
    expect(b.logger.records.map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    expect(logLines(path.join(out, 'sft_logs.jsonl'))).toEqual(logLines(path.join(straightDir, 'sft_logs.jsonl')));
    expect(weights(second)).toEqual(weights(straight));
    for (const m of [straight, first, second]) m.dispose();
  });

  it('SFT: an aborted signal stops train(); fit() honors stop() too; bad resume options are refused', async () => {
    const config = { maxSteps: 4, batchSize: 8, learningRate: 1e-2, seed: 3, logEvery: 1 };
    const model = tiny(3);
    const out = path.join(root, 'sft-signal');
    const controller = new AbortController();
    const t = new SFTTrainer(model, tok, data, { ...config, outputDir: out, saveEvery: 1 });
    await t.train({ signal: controller.signal, onProgress: (step) => { if (step === 1) controller.abort(); } });
    expect([t.globalStep, t.stopped]).toEqual([1, true]);
    // saveEvery already wrote checkpoint-1: stopping does not write it twice.
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint-1', 'sft_logs.jsonl']);
    t.fit((step) => { if (step === 3) t.stop(); });
    expect([t.globalStep, t.stopped]).toEqual([3, true]);
    expect(tg.latestCheckpoint(out)).toBe(path.join(out, 'checkpoint-3'));
    await t.train();
    expect([t.globalStep, t.stopped]).toEqual([4, false]);
    await expect(t.train({ resumeFromCheckpoint: 'nowhere' })).rejects.toThrow(/checkpoint folder .*nowhere does not exist/);
    await expect(t.train({ resumeFromCheckpoint: 7 as unknown as string })).rejects.toThrow(TypeError);
    await expect(t.train({ signal: 'stop' as unknown as AbortSignal })).rejects.toThrow(/SFTTrainer.train: options.signal must be an AbortSignal/);
    const inMemory = new SFTTrainer(model, tok, data, config);
    await expect(inMemory.train({ resumeFromCheckpoint: true })).rejects.toThrow(/config.outputDir, which is not set/);
    const empty = new SFTTrainer(model, tok, data, { ...config, outputDir: path.join(root, 'sft-empty') });
    await expect(empty.train({ resumeFromCheckpoint: true })).rejects.toThrow(/no complete checkpoint in .*sft-empty/);
    model.dispose();
  });

  it('GRPO: a signal stops it after round 2; resuming the newest checkpoint equals 4 straight rounds bit for bit', async () => {
    const config = { maxSteps: 4, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, learningRate: 1e-3, maxCompletionLength: 8, seed: 5, beta: 0.04 };
    // Shorter is better: an untrained model's completions differ in length, so every round updates the weights.
    const rewards = [tg.rewards.accuracy(), named('short', (args: RewardArgs) => args.completions.map((c) => -c.length / 8))];
    tg.manualSeed(11);
    const straight = tiny(8);
    const straightRef = tiny(8);
    const straightDir = path.join(root, 'grpo-straight');
    await new GRPOTrainer(straight, tok, rows, rewards, { ...config, outputDir: straightDir }, {}, straightRef).train();

    tg.manualSeed(11);
    const out = path.join(root, 'grpo-stopped');
    const first = tiny(8);
    const firstRef = tiny(8);
    const controller = new AbortController();
    const a = new GRPOTrainer(first, tok, rows, rewards, { ...config, outputDir: out, saveEvery: 1 }, {}, firstRef);
    await a.train({ signal: controller.signal, onProgress: (step) => { if (step === 2) controller.abort(); } });
    expect([a.globalStep, a.stopped, a.lastCheckpoint]).toEqual([2, true, path.join(out, 'checkpoint-2')]);

    tg.manualSeed(12345);
    const second = tiny(99);
    const secondRef = tiny(98);
    const b = new GRPOTrainer(second, tok, rows, rewards, { ...config, outputDir: out }, {}, secondRef);
    const resumed = await b.train({ resumeFromCheckpoint: true });
    expect(resumed.map((l) => l.step)).toEqual([3, 4]);
    expect(logLines(path.join(out, 'grpo_logs.jsonl'))).toEqual(logLines(path.join(straightDir, 'grpo_logs.jsonl')));
    expect(resumed.every((l) => (l.grad_norm as number) > 0)).toBe(true);
    expect(weights(second)).toEqual(weights(straight));
    expect(weights(secondRef)).toEqual(weights(straightRef));
    for (const m of [straight, straightRef, first, firstRef, second, secondRef]) m.dispose();
  });

  it('reward model: stop, then resume from a checkpoint path, equals a straight run', async () => {
    const pairs = additionTrainProblems(24, 9).map((p) => ({ prompt: p.prompt, chosen: p.answer, rejected: String(Number(p.answer) + 1) }));
    const config = { maxSteps: 4, batchSize: 4, learningRate: 3e-3, logEvery: 1, seed: 2 };
    const rm = (seed: number) => LlamaForSequenceClassification.fromCausalLM(tiny(seed), { seed: 1, log: () => {} });
    const straight = rm(4);
    const straightDir = path.join(root, 'rm-straight');
    await new RewardTrainer(straight, tok, pairs, { ...config, outputDir: straightDir }).train();
    const out = path.join(root, 'rm-stopped');
    const first = rm(4);
    const a = new RewardTrainer(first, tok, pairs, { ...config, outputDir: out });
    await a.train({ onProgress: (step) => { if (step === 1) a.stop(); } });
    expect(a.lastCheckpoint).toBe(path.join(out, 'checkpoint-1'));
    const second = rm(5);
    const b = new RewardTrainer(second, tok, pairs, { ...config, outputDir: out });
    await b.train({ resumeFromCheckpoint: path.join(out, 'checkpoint-1') });
    expect(logLines(path.join(out, 'rm_logs.jsonl'))).toEqual(logLines(path.join(straightDir, 'rm_logs.jsonl')));
    expect(weights(second)).toEqual(weights(straight));
    for (const m of [straight, first, second]) m.dispose();
  });

  it('truncateLogAfter keeps records up to a step, drops a cut-short last line and refuses corrupt ones', () => {
    const file = path.join(root, 'log.jsonl');
    expect(truncateLogAfter(file, 3)).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
    fs.writeFileSync(file, '{"step":1}\n{"note":"no step"}\n{"step":2}\n{"step":4}\n{"st');
    expect(truncateLogAfter(file, 2)).toEqual([{ step: 1 }, { note: 'no step' }, { step: 2 }]);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"step":1}\n{"note":"no step"}\n{"step":2}\n');
    fs.writeFileSync(file, '{"step":1}\n{bad}\n{"step":2}\n');
    expect(() => truncateLogAfter(file, 2)).toThrow(/line 2 is not JSON/);
    expect(() => truncateLogAfter(file, -1)).toThrow(RangeError);
  });
});
