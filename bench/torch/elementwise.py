#!/usr/bin/env python3
"""Memory-bound elementwise ops on tensors far larger than the cache, PyTorch with a given thread count.
Prints one JSON line {"copy": s, "add": s, "mul_scalar": s, "exp": s, "silu": s, "sum": s} (median seconds)."""
import json
import sys

import torch

from common import median_time

N = 1 << 26  # 64 Mi floats = 256 MiB per tensor, far above the 32 MiB L3


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    a = torch.randn(N)
    b = torch.randn(N)
    out = torch.empty(N)
    res = {
        "copy": median_time(lambda: out.copy_(a)),
        "add": median_time(lambda: torch.add(a, b, out=out)),
        "mul_scalar": median_time(lambda: torch.mul(a, 2.0, out=out)),
        "exp": median_time(lambda: torch.exp(a, out=out)),
        "silu": median_time(lambda: torch.nn.functional.silu(a, inplace=False)),
        "sum": median_time(lambda: torch.sum(a)),
    }
    print(json.dumps(res))


main()
