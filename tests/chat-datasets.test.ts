// TRL's conversational datasets (prompts, completions, chosen/rejected and messages as {role, content} lists)
// through the chat template in every trainer, sampler and evaluator; generation_config.json's EOS ids (one or a
// list) ending generation; a folder whose tokenizer has no EOS warning once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as tg from '../src/index.js';
import { buildByteLevelBpe } from './helpers/byte-level-bpe.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'thinkgrad-chat-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const { tokenizerJson, config: tokenizerConfig } = buildByteLevelBpe();
const tok = new tg.HFTokenizer(tokenizerJson, tokenizerConfig);
const imEnd = tok.tokenToId('<|im_end|>')!;
const endOfText = tok.tokenToId('<|endoftext|>')!;
const think = tok.tokenToId('<think>')!;

// A model whose every next token is `next`: layers add nothing (o_proj and down_proj are zero), every embedding's
// first coordinate is 1 and the final norm keeps only that coordinate, so the head's row `next` alone reads it.
function constantModel(next: number, options: Partial<tg.nn.LlamaConfigOptions> = {}): tg.nn.LlamaForCausalLM {
  const model = new tg.nn.LlamaForCausalLM({
    vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2,
    maxPositionEmbeddings: 128, tieWordEmbeddings: false, ...options,
  }, { seed: 3 });
  const values: Record<string, tg.Tensor> = {};
  for (const [name, t] of Object.entries(model.stateDict())) {
    const data = Float32Array.from(t.data());
    const C = t.shape[t.shape.length - 1];
    if (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight')) data.fill(0);
    if (name === 'model.embed_tokens.weight') for (let row = 0; row < t.shape[0]; row++) data[row * C] = 1;
    if (name === 'model.norm.weight') data.fill(0).set([1]);
    if (name === 'lm_head.weight') {
      data.fill(0);
      data[next * C] = 50;
    }
    values[name] = tg.tensor(data, t.shape);
  }
  model.loadStateDict(values);
  for (const t of Object.values(values)) t.dispose();
  return model;
}

const chatml = (messages: tg.ChatMessage[], generationPrompt: boolean) =>
  messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + (generationPrompt ? '<|im_start|>assistant\n' : '');

describe('generation_config.json', () => {
  it('its eos_token_id list stops generation at any of its ids, and round-trips through savePretrained', () => {
    // The model always emits <|im_end|>; config.json's EOS is <|endoftext|> only.
    const model = constantModel(imEnd, { eosTokenId: endOfText });
    const dir = path.join(root, 'gen-config');
    tg.savePretrained(model, dir);
    expect(fs.existsSync(path.join(dir, 'generation_config.json'))).toBe(false);
    const plain = tg.loadPretrained(dir);
    expect(plain.generationConfig).toEqual({});
    const withoutList = tg.generate(plain, [[5, 6]], { maxNewTokens: 4, greedy: true });
    expect(withoutList.stopReasons).toEqual(['length']);
    expect(withoutList.completionLengths).toEqual([4]);

    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: null, eos_token_id: [endOfText, imEnd], pad_token_id: endOfText, do_sample: true }));
    const loaded = tg.loadPretrained(dir);
    expect(loaded.generationConfig).toEqual({ eosTokenId: [endOfText, imEnd], padTokenId: endOfText });
    const out = tg.generate(loaded, [[5, 6]], { maxNewTokens: 4, greedy: true });
    expect(out.stopReasons).toEqual(['eos']);
    expect(out.completionIds).toEqual([[imEnd]]);
    // An explicit eosTokenId still wins.
    expect(tg.generate(loaded, [[5, 6]], { maxNewTokens: 3, greedy: true, eosTokenId: endOfText }).stopReasons).toEqual(['length']);
    // Trainers, sampling and evaluation stop at the union of the model's ids and the tokenizer's EOS.
    expect(tg.stopTokenIds(loaded, tok)).toEqual([endOfText, imEnd]);
    expect(tg.stopTokenIds(plain, tok)).toEqual([endOfText, imEnd]); // config.json's <|endoftext|> + the tokenizer's <|im_end|>
    expect(tg.withoutStopToken([7, imEnd], [endOfText, imEnd])).toEqual([7]);
    expect(tg.withoutStopToken([7, 8], [imEnd])).toEqual([7, 8]);

    const again = path.join(root, 'gen-config-saved');
    tg.savePretrained(loaded, again);
    expect(JSON.parse(fs.readFileSync(path.join(again, 'generation_config.json'), 'utf8'))).toEqual({ eos_token_id: [endOfText, imEnd], pad_token_id: endOfText });
    expect(tg.loadPretrained(again).generationConfig).toEqual(loaded.generationConfig);
    for (const m of [model, plain, loaded]) m.dispose();
  });

  it('ill-typed ids in generation_config.json are refused, naming the file and the field', () => {
    const model = constantModel(imEnd);
    const dir = path.join(root, 'gen-config-bad');
    tg.savePretrained(model, dir);
    model.dispose();
    const file = path.join(dir, 'generation_config.json');
    for (const [json, message] of [
      [{ eos_token_id: [] }, /generation_config\.json: eos_token_id must be an id or a non-empty list of ids, got \[\]/],
      [{ eos_token_id: [3, 'x'] }, /generation_config\.json: eos_token_id\[1\] must be an integer >= 0, got "x"/],
      [{ pad_token_id: 2.5 }, /generation_config\.json: pad_token_id must be an integer >= 0, got 2\.5/],
      ['[1, 2]', /generation_config\.json: expected a JSON object/],
    ] as const) {
      fs.writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
      expect(() => tg.loadPretrained(dir)).toThrow(message);
    }
    expect(() => tg.generate(constantModel(imEnd), [[1]], { maxNewTokens: 1, eosTokenId: [1.5] })).toThrow(/generate: eosTokenId must be an integer or a list of integers/);
  });
});

describe('a folder whose tokenizer has no EOS', () => {
  const folder = (name: string, files: Record<string, unknown>) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, eos_token: null }));
    for (const [file, json] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), JSON.stringify(json));
    return dir;
  };
  const noEosWarnings = (calls: unknown[][]) => calls.filter((call) => (call[1] as { code?: string } | undefined)?.code === 'THINKGRAD_NO_EOS');

  it('warns once, the first time it is loaded, saying that generation only stops at its length limit', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const dir = folder('no-eos', { 'config.json': { vocab_size: 300 } });
    expect(tg.loadTokenizer(dir).eosTokenId).toBeNull();
    tg.loadTokenizer(dir);
    const warnings = noEosWarnings(spy.mock.calls);
    expect(warnings).toHaveLength(1);
    expect(warnings[0][0]).toBe(`loadTokenizer(${dir}): the tokenizer has no EOS token (eos_token in tokenizer_config.json), and neither ` +
      'generation_config.json nor config.json names an eos_token_id: generation will stop only at its length limit (maxNewTokens, ' +
      'maxCompletionLength) or stop strings');
  });

  it('does not warn when generation_config.json or config.json names an EOS, or the tokenizer has one', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    tg.loadTokenizer(folder('eos-in-generation-config', { 'generation_config.json': { eos_token_id: [imEnd, endOfText] } }));
    tg.loadTokenizer(folder('eos-in-config', { 'config.json': { eos_token_id: imEnd } }));
    const withEos = path.join(root, 'tokenizer-with-eos');
    tg.saveTokenizer(tok, withEos);
    tg.loadTokenizer(withEos);
    expect(noEosWarnings(spy.mock.calls)).toHaveLength(0);
  });
});

describe('conversational prompts (TRL format)', () => {
  it('helpers: is_conversational, the generation prompt, continuing a final assistant message, completion text', () => {
    const user = [{ role: 'user', content: 'the 42' }];
    expect(tg.isConversational({ prompt: user })).toBe(true);
    expect(tg.isConversational({ prompt: 'the 42' })).toBe(false);
    expect(tg.isConversational({ messages: [...user, { role: 'assistant', content: 'at' }] })).toBe(true);
    expect(tg.isConversational({ prompt: [] })).toBe(false);
    expect(tg.promptText(tok, user)).toBe(chatml(user, true));
    expect(tg.promptText(tok, 'plain')).toBe('plain');
    // continue_final_message: the rendering stops right after the assistant's content (no <|im_end|>).
    expect(tg.promptText(tok, [...user, { role: 'assistant', content: 'Let me' }])).toBe(`${chatml(user, false)}<|im_start|>assistant\nLet me`);
    expect(tg.encodePrompt(tok, user)).toEqual(tok.encode(chatml(user, true), { addSpecialTokens: false }));
    expect(tg.completionText([{ role: 'assistant', content: '<think>a</think>' }])).toBe('<think>a</think>');
    expect(() => tg.promptText(tok, [{ role: 'user', content: 3 } as unknown as tg.ChatMessage])).toThrow(/prompt: message 0 needs a string role and a string content/);
    expect(() => tg.promptText(tg.additionTokenizer(), user)).toThrow(/no chat template/);
  });

  it('built-in rewards score a conversational completion as its text', async () => {
    const texts = ['<think>\nx\n</think>\n<answer>\n4\n</answer>', 'no tags 4', '<answer>5</answer>'];
    const asText: tg.rewards.RewardArgs = { prompts: texts.map(() => 'q'), completions: texts, answer: ['4', '4', '4'] };
    const asChat: tg.rewards.RewardArgs = {
      prompts: texts.map(() => [{ role: 'user', content: 'q' }]), completions: texts.map((content) => [{ role: 'assistant', content }]), answer: ['4', '4', '4'],
    };
    for (const fn of [tg.rewards.format(), tg.rewards.tagCount(), tg.rewards.accuracy(), tg.rewards.repetitionPenalty(), tg.rewards.cosineScaledLength({ lengthUnit: 'chars' })]) {
      expect(await fn(asChat), fn.name).toEqual(await fn(asText));
    }
    expect(() => tg.rewards.format()({ prompts: ['q'], completions: [[{ role: 'assistant', content: 7 }] as unknown as tg.ChatMessage[]] }))
      .toThrow(/rewards\.format: completions\[0\] must be a string or a list of \{role, content\} messages/);
  });

  it('GRPO renders them with the chat template; rewards get the message lists and [{role: assistant, content}] completions', async () => {
    const model = constantModel(think, { eosTokenId: imEnd });
    const user = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'the 42' }];
    const continued = [{ role: 'user', content: 'at the' }, { role: 'assistant', content: 'Let me' }];
    const seen: tg.rewards.RewardArgs[] = [];
    const record = (args: tg.rewards.RewardArgs) => {
      seen.push(args);
      return args.completions.map(() => 1);
    };
    const logged: tg.LogRecord[] = [];
    const trainer = new tg.GRPOTrainer(model, tok, [{ prompt: user, answer: '42' }, { prompt: continued, answer: 'x' }], [record, tg.rewards.tagCount()], {
      maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 3, learningRate: 1e-3, seed: 5, logCompletions: true,
    }, { onCompletions: (records) => logged.push(...records) });
    const log = await trainer.trainStep();
    expect(Number.isFinite(log.loss as number)).toBe(true);
    const args = seen[0];
    const byRow = new Map(args.prompts.map((p, i) => [JSON.stringify(p), i]));
    const first = byRow.get(JSON.stringify(user))!;
    const second = byRow.get(JSON.stringify(continued.slice(0, 1)))!; // the continued assistant message leaves the prompt
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(args.completions[first]).toEqual([{ role: 'assistant', content: '<think><think><think>' }]);
    expect(args.completions[second]).toEqual([{ role: 'assistant', content: 'Let me<think><think><think>' }]);
    expect(args.answer).toEqual(args.prompts.map((p) => (JSON.stringify(p) === JSON.stringify(user) ? '42' : 'x')));
    // Logged as TRL logs them: the rendered prompt and the completion's text.
    expect(new Set(logged.map((r) => r.prompt))).toEqual(new Set([chatml(user, true), `${chatml(continued.slice(0, 1), false)}<|im_start|>assistant\nLet me`]));
    expect(logged.map((r) => r.completion)).toEqual(['<think><think><think>', '<think><think><think>', '<think><think><think>', '<think><think><think>']);
    model.dispose();
  });

  it('GRPO stops at generation_config.json\'s EOS list and decodes completions without the stop token', async () => {
    const model = constantModel(endOfText, { eosTokenId: imEnd });
    model.generationConfig = { eosTokenId: [imEnd, endOfText] };
    const seen: tg.Completion[] = [];
    const trainer = new tg.GRPOTrainer(model, tok, [{ prompt: [{ role: 'user', content: 'the 42' }] }], [(args: tg.rewards.RewardArgs) => {
      seen.push(...args.completions);
      return args.completions.map(() => 0);
    }], { maxSteps: 1, numGenerations: 2, generationBatchSize: 2, microBatchSize: 2, maxCompletionLength: 5, learningRate: 1e-3, seed: 1 });
    const log = await trainer.trainStep();
    expect(log['completions/mean_length']).toBe(1);
    expect(log['completions/clipped_ratio']).toBe(0);
    expect(seen).toEqual([[{ role: 'assistant', content: '' }], [{ role: 'assistant', content: '' }]]);
    model.dispose();
  });

  it('GRPO refuses a conversational prompt when the tokenizer has no chat template, and rows without a prompt', () => {
    const model = constantModel(think);
    const plain = new tg.HFTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template: undefined });
    const options = { maxSteps: 1, numGenerations: 2, generationBatchSize: 2, microBatchSize: 2 };
    expect(() => new tg.GRPOTrainer(model, plain, [{ prompt: [{ role: 'user', content: 'q' }] }], [tg.rewards.format()], options)).toThrow(/no chat_template/);
    expect(() => new tg.GRPOTrainer(model, tok, [{ prompt: 3 } as unknown as tg.PromptRow], [tg.rewards.format()], options))
      .toThrow(/GRPOTrainer: dataset row 0 has no 'prompt' \(text, or a list of \{role, content\} messages\)/);
    model.dispose();
  });

  it('SFT on conversational prompt-completion rows trains the completion only; `messages` rows train every token', () => {
    const charTok = tg.CharTokenizer.fromText('abcdefghijklmnopqrstuvwxyz :\n', {
      specialTokens: [...tg.CharTokenizer.fromText('').specialTokens.keys(), '<|user|>', '<|assistant|>', '<|end|>'],
      chatTemplate: "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}",
    });
    const model = new tg.nn.LlamaForCausalLM({ vocabSize: charTok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 }, { seed: 2 });
    const prompt = [{ role: 'user', content: 'two plus two' }];
    const completion = [{ role: 'assistant', content: 'four' }];
    const messages = [...prompt, ...completion];
    const trainer = new tg.SFTTrainer(model, charTok, [{ prompt, completion }, { messages }, { prompt: 'ab', completion: 'cd' }],
      { maxSteps: 3, batchSize: 3, learningRate: 1e-2, logEvery: 1 });
    const rows = (trainer as unknown as { trainSet: { ids: number[]; labels: number[] }[] }).trainSet;
    const whole = charTok.encode('<|user|>two plus two<|end|><|assistant|>four<|end|>');
    const promptLength = charTok.encode('<|user|>two plus two<|end|><|assistant|>').length;
    expect(rows[0].ids).toEqual(whole);
    expect(rows[0].labels).toEqual(whole.map((id, i) => (i < promptLength ? -100 : id)));
    expect(rows[1].ids).toEqual(whole);
    expect(rows[1].labels).toEqual(whole.map((id, i) => (i === 0 ? -100 : id)));
    // Text rows keep their behaviour: the EOS is appended (conversations end with the template's <|end|>).
    expect(rows[2].ids).toEqual([...charTok.encode('ab'), ...charTok.encode('cd'), charTok.eosTokenId]);
    const logs = trainer.fit();
    expect(logs).toHaveLength(3);
    expect(logs[2].loss as number).toBeLessThan(logs[0].loss as number);
    expect(() => new tg.SFTTrainer(model, charTok, [{ prompt, completion: 'four' } as unknown as tg.SFTExample]))
      .toThrow(/SFTTrainer: example 0: completion \(a conversational prompt needs a conversational completion\) must be a non-empty list/);
    model.dispose();
  });

  it('SFT warns once when the prompt with its generation prompt is not a prefix of the whole conversation', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const odd = new tg.HFTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template:
      "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<think>' }}{% endif %}" });
    const model = constantModel(think);
    const row = { prompt: [{ role: 'user', content: 'the' }], completion: [{ role: 'assistant', content: 'at' }] };
    expect(new tg.SFTTrainer(model, odd, [row, row], { maxSteps: 1, batchSize: 2 }).config.batchSize).toBe(2);
    const warnings = spy.mock.calls.filter((call) => (call[1] as { code?: string } | undefined)?.code === 'THINKGRAD_CHAT_TEMPLATE_PREFIX');
    expect(warnings).toHaveLength(1);
    expect(warnings[0][0]).toMatch(/^SFTTrainer: in 2 conversational examples the tokens of the prompt \(rendered with the generation prompt\) are not a prefix/);
    model.dispose();
  });

  it('RewardTrainer renders conversational pairs whole (no EOS appended), and the reward-model reward scores conversations alike', () => {
    const classifier = new tg.nn.LlamaForSequenceClassification({ vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 128 }, { seed: 4 });
    const prompt = [{ role: 'user', content: 'the 42' }];
    const chosen = [{ role: 'assistant', content: 'at the' }];
    const rejected = [{ role: 'assistant', content: 'é' }];
    const trainer = new tg.RewardTrainer(classifier, tok, [{ prompt, chosen, rejected }, { chosen: [...prompt, ...chosen], rejected: [...prompt, ...rejected] }],
      { maxSteps: 1, batchSize: 2 });
    const pairs = (trainer as unknown as { trainSet: { chosen: number[]; rejected: number[] }[] }).trainSet;
    const ids = (m: tg.ChatMessage[]) => tok.encode(chatml(m, false), { addSpecialTokens: false });
    expect(pairs[0]).toEqual({ chosen: ids([...prompt, ...chosen]), rejected: ids([...prompt, ...rejected]), margin: 0 });
    expect(pairs[1]).toEqual(pairs[0]);
    expect(() => new tg.RewardTrainer(classifier, tok, [{ prompt: 'text', chosen, rejected } as unknown as tg.PreferencePair]))
      .toThrow(/prompt \(with conversational chosen\/rejected\) must be a non-empty list of \{role, content\} messages/);

    const reward = tg.rewards.rewardModel(classifier, tok, { input: 'completion' });
    const scored = reward({ prompts: [prompt], completions: [[{ role: 'assistant', content: 'at the' }]] }) as number[];
    const direct = tg.noGrad(() => tg.tidy(() => classifier.scores(tg.tensor([ids([...prompt, ...chosen])], undefined, { dtype: 'int32' })).data()[0]));
    expect(scored[0]).toBeCloseTo(direct, 5);
    classifier.dispose();
  });

  it('evaluation and rejection sampling take conversational prompts; kept samples are conversational SFT rows', () => {
    const model = constantModel(imEnd, { eosTokenId: imEnd });
    const prompt = [{ role: 'user', content: 'the 42' }];
    const result = tg.evaluatePolicy(model, tok, [{ prompt, answer: '42' }], { k: 2, maxNewTokens: 3, extractAnswer: (c) => c || null });
    expect(result.samples[0]).toEqual({ prompt, completions: ['', ''], correct: [false, false] });
    const kept = tg.rejectionSample(model, tok, [{ prompt }], { k: 2, maxNewTokens: 3, isCorrect: (c) => c === '' });
    expect(kept.examples).toEqual([{ prompt, completion: [{ role: 'assistant', content: '' }] }, { prompt, completion: [{ role: 'assistant', content: '' }] }]);
    model.dispose();
  });
});

describe('conversational JSONL', () => {
  it("the 'chat' column type takes text or {role, content} lists; readPreferenceJsonl reads conversational pairs", () => {
    const columns = { prompt: 'chat' as const };
    expect(tg.parseJsonl('{"prompt": "q"}\n{"prompt": [{"role": "user", "content": "q"}]}\n', 'd.jsonl', { columns })).toHaveLength(2);
    for (const bad of ['[]', '[{"role": "user"}]', '[{"role": 1, "content": "q"}]', '5']) {
      expect(() => tg.parseJsonl(`{"prompt": ${bad}}\n`, 'd.jsonl', { columns }), bad)
        .toThrow(/row 1 \(line 1\): column 'prompt' must be a string or a list of \{role, content\} messages/);
    }
    const file = path.join(root, 'pairs.jsonl');
    const pair = { prompt: [{ role: 'user', content: 'q' }], chosen: [{ role: 'assistant', content: 'a' }], rejected: [{ role: 'assistant', content: 'b' }] };
    tg.writeJsonl(file, [pair, { chosen: [...pair.prompt, ...pair.chosen], rejected: [...pair.prompt, ...pair.rejected], margin: 1 }]);
    expect(tg.readPreferenceJsonl(file)).toEqual([pair, { chosen: [...pair.prompt, ...pair.chosen], rejected: [...pair.prompt, ...pair.rejected], margin: 1 }]);
  });
});

describe('conversational JSONL in the command line', () => {
  it('grpo (with evaluation), sft, sample and generate read rows given as message lists and render them with the chat template', async () => {
    const { grpoCommand, generateCommand, sampleCommand, sftCommand } = await import('../src/cli/commands/index.js');
    const tokenizerDir = path.join(root, 'cli-tokenizer');
    tg.saveTokenizer(tok, tokenizerDir);
    const rows = [{ prompt: [{ role: 'user', content: 'the 42' }], answer: '42' }, { prompt: [{ role: 'user', content: 'at the' }], answer: 'é' }];
    const data = path.join(root, 'chat.jsonl');
    tg.writeJsonl(data, rows);
    const tiny = { hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
    const quiet = { quiet: true, source: 'run.json' };
    const res = await grpoCommand({
      modelConfig: tiny, tokenizer: tokenizerDir, data, rewards: [{ name: 'accuracy' }],
      trainer: { maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4, seed: 1 },
      eval: { data, k: 1, greedy: false }, output: path.join(root, 'cli-grpo'),
    }, quiet);
    expect(res.logs).toHaveLength(1);
    expect(res.evals.map((e) => e.step)).toEqual([0, 1]);
    const logged = tg.readJsonl(path.join(root, 'cli-grpo', 'completions.jsonl'));
    expect(new Set(logged.map((r) => r.prompt))).toEqual(new Set(rows.map((r) => chatml(r.prompt, true))));

    const sftRows = [{ prompt: rows[0].prompt, completion: [{ role: 'assistant', content: '42' }] }];
    const sftFile = path.join(root, 'chat-sft.jsonl');
    tg.writeJsonl(sftFile, sftRows);
    const messagesFile = path.join(root, 'chat-messages.jsonl');
    tg.writeJsonl(messagesFile, [{ messages: [...sftRows[0].prompt, ...sftRows[0].completion] }]);
    const sft = await sftCommand({ modelConfig: tiny, tokenizer: tokenizerDir, data: sftFile, evalData: messagesFile,
      trainer: { maxSteps: 2, batchSize: 1, logEvery: 1 }, output: path.join(root, 'cli-sft') }, quiet);
    expect(sft.logs.filter((l) => typeof l.loss === 'number')).toHaveLength(2);
    expect(sft.evalLoss).toBeGreaterThan(0);
    const mixed = path.join(root, 'chat-mixed.jsonl');
    tg.writeJsonl(mixed, [...sftRows, { messages: sftRows[0].prompt }]);
    await expect(sftCommand({ modelConfig: tiny, tokenizer: tokenizerDir, data: mixed, output: path.join(root, 'cli-sft-mixed') }, quiet))
      .rejects.toThrow(/chat-mixed\.jsonl:2: row 2 \(line 2\) has no column 'prompt'/);

    const sampled = await sampleCommand({ modelConfig: tiny, tokenizer: tokenizerDir, data, sampling: { k: 2, maxNewTokens: 3, requireFormat: false }, output: path.join(root, 'cli-sample') }, quiet);
    expect(sampled.sampled).toBe(4);
    expect(fs.existsSync(path.join(root, 'cli-sample', 'samples.jsonl'))).toBe(true);

    const gen = await generateCommand({ modelConfig: tiny, tokenizer: tokenizerDir, prompts: data, sampling: { maxNewTokens: 3, greedy: true }, output: path.join(root, 'cli-gen') }, quiet);
    expect(gen.completions.map((c) => c.prompt)).toEqual(rows.map((r) => r.prompt));
    expect(tg.readJsonl(path.join(root, 'cli-gen', 'completions.jsonl')).map((r) => r.prompt)).toEqual(rows.map((r) => r.prompt));
  });
});
