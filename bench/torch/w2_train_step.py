#!/usr/bin/env python3
"""W2 of ../../../shared/anchors: one training step (forward + cross-entropy + backward + AdamW) of the tiny Llama
(vocab 64, RMSNorm, RoPE, causal attention, SwiGLU, no bias, untied head) at batch 16 x 128 tokens, for the small
(d 256, 4 layers, 4 heads, hidden 688) and medium (d 512, 8 layers, 8 heads, hidden 1376) configs, in PyTorch
with a given thread count (argv[1], default 2), steps per config (argv[2], default 10), configs (argv[3], comma-separated)
and precision (argv[4]: float32, the default, or bf16 for torch.autocast("cpu", bfloat16) around the forward, PyTorch's
mixed-precision recipe: float32 weights and optimizer, bfloat16 matmuls).
Prints one JSON line {"small": {"median_s", "min_s", "times"}, "medium": {...}, "threads": n, "blas": "..."}."""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from common import Llama, blas_library

CONFIGS = {
    "small": dict(vocab=64, d=256, layers=4, heads=4, hidden=688),
    "medium": dict(vocab=64, d=512, layers=8, heads=8, hidden=1376),
}
B, T = 16, 128


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else list(CONFIGS)
    autocast = len(sys.argv) > 4 and sys.argv[4] == "bf16"
    torch.set_num_threads(threads)
    out = {"threads": threads}
    for name in only:
        c = CONFIGS[name]
        torch.manual_seed(0)
        model = Llama(**c)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        data = torch.randint(0, c["vocab"], (B, T + 1))
        inp, tgt = data[:, :-1].contiguous(), data[:, 1:].contiguous()

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(inp).float()
            loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), tgt.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        for _ in range(3):
            step()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        out[name] = {"median_s": statistics.median(times), "min_s": min(times), "times": times}
        del model, opt
    out["blas"] = blas_library()
    print(json.dumps(out))


main()
