// The CPU's vector kernel sets (native/kernels/): simdKernels and THINKGRAD_SIMD choose among them at run time,
// and no AVX-512 instruction is compiled outside the AVX-512 code, so the addon runs on an AVX2-only CPU. (The op
// tests run on every set this machine runs through forEachBackend; here: the switch itself.)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native.js';

const root = resolve(import.meta.dirname, '..');
const features = native.cpuFeatures();
const best = native.simdKernels('auto');

describe('simdKernels', () => {
  it('names the best set this CPU runs, and forces another by name', () => {
    expect(best).toBe(features.arch !== 'x64' ? best : features.avx512 ? 'avx512' : 'avx2');
    const inUse = native.simdKernels();
    try {
      if (features.arch === 'x64') {
        expect(native.simdKernels('avx2')).toBe('avx2');
        expect(native.simdKernels()).toBe('avx2');
      }
      expect(native.simdKernels('auto')).toBe(best);
    } finally {
      native.simdKernels(inUse);
    }
  });

  it('refuses an unknown set, and a set this CPU lacks, with a TypeError naming it; the set in use stays', () => {
    const inUse = native.simdKernels();
    expect(() => native.simdKernels('sse9')).toThrow(TypeError);
    expect(() => native.simdKernels('sse9')).toThrow(/^thinkgrad\.simdKernels: unknown kernel set 'sse9' \(expected .* or auto\)$/);
    if (features.arch === 'x64' && !features.avx512) {
      expect(() => native.simdKernels('avx512')).toThrow(/simdKernels: kernel set 'avx512' is not supported on this CPU\/build/);
    }
    expect(native.simdKernels()).toBe(inUse);
  });

  it('THINKGRAD_SIMD picks the set at load; an unusable one warns and falls back to the best', () => {
    const load = (value: string) => spawnSync(process.execPath, ['--import', 'tsx', '-e',
      "import('./src/native.ts').then(({ native }) => console.log('set', native.simdKernels()))"],
    { cwd: root, encoding: 'utf8', env: { ...process.env, THINKGRAD_SIMD: value } });
    const forced = load(features.arch === 'x64' ? 'avx2' : best);
    expect(forced.stdout.trim()).toBe(`set ${features.arch === 'x64' ? 'avx2' : best}`);
    expect(forced.stderr).not.toContain('THINKGRAD_SIMD');
    const unusable = load('sse9');
    expect(unusable.stdout.trim()).toBe(`set ${best}`);
    expect(unusable.stderr).toContain(`THINKGRAD_SIMD=sse9 is unknown or not supported on this CPU/build; using ${best}`);
  });
});

/** The addon's functions (demangled) that use an AVX-512 register or mask, from objdump; null without objdump. */
function functionsUsingAvx512(addon: string): string[] | null {
  const dump = spawnSync('objdump', ['-d', '-C', '--no-show-raw-insn', addon], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (dump.error || dump.status !== 0) return null;
  const found = new Set<string>();
  let fn = '';
  // zmm registers, opmask registers, and the upper 16 xmm/ymm registers: none exists before AVX-512.
  const avx512 = /%zmm|%k[0-7]\b|\{%k[0-7]\}|%[xy]mm(1[6-9]|2\d|3[01])\b/;
  for (const line of dump.stdout.split('\n')) {
    const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (head) fn = head[1];
    else if (fn && avx512.test(line)) found.add(fn);
  }
  return [...found];
}

describe.skipIf(features.arch !== 'x64')('the AVX-512 code stays in the AVX-512 sets', () => {
  const addon = join(root, 'build', 'Release', 'thinkgrad_native.node');
  const objdump = spawnSync('objdump', ['--version']).status === 0;
  const built = readdirSync(join(root, 'build', 'Release')).includes('thinkgrad_native.node');

  it.skipIf(!objdump || !built)('only functions of the AVX-512 vector set and GEMM kernels use AVX-512 registers', () => {
    const users = functionsUsingAvx512(addon)!;
    // Both AVX-512 parts are there (else the check proves nothing) and nothing else: a baseline function with
    // AVX-512 code (an inline helper compiled under the AVX-512 target and shared by the linker) would crash
    // an AVX2-only CPU.
    expect(users.some((f) => f.startsWith('tg::kernels::avx512::'))).toBe(true);
    expect(users.some((f) => f.includes('gemm_detail::avx512::'))).toBe(true);
    expect(users.filter((f) => !f.includes('avx512'))).toEqual([]);
  });
});
