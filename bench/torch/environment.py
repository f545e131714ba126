#!/usr/bin/env python3
"""What the PyTorch side of the benchmarks really runs: torch's version, the BLAS library the process loaded
(Debian's torch calls whichever libblas.so.3 the alternatives system selects), OpenBLAS's kernel name and build
when that is OpenBLAS, and the float32 GEMM rate at 1024^3 with argv[1] threads.
Prints one JSON line {"torch", "blas_paths", "openblas_core", "openblas_config", "gemm_gflops", "threads"}."""
import ctypes
import json
import sys

import torch

from common import median_time


def loaded_blas_paths():
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return sorted(paths)


def openblas_info(paths):
    """OpenBLAS reports the kernel it chose (openblas_get_corename) and its build (openblas_get_config)."""
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode(), lib.openblas_get_config().decode().strip()
        except (OSError, AttributeError):
            continue
    return None, None


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    n = 1024
    a, b, c = torch.rand(n, n), torch.rand(n, n), torch.empty(n, n)
    seconds = median_time(lambda: torch.mm(a, b, out=c), min_time=0.3, min_reps=3, max_reps=50, warmup=2)
    paths = loaded_blas_paths()  # after the first GEMM, so a lazily loaded BLAS is listed
    core, config = openblas_info(paths)
    print(json.dumps({
        "torch": torch.__version__, "blas_paths": paths, "openblas_core": core, "openblas_config": config,
        "gemm_gflops": 2 * n ** 3 / seconds / 1e9, "threads": threads,
    }))


main()
