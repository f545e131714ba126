#!/usr/bin/env python3
"""W2 of ../../../shared/anchors: one training step (forward + cross-entropy + backward + AdamW) of the tiny Llama
(vocab 64, RMSNorm, RoPE, causal attention, SwiGLU, no bias, untied head) at batch 16 x 128 tokens, for the small
(d 256, 4 layers, 4 heads, hidden 688) and medium (d 512, 8 layers, 8 heads, hidden 1376) configs, in PyTorch
with a given thread count (argv[1], default 2), steps per config (argv[2], default 10), configs (argv[3], comma-separated)
and precision (argv[4]: float32, the default, or bf16 for torch.autocast("cpu", bfloat16) around the forward, PyTorch's
mixed-precision recipe: float32 weights and optimizer, bfloat16 matmuls).
Prints one JSON line {"small": {"median_s", "min_s", "times"}, "medium": {...}, "threads": n, "blas": "..."}."""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import RMSNorm, blas_library, rope

CONFIGS = {
    "small": dict(vocab=64, d=256, layers=4, heads=4, hidden=688),
    "medium": dict(vocab=64, d=512, layers=8, heads=8, hidden=1376),
}
B, T, MAX_SEQ = 16, 128, 256


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.heads, self.hd = c["d"], c["heads"], c["d"] // c["heads"]
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, c["hidden"], bias=False), nn.Linear(d, c["hidden"], bias=False)
        self.down = nn.Linear(c["hidden"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.n1(x)
        q, k, v = (f(h).view(b, t, self.heads, self.hd).transpose(1, 2) for f in (self.q, self.k, self.v))
        q, k = rope(q, cos[:t], sin[:t]), rope(k, cos[:t], sin[:t])
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd)) + mask[:t, :t]
        x = x + self.o((torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, t, d))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        hd = c["d"] // c["heads"]
        self.emb = nn.Embedding(c["vocab"], c["d"])
        self.blocks = nn.ModuleList([Block(c) for _ in range(c["layers"])])
        self.norm = RMSNorm(c["d"])
        self.head = nn.Linear(c["d"], c["vocab"], bias=False)
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(MAX_SEQ, dtype=torch.float32), inv)
        f = torch.cat([f, f], dim=-1)
        self.cos, self.sin = f.cos(), f.sin()
        self.mask = torch.full((MAX_SEQ, MAX_SEQ), float("-inf")).triu(1)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx):
        x = self.emb(idx)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        return self.head(self.norm(x))


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
        model = Llama(c)
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
