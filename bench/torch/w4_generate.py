#!/usr/bin/env python3
"""W4 of ../../../shared/anchors: the W2 small Llama (vocab 64, d 256, 4 layers, 4 heads, SwiGLU 688, untied)
samples 64 sequences x 128 new tokens from a 16-token prompt, temperature 1.0, top-p 0.95, with a
preallocated KV cache, in PyTorch with a given thread count (argv[1], default 2), repetitions (argv[2], default 3)
and dtype (argv[3]: float32, the default, or bf16: bfloat16 weights, activations and KV cache, logits sampled in
float32).
Prints one JSON line {"median_s": ..., "min_s": ..., "tokens": 8192, "threads": n, "blas": "<library loaded>"}.
NOTE: Debian's torch calls whatever libblas.so.3 the alternatives system selects; without libopenblas0 that is
the reference BLAS (~5 GFLOP/s), so "blas" is reported to make a slow PyTorch figure explainable."""
import json
import statistics
import sys
import time

import torch

from common import Llama, blas_library, generate_cached

VOCAB, D, LAYERS, HEADS, HIDDEN = 64, 256, 4, 4, 688
B, P, NEW = 64, 16, 128


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dtype = torch.bfloat16 if len(sys.argv) > 3 and sys.argv[3] == "bf16" else torch.float32
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Llama(VOCAB, D, LAYERS, HEADS, HIDDEN).eval().to_dtype(dtype)
    prompt = torch.randint(0, VOCAB, (B, P))
    gen = torch.Generator().manual_seed(0)
    generate_cached(model, prompt, 8, gen, dtype)  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        generate_cached(model, prompt, NEW, gen, dtype)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times), "tokens": B * NEW, "threads": threads,
                      "blas": blas_library()}))


main()
