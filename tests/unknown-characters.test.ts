// Characters outside a CharTokenizer's alphabet become <unk>: the tokenizer counts them, and SFT/GRPO trainers
// warn once naming them (or throw with unknownCharacters: 'error', or stay quiet with 'ignore').
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as tg from '../src/index.js';

const tok = tg.additionTokenizer();
const model = new tg.nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1,
  numAttentionHeads: 2, maxPositionEmbeddings: 64, tieWordEmbeddings: true, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 1 });
const clean = [{ prompt: '12+3=', completion: '<think>2+3=5</think><answer>15</answer>' }];
const dirty = [{ prompt: '12 + 3 =', completion: '<think>2+3=5</think><answer>15</answer>' }, { prompt: '1+1=?', completion: '<answer>2</answer>' }];
const reward = tg.rewards.accuracy();

function warnings(run: () => unknown): string[] {
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  try {
    run();
    return spy.mock.calls.map((args) => String(args[0]));
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('unknown characters in training data', () => {
  it('CharTokenizer.unknownCharacters counts what encode() maps to <unk>, never parts of special tokens', () => {
    expect([...tok.unknownCharacters(['12 + 3 =', '<think>x</think>?'])]).toEqual([[' ', 3], ['x', 1], ['?', 1]]);
    expect(tok.encode('1 x').filter((id) => id === tok.unkTokenId)).toHaveLength(2);
    expect(tok.unknownCharacters('<answer>12</answer>').size).toBe(0);
  });

  it('SFTTrainer warns once, naming each character and its count', () => {
    const seen = warnings(() => new tg.SFTTrainer(model, tok, dirty, { maxSteps: 1, batchSize: 1 }));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^SFTTrainer: 4 characters of the data become <unk>/);
    expect(seen[0]).toContain('" " x3');
    expect(seen[0]).toContain('"?" x1');
    expect(warnings(() => new tg.SFTTrainer(model, tok, clean, { maxSteps: 1, batchSize: 1 }))).toEqual([]);
    expect(warnings(() => new tg.SFTTrainer(model, tok, dirty, { maxSteps: 1, batchSize: 1, unknownCharacters: 'ignore' }))).toEqual([]);
  });

  it("unknownCharacters: 'error' makes it a RangeError; bad values are rejected", () => {
    expect(() => new tg.SFTTrainer(model, tok, dirty, { unknownCharacters: 'error' })).toThrow(RangeError);
    expect(() => new tg.SFTTrainer(model, tok, dirty, { unknownCharacters: 'error' })).toThrow(/SFTTrainer: .*" " x3/);
    expect(() => new tg.GRPOTrainer(model, tok, dirty, [reward], { unknownCharacters: 'error' })).toThrow(/GRPOTrainer: 4 characters .*" " x3/);
    expect(() => new tg.SFTTrainer(model, tok, clean, { unknownCharacters: 'loud' as 'warn' })).toThrow(/config field 'unknownCharacters'/);
  });

  it('GRPOTrainer warns about prompts (train and eval sets)', () => {
    const seen = warnings(() => new tg.GRPOTrainer(model, tok, [{ prompt: '1+1=' }], [reward], {}, {}, null, [{ prompt: '2 + 2 =' }]));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^GRPOTrainer: 3 characters of the data become <unk>.*" " x3/);
  });
});
