// Code reward: runs the completion's last fenced code block against the row's test cases in the sandbox
// (sandbox.ts: bubblewrap namespaces, rlimits, a per-run end marker) and returns the fraction that pass.
import { availableParallelism } from 'node:os';
import { type CodeLanguage, sandboxRefusal, SandboxDir, type SandboxOptions } from './sandbox.js';
import { checkArgs, checkNumber, checkOptions, column, named, type RewardArgs, type RewardFunction } from './types.js';

/**
 * One test case: `{ input?, output }` feeds `input` on stdin and compares stdout with `output` (line endings and
 * trailing whitespace of each line and trailing blank lines ignored); `{ assert }` appends code after the program
 * (e.g. `assert.strictEqual(add(1, 2), 3)` with `node:assert`, offered as the global `assert`, or
 * `assert add(1, 2) == 3`). A case passes only when the program runs to its end (the sandbox's end marker; for
 * assertions no exit at all, for stdin/stdout an orderly exit with status 0 counts) and exits 0.
 */
export type CodeTestCase = { input?: string; output: string } | { assert: string };

const FENCE_LANGUAGES: Record<string, CodeLanguage> = {
  js: 'javascript', javascript: 'javascript', node: 'javascript', mjs: 'javascript', cjs: 'javascript',
  ts: 'typescript', typescript: 'typescript', py: 'python', python: 'python', python3: 'python',
};

/** The last fenced code block (```lang ... ```) in `text` with a known language, or an unlabeled one when `fallback` is given. */
export function extractCode(text: string, fallback?: CodeLanguage): { language: CodeLanguage; code: string } | null {
  let found: { language: CodeLanguage; code: string } | null = null;
  for (const m of text.matchAll(/```[ \t]*([\w+-]*)[^\n]*\n([\s\S]*?)```/g)) {
    const tag = m[1].toLowerCase();
    const language = tag === '' ? fallback : FENCE_LANGUAGES[tag];
    if (language) found = { language, code: m[2] };
  }
  return found;
}

const normalizeOutput = (s: string) => s.replace(/\r\n?/g, '\n').split('\n').map((l) => l.trimEnd()).join('\n').replace(/\n+$/, '');

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CodeOptions extends SandboxOptions {
  /** Only blocks in this language count (default: any supported language; an unlabeled block is not run). */
  language?: CodeLanguage;
  /** The column of test cases: an array of `CodeTestCase` per row (default `testCases`). */
  column?: string;
  /** Wall-clock limit per test case in ms (default 5000). */
  timeoutMs?: number;
  /** Memory limit per process in MiB (default 256). */
  memoryMb?: number;
  /** Test processes run at once (default min(4, CPUs)). */
  concurrency?: number;
}

/**
 * `rewards.code(options)`: the fraction of the row's test cases that the completion's last ```javascript,
 * ```typescript or ```python block passes, each in its own sandboxed process (see `sandboxInfo()` for the
 * isolation achieved). 0 without a code block; null when the row has no test cases. Throws at once, saying why
 * and how to install it, when bubblewrap cannot run here, unless `unsafeWithoutBubblewrap` is set.
 */
export function code(options: CodeOptions = {}): RewardFunction {
  const r = 'code';
  checkOptions(r, options);
  // Node fires a timer longer than 2^31 - 1 ms at once, which would make the time limit none at all.
  const timeoutMs = checkNumber(r, 'timeoutMs', options.timeoutMs ?? 5000, (x) => x > 0 && x <= MAX_TIMER_MS, `a positive number of ms up to ${MAX_TIMER_MS}`);
  const memoryMb = checkNumber(r, 'memoryMb', options.memoryMb ?? 256, (x) => x >= 16, 'at least 16');
  const concurrency = checkNumber(r, 'concurrency', options.concurrency ?? Math.min(4, availableParallelism()),
    (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  if (options.language !== undefined && !['javascript', 'typescript', 'python'].includes(options.language)) {
    throw new RangeError(`rewards.code: language must be 'javascript', 'typescript' or 'python', got ${String(options.language)}`);
  }
  if (options.bubblewrap !== undefined && (typeof options.bubblewrap !== 'string' || options.bubblewrap === '')) {
    throw new TypeError(`rewards.code: bubblewrap must be the path of the bwrap binary, got ${String(options.bubblewrap)}`);
  }
  if (options.unsafeWithoutBubblewrap !== undefined && typeof options.unsafeWithoutBubblewrap !== 'boolean') {
    throw new TypeError(`rewards.code: unsafeWithoutBubblewrap must be a boolean, got ${String(options.unsafeWithoutBubblewrap)}`);
  }
  const sandbox: SandboxOptions = { bubblewrap: options.bubblewrap, unsafeWithoutBubblewrap: options.unsafeWithoutBubblewrap };
  const refusal = sandboxRefusal(sandbox);
  if (refusal) throw new Error(`rewards.${r}: ${refusal}`);
  return named(r, async (args: RewardArgs) => {
    const completions = checkArgs(r, args);
    const name = options.column ?? 'testCases';
    const tests = column(r, args, name)!;
    // A small pool: at most `concurrency` processes at once across the batch.
    let active = 0;
    const waiting: (() => void)[] = [];
    const limited = async <T>(fn: () => Promise<T>): Promise<T> => {
      if (active >= concurrency) await new Promise<void>((res) => waiting.push(res));
      active++;
      try {
        return await fn();
      } finally {
        active--;
        waiting.shift()?.();
      }
    };
    return Promise.all(completions.map(async (completion, i) => {
      const cases = tests[i];
      if (cases === null || cases === undefined) return null;
      if (!Array.isArray(cases)) throw new TypeError(`rewards.code: ${name}[${i}] must be an array of test cases`);
      if (cases.length === 0) return null;
      const block = extractCode(completion, options.language);
      if (!block || (options.language && block.language !== options.language)) return 0;
      const box = await SandboxDir.create(block.language, block.code, sandbox);
      try {
        const passed = await Promise.all(cases.map((t: unknown, k) => limited(async () => {
          if (t === null || typeof t !== 'object') throw new TypeError(`rewards.code: ${name}[${i}][${k}] must be { input?, output } or { assert }`);
          const tc = t as Record<string, unknown>;
          if (typeof tc.assert === 'string') {
            const sep = block.language === 'python' ? '\n' : '\n;\n';
            const sub = await SandboxDir.create(block.language, `${block.code}${sep}${tc.assert}\n`, sandbox);
            try {
              const res = await sub.run({ timeoutMs, memoryMb, end: 'asserts' });
              return res.exitCode === 0 && res.ranToEnd && !res.timedOut;
            } finally {
              await sub.dispose();
            }
          }
          if (typeof tc.output !== 'string') throw new TypeError(`rewards.code: ${name}[${i}][${k}] needs a string 'output' (or 'assert')`);
          const res = await box.run({ input: typeof tc.input === 'string' ? tc.input : '', timeoutMs, memoryMb });
          return res.exitCode === 0 && res.ranToEnd && !res.timedOut && !res.outputLimited && normalizeOutput(res.stdout) === normalizeOutput(tc.output);
        })));
        return passed.filter(Boolean).length / cases.length;
      } finally {
        await box.dispose();
      }
    }));
  });
}
