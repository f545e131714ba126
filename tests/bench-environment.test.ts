// The benchmark's PyTorch-side checks: which OpenBLAS kernel a CPU gets, and refusing ratios against the reference BLAS.
import { describe, expect, it } from 'vitest';
import { cpuInfo, openblasCoretypeFor, torchRefusal, vectorFeatures } from '../bench/lib.js';

const flags = (s: string) => new Set(s.split(' '));
const ZEN5 = flags('fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16');
const ZEN3 = flags('fpu sse2 avx avx2 fma bmi2');
const NEHALEM = flags('fpu sse2 sse4_2');

describe('bench environment', () => {
  it('matches OPENBLAS_CORETYPE to the CPU instead of forcing one everywhere', () => {
    expect(openblasCoretypeFor(ZEN5)).toBe('Cooperlake');
    expect(openblasCoretypeFor(flags('avx2 fma avx512f avx512dq avx512bw avx512vl'))).toBe('SkylakeX');
    expect(openblasCoretypeFor(ZEN3)).toBe('Haswell');
    expect(openblasCoretypeFor(NEHALEM)).toBeUndefined();
    expect(vectorFeatures(ZEN3)).toBe('AVX2 + FMA (no AVX-512)');
    expect(vectorFeatures(ZEN5)).toBe('AVX-512 + AVX512-BF16');
  });

  it('reads the model and flags from cpuinfo text', () => {
    const info = cpuInfo('processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n');
    expect(info.model).toBe('AMD EPYC 7B13');
    expect([...info.flags]).toEqual(['fpu', 'avx2', 'fma']);
  });

  it('refuses ratios against the reference BLAS, even with OpenBLAS loaded for LAPACK, and against a slow BLAS', () => {
    const openblas = ['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so'];
    expect(torchRefusal({ blas_paths: openblas, gemm_gflops: 101 })).toBeNull();
    const mixed = ['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0', openblas[1]];
    expect(torchRefusal({ blas_paths: mixed, gemm_gflops: 60 })).toMatch(/reference BLAS \(\/usr\/lib\/x86_64-linux-gnu\/blas\/libblas\.so\.3\.11\.0\).*apt-get install libopenblas0-pthread/);
    expect(torchRefusal({ blas_paths: openblas, gemm_gflops: 2.1 })).toMatch(/untuned BLAS at 2\.1 GFLOP\/s/);
  });
});
