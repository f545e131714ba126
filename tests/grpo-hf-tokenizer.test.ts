// GRPO, generation-side decoding and evaluation with a real Hugging Face tokenizer.json when a completion is
// nothing but EOS: its text is "" (as transformers decodes no tokens) and the step runs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { buildByteLevelBpe } from './helpers/byte-level-bpe.js';

const { tokenizerJson, config } = buildByteLevelBpe();
const tok = new tg.HFTokenizer(tokenizerJson, config);

// A model whose every next token is EOS: layers add nothing (o_proj and down_proj are zero), so the final
// hidden state is the input embedding; every embedding's first coordinate is 1 and the final norm keeps only
// that coordinate, so the head sees the same positive vector at every position and its EOS row alone reads it.
function eosOnlyModel(): tg.nn.LlamaForCausalLM {
  const model = new tg.nn.LlamaForCausalLM({
    vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2,
    maxPositionEmbeddings: 64, tieWordEmbeddings: false, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
  }, { seed: 3 });
  const sd = model.stateDict();
  const values: Record<string, tg.Tensor> = {};
  for (const [name, t] of Object.entries(sd)) {
    const data = Float32Array.from(t.data());
    const C = t.shape[t.shape.length - 1];
    if (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight')) data.fill(0);
    if (name === 'model.embed_tokens.weight') for (let row = 0; row < t.shape[0]; row++) data[row * C] = 1;
    if (name === 'model.norm.weight') data.fill(0).set([1]);
    if (name === 'lm_head.weight') {
      data.fill(0);
      data[tok.eosTokenId! * C] = 50;
    }
    values[name] = tg.tensor(data, t.shape);
  }
  model.loadStateDict(values);
  for (const t of Object.values(values)) t.dispose();
  return model;
}

describe('completions that are only EOS, with an HFTokenizer', () => {
  it('decode([]) is "" for both tokenizers, with or without special tokens', () => {
    expect(tok.decode([])).toBe('');
    expect(tok.decode([], { skipSpecialTokens: true })).toBe('');
    expect(tok.decode([tok.eosTokenId!], { skipSpecialTokens: true })).toBe('');
    expect(tg.additionTokenizer().decode([])).toBe('');
  });

  it('a GRPO step runs and the rewards see empty completions', async () => {
    const model = eosOnlyModel();
    const seen: string[] = [];
    const recordCompletions = (args: tg.rewards.RewardArgs) => {
      const texts = args.completions as string[]; // text prompts give text completions
      seen.push(...texts);
      return texts.map((c) => (c === '' ? 0 : 1));
    };
    const rows = [{ prompt: 'the 42' }, { prompt: 'at the' }];
    const trainer = new tg.GRPOTrainer(model, tok, rows, [recordCompletions], {
      maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4, learningRate: 1e-3, seed: 5,
    });
    const log = await trainer.trainStep();
    expect(seen).toEqual(['', '', '', '']);
    expect(log['completions/mean_length']).toBe(1);
    expect(Number.isFinite(log.loss as number)).toBe(true);
    model.dispose();
  });

  it('evaluation and rejection sampling decode them to "" too', () => {
    const model = eosOnlyModel();
    const result = tg.evaluatePolicy(model, tok, [{ prompt: 'the 42', answer: '42' }], { k: 2, maxNewTokens: 3, extractAnswer: (c) => c || null });
    expect(result.samples[0].completions).toEqual(['', '']);
    expect(result.passAt1).toBe(0);
    const kept = tg.rejectionSample(model, tok, [{ prompt: 'at the' }], { k: 2, maxNewTokens: 3, isCorrect: (c) => c === '' });
    expect(kept.examples).toEqual([{ prompt: 'at the', completion: '' }, { prompt: 'at the', completion: '' }]);
    model.dispose();
  });
});
