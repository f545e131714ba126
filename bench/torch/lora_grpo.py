#!/usr/bin/env python3
"""PyTorch side of bench/lora-grpo.ts: the same GRPO step with LoRA written in plain torch (no peft here): the Qwen2
of checkpointing.py in bfloat16 with a KV cache for sampling, r-16 adapters on q/k/v/o in float32 (what PEFT's
autocast_adapter_dtype keeps; the adapter reads the input in float32 and its sum is cast back to the base layer's
dtype, as PEFT's lora.Linear does), the reference log-probs from the base with adapters disabled, the policy's
forward + backward in micro-batches and AdamW on the adapters. Two steps run; the second is measured.
argv: threads step_json vocab hidden intermediate layers heads kv_heads rope_theta rms_eps. Prints one JSON line in
bench/lora-grpo.ts's LoraStepResult form."""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch.utils.checkpoint import checkpoint

from checkpointing import Qwen2, rotate_half, rss_mib
from common import sample_top_p


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base, self.scaling, self.enabled = base, alpha / r, True
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        y = self.base(x)
        if not self.enabled:
            return y
        return (y + (x.float() @ self.lora_A.t() @ self.lora_B.t()) * self.scaling).to(y.dtype)


def layer_step(layer, x, cos, sin, cache, pos):
    """A decoder layer over new tokens x at positions pos.. with a preallocated (k, v) cache, or none (a full pass)."""
    B, T, _ = x.shape
    H, Hkv, D = layer.H, layer.Hkv, layer.D
    h = layer.input_layernorm(x)
    q = layer.q_proj(h).view(B, T, H, D).transpose(1, 2)
    k = layer.k_proj(h).view(B, T, Hkv, D).transpose(1, 2)
    v = layer.v_proj(h).view(B, T, Hkv, D).transpose(1, 2)
    c, s = cos[pos:pos + T].to(q.dtype), sin[pos:pos + T].to(q.dtype)
    q, k = q * c + rotate_half(q) * s, k * c + rotate_half(k) * s
    if cache is not None:
        cache[0][:, :, pos:pos + T], cache[1][:, :, pos:pos + T] = k, v
        k, v = cache[0][:, :, :pos + T], cache[1][:, :, :pos + T]
    k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
    scores = (q @ k.transpose(-2, -1)).float() * D ** -0.5
    if T > 1:
        scores = scores + torch.full((T, pos + T), float("-inf")).triu(pos + 1)
    o = torch.softmax(scores, dim=-1).to(v.dtype) @ v
    x = x + layer.o_proj(o.transpose(1, 2).reshape(B, T, H * D))
    h = layer.post_attention_layernorm(x)
    return x + layer.down_proj(F.silu(layer.gate_proj(h)) * layer.up_proj(h))


def hidden(model, ids, caches=None, pos=0):
    T = pos + ids.shape[1]
    inv = 1.0 / (model.theta ** (torch.arange(0, model.D, 2, dtype=torch.float32) / model.D))
    angles = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    x = model.embed_tokens(ids)
    for i, layer in enumerate(model.layers):
        if model.gradient_checkpointing and caches is None and torch.is_grad_enabled():
            x = checkpoint(layer_step, layer, x, cos, sin, None, pos, use_reentrant=False)
        else:
            x = layer_step(layer, x, cos, sin, caches[i] if caches is not None else None, pos)
    return model.norm(x)


def logits_of(model, h):
    return h @ model.embed_tokens.weight.t()  # tied head


@torch.no_grad()
def generate(model, prompts, new_tokens, gen):
    B, P = prompts.shape
    layer0 = model.layers[0]
    caches = [(torch.empty(B, layer0.Hkv, P + new_tokens, layer0.D, dtype=torch.bfloat16),
               torch.empty(B, layer0.Hkv, P + new_tokens, layer0.D, dtype=torch.bfloat16)) for _ in model.layers]
    tok = sample_top_p(logits_of(model, hidden(model, prompts, caches, 0)[:, -1:])[:, -1].float(), gen)
    out = [tok]
    for i in range(1, new_tokens):
        tok = sample_top_p(logits_of(model, hidden(model, tok, caches, P + i - 1))[:, -1].float(), gen)
        out.append(tok)
    return torch.cat(out, 1)


def completion_logps(model, seqs, P, L):
    """log p(completion token) of rows (mb, P + L): the head over the last L positions only, log-softmax in float32."""
    h = hidden(model, seqs[:, :-1])[:, P - 1:]
    logits = logits_of(model, h).float()
    return torch.gather(logits, 2, seqs[:, P:].unsqueeze(2)).squeeze(2) - torch.logsumexp(logits, dim=2)


def main():
    threads = int(sys.argv[1])
    step = json.loads(sys.argv[2])
    V, C, I, L_layers, H, Hkv = (int(a) for a in sys.argv[3:9])
    theta, eps = float(sys.argv[9]), float(sys.argv[10])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Qwen2(V, C, I, L_layers, H, Hkv, theta, eps).to(torch.bfloat16).requires_grad_(False)
    model.gradient_checkpointing = bool(step.get("checkpointing"))
    loras = []
    for layer in model.layers:
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            lora = LoraLinear(getattr(layer, name), step["r"], step["alpha"])
            setattr(layer, name, lora)
            loras.append(lora)
    adapters = [p for lora in loras for p in (lora.lora_A, lora.lora_B)]
    optimizer = torch.optim.AdamW(adapters, lr=1e-5, weight_decay=0.0)
    rss_model = rss_mib()
    N, G, P, L, MB, beta = step["prompts"], step["group"], step["promptTokens"], step["newTokens"], step["microBatch"], step["beta"]
    S = N * G
    gen = torch.Generator().manual_seed(0)
    losses, seconds = [], {}

    def one_step():
        t0 = time.perf_counter()
        prompts = torch.randint(0, V, (N, P), generator=gen).repeat_interleave(G, 0)
        seqs = torch.cat([prompts, generate(model, prompts, L, gen)], 1)
        t1 = time.perf_counter()
        rewards = ((seqs[:, P:] - prompts[:, -1:]).abs() < 1000).float().mean(1).view(N, G)
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).view(S)
        with torch.no_grad():
            for lora in loras:
                lora.enabled = False
            ref = torch.cat([completion_logps(model, seqs[s:s + MB], P, L) for s in range(0, S, MB)])
            for lora in loras:
                lora.enabled = True
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for s in range(0, S, MB):
            lp = completion_logps(model, seqs[s:s + MB], P, L)
            a, r = adv[s:s + MB, None], ref[s:s + MB]
            ratio = torch.exp(lp - lp.detach())
            pg = -torch.min(ratio * a, torch.clamp(ratio, 0.8, 1.2) * a)
            d = r - lp
            loss = (pg + beta * (torch.exp(d) - d - 1)).mean(1).mean() * (MB / S)
            loss.backward()
            total += loss.item()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        losses.append(total)
        seconds.update(gen=t1 - t0, ref=t2 - t1, policy=t3 - t2, adamw=t4 - t3, total=t4 - t0)

    one_step()
    one_step()
    print(json.dumps({
        "side": "PyTorch", "rssModelMiB": rss_model, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainableParameters": sum(p.numel() for p in adapters), "seconds": seconds,
        "sampledTokensPerSecond": S * L / seconds["gen"], "trainedTokensPerSecond": S * L / seconds["policy"], "losses": losses,
    }))


if __name__ == "__main__":
    main()
