"""Pieces shared by the PyTorch comparison scripts: wall-clock medians, the BLAS library torch loaded, and
the Llama layers of the anchors' W2/W4 model (RMSNorm, rotate-half RoPE)."""
import statistics
import time

import torch
import torch.nn as nn


def median_time(fn, min_time=0.5, min_reps=5, max_reps=None, sync=lambda: None, warmup=2):
    """Median seconds of fn() after `warmup` calls, over at least min_reps calls and min_time seconds.
    `sync` waits for queued device work (CUDA) before each clock read."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time and (max_reps is None or len(times) < max_reps)):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def blas_library():
    """The BLAS shared objects in this process (Debian's torch uses whatever libblas.so.3 is selected)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1].rsplit("/", 1)[-1] for line in f if "blas" in line.lower()}
    return ",".join(sorted(libs)) or "unknown"


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):  # x [B,H,T,hd], cos/sin [T,hd]
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], dim=-1) * sin
