// Hostile or inconsistent files are refused before anything is allocated: a few hundred bytes of config.json
// that describe a million layers, a tokenizer.json whose one added token has id 9,999,999, and config fields
// that are not positive integers or do not fit together, each named in the error.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { buildByteLevelBpe } from './helpers/byte-level-bpe.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'thinkgrad-size-guards-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const tiny = { vocabSize: 16, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 32 };

// A saved tiny model whose config.json is then edited by `edit`; returns the folder.
function folderWithConfig(name: string, edit: (config: Record<string, unknown>) => Record<string, unknown>): string {
  const dir = path.join(root, name);
  const model = new tg.nn.LlamaForCausalLM(tiny, { seed: 1 });
  tg.savePretrained(model, dir);
  model.dispose();
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(edit(JSON.parse(fs.readFileSync(file, 'utf8')))));
  return dir;
}

// Runs `fn`, which must throw; returns its error with how much the process's RSS and live tensor bytes grew.
function refusal(fn: () => unknown): { error: Error; rssGrowth: number; tensorBytes: number } {
  const rss = process.memoryUsage().rss;
  const bytes = tg.memory().numBytes;
  let error: Error | null = null;
  try {
    fn();
  } catch (err) {
    error = err as Error;
  }
  expect(error, 'expected a refusal').not.toBeNull();
  return { error: error!, rssGrowth: process.memoryUsage().rss - rss, tensorBytes: tg.memory().numBytes - bytes };
}

describe('config.json size guards', () => {
  it('a 500-byte config.json with num_hidden_layers 1,000,000 fails at once, saying how much memory it would take', () => {
    const dir = folderWithConfig('million-layers', (c) => ({ ...c, num_hidden_layers: 1_000_000 }));
    expect(fs.statSync(path.join(dir, 'config.json')).size).toBeLessThan(500);
    const { error, rssGrowth, tensorBytes } = refusal(() => tg.loadPretrained(dir));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toMatch(/^loadPretrained\(.*\): config\.json describes 1000000 layers \(hidden size 8, intermediate 16, 2 heads, vocabulary 16\): 656000136 decoder parameters, which would take 2\.4 GiB of float32 weights and about 11\.4 GiB of JavaScript heap, but the safetensors files hold 792 \(3\.1 KiB\); refusing before allocating anything$/);
    // Today's failure mode was minutes of allocation up to an out-of-memory abort; now nothing grows.
    expect(tensorBytes).toBe(0);
    expect(rssGrowth).toBeLessThan(64 * 2 ** 20);
    const classifier = refusal(() => tg.nn.loadSequenceClassifier(dir, { log: () => {} }));
    expect(classifier.error.message).toMatch(/^loadSequenceClassifier\(.*\): config\.json describes 1000000 layers/);
    expect(classifier.tensorBytes).toBe(0);
  });

  it('a vocabulary of two billion is refused against the checkpoint, non-strict loads too', () => {
    const dir = folderWithConfig('huge-vocab', (c) => ({ ...c, vocab_size: 2_000_000_000 }));
    for (const strict of [true, false]) {
      const { error, tensorBytes } = refusal(() => tg.loadPretrained(dir, { strict }));
      expect(error.message).toMatch(/vocabulary 2000000000\): 16000000664 decoder parameters, which would take 119\.2 GiB of float32 weights/);
      expect(tensorBytes).toBe(0);
    }
  });

  it('a config a little larger than its checkpoint still gets the load\'s per-key message', () => {
    const dir = folderWithConfig('two-layers', (c) => ({ ...c, num_hidden_layers: 2 }));
    expect(() => tg.loadPretrained(dir)).toThrow(/missing \d+ key\(s\): model\.layers\.1\./);
  });

  it('a million tiny layers built directly are refused for their JavaScript heap (or the machine\'s memory)', () => {
    const config = new tg.nn.LlamaConfig({ ...tiny, numHiddenLayers: 1_000_000 });
    expect(config.memoryEstimate()).toEqual({ weightBytes: 4 * config.parameterCount(), heapBytes: 12 * 1024 * 1_000_002 });
    const { error, tensorBytes } = refusal(() => new tg.nn.LlamaForCausalLM(config));
    expect(error.message).toMatch(/LlamaModel: this config('s 1000000 layers would take about 11\.4 GiB of JavaScript heap| has 6\.56e\+8 parameters)/);
    expect(tensorBytes).toBe(0);
  });

  it('fields that are not positive integers or do not fit together are RangeErrors naming the config.json field', () => {
    const base = JSON.parse(fs.readFileSync(path.join(folderWithConfig('fields', (c) => c), 'config.json'), 'utf8')) as Record<string, unknown>;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ num_hidden_layers: 0 }, /num_hidden_layers must be an integer >= 1, got 0/],
      [{ num_hidden_layers: 2.5 }, /num_hidden_layers must be an integer >= 1, got 2\.5/],
      [{ num_hidden_layers: '12' }, /num_hidden_layers must be an integer >= 1, got "12"/],
      [{ vocab_size: -5 }, /vocab_size must be an integer >= 1, got -5/],
      [{ hidden_size: 1e300 }, /hidden_size must be an integer >= 1, got 1e\+300/],
      [{ hidden_size: 9 }, /hidden_size 9 is not divisible by num_attention_heads 2/],
      [{ num_attention_heads: 4, num_key_value_heads: 3 }, /num_attention_heads 4 must be a multiple of num_key_value_heads 3/],
      [{ head_dim: 0 }, /head_dim must be an integer >= 2, got 0/],
      [{ intermediate_size: null }, /config\.json lacks intermediate_size/],
      [{ rms_norm_eps: 'small' }, /rms_norm_eps must be a finite number, got "small"/],
      [{ eos_token_id: [2, -3] }, /eos_token_id\[1\] must be an integer >= 0, got -3/],
      [{ eos_token_id: 'x' }, /eos_token_id must be an integer >= 0, got "x"/],
      [{ max_position_embeddings: 0 }, /max_position_embeddings must be an integer >= 1/],
      [{ vocab_size: 2 ** 40, hidden_size: 2 ** 20, num_attention_heads: 2 }, /make more than 2\^53 parameters/],
    ];
    for (const [edit, message] of cases) {
      expect(() => tg.nn.LlamaConfig.fromHF({ ...base, ...edit }), JSON.stringify(edit)).toThrow(RangeError);
      expect(() => tg.nn.LlamaConfig.fromHF({ ...base, ...edit }), JSON.stringify(edit)).toThrow(message);
    }
    // transformers' -1 for "no such token" reads as none; an eos list is kept.
    const config = tg.nn.LlamaConfig.fromHF({ ...base, pad_token_id: -1, eos_token_id: [3, 4] });
    expect(config.padTokenId).toBeNull();
    expect(config.eosTokenId).toEqual([3, 4]);
    expect(() => new tg.nn.LlamaConfig({ ...tiny, eosTokenId: [] })).toThrow(/eosTokenId must be an id, a non-empty list of ids, or null/);
    expect(() => new tg.nn.LlamaConfig({ ...tiny, padTokenId: 1.5 })).toThrow(/padTokenId must be an integer >= 0, got 1\.5/);
  });
});

describe('tokenizer.json size guards', () => {
  it('one added token with id 9,999,999 fails at once, naming the token and the bytes its id table would need', () => {
    const { tokenizerJson, config } = buildByteLevelBpe();
    tokenizerJson.added_tokens.push({ id: 9_999_999, content: '<evil>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const { error, rssGrowth } = refusal(() => new tg.HFTokenizer(tokenizerJson, config));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('HFTokenizer: token "<evil>" has id 9999999, far beyond the 268 tokens of the vocabulary: its id table would need ' +
      '10000000 entries (76.3 MiB at 8 bytes each), and a model for it an embedding of 10000000 rows; ids must stay below 1292');
    expect(rssGrowth).toBeLessThan(64 * 2 ** 20);

    // From a folder: the model's vocab_size (config.json) is named too.
    const dir = path.join(root, 'evil-tokenizer');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ vocab_size: 300 }));
    expect(() => tg.loadTokenizer(dir)).toThrow(/token "<evil>" has id 9999999, far beyond the 268 tokens of the vocabulary and the model's vocab_size 300/);
  });

  it('sparse ids within the model\'s vocab_size load (reserved ranges); beyond both limits they do not', () => {
    const { tokenizerJson, config } = buildByteLevelBpe();
    tokenizerJson.added_tokens.push({ id: 5000, content: '<reserved_5000>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    expect(() => new tg.HFTokenizer(tokenizerJson, config)).toThrow(/id 5000, far beyond the 268 tokens/);
    const tok = new tg.HFTokenizer(tokenizerJson, config, undefined, { modelVocabSize: 5120 });
    expect(tok.vocabSize).toBe(5001);
    expect(tok.encode('<reserved_5000>')).toEqual([5000]);
  });

  it('ids that are not non-negative integers are refused, naming the token', () => {
    const bad = buildByteLevelBpe();
    (bad.tokenizerJson.model.vocab as Record<string, number>).zz = -4;
    expect(() => new tg.HFTokenizer(bad.tokenizerJson, bad.config)).toThrow(/model\.vocab token "zz" has id -4; ids are integers >= 0/);
    const fractional = buildByteLevelBpe();
    fractional.tokenizerJson.added_tokens.push({ id: 3.5, content: '<half>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    expect(() => new tg.HFTokenizer(fractional.tokenizerJson, fractional.config)).toThrow(/added_tokens token "<half>" has id 3\.5/);
  });
});
