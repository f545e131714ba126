// Reward models: the Bradley-Terry loss and its gradients against float64, last-token pooling under left and
// right padding, bit-identical save/reload, init from a causal LM, RewardTrainer on a tiny task, and routed
// rewards with null for rows a function does not apply to (in groupAdvantages and in a GRPO step).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { LlamaForSequenceClassification, loadSequenceClassifier, saveSequenceClassifier } from '../src/nn/sequence-classification.js';
import { bradleyTerryLoss, readPreferenceJsonl, RewardTrainer } from '../src/train/reward-trainer.js';
import { answerPart, rewardModel } from '../src/rl/rewards/reward-model.js';
import { routeRewards } from '../src/rl/rewards/routing.js';
import { named, type RewardArgs } from '../src/rl/rewards/types.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import { additionTokenizer } from '../src/tasks/addition.js';

const tok = additionTokenizer();
const cfg = {
  vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 2, tieWordEmbeddings: true,
  maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
};
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tg-rm-'));
const close = (a: number, r: number, atol: number, rtol: number) => Math.abs(a - r) <= atol + rtol * Math.abs(r);

describe('bradleyTerryLoss', () => {
  it('matches a float64 reference in value and gradient, including large differences', () => {
    tg.manualSeed(3);
    const B = 9;
    const c = Array.from(tg.randn([B]).data(), (v, i) => v * (i < 2 ? 40 : 2));
    const r = Array.from(tg.randn([B]).data(), (v) => v * 2);
    const m = Array.from(tg.rand([B]).data());
    c[3] = r[3] + m[3]; // d = 0 exactly
    for (const withMargin of [false, true]) {
      const ct = tg.tensor(c, [B]).requiresGrad_(true);
      const rt = tg.tensor(r, [B]).requiresGrad_(true);
      const mt = withMargin ? tg.tensor(m, [B]) : null;
      const loss = bradleyTerryLoss(ct, rt, mt);
      loss.backward();
      // float64: mean softplus(-d), d = c - r - m; dL/dc = -sigmoid(-d) / B.
      let ref = 0;
      const gc: number[] = [];
      for (let i = 0; i < B; i++) {
        const d = c[i] - r[i] - (withMargin ? m[i] : 0);
        ref += (Math.max(-d, 0) + Math.log1p(Math.exp(-Math.abs(d)))) / B;
        gc.push(-1 / (1 + Math.exp(d)) / B);
      }
      expect(close(loss.item(), ref, 1e-6, 1e-5)).toBe(true);
      const g1 = ct.grad!.data();
      const g2 = rt.grad!.data();
      for (let i = 0; i < B; i++) {
        expect(close(g1[i], gc[i], 1e-7, 1e-5)).toBe(true);
        expect(close(g2[i], -gc[i], 1e-7, 1e-5)).toBe(true);
      }
      for (const t of [ct, rt, mt, loss]) t?.dispose();
    }
  });

  it('checks shapes', () => {
    expect(() => bradleyTerryLoss(tg.zeros([3]), tg.zeros([4]))).toThrow(/must all be \(B\)/);
  });
});

describe('LlamaForSequenceClassification', () => {
  const a = [1, 5, 6, 7, 8, 2];
  const b = [1, 9, 3];
  const score = (m: LlamaForSequenceClassification, ids: number[][], opts: Parameters<LlamaForSequenceClassification['scores']>[1] = {}) => tg.noGrad(() => {
    const T = ids[0].length;
    const t = tg.tensor(Int32Array.from(ids.flat()), [ids.length, T], { dtype: 'int32' });
    const s = Array.from(m.scores(t, opts).data());
    t.dispose();
    return s;
  });

  it('has Hugging Face parameter names', () => {
    const m = new LlamaForSequenceClassification(cfg, { seed: 1 });
    const names = Object.keys(m.stateDict());
    expect(names).toContain('score.weight');
    expect(names).toContain('model.embed_tokens.weight');
    expect(names).toContain('model.norm.weight');
    expect(names.some((n) => n.startsWith('lm_head'))).toBe(false);
    expect(m.stateDict()['score.weight'].shape).toEqual([1, 32]);
    expect(m.configJson().architectures).toEqual(['LlamaForSequenceClassification']);
    m.dispose();
  });

  it('reads the last real token with left and right padding', () => {
    const m = new LlamaForSequenceClassification(cfg, { seed: 2 });
    const [sa] = score(m, [a]);
    const [sb] = score(m, [b]);
    const pad = tok.padTokenId!;
    const right = [a, [...b, pad, pad, pad]];
    const left = [a, [pad, pad, pad, ...b]];
    const rightMask = right.map((r, i) => r.map((_, j) => (i === 1 && j >= 3 ? 0 : 1)));
    const leftMask = left.map((r, i) => r.map((_, j) => (i === 1 && j < 3 ? 0 : 1)));
    for (const s of [score(m, right, { attentionMask: rightMask }), score(m, right, { lengths: [6, 3] }), score(m, left, { attentionMask: leftMask }),
      score(m, right) /* rightmost non-pad token (pad != eos) */]) {
      expect(close(s[0], sa, 1e-5, 1e-4)).toBe(true);
      expect(close(s[1], sb, 1e-5, 1e-4)).toBe(true);
    }
    // Reading the wrong token would differ.
    expect(Math.abs(score(m, right, { lengths: [6, 6] })[1] - sb)).toBeGreaterThan(1e-6);
    expect(() => score(m, right, { lengths: [6, 7] })).toThrow(/lengths\[1\]/);
    m.dispose();
  });

  it('saves and reloads bit-identically', () => {
    const dir = tmp();
    const m = new LlamaForSequenceClassification(cfg, { seed: 5 });
    saveSequenceClassifier(m, dir, { tokenizer: tok });
    const back = loadSequenceClassifier(dir);
    const sd0 = m.stateDict();
    const sd1 = back.stateDict();
    expect(Object.keys(sd1).sort()).toEqual(Object.keys(sd0).sort());
    for (const k of Object.keys(sd0)) expect(Buffer.from(sd1[k].data().buffer).equals(Buffer.from(sd0[k].data().buffer))).toBe(true);
    expect(score(back, [a, [...b, 0, 0, 0]], { lengths: [6, 3] })).toEqual(score(m, [a, [...b, 0, 0, 0]], { lengths: [6, 3] }));
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(json.architectures).toEqual(['LlamaForSequenceClassification']);
    expect(json.num_labels).toBe(1);
    m.dispose();
    back.dispose();
  });

  it('starts from a causal-LM folder with a fresh head and says so', () => {
    const dir = tmp();
    const lm = new tg.nn.LlamaForCausalLM(cfg, { seed: 7 });
    tg.savePretrained(lm, dir);
    const logs: string[] = [];
    const m = loadSequenceClassifier(dir, { seed: 3, log: (s) => logs.push(s) });
    expect(logs.join()).toMatch(/newly initialized: \['score.weight'\]/);
    const emb = lm.stateDict()['model.embed_tokens.weight'].data();
    expect(Array.from(m.stateDict()['model.embed_tokens.weight'].data())).toEqual(Array.from(emb));
    const head = Array.from(m.stateDict()['score.weight'].data());
    const std = Math.sqrt(head.reduce((s, v) => s + v * v, 0) / head.length);
    expect(std).toBeGreaterThan(0.005);
    expect(std).toBeLessThan(0.05);
    const m2 = LlamaForSequenceClassification.fromCausalLM(lm, { seed: 3, log: (s) => logs.push(s) });
    expect(Array.from(m2.stateDict()['score.weight'].data())).toEqual(Array.from(head));
    for (const x of [lm, m, m2]) x.dispose();
  });
});

// Tiny preference task: the answer with more 8s is preferred.
const pairs = (n: number, seed: number) => {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, () => {
    const digits = (eights: number) => Array.from({ length: 4 }, (_, i) => (i < eights ? '8' : String(Math.floor(rnd() * 8)))).sort(() => rnd() - 0.5).join('');
    const hi = 2 + Math.floor(rnd() * 3);
    return { prompt: `${Math.floor(rnd() * 90 + 10)}=`, chosen: digits(hi), rejected: digits(hi - 2) };
  });
};

describe('RewardTrainer', () => {
  it('learns a tiny preference and evaluates accuracy and margin', () => {
    const m = new LlamaForSequenceClassification(cfg, { seed: 1 });
    const out = tmp();
    const trainer = new RewardTrainer(m, tok, pairs(256, 1), { maxSteps: 40, batchSize: 16, learningRate: 3e-3, logEvery: 10, evalEvery: 40, outputDir: out, saveEvery: 40 }, {}, pairs(64, 2));
    const before = trainer.evaluate();
    const logs = trainer.fit();
    const after = trainer.evaluate();
    expect(after.eval_accuracy).toBeGreaterThan(0.85);
    expect(after.eval_accuracy).toBeGreaterThan(before.eval_accuracy);
    expect(after.eval_margin).toBeGreaterThan(0);
    expect(logs.some((l) => typeof l.eval_accuracy === 'number')).toBe(true);
    expect(Object.keys(logs[0])).toEqual(expect.arrayContaining(['loss', 'accuracy', 'margin', 'grad_norm', 'learning_rate']));
    expect(fs.existsSync(path.join(out, 'checkpoint-40', 'trainer_state.json'))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'rm_logs.jsonl'), 'utf8').trim().split('\n').length).toBe(logs.length);
    m.dispose();
  });

  it('reports malformed preference lines by number and bad configs by field', () => {
    const dir = tmp();
    const f = path.join(dir, 'p.jsonl');
    fs.writeFileSync(f, '{"prompt":"a","chosen":"b","rejected":"c"}\n{"prompt":"a","chosen":"b"}\n');
    expect(() => readPreferenceJsonl(f)).toThrow(/line 2.*'rejected'/);
    fs.writeFileSync(f, '{"prompt":"a","chosen":"b","rejected":"c","margin":"x"}\n');
    expect(() => readPreferenceJsonl(f)).toThrow(/line 1.*margin/);
    const m = new LlamaForSequenceClassification(cfg, { seed: 1 });
    expect(() => new RewardTrainer(m, tok, pairs(4, 1), { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new RewardTrainer(m, tok, [{ prompt: 'a', chosen: 'b' } as never])).toThrow(/pair 0/);
    m.dispose();
  });
});

describe('reward routing', () => {
  const calls: Record<string, number> = {};
  const fn = (name: string, value: number) => named(name, (args: RewardArgs) => {
    calls[name] = (calls[name] ?? 0) + args.completions.length;
    return args.completions.map(() => value);
  });
  it('scores only the rows a function applies to and gives null elsewhere', async () => {
    const acc = fn('accuracy', 1);
    const fmt = fn('format', 0.5);
    const rm = fn('helpful', 2);
    const funcs = routeRewards({ column: 'task', routes: { reasoning: [acc, fmt], general: [rm, fmt] } });
    expect(funcs.map((f) => f.name)).toEqual(['accuracy', 'format', 'helpful']);
    const args: RewardArgs = { prompts: ['p', 'p', 'q', 'q'], completions: ['a', 'b', 'c', 'd'], task: ['reasoning', 'reasoning', 'general', 'general'], answer: ['1', '1', null, null] };
    const out = await Promise.all(funcs.map((f) => f(args)));
    expect(out).toEqual([[1, 1, null, null], [0.5, 0.5, 0.5, 0.5], [null, null, 2, 2]]);
    expect(calls).toEqual({ accuracy: 2, format: 4, helpful: 2 });
    // Rows as [completion][function] -> groupAdvantages: null adds nothing; groups keep their own statistics.
    const rows = [0, 1, 2, 3].map((i) => out.map((v) => v[i]));
    const adv = tg.groupAdvantages(rows, { groupSize: 2 });
    expect(Array.from(adv.rewards)).toEqual([1.5, 1.5, 2.5, 2.5]);
    // A row naming its rewards explicitly, and an unknown task.
    expect(await funcs[2]({ prompts: ['p'], completions: ['x'], task: [['helpful']] })).toEqual([2]);
    await expect(funcs[0]({ prompts: ['p'], completions: ['x'], task: ['chat'] })).rejects.toThrow(/names no route/);
  });

  it('logs per-function means over the rows each scored in a GRPO step', async () => {
    const policy = new tg.nn.LlamaForCausalLM(cfg, { seed: 1 });
    const rmModel = new LlamaForSequenceClassification(cfg, { seed: 2 });
    const helpful = rewardModel(rmModel, tok, { name: 'helpful', input: 'answer', normalize: 'batch' });
    const acc = tg.rewards.accuracy();
    const fmt = tg.rewards.format();
    const funcs = routeRewards({ routes: { reasoning: [acc, fmt], general: [helpful, fmt] } });
    const data = [{ prompt: '12+34=', answer: '46', task: 'reasoning' }, { prompt: '5,6=', answer: null, task: 'general' }];
    const trainer = new GRPOTrainer(policy, tok, data, funcs, { maxSteps: 1, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 8, learningRate: 1e-3 });
    const [log] = await trainer.train();
    for (const n of ['accuracy', 'format', 'helpful']) expect(typeof log[`rewards/${n}/mean`]).toBe('number');
    policy.dispose();
    rmModel.dispose();
  });

  it('the reward model sees the answer or the whole completion', () => {
    expect(answerPart('<think>1+1</think><answer>2</answer>')).toBe('<answer>2</answer>');
    expect(answerPart('<think>unfinished')).toBe('');
    expect(answerPart('plain')).toBe('plain');
    const m = new LlamaForSequenceClassification(cfg, { seed: 4 });
    const args = { prompts: ['1=', '1='], completions: ['<think>12</think><answer>3</answer>', '<think>45</think><answer>3</answer>'] };
    const ans = rewardModel(m, tok, { input: 'answer' })(args) as number[];
    const whole = rewardModel(m, tok, { input: 'completion' })(args) as number[];
    expect(ans[0]).toBe(ans[1]);
    expect(whole[0]).not.toBe(whole[1]);
    const z = rewardModel(m, tok, { input: 'completion', normalize: { mean: whole[0], std: 2 } })(args) as number[];
    expect(z[0]).toBe(0);
    m.dispose();
  });
});
