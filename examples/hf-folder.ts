// A Hugging Face model folder in and out: build a small Qwen2-style model and a byte-level BPE tokenizer with a
// ChatML template, save them as a Hugging Face folder (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json) after a few fine-tuning steps, load the folder back as any downloaded checkpoint would be, and sample a chat reply.
// Run: npx tsx examples/hf-folder.ts [folder]   (default: a temporary folder, removed afterwards)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tg from 'thinkgrad';

const keep = process.argv[2];
const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'thinkgrad-hf-'));

// A byte-level BPE tokenizer.json (the Qwen2 / Llama-3 kind): 256 byte tokens in GPT-2's printable alphabet,
// a few merges, and ChatML special tokens.
const printable: number[] = [];
for (let b = 0; b < 256; b++) if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) printable.push(b);
let extra = 0;
const byteChar = (b: number) => String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
const vocab: Record<string, number> = {};
for (let b = 0; b < 256; b++) vocab[byteChar(b)] = b;
const merges = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he']];
merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((content, i) =>
  ({ id: 256 + merges.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const tokenizer = new tg.HFTokenizer({
  version: '1.0', added_tokens: specials, normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
  model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges: merges.map((m) => m.join(' ')) },
}, {
  eos_token: '<|im_end|>', pad_token: '<|endoftext|>', bos_token: null,
  chat_template: "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
});

// A Qwen2-style policy (q/k/v biases, grouped-query attention, tied embeddings), saved with its tokenizer.
tg.manualSeed(3);
const model = new tg.nn.LlamaForCausalLM({ modelType: 'qwen2', vocabSize: tokenizer.vocabSize, hiddenSize: 64, intermediateSize: 128,
  numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, qkvBias: true, tieWordEmbeddings: true,
  eosTokenId: tokenizer.eosTokenId, padTokenId: tokenizer.padTokenId });
// A few steps of SFT on one chat turn, so that the folder holds a model with something to say.
const chat = [{ role: 'user', content: 'What is the answer?' }];
const prompt = tokenizer.applyChatTemplate(chat);
const example = tg.tensor([tokenizer.encode(prompt + 'the answer is 42<|im_end|>')], undefined, { dtype: 'int32' });
const opt = new tg.AdamW(model.parameters(), { lr: 1e-2 });
for (let step = 0; step < 100; step++) {
  tg.tidy(() => model.loss(example).backward());
  opt.step();
  opt.zeroGrad();
}
tg.savePretrained(model, dir, { tokenizer });
console.log(`saved ${path.basename(dir)}/: ${fs.readdirSync(dir).sort().join(', ')}`);

// Load it back the way you would load a folder downloaded from the Hub.
const loaded = tg.loadPretrained(dir);
const tok = tg.loadTokenizer(dir);
console.log(`loaded a ${loaded.config.modelType} model, ${loaded.parameters().reduce((n, p) => n + p.numel, 0).toLocaleString('en-US')} parameters; ` +
  `vocabulary ${tok.vocabSize}, eos ${JSON.stringify(tok.idToToken(tok.eosTokenId!))}`);
const probe = tg.tensor([[1, 2, 3, 4]], undefined, { dtype: 'int32' });
const same = tg.tidy(() => model.forward(probe).sub(loaded.forward(probe)).abs().max().item());
console.log(`largest logit difference between the saved and the loaded model: ${same}`);

const out = tg.generate(loaded, [tok.encode(tok.applyChatTemplate(chat))], { maxNewTokens: 24, temperature: 0.7, topP: 0.95, seed: 0, eosTokenId: tok.eosTokenId });
const reply = tok.decode(out.completionIds[0].slice(0, out.completionLengths[0]), { skipSpecialTokens: true });
console.log(`prompt ${JSON.stringify(prompt)}\nsampled ${out.completionLengths[0]} tokens (${out.stopReasons[0]}): ${JSON.stringify(reply)}`);
if (!keep) fs.rmSync(dir, { recursive: true, force: true });
