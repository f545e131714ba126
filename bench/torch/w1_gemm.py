#!/usr/bin/env python3
"""W1 of ../../../shared/anchors: GEMM in PyTorch with a given thread count (argv[1]) and dtype (argv[2]: float32,
the default, or bfloat16, which torch runs through oneDNN).
Prints one JSON line {"[MxK]@[KxN]": median_seconds, ...}."""
import json
import sys

import torch

from common import median_time

SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (2048, 256, 1024), (2048, 1024, 256)]


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    dtype = getattr(torch, sys.argv[2]) if len(sys.argv) > 2 else torch.float32
    torch.set_num_threads(threads)
    out = {}
    for m, k, n in SHAPES:
        a = torch.rand(m, k).to(dtype)
        b = torch.rand(k, n).to(dtype)
        c = torch.empty(m, n, dtype=dtype)
        out[f"[{m}x{k}]@[{k}x{n}]"] = median_time(lambda: torch.mm(a, b, out=c), min_time=0.4, warmup=3)
    print(json.dumps(out))


main()
