// The addon loader: a missing build fails with one message that lists what was tried and how to fix it, and an
// x86-64 CPU without the x86-64-v3 features fails with one line naming them instead of an illegal instruction.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cpuRequirementError, native, type CpuReport } from '../src/native.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('native loader', () => {
  it('loads the built addon', () => {
    expect(typeof native.alloc).toBe('function');
    expect(native.numThreads()).toBeGreaterThanOrEqual(1);
  });

  it('explains a missing addon: what was tried and how to fix it', () => {
    const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const r = spawnSync(process.execPath, [tsx, '-e', "import('./src/native.ts').catch((e) => { console.error(e.message); process.exit(1); })"], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, THINKGRAD_NATIVE_PATH: '/nonexistent/thinkgrad_native.node' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('the native engine is not built or failed to load');
    expect(r.stderr).toContain('/nonexistent/thinkgrad_native.node (missing)');
    expect(r.stderr).toContain('npm rebuild');
  });
});

describe('x86-64-v3 CPU check', () => {
  it('passes a CPU that has every feature', () => {
    expect(cpuRequirementError({ model: 'AMD EPYC 9654', missing: [] })).toBeUndefined();
  });

  it('names the CPU and each missing feature in one line', () => {
    const line = cpuRequirementError({ model: 'Intel(R) Xeon(R) CPU X5670 @ 2.93GHz  ', missing: ['avx', 'avx2', 'fma'] })!;
    expect(line).toBe('thinkgrad: this CPU (Intel(R) Xeon(R) CPU X5670 @ 2.93GHz) lacks avx, avx2, fma; the native engine is built for ' +
      'x86-64-v3 (AVX2 and FMA: Intel Haswell, AMD Excavator / Zen or newer) and cannot run on it.');
    expect(cpuRequirementError({ model: '', missing: ['avx2'] })).toContain('this CPU (unknown model) lacks avx2;');
  });

  it.runIf(process.arch === 'x64')('the baseline probe finds nothing missing on this CPU, which runs the engine', () => {
    const require = createRequire(import.meta.url);
    const probeDir = join(root, 'native', 'cpu-probe');
    const probe = require((require('node-gyp-build') as { path(dir: string): string }).path(probeDir)) as { x86_64_v3(): CpuReport };
    const report = probe.x86_64_v3();
    expect(report.missing).toEqual([]);
    expect(typeof report.model).toBe('string');
  });

  // A real CPU without AVX2: qemu-user emulates a Nehalem (and, as the control, a Haswell) for node itself.
  const qemu = (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'qemu-x86_64')).find((p) => existsSync(p));
  if (process.arch === 'x64' && !qemu) console.log('x86-64-v3 CPU check: emulated runs skipped: qemu-x86_64 not found (apt-get install qemu-user)');
  const RUN_KERNEL = "const { native } = await import('./src/native.ts'); const id = native.alloc(4, 0); " +
    'native.arange(id, 4, 1, 2); const out = new Float32Array(4); native.read(id, 0, out); console.log(out.join())';
  // Emulation is slow and the machine may be busy: a run past the deadline skips (saying so) rather than fails.
  const emulate = (cpu: string, skip: (note: string) => void) => {
    const r = spawnSync(qemu!, ['-cpu', cpu, process.execPath, '--import', 'tsx', '--input-type=module', '-e', RUN_KERNEL],
      { cwd: root, encoding: 'utf8', timeout: 170_000, killSignal: 'SIGKILL' });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') skip(`qemu-x86_64 -cpu ${cpu} did not finish in 170 s`);
    return r;
  };

  it.runIf(process.arch === 'x64' && qemu !== undefined)('on an emulated Nehalem the import fails with the one line, not SIGILL', (ctx) => {
    const r = emulate('Nehalem', (note) => ctx.skip(note));
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Error: thinkgrad: this CPU (Intel Core i7 9xx (Nehalem Class Core i7)) lacks avx, avx2, fma, f16c, ' +
      'bmi1, bmi2, lzcnt, movbe, xsave; the native engine is built for x86-64-v3');
  }, 200_000);

  it.runIf(process.arch === 'x64' && qemu !== undefined)('on an emulated Haswell the engine loads and runs a kernel', (ctx) => {
    const r = emulate('Haswell', (note) => ctx.skip(note));
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe('1,3,5,7');
  }, 200_000);
});
