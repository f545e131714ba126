// The JSONL reader trusts nothing: malformed lines give their line number, missing or ill-typed columns
// their row (and line) number; blank lines, CRLF and a BOM are accepted; the writer round-trips.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonl, readJsonl, writeJsonl } from '../src/io/jsonl.js';

describe('parseJsonl', () => {
  it('reads objects, skipping blank lines, with CRLF and a BOM', () => {
    const rows = parseJsonl('\uFEFF{"prompt": "a", "answer": 1}\r\n\r\n{"prompt": "b", "answer": "2", "extra": [1]}\n', 'f.jsonl', { columns: { prompt: 'string', answer: 'scalar' } });
    expect(rows).toEqual([{ prompt: 'a', answer: 1 }, { prompt: 'b', answer: '2', extra: [1] }]);
  });

  it('names the line of malformed JSON and of a non-object line', () => {
    expect(() => parseJsonl('{"a": 1}\n{"a": 2}\n{"a": 3,\n', 'd.jsonl')).toThrow(/^d\.jsonl:3: line 3 is not valid JSON/);
    expect(() => parseJsonl('{"a": 1}\n[1, 2]\n', 'd.jsonl')).toThrow(/d\.jsonl:2: line 2 must be a JSON object, got an array/);
    expect(() => parseJsonl('"text"\n', 'd.jsonl')).toThrow(/line 1 must be a JSON object, got string/);
  });

  it('names the row (and line) of a missing or ill-typed column', () => {
    const text = '{"prompt": "a", "completion": "b"}\n\n{"prompt": "c"}\n';
    expect(() => parseJsonl(text, 'd.jsonl', { columns: { prompt: 'string', completion: 'string' } }))
      .toThrow(/d\.jsonl:3: row 2 \(line 3\) has no column 'completion' \(it has: prompt\)/);
    expect(() => parseJsonl('{"prompt": 5}\n', 'd.jsonl', { columns: { prompt: 'string' } })).toThrow(/row 1 \(line 1\): column 'prompt' must be a string, got number 5/);
    expect(() => parseJsonl('{"answer": null}\n', 'd.jsonl', { columns: { answer: 'scalar' } })).toThrow(/column 'answer' must be a string or a number, got null/);
    expect(() => parseJsonl('{"n": "1"}\n', 'd.jsonl', { columns: { n: 'number' } })).toThrow(/column 'n' must be a finite number/);
    expect(parseJsonl('{"p": "x"}\n', 'd.jsonl', { columns: { p: 'string', q: { type: 'string', optional: true } } })).toEqual([{ p: 'x' }]);
    expect(() => parseJsonl('{"p": "x", "q": 1}\n', 'd.jsonl', { columns: { q: { type: 'string', optional: true } } })).toThrow(/column 'q' must be a string/);
  });

  it('refuses an empty file and honours limit', () => {
    expect(() => parseJsonl('\n\n', 'e.jsonl')).toThrow(/e\.jsonl: no rows/);
    expect(parseJsonl('', 'e.jsonl', { nonEmpty: false })).toEqual([]);
    // A malformed line after the limit is never read.
    expect(parseJsonl('{"a": 1}\n{"a": 2}\n{oops\n', 'l.jsonl', { limit: 2 })).toHaveLength(2);
  });
});

describe('readJsonl / writeJsonl', () => {
  it('round-trips and reports unreadable files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-jsonl-'));
    const file = path.join(dir, 'x.jsonl');
    const rows = [{ prompt: 'p\n"q"', completion: 'c' }, { prompt: 'é', completion: '' }];
    writeJsonl(file, rows);
    expect(readJsonl(file, { columns: { prompt: 'string', completion: 'string' } })).toEqual(rows);
    expect(() => readJsonl(path.join(dir, 'missing.jsonl'))).toThrow(/cannot read .*missing\.jsonl: no such file/);
    expect(() => readJsonl(dir)).toThrow(/it is a folder/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
