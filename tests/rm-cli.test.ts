// `thinkgrad rm` end to end on a tiny config: from a fresh model and from a causal-LM folder (fresh head,
// stated), outputs, logs, report and config errors naming the field; then `thinkgrad grpo` scoring with that
// reward model on some rows and rule rewards on others ('when').
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { grpoCommand, rmCommand, CONFIG_COMMANDS } from '../src/cli/commands/index.js';
import { loadSequenceClassifier } from '../src/nn/sequence-classification.js';
import * as tg from '../src/index.js';
import { additionTokenizer } from '../src/tasks/addition.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-rm-cli-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);
const tiny = { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
const quiet = { quiet: true, source: 'run.json' };
const prefs = at('prefs.jsonl');
fs.writeFileSync(prefs, Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: `${10 + i}=`, chosen: '888', rejected: `${i % 7}1`, ...(i % 2 ? { margin: 0.5 } : {}) })).join('\n') + '\n');

describe('thinkgrad rm', () => {
  it('trains a fresh reward model and writes model, checkpoint, logs and report', async () => {
    const res = await rmCommand({ modelConfig: tiny, modelSeed: 1, tokenizer: { type: 'addition' }, data: prefs, evalData: { path: prefs, limit: 8 },
      trainer: { maxSteps: 6, batchSize: 8, learningRate: 3e-3, logEvery: 1, evalEvery: 3 }, output: at('rm') }, quiet);
    expect(res.logs.filter((l) => typeof l.loss === 'number')).toHaveLength(6);
    expect(res.evalAfter!.eval_accuracy).toBeGreaterThanOrEqual(res.evalBefore!.eval_accuracy);
    for (const f of ['model/config.json', 'model/model.safetensors', 'model/tokenizer.json', 'checkpoint-6/trainer_state.json', 'rm_logs.jsonl', 'report.html', 'run_config.json'])
      expect(fs.existsSync(at('rm', f))).toBe(true);
    expect(fs.readFileSync(at('rm', 'report.html'), 'utf8')).toContain('Pairwise accuracy');
    const m = loadSequenceClassifier(at('rm', 'model'));
    expect(m.numLabels).toBe(1);
    m.dispose();
    expect(CONFIG_COMMANDS.rm.help).toMatch(/Bradley-Terry/);
  });

  it('starts from a causal-LM folder with a fresh head and refuses bad configs by field', async () => {
    const tok = additionTokenizer();
    const lm = new tg.nn.LlamaForCausalLM({ ...tiny, vocabSize: tok.vocabSize, tieWordEmbeddings: true, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 2 });
    tg.savePretrained(lm, at('lm'), { tokenizer: tok });
    lm.dispose();
    const res = await rmCommand({ model: at('lm'), data: prefs, trainer: { maxSteps: 2, batchSize: 4 }, output: at('rm2') }, quiet);
    expect(fs.readFileSync(at('rm2', 'report.html'), 'utf8')).toContain('newly initialized');
    expect(res.evalBefore).toBeNull();
    const bad = at('bad.jsonl');
    fs.writeFileSync(bad, '{"prompt":"1=","chosen":"2","rejected":"3"}\n{"prompt":"1=","chosen":"2"}\n');
    await expect(rmCommand({ model: at('lm'), data: bad, output: at('rm3') }, quiet)).rejects.toThrow(/line 2.*rejected/);
    await expect(rmCommand({ model: at('lm'), data: prefs, trainer: { batchSize: -1 }, output: at('rm4') }, quiet)).rejects.toThrow(/trainer.*batchSize/);
    await expect(rmCommand({ model: at('lm'), data: prefs, output: at('rm2') }, quiet)).rejects.toThrow(/already exists/);
  });

  it('grpo scores chat rows with a reward model folder and math rows with accuracy, each null elsewhere', async () => {
    const data = at('mixed.jsonl');
    fs.writeFileSync(data, Array.from({ length: 16 }, (_, i) => JSON.stringify(i % 2 ? { prompt: `${i}+${i}=`, answer: 2 * i, task: 'math' }
      : { prompt: `${10 + i}=`, task: 'chat' })).join('\n') + '\n');
    const res = await grpoCommand({ modelConfig: tiny, modelSeed: 3, tokenizer: { type: 'addition' }, data,
      rewards: [{ name: 'accuracy', when: { column: 'task', in: ['math'] } },
        { name: 'rewardModel', weight: 0.5, options: { model: at('rm', 'model'), name: 'rm_score', input: 'completion' }, when: { column: 'task', in: ['chat'] } }],
      trainer: { maxSteps: 2, numGenerations: 4, generationBatchSize: 16, microBatchSize: 16, maxCompletionLength: 6, learningRate: 1e-3 },
      output: at('grpo-mixed') }, quiet);
    expect(res.logs).toHaveLength(2);
    for (const log of res.logs) {
      expect(Number.isFinite(log['rewards/rm_score/mean'] as number)).toBe(true);
      expect(Number.isFinite(log['rewards/accuracy/mean'] as number)).toBe(true);
    }
    const bad = (rewards: unknown) => grpoCommand({ modelConfig: tiny, tokenizer: { type: 'addition' }, data, rewards, output: at('grpo-bad') }, quiet);
    await expect(bad([{ name: 'rewardModel' }])).rejects.toThrow(/rewards\[0\]\.options\.model' is required/);
    await expect(bad([{ name: 'rewardModel', options: { model: at('nowhere') } }])).rejects.toThrow(/rewards\[0\]\.options\.model/);
    await expect(bad([{ name: 'accuracy', when: { column: 'task' } }])).rejects.toThrow(/rewards\[0\]\.when\.in' must be a non-empty array/);
    await expect(bad([{ name: 'accuracy' }])).rejects.toThrow(/answer/);
  });
});
