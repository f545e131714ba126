// The code reward against programs written as an attacker would (issue 15): host files, the trainer's /proc,
// files that outlive the run, processes, sockets, signals, detached grandchildren and early exits each score 0
// and leave nothing behind, the trainer survives a GRPO step whose policy writes them, and without bubblewrap
// the reward refuses to run unless the caller accepts the risk by name.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import type { Tokenizer } from '../src/io/tokenizers/types.js';
import { SandboxDir } from '../src/rl/rewards/sandbox.js';
import type { RewardFunction } from '../src/rl/rewards/types.js';
import { GRPOTrainer } from '../src/train/grpo.js';

const { code, extractCode, sandboxInfo } = tg.rewards;
const info = sandboxInfo();

// Every file or process an attack makes carries TAG, so that leftovers can be found; the test's own fixtures
// (the trainer state, the listeners) carry FIXTURE instead.
const TAG = `tgattack${randomBytes(6).toString('hex')}`;
const FIXTURE = `tgfixture${randomBytes(6).toString('hex')}`;
const TRAINER_PID = process.pid;
const fixtureDir = fs.mkdtempSync(path.join(os.tmpdir(), `${FIXTURE}-`));
const statePath = path.join(fixtureDir, 'trainer_state.json');
const unixPath = path.join(os.tmpdir(), `${FIXTURE}.sock`);
const connections = { unix: 0, tcp: 0 };
const servers: net.Server[] = [];
let tcpPort = 0;

const py = (body: string) => '```python\n' + body + '\n```';
const js = (body: string) => '```javascript\n' + body + '\n```';
const escaped = [{ output: 'escaped' }];
// A process that would outlive the reward if the sandbox let it: it names TAG in its argv.
const SLEEPER = `os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)', '${TAG}'])`;

// Each program prints 'escaped' exactly when its attack worked, so it scores 1 only then.
const attacks = (): Record<string, string> => ({
  passwd: py("try:\n    if 'root:' in open('/etc/passwd').read(): print('escaped')\nexcept OSError: pass"),
  trainerState: py(`try:\n    if '${FIXTURE}' in open(${JSON.stringify(statePath)}).read(): print('escaped')\nexcept OSError: pass`),
  procParent: py(`import os\nfor pid in (os.getppid(), ${TRAINER_PID}):\n    for name in ('cmdline', 'environ'):\n        try:\n`
    + `            data = open(f'/proc/{pid}/{name}', 'rb').read()\n            if b'PATH=' in data or b'vitest' in data: print('escaped')\n        except OSError: pass`),
  // Run twice in a batch: the second run would see the first one's files if they outlived it.
  writeTmp: py(`import os\npaths = ['/tmp/${TAG}-file', '/dev/shm/${TAG}-file']\nif any(os.path.exists(p) for p in paths): print('escaped')\n`
    + 'for p in paths:\n    try: open(p, "w").write("x")\n    except OSError: pass'),
  subprocess: py("import subprocess\ntry:\n    if subprocess.run(['id'], capture_output=True).returncode == 0: print('escaped')\nexcept OSError: pass"),
  fork50: py(`import os, sys, time\nn = 0\nfor i in range(50):\n    try: pid = os.fork()\n    except OSError: break\n    if pid == 0:\n`
    + `        if i == 0: ${SLEEPER}\n        time.sleep(30); os._exit(0)\n    n += 1\nif n == 50: print('escaped')`),
  unixSocket: py(`import _socket\ntry:\n    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM); s.connect(${JSON.stringify(unixPath)}); print('escaped')\nexcept OSError: pass`),
  tcpLoopback: py(`import _socket\ntry:\n    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM); s.settimeout(1); s.connect(('127.0.0.1', ${tcpPort})); print('escaped')\nexcept OSError: pass`),
  killTrainer: py(`import os, signal\ntry:\n    os.kill(${TRAINER_PID}, 0); print('escaped')\nexcept OSError: pass\n`
    + `for pid in (os.getppid(), ${TRAINER_PID}):\n    try: os.kill(pid, signal.SIGKILL)\n    except OSError: pass`),
  // A setsid grandchild that keeps stdout and speaks later; the program itself ends at once.
  holdStdout: py("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(3); print('escaped', flush=True); os._exit(0)\n    os._exit(0)"),
  // A grandchild that closes its descriptors and lives on as TAG.
  detached: py(`import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.closerange(0, 256)\n        ${SLEEPER}\n    os._exit(0)`),
  jsPasswd: js("try { if (require('fs').readFileSync('/etc/passwd', 'utf8').includes('root:')) console.log('escaped'); } catch {}"),
  jsTrainerEnviron: js(`try { if (require('fs').readFileSync('/proc/${TRAINER_PID}/environ', 'utf8').includes('PATH=')) console.log('escaped'); } catch {}`),
  jsKill: js(`try { process.kill(${TRAINER_PID}, 0); console.log('escaped'); process.kill(${TRAINER_PID}, 'SIGKILL'); } catch {}`),
  jsWriteTmp: js(`try { require('fs').writeFileSync('/tmp/${TAG}-js', 'x'); console.log('escaped'); } catch {}`),
});

// Processes whose argv names TAG and files in /tmp or /dev/shm whose name does.
function leftovers(): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(TAG)) found.push(`process ${pid}`);
    } catch {
      // gone meanwhile
    }
  }
  for (const dir of ['/tmp', '/dev/shm']) {
    if (fs.existsSync(dir)) for (const name of fs.readdirSync(dir)) if (name.includes(TAG)) found.push(path.join(dir, name));
  }
  return found;
}

beforeAll(async () => {
  fs.writeFileSync(statePath, JSON.stringify({ global_step: 7, secret: FIXTURE }), { mode: 0o644 });
  fs.chmodSync(fixtureDir, 0o755);
  const listen = (server: net.Server, ...args: unknown[]) => new Promise<void>((res) => (server.listen as (...a: unknown[]) => void)(...args, res));
  const unix = net.createServer((s) => { connections.unix++; s.destroy(); });
  const tcp = net.createServer((s) => { connections.tcp++; s.destroy(); });
  servers.push(unix, tcp);
  await listen(unix, unixPath);
  fs.chmodSync(unixPath, 0o777);
  await listen(tcp, 0, '127.0.0.1');
  tcpPort = (tcp.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  fs.rmSync(fixtureDir, { recursive: true, force: true });
});

describe('the code sandbox against attacks', () => {
  it('runs under bubblewrap here (a requirement, like the compiler)', () => {
    expect(info.refusal).toBeNull();
    expect(info).toMatchObject({ isolation: 'bubblewrap', network: 'namespace' });
    expect(info.namespaces).toEqual(expect.arrayContaining(['user', 'pid', 'mount', 'network', 'ipc', 'uts']));
    expect(info.limits).toEqual(expect.arrayContaining(['address-space', 'cpu-time', 'file-size']));
    if (process.getuid?.() === 0) expect(info).toMatchObject({ hostUser: 'nobody', limits: expect.arrayContaining(['processes']) });
    expect(info.python).not.toBeNull();
  });

  it('scores every attack 0, leaves no file or process, and the fixtures it aimed at were reachable from here', async () => {
    const all = attacks();
    const names = Object.keys(all);
    const reward = code({ timeoutMs: 3000, concurrency: 2 });
    const out = await reward({ prompts: names.map(() => 'p'), completions: names.map((n) => all[n]), testCases: names.map(() => escaped) });
    names.forEach((n, i) => expect(out[i], n).toBe(0));
    // Once more: it would now find the files of its first run, had they outlived it.
    expect(await reward({ prompts: ['p'], completions: [all.writeTmp], testCases: [escaped] })).toEqual([0]);
    expect(connections).toEqual({ unix: 0, tcp: 0 });
    expect(leftovers()).toEqual([]);
    // The same protocol scores 1 when the program does print 'escaped': the zeros above are the sandbox's doing.
    expect(await code()({ prompts: ['p'], completions: [py("print('escaped')")], testCases: [escaped] })).toEqual([1]);
    expect(fs.readFileSync('/etc/passwd', 'utf8')).toContain('root:');
  });

  it('each attack program itself runs to its end in the sandbox (its 0 is not a syntax error or a crash)', async () => {
    const all = Object.entries(attacks());
    for (let i = 0; i < all.length; i += 4) {
      await Promise.all(all.slice(i, i + 4).map(async ([name, completion]) => {
        const block = extractCode(completion)!;
        const box = await SandboxDir.create(block.language, block.code);
        try {
          const res = await box.run({ timeoutMs: 5000, memoryMb: 256 });
          expect({ name, exitCode: res.exitCode, ranToEnd: res.ranToEnd, stdout: res.stdout.trim() }).toEqual({ name, exitCode: 0, ranToEnd: true, stdout: '' });
        } finally {
          await box.dispose();
        }
      }));
    }
    expect(leftovers()).toEqual([]);
  });

  it('returns at the time limit although a grandchild holds stdout, and kills it', async () => {
    const forever = py(`import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    ${SLEEPER}\nwhile True: pass`);
    const t0 = Date.now();
    const out = await code({ timeoutMs: 2000 })({ prompts: ['p'], completions: [forever], testCases: [[{ output: '' }]] });
    expect(out).toEqual([0]);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(leftovers()).toEqual([]);
  });

  it('a wrong solution cannot pass assertions by exiting early; console.assert and node:assert fail runs', async () => {
    const pyAdd = [{ assert: 'assert add(2, 3) == 5' }];
    const jsAdd = [{ assert: 'assert.strictEqual(add(2, 3), 5);' }];
    const consoleAdd = [{ assert: 'console.assert(add(2, 3) === 5);' }];
    const rows: [string, unknown, number][] = [
      [py('def add(a, b):\n    return a - b\nimport os\nos._exit(0)'), pyAdd, 0],
      [py('def add(a, b):\n    return a - b\nimport sys\nsys.exit(0)'), pyAdd, 0],
      [js('function add(a, b) { return a - b; }\nprocess.exit(0);'), jsAdd, 0],
      [js('function add(a, b) { return a - b; }\nsetTimeout(() => process.exit(0), 0);'), jsAdd, 0],
      [js('function add(a, b) { return a - b; }'), consoleAdd, 0],
      [js('function add(a, b) { return a - b; }'), jsAdd, 0],
      [py('def add(a, b):\n    return a + b'), pyAdd, 1],
      [js('function add(a, b) { return a + b; }'), consoleAdd, 1],
      [js("import assert from 'node:assert';\nexport function add(a, b) { return a + b; }"), jsAdd, 1],
      // stdin/stdout tests: an orderly exit after the right output passes, os._exit skips the end and fails
      [py("print(int(input()) * 2)\nexit()"), [{ input: '4', output: '8' }], 1],
      [py("import os\nprint(int(input()) * 2, flush=True)\nos._exit(0)"), [{ input: '4', output: '8' }], 0],
      [js("console.log(Number(require('fs').readFileSync(0, 'utf8')) * 2); process.exit(0);"), [{ input: '4', output: '8' }], 1],
    ];
    const out = await code({ timeoutMs: 3000, concurrency: 2 })({ prompts: rows.map(() => 'p'), completions: rows.map((r) => r[0]), testCases: rows.map((r) => r[1]) });
    expect(out).toEqual(rows.map((r) => r[2]));
  });

  it('the trainer stays alive through a GRPO step whose policy writes the attacks', async () => {
    // A vocabulary whose tokens are whole attack programs: the tiny policy samples one token per completion, so
    // what the code reward scores in the step is exactly what the policy wrote.
    const programs = Object.values(attacks()).filter((p) => p.startsWith('```python'));
    const tok = new ProgramTokenizer(programs);
    const model = new tg.nn.LlamaForCausalLM({
      vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, tieWordEmbeddings: true,
      maxPositionEmbeddings: 8, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
    }, { seed: 5 });
    const written: string[] = [];
    const record: RewardFunction = function written_programs({ completions }) {
      written.push(...(completions as string[]));
      return completions.map(() => 0);
    };
    const rows = [0, 1].map(() => ({ prompt: 'P', testCases: escaped }));
    const trainer = new GRPOTrainer(model, tok, rows, [code({ timeoutMs: 2000, concurrency: 2 }), record], {
      maxSteps: 1, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 1, learningRate: 1e-3, temperature: 1,
    });
    const [log] = await trainer.train();
    expect(log['rewards/code/mean']).toBe(0);
    expect(Number.isFinite(log.loss as number)).toBe(true);
    expect(written.filter((c) => programs.includes(c)).length).toBeGreaterThan(0);
    expect(fs.existsSync(`/proc/${TRAINER_PID}`)).toBe(true);
    expect(leftovers()).toEqual([]);
    model.dispose();
  });
});

describe('without bubblewrap', () => {
  const missing = path.join(fixtureDir, 'no-such-bwrap');

  it('the code reward refuses to run, saying why and how to install it', () => {
    expect(() => code({ bubblewrap: missing })).toThrow(/rewards\.code: refusing to run generated code without bubblewrap: bubblewrap was not found at .*no-such-bwrap.*apt-get install bubblewrap.*unsafeWithoutBubblewrap/);
    const report = sandboxInfo({ bubblewrap: missing });
    expect(report.isolation).toBe('unsafe');
    expect(report.refusal).toMatch(/not found/);
    expect(() => code({ bubblewrap: 7 as never })).toThrow(TypeError);
    expect(() => code({ unsafeWithoutBubblewrap: 'yes' as never })).toThrow(/unsafeWithoutBubblewrap must be a boolean/);
  });

  it('runs with the weaker isolation only when the caller opts in by name', async () => {
    const reward = code({ bubblewrap: missing, unsafeWithoutBubblewrap: true, timeoutMs: 3000 });
    const out = await reward({ prompts: ['p', 'p'], completions: [js('console.log(6 * 7)'), js('function add(a, b) { return a - b; }\nprocess.exit(0);')],
      testCases: [[{ output: '42' }], [{ assert: 'assert.strictEqual(add(2, 3), 5);' }]] });
    expect(out).toEqual([1, 0]);
  });

  it.runIf(info.python !== null)('where the weaker isolation lets attacks through, they score 1: the corpus measures real escapes', async () => {
    const all = attacks();
    const reward = code({ bubblewrap: missing, unsafeWithoutBubblewrap: true, timeoutMs: 3000 });
    expect(await reward({ prompts: ['p', 'p'], completions: [all.passwd, all.trainerState], testCases: [escaped, escaped] })).toEqual([1, 1]);
  });
});

// A tokenizer whose tokens are whole programs (ids 2..), plus pad (0) and eos (1); the prompt is one token.
class ProgramTokenizer implements Tokenizer {
  readonly bosTokenId = null;
  readonly eosTokenId = 1;
  readonly padTokenId = 0;
  readonly unkTokenId = null;
  readonly chatTemplate = null;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly tokens: string[];

  constructor(programs: string[]) {
    this.tokens = ['<pad>', '<eos>', 'P', ...programs];
    this.specialTokens = new Map([['<pad>', 0], ['<eos>', 1]]);
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  encode(text: string): number[] {
    if (text !== 'P') throw new RangeError(`ProgramTokenizer.encode: only the prompt 'P' is in the vocabulary, got ${JSON.stringify(text)}`);
    return [2];
  }

  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => (id < 2 ? '' : this.tokens[id])).join('');
  }

  tokenToId(token: string): number | undefined {
    const id = this.tokens.indexOf(token);
    return id < 0 ? undefined : id;
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  applyChatTemplate(): string {
    throw new Error('ProgramTokenizer has no chat template');
  }
}
