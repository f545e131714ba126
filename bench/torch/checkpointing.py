#!/usr/bin/env python3
"""PyTorch side of bench/checkpointing.ts: one full fine-tuning step (forward, cross-entropy, backward, gradient
clipping, AdamW) of a Qwen2 model (transformers' eager Qwen2: q/k/v biases, rotate-half RoPE, repeat_kv for the
grouped KV heads, float32 softmax, SwiGLU, tied embeddings) with random weights, with or without
torch.utils.checkpoint(use_reentrant=False) around each decoder layer, as transformers' gradient checkpointing does.
Two steps run; the second is measured. argv: threads B T checkpointing(0|1) vocab hidden intermediate layers heads
kv_heads rope_theta rms_eps. Prints one JSON line in bench/checkpointing.ts's StepMemory form."""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

MiB = 2 ** 20


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / MiB


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class DecoderLayer(nn.Module):
    def __init__(self, C, I, H, Hkv, eps):
        super().__init__()
        self.H, self.Hkv, self.D = H, Hkv, C // H
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(C, eps), RMSNorm(C, eps)
        self.q_proj = nn.Linear(C, H * self.D, bias=True)
        self.k_proj = nn.Linear(C, Hkv * self.D, bias=True)
        self.v_proj = nn.Linear(C, Hkv * self.D, bias=True)
        self.o_proj = nn.Linear(H * self.D, C, bias=False)
        self.gate_proj, self.up_proj = nn.Linear(C, I, bias=False), nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H, Hkv, D = self.H, self.Hkv, self.D
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, H, D).transpose(1, 2)
        k = self.k_proj(h).view(B, T, Hkv, D).transpose(1, 2)
        v = self.v_proj(h).view(B, T, Hkv, D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        scores = q @ k.transpose(-2, -1) * D ** -0.5 + mask
        o = torch.softmax(scores, dim=-1, dtype=torch.float32) @ v
        x = x + self.o_proj(o.transpose(1, 2).reshape(B, T, H * D))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Qwen2(nn.Module):
    def __init__(self, V, C, I, L, H, Hkv, theta, eps):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, C)
        self.layers = nn.ModuleList(DecoderLayer(C, I, H, Hkv, eps) for _ in range(L))
        self.norm = RMSNorm(C, eps)
        self.theta, self.D = theta, C // H
        self.gradient_checkpointing = False
        # transformers' _init_weights: normal(0, 0.02) for linear and embedding weights, zero biases.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, ids):
        B, T = ids.shape
        inv = 1.0 / (self.theta ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D))
        angles = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask)
        return self.norm(x) @ self.embed_tokens.weight.t()  # tied head


def main():
    threads, B, T, ckpt = (int(a) for a in sys.argv[1:5])
    V, C, I, L, H, Hkv = (int(a) for a in sys.argv[5:11])
    theta, eps = float(sys.argv[11]), float(sys.argv[12])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Qwen2(V, C, I, L, H, Hkv, theta, eps)
    model.gradient_checkpointing = bool(ckpt)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(0, V, (B, T))
    rss_model = rss_mib()
    losses = []
    rss_after_forward = step_seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        rss_after_forward = rss_mib()
        loss.backward()
        losses.append(loss.item())
        del logits, loss
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_seconds = time.perf_counter() - started
    print(json.dumps({
        "side": "PyTorch", "checkpointing": bool(ckpt), "rssModelMiB": rss_model, "rssAfterForwardMiB": rss_after_forward,
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "liveAfterForwardMiB": None,
        "peakNativeMiB": None, "stepSeconds": step_seconds, "losses": losses,
    }))


if __name__ == "__main__":
    main()
