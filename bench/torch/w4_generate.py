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
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import RMSNorm, blas_library, rope

VOCAB, D, LAYERS, HEADS, HIDDEN, MAX_SEQ = 64, 256, 4, 4, 688, 256
HD = D // HEADS
B, P, NEW = 64, 16, 128


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(D, HIDDEN, bias=False), nn.Linear(D, HIDDEN, bias=False)
        self.down = nn.Linear(HIDDEN, D, bias=False)

    def forward(self, x, cos, sin, mask, cache, pos):
        b, t, _ = x.shape
        h = self.n1(x)
        q, k, v = (f(h).view(b, t, HEADS, HD).transpose(1, 2) for f in (self.q, self.k, self.v))
        q, k = rope(q, cos[pos:pos + t], sin[pos:pos + t]), rope(k, cos[pos:pos + t], sin[pos:pos + t])
        kc, vc = cache
        kc[:, :, pos:pos + t] = k
        vc[:, :, pos:pos + t] = v
        k, v = kc[:, :, :pos + t], vc[:, :, :pos + t]
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HD))
        if t > 1:
            s = s + mask[pos:pos + t, :pos + t]
        x = x + self.o((torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, t, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        inv = 1.0 / (10000.0 ** (torch.arange(0, HD, 2, dtype=torch.float32) / HD))
        f = torch.outer(torch.arange(MAX_SEQ, dtype=torch.float32), inv)
        f = torch.cat([f, f], dim=-1)
        self.cos, self.sin = f.cos(), f.sin()
        self.mask = torch.full((MAX_SEQ, MAX_SEQ), float("-inf")).triu(1)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, caches, pos):
        x = self.emb(idx)
        for blk, c in zip(self.blocks, caches):
            x = blk(x, self.cos, self.sin, self.mask, c, pos)
        return self.head(self.norm(x))


def sample_top_p(logits, gen, temperature=1.0, top_p=0.95):
    probs = torch.softmax(logits / temperature, dim=-1)
    sp, si = probs.sort(dim=-1, descending=True)
    cum = sp.cumsum(-1)
    sp[(cum - sp) > top_p] = 0.0
    sp = sp / sp.sum(-1, keepdim=True)
    return si.gather(-1, torch.multinomial(sp, 1, generator=gen))


@torch.inference_mode()
def generate(model, prompt, new_tokens, gen, dtype):
    caches = [(torch.zeros(B, HEADS, P + new_tokens, HD, dtype=dtype), torch.zeros(B, HEADS, P + new_tokens, HD, dtype=dtype))
              for _ in range(LAYERS)]
    tok = sample_top_p(model(prompt, caches, 0)[:, -1].float(), gen)
    out = [tok]
    for i in range(1, new_tokens):
        tok = sample_top_p(model(tok, caches, P + i - 1)[:, -1].float(), gen)
        out.append(tok)
    return torch.cat(out, 1)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dtype = torch.bfloat16 if len(sys.argv) > 3 and sys.argv[3] == "bf16" else torch.float32
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Llama().eval().to(dtype)
    model.cos, model.sin, model.mask = model.cos.to(dtype), model.sin.to(dtype), model.mask.to(dtype)
    prompt = torch.randint(0, VOCAB, (B, P))
    gen = torch.Generator().manual_seed(0)
    generate(model, prompt, 8, gen, dtype)  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        generate(model, prompt, NEW, gen, dtype)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times), "tokens": B * NEW, "threads": threads,
                      "blas": blas_library()}))


main()
