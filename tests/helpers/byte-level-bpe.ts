// A small byte-level BPE tokenizer.json built in memory (the Qwen2/Llama-3 layout), for tests that need a real
// Hugging Face tokenizer without downloading one.

// GPT-2's byte -> printable character table, which byte-level BPE vocabularies are written in.
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i])]));
}

/** A small byte-level BPE tokenizer.json (Qwen2/Llama-3 style): 256 byte tokens, a few merges, special tokens. */
export function buildByteLevelBpe() {
  const b2u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  let id = 0;
  for (let b = 0; b < 256; b++) vocab[b2u.get(b)!] = id++;
  const merges: [string, string][] = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['Ġ', 'a'], ['4', '2']];
  // The UTF-8 bytes of 'é' (c3 a9) merged into one token.
  merges.push([b2u.get(0xc3)!, b2u.get(0xa9)!]);
  for (const [a, b] of merges) vocab[a + b] = id++;
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>'];
  const added = specials.map((content) => ({ id: id++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizerJson = {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
  const chatml = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const config = { eos_token: '<|im_end|>', pad_token: { content: '<|endoftext|>', special: true }, bos_token: null, chat_template: chatml };
  return { tokenizerJson, config, vocab, firstSpecial: 256 + merges.length };
}
