// The code reward: extraction of the last fenced block, stdin/stdout and assertion tests, and the sandbox's
// limits (time, memory, network, file writes, child processes) holding while the test process lives.
import { describe, expect, it } from 'vitest';
import { rewards } from '../src/index.js';

const { code, extractCode, sandboxInfo } = rewards;
const info = sandboxInfo();
const js = (body: string) => '<think>write it</think>\n```javascript\n' + body + '\n```';
const py = (body: string) => '```python\n' + body + '\n```';
const run = async (completions: string[], testCases: unknown, options: rewards.CodeOptions = {}) =>
  code({ timeoutMs: 3000, ...options })({ prompts: completions.map(() => 'p'), completions, testCases });
const sumTests = [{ input: '1 2\n', output: '3' }, { input: '10 -4', output: '6\n' }, { input: '5 5', output: '10' }];
const SUM_JS = "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number); console.log(a + b);";

describe('code extraction', () => {
  it('takes the last block in a known language', () => {
    expect(extractCode('```js\n1\n```\ntext\n```python\n2\n```')).toEqual({ language: 'python', code: '2\n' });
    expect(extractCode('```\nx\n```')).toBeNull();
    expect(extractCode('```\nx\n```', 'javascript')).toEqual({ language: 'javascript', code: 'x\n' });
    expect(extractCode('no code')).toBeNull();
  });
});

describe('rewards.code', () => {
  it('scores the fraction of passing stdin/stdout tests', async () => {
    const wrongOnNegatives = js("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number); console.log(b < 0 ? 0 : a + b);");
    const out = await run([js(SUM_JS), wrongOnNegatives, 'I cannot write code', js('process.exit(1)')], [sumTests, sumTests, sumTests, sumTests]);
    expect(out).toEqual([1, 2 / 3, 0, 0]);
  });

  it('runs assertion tests, ES modules and TypeScript', async () => {
    const asserts = [{ assert: 'if (add(2, 3) !== 5) process.exit(1);' }, { assert: 'if (add(-1, 1) !== 0) throw new Error("no");' }];
    const ts = '```typescript\nfunction add(a: number, b: number): number { return a + b; }\n```';
    const esm = js("import { EOL } from 'node:os';\nexport function add(a, b) { return a + b + EOL.length - 1; }");
    const out = await run([js('function add(a, b) { return a + b; }'), js('function add(a, b) { return a * b; }'), ts, esm], [asserts, asserts, asserts, asserts]);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(0); // 2*3 != 5 and -1*1 != 0
    if (info.typescript !== 'unavailable') expect(out[2]).toBe(1);
    expect(out[3]).toBe(1);
  });

  it('null when a row has no test cases', async () => {
    expect(await run([js(SUM_JS), js(SUM_JS)], [[], null])).toEqual([null, null]);
  });

  it('kills infinite loops at the time limit and survives memory bombs', async () => {
    const t0 = Date.now();
    const out = await run([js('while (true) {}'), js('const a = []; for (;;) a.push(new Array(1e6).fill(1));')],
      [[{ output: '' }], [{ output: '' }]], { timeoutMs: 1500, memoryMb: 64 });
    expect(out).toEqual([0, 0]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('denies network, file writes outside and child processes', async () => {
    const probes = {
      net: "try { require('net').connect(80, '1.1.1.1').on('connect', () => console.log('open')).on('error', () => console.log('blocked')); } catch { console.log('blocked'); }",
      http: "try { fetch('http://1.1.1.1').then(() => console.log('open'), () => console.log('blocked')); } catch { console.log('blocked'); }",
      dns: "try { require('dns').lookup('localhost', (e) => console.log(e ? 'blocked' : 'open')); } catch { console.log('blocked'); }",
      binding: "try { process.binding('tcp_wrap'); console.log('open'); } catch { console.log('blocked'); }",
      spawn: "try { require('child_process').execSync('echo hi'); console.log('open'); } catch { console.log('blocked'); }",
      write: "try { require('fs').writeFileSync('/tmp/thinkgrad-escape.txt', 'x'); console.log('open'); } catch { console.log('blocked'); }",
      env: "console.log(Object.keys(process.env).length === 0 ? 'blocked' : 'open');",
    };
    const names = Object.keys(probes) as (keyof typeof probes)[];
    const out = await run(names.map((k) => js(probes[k])), names.map(() => [{ output: 'blocked' }]));
    names.forEach((k, i) => expect(out[i], k).toBe(1));
  });

  it.runIf(info.python !== null)('runs python with stdin tests and asserts, network blocked', async () => {
    const sum = py('a, b = map(int, input().split())\nprint(a + b)');
    const net = py("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    print('open')\nexcept OSError:\n    print('blocked')");
    const out = await run([sum, py('def add(a, b):\n    return a + b'), net, py('while True:\n    pass')],
      [sumTests, [{ assert: 'assert add(2, 3) == 5' }, { assert: 'assert add(2, 2) == 5' }], [{ output: 'blocked' }], [{ output: '' }]],
      { timeoutMs: 2000 });
    expect(out).toEqual([1, 0.5, 1, 0]);
  });

  it('restricts to one language when asked and reports bad test cases', async () => {
    expect(await run([py('print(3)')], [[{ output: '3' }]], { language: 'javascript' })).toEqual([0]);
    await expect(async () => run([js(SUM_JS)], [[{ input: '1' }]])).rejects.toThrow(/output/);
    expect(() => code({ language: 'ruby' as never })).toThrow(/language/);
    expect(() => code({ timeoutMs: 1e12 })).toThrow(/rewards\.code.*timeoutMs.*up to 2147483647/);
  });
});
