// Native memory and threads as the runtime sees them: a training loop without tidy stays bounded because
// V8 is told of native bytes, failed allocations are JS errors (also at an address-space limit),
// THINKGRAD_NUM_THREADS is validated like setNumThreads, and crossEntropy refuses NaN logits.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// NOTE: tsx instantiates WebAssembly, whose memory reservation fails under `ulimit -v`; without the
// WebAssembly global it parses with plain JS.
const nodeWithTsx = `"${process.execPath}" --no-expose-wasm --import tsx`;

interface Outcome { code: number | null; signal: string | null; stdout: string; stderr: string }

function runShell(command: string, env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function runTs(code: string, env: Record<string, string> = {}, shellPrefix = ''): Promise<Outcome> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'tg-native-memory-'));
  const file = join(dir, 'main.ts');
  fs.writeFileSync(file, code.replaceAll('@src/', `${root}/src/`));
  return runShell(`${shellPrefix}exec ${nodeWithTsx} "${file}"`, env).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

describe('THINKGRAD_NUM_THREADS', () => {
  it('refuses abc, 0, -3 and 99999 at load with an error naming the variable and value', async () => {
    const load = "import('@src/native.ts').then(() => console.log('loaded'), (e) => { console.error(e.constructor.name + ': ' + e.message); process.exit(2); });";
    const values = ['abc', '0', '-3', '99999'];
    const outcomes = await Promise.all(values.map((v) => runTs(load, { THINKGRAD_NUM_THREADS: v })));
    outcomes.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`RangeError: thinkgrad: THINKGRAD_NUM_THREADS=${values[i]} is invalid: thread count must be`);
      expect(r.stderr).not.toContain('the native engine is not built');
    });
    expect(outcomes[0].stderr).toContain('must be an integer in [1, 1024]');
    // The same wording as setNumThreads for a number out of range.
    expect(outcomes[1].stderr).toContain('thread count must be in [1, 1024], got 0');
    expect(() => tg.setNumThreads(0)).toThrow('thinkgrad.setNumThreads: thread count must be in [1, 1024], got 0');
    expect(() => tg.setNumThreads(99999)).toThrow('thread count must be in [1, 1024], got 99999');
  });

  it('uses a valid value and warns once when threads exceed the CPUs', async () => {
    const cpus = os.availableParallelism();
    const r = await runTs(`import * as tg from '@src/index.ts';
      console.log('threads', tg.getNumThreads());
      tg.setNumThreads(${cpus + 2});
      tg.setNumThreads(1);
      setImmediate(() => {});`, { THINKGRAD_NUM_THREADS: String(cpus + 1) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`threads ${cpus + 1}`);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('THINKGRAD_THREADS_OVERSUBSCRIBED'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${cpus + 1} threads (THINKGRAD_NUM_THREADS) exceed the ${cpus} CPUs`);
  });
});

describe('failed native allocations', () => {
  it('a huge allocation throws a RangeError naming the op and bytes, and the process lives', () => {
    const before = tg.memory();
    let error: unknown;
    try {
      tg.zeros([2 ** 20, 2 ** 20]); // 2^40 floats pass the size checks; 4 TiB cannot be had
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/^thinkgrad\.alloc: out of memory: cannot allocate 4398046511104 bytes/);
    const after = tg.memory();
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.peakBytes).toBe(before.peakBytes);
    expect(tg.tidy(() => tg.ones([4]).sum().item())).toBe(4);
  });

  it('a config.json with a million layers is refused before anything is allocated, saying how much memory it needs', () => {
    const config = new tg.nn.LlamaConfig({ vocabSize: 64, hiddenSize: 256, intermediateSize: 512, numHiddenLayers: 1_000_000, numAttentionHeads: 4 });
    const before = tg.memory().numBytes;
    expect(() => new tg.nn.LlamaForCausalLM(config)).toThrow(/LlamaModel: this config has 6\.56e\+11 parameters, 2443\.\d GiB in float32, more than this machine's [\d.]+ GiB of memory \(1000000 layers/);
    expect(tg.memory().numBytes).toBe(before);
  });

  it('a config.json that fits the machine but not ulimit -v 4 GiB ends with a JS error, not an abort', async () => {
    const r = await runTs(`import * as fs from 'node:fs';
      import * as os from 'node:os';
      import * as path from 'node:path';
      import { readConfig } from '@src/io/pretrained.ts';
      import { LlamaForCausalLM } from '@src/nn/llama.ts';
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-6gib-'));
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'],
        vocab_size: 64, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2500, num_attention_heads: 4,
        rms_norm_eps: 1e-6, max_position_embeddings: 64 }));
      try {
        new LlamaForCausalLM(readConfig(dir));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }`, {}, 'ulimit -v 4194304; ');
    expect(r.signal).toBeNull();
    expect(r.stderr).not.toContain('terminate called');
    expect(r.stderr).not.toContain('FATAL ERROR');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RangeError: thinkgrad\.alloc: out of memory: cannot allocate \d+ bytes .*address-space limit \(ulimit -v\) of 4096 MiB/);
  });
});

describe('garbage collection under native pressure', () => {
  it('a training loop without tidy or dispose, awaiting now and then, keeps RSS bounded', async () => {
    // bench/untidy-training.ts: tiny Llama (d 64, 2 layers, batch 8 x 32), AdamW, setImmediate every 10 steps.
    // One thread: the loop is short on CPU time, and pool waits on the loaded 2-core machine are not.
    const r = await runShell(`exec ${nodeWithTsx} bench/untidy-training.ts --steps 200 --yield-every 10 --json`, { THINKGRAD_NUM_THREADS: '1' });
    expect(r.code).toBe(0);
    const run = JSON.parse(r.stdout.trim().split('\n').pop()!) as { rssStartMiB: number; rssPeakMiB: number; liveMiB: number; firstLoss: number; lastLoss: number };
    expect(run.lastLoss).toBeLessThan(run.firstLoss * 0.5); // the steps really train
    // Each step leaves ~2.2 MiB of native tensors to the garbage collector: without V8 knowing of them RSS grew
    // by ~480 MiB over these 200 steps; with it, by ~70 MiB.
    expect(run.rssPeakMiB - run.rssStartMiB).toBeLessThan(250);
    expect(run.liveMiB).toBeLessThan(150);
  }, 300_000);
});

describe('crossEntropy on non-finite logits', () => {
  it('throws naming the row, as selectiveLogSoftmax does, instead of returning NaN', () => {
    const targets = tg.tensor(new Int32Array([0, 1, 2]), [3]);
    for (const bad of [NaN, Infinity]) {
      const logits = tg.tensor([[1, 2, 3], [0, 1, 2], [4, bad, 0]]);
      const before = tg.memory().numBuffers;
      expect(() => tg.crossEntropy(logits, targets)).toThrow(/crossEntropyForward: logits \[3, 3\] row 2 holds NaN or Inf/);
      expect(tg.memory().numBuffers).toBe(before);
      logits.dispose();
    }
    // A NaN in an ignored row does not reach the loss, so it is not an error.
    const logits = tg.tensor([[1, 2, 3], [NaN, 1, 2]]);
    const loss = tg.crossEntropy(logits, tg.tensor(new Int32Array([2, -100]), [2]));
    expect(loss.item()).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3, 5);
    targets.dispose();
  });
});
