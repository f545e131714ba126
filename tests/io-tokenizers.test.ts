// Tokenizers: the built-in CharTokenizer, a byte-level BPE tokenizer.json built by the test and run through
// @huggingface/tokenizers, chat templates, and the R1-Zero prompt.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { buildByteLevelBpe, bytesToUnicode } from './helpers/byte-level-bpe.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-tokenizers-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('CharTokenizer', () => {
  const corpus = ['What is 12+30=?', 'The answer is 42.'];
  const tok = tg.CharTokenizer.fromText(corpus);

  it('gives special tokens single ids and round-trips text', () => {
    expect(tok.specialTokens.get('<pad>')).toBe(0);
    expect([tok.padTokenId, tok.bosTokenId, tok.eosTokenId, tok.unkTokenId]).toEqual([0, 1, 2, 3]);
    const think = tok.tokenToId('<think>')!;
    const endThink = tok.tokenToId('</think>')!;
    const text = '<think>12+30=42</think> <answer>42</answer><eos>';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(think);
    expect(ids).toContain(endThink);
    expect(ids.length).toBe(1 + 8 + 1 + 1 + 1 + 2 + 1 + 1);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('12+30=42 42');
    expect(tok.vocabSize).toBe(8 + new Set(corpus.join('')).size);
    expect(Math.max(...ids)).toBeLessThan(tok.vocabSize);
    // A lone '<' that starts no special token is an ordinary (here unknown) character.
    expect(tok.encode('<a')).toEqual([tok.unkTokenId, tok.tokenToId('a')]);
  });

  it('maps unknown characters to <unk>, or throws naming them when there is no unk token', () => {
    expect(tok.encode('Z!')).toEqual([3, 3]);
    const strict = tg.CharTokenizer.fromText('ab', { unkToken: null });
    expect(strict.unkTokenId).toBeNull();
    expect(() => strict.encode('abc')).toThrow(/character "c" \(U\+0063\) is not in the vocabulary/);
    expect(() => strict.decode([999])).toThrow(/id 999 at position 0 is outside the vocabulary/);
  });

  it('handles non-ASCII code points (one id each, including astral ones) and addBosToken', () => {
    const t = new tg.CharTokenizer({ chars: 'héllo 中文🙂', addBosToken: true });
    const text = 'héllo 中文 🙂<eos>';
    const ids = t.encode(text);
    expect(ids[0]).toBe(t.bosTokenId);
    expect(ids.length).toBe(1 + 10 + 1);
    expect(t.decode(ids)).toBe(`<bos>${text}`);
    expect(t.encode('é', { addSpecialTokens: false })).toEqual([t.tokenToId('é')]);
    expect(() => new tg.CharTokenizer({ chars: ['ab'] })).toThrow(/single characters/);
    expect(() => new tg.CharTokenizer({ chars: 'a', specialTokens: ['a'] })).toThrow(/also a special token/);
  });

  it('saves and loads as JSON, directly and through saveTokenizer/loadTokenizer', () => {
    const file = path.join(tmp, 'char.json');
    tok.save(file);
    const back = tg.CharTokenizer.load(file);
    const text = '<answer>The 42</answer>';
    expect(back.encode(text)).toEqual(tok.encode(text));
    expect(back.vocabSize).toBe(tok.vocabSize);
    const dir = path.join(tmp, 'char-folder');
    tg.saveTokenizer(tok, dir);
    const loaded = tg.loadTokenizer(dir);
    expect(loaded).toBeInstanceOf(tg.CharTokenizer);
    expect(loaded.encode(text)).toEqual(tok.encode(text));
    fs.writeFileSync(file, '{"type": "thinkgrad-char-tokenizer", "version": 1');
    expect(() => tg.CharTokenizer.load(file)).toThrow(/cannot load .*char.json/);
    fs.writeFileSync(file, '{"type": "other"}');
    expect(() => tg.CharTokenizer.load(file)).toThrow(/is not a thinkgrad-char-tokenizer file/);
  });
});

describe('HFTokenizer (byte-level BPE tokenizer.json)', () => {
  const { tokenizerJson, config, vocab, firstSpecial } = buildByteLevelBpe();
  const tok = new tg.HFTokenizer(tokenizerJson, config);

  it('applies the merges and round-trips ASCII text', () => {
    const ids = tok.encode('the cat at the 42');
    expect(ids).toEqual([vocab.t, vocab.he, vocab['Ġ'], vocab.c, vocab.a, vocab.t, vocab['Ġa'], vocab.t, vocab['Ġthe'], vocab['Ġ'], vocab['42']]);
    expect(tok.decode(ids)).toBe('the cat at the 42');
  });

  it('round-trips non-ASCII text byte by byte (accents, CJK, emoji)', () => {
    for (const text of ['héllo wörld', '中文 测试', 'emoji 🙂👍🏽 ok', 'é']) {
      const ids = tok.encode(text);
      expect(tok.decode(ids), text).toBe(text);
    }
    expect(tok.encode('é')).toEqual([vocab[`${bytesToUnicode().get(0xc3)}${bytesToUnicode().get(0xa9)}`]]);
    expect(tok.encode('🙂').length).toBe(4); // four UTF-8 bytes, no merges
  });

  it('keeps special tokens whole and exposes their ids', () => {
    const text = '<think>2+2</think> 4<|im_end|>';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(tok.tokenToId('<think>'));
    expect(ids[ids.length - 1]).toBe(tok.eosTokenId);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('2+2 4');
    expect(tok.eosTokenId).toBe(firstSpecial + 2);
    expect(tok.padTokenId).toBe(firstSpecial);
    expect(tok.bosTokenId).toBeNull();
    expect(tok.vocabSize).toBe(firstSpecial + 5);
    expect(tok.specialTokens.get('</think>')).toBe(firstSpecial + 4);
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    expect(() => new tg.HFTokenizer({ ...tokenizerJson }, { eos_token: '<nope>' })).toThrow(/eos_token '<nope>' is not in the vocabulary/);
    expect(() => new tg.HFTokenizer({ version: '1.0' })).toThrow(/"model" section/);
  });

  it('saves and loads a folder (tokenizer.json + tokenizer_config.json)', () => {
    const dir = path.join(tmp, 'hf');
    tg.saveTokenizer(tok, dir);
    expect(fs.existsSync(path.join(dir, 'tokenizer_config.json'))).toBe(true);
    const back = tg.loadTokenizer(dir);
    expect(back).toBeInstanceOf(tg.HFTokenizer);
    const text = 'the 中文 <think>x</think>';
    expect(back.encode(text)).toEqual(tok.encode(text));
    expect(back.eosTokenId).toBe(tok.eosTokenId);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    expect(() => tg.loadTokenizer(dir)).toThrow(/cannot parse .*tokenizer.json/);
    expect(() => tg.loadTokenizer(path.join(tmp, 'nowhere'))).toThrow(/tokenizer.json not found/);
  });

  it('renders the chat template from tokenizer_config.json', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }];
    expect(tok.applyChatTemplate(messages)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: false })).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n');
    const rendered = tok.applyChatTemplate([{ role: 'user', content: 'hi' }]);
    expect(tok.decode(tok.encode(rendered))).toBe(rendered);
  });
});

describe('chat templates', () => {
  it('passes special tokens and variables, supports raise_exception, and prefers chat_template.jinja', () => {
    const template = "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('system messages are not supported') }}" +
      "{% endif %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% if think %} <think>{% endif %}{% endif %}";
    const text = tg.renderChatTemplate(template, [{ role: 'user', content: 'q' }], { specialTokens: { bos_token: '<s>', eos_token: '</s>' }, variables: { think: true } });
    expect(text).toBe('<s>[user] q</s>[assistant] <think>');
    expect(() => tg.renderChatTemplate(template, [{ role: 'system', content: 's' }])).toThrow(/chat template: system messages are not supported/);

    const char = tg.CharTokenizer.fromText('abc', { chatTemplate: template });
    expect(char.applyChatTemplate([{ role: 'user', content: 'abc' }], { addGenerationPrompt: false })).toBe('<bos>[user] abc<eos>');
    expect(() => tg.CharTokenizer.fromText('a').applyChatTemplate([])).toThrow(/no chat template/);
    expect(() => tg.renderChatTemplate('{% for %}', [])).toThrow(/chat template: cannot parse the template/);

    const { tokenizerJson, config } = buildByteLevelBpe();
    const dir = path.join(tmp, 'jinja');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: [{ name: 'default', template: 'DEFAULT' }, { name: 'tool_use', template: 'TOOLS' }] }));
    expect(tg.loadTokenizer(dir).applyChatTemplate([])).toBe('DEFAULT');
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{{ messages[0].content }}!');
    expect(tg.loadTokenizer(dir).applyChatTemplate([{ role: 'user', content: 'hey' }])).toBe('hey!');
  });

  it('builds the R1-Zero prompt', () => {
    expect(tg.r1ZeroPrompt('What is 6*7?')).toBe(
      'A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the ' +
      'reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within ' +
      '<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. ' +
      'User: What is 6*7?. Assistant:');
    expect(tg.r1ZeroPrompt('$& and $1')).toContain('User: $& and $1. Assistant:');
  });
});
