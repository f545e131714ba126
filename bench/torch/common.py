"""Pieces shared by the PyTorch comparison scripts: wall-clock medians, the BLAS library torch loaded, and
the anchors' tiny Llama (RMSNorm, rotate-half RoPE, causal attention, SwiGLU, untied head) with an optional
preallocated KV cache, as W2, W4 and W5 use it, and top-p sampling."""
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x, cos, sin, mask, cache=None, pos=0):
        b, t, d = x.shape
        h = self.n1(x)
        q, k, v = (f(h).view(b, t, self.heads, self.hd).transpose(1, 2) for f in (self.q, self.k, self.v))
        q, k = rope(q, cos[pos:pos + t], sin[pos:pos + t]), rope(k, cos[pos:pos + t], sin[pos:pos + t])
        if cache is not None:
            kc, vc = cache
            kc[:, :, pos:pos + t] = k
            vc[:, :, pos:pos + t] = v
            k, v = kc[:, :, :pos + t], vc[:, :, :pos + t]
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        if t > 1:
            s = s + mask[pos:pos + t, :pos + t]
        x = x + self.o((torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, t, d))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    """forward(idx, caches=None, pos=0): logits for tokens idx at positions pos.. (with caches, one preallocated
    (k, v) pair of [B, heads, maxT, head_dim] per layer from new_cache, written at those positions)."""

    def __init__(self, vocab, d, layers, heads, hidden, max_seq=256):
        super().__init__()
        hd = d // heads
        self.heads, self.hd = heads, hd
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList([Block(d, heads, hidden) for _ in range(layers)])
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)
        f = torch.cat([f, f], dim=-1)
        self.cos, self.sin = f.cos(), f.sin()
        self.mask = torch.full((max_seq, max_seq), float("-inf")).triu(1)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def to_dtype(self, dtype):
        """Weights and the rotary/mask tables in dtype (bf16 inference)."""
        self.to(dtype)
        self.cos, self.sin, self.mask = self.cos.to(dtype), self.sin.to(dtype), self.mask.to(dtype)
        return self

    def new_cache(self, B, T, dtype=torch.float32):
        return [(torch.zeros(B, self.heads, T, self.hd, dtype=dtype), torch.zeros(B, self.heads, T, self.hd, dtype=dtype))
                for _ in self.blocks]

    def forward(self, idx, caches=None, pos=0):
        x = self.emb(idx)
        for i, blk in enumerate(self.blocks):
            x = blk(x, self.cos, self.sin, self.mask, caches[i] if caches is not None else None, pos)
        return self.head(self.norm(x))


def sample_top_p(logits, gen, temperature=1.0, top_p=0.95):
    """Tokens [B, 1] drawn from softmax(logits / temperature) cut to the smallest top-p set."""
    probs = torch.softmax(logits / temperature, dim=-1)
    sp, si = probs.sort(dim=-1, descending=True)
    cum = sp.cumsum(-1)
    sp[(cum - sp) > top_p] = 0.0
    sp = sp / sp.sum(-1, keepdim=True)
    return si.gather(-1, torch.multinomial(sp, 1, generator=gen))


@torch.inference_mode()
def generate_cached(model, prompts, new_tokens, gen, dtype=torch.float32):
    """[B, new_tokens] tokens sampled (top-p 0.95, temperature 1) after prompts [B, P] with a preallocated cache."""
    B, P = prompts.shape
    caches = model.new_cache(B, P + new_tokens, dtype)
    tok = sample_top_p(model(prompts, caches, 0)[:, -1].float(), gen)
    out = [tok]
    for i in range(1, new_tokens):
        tok = sample_top_p(model(tok, caches, P + i - 1)[:, -1].float(), gen)
        out.append(tok)
    return torch.cat(out, 1)
