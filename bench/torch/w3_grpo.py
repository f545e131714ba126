#!/usr/bin/env python3
"""W3 GRPO loss in PyTorch: N = 4096 tokens (64 sequences x 64), V = 64 and 32000, log_softmax + gather
(TRL's selective_log_softmax for float32), ratio vs old log-probs, clip 0.2, k3 KL beta 0.04, masked
per-sequence mean then mean; forward + backward w.r.t. the logits.
Usage: w3_grpo.py [threads] [cpu|cuda] [float32|bfloat16]. Prints one JSON line
{"V=64": {"fwd_bwd": s, "fwd": s, "peak_extra_bytes": n}, "V=32000": {...}} (median seconds)."""
import json
import statistics
import sys

import torch

from common import median_time


def grpo_loss(logits, ids, old_lp, ref_lp, adv_tok, mask, S, L, eps=0.2, beta=0.04):
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, None]).squeeze(-1)
    ratio = torch.exp(logp - old_lp)
    pg = -torch.min(ratio * adv_tok, torch.clamp(ratio, 1 - eps, 1 + eps) * adv_tok)
    d = ref_lp - logp
    kl = torch.exp(d) - d - 1  # k3 estimator
    per_tok = (pg + beta * kl) * mask
    return (per_tok.view(S, L).sum(1) / mask.view(S, L).sum(1).clamp(min=1)).mean()


def cuda_median(fn, reps=50):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
    dtype = torch.bfloat16 if (len(sys.argv) > 3 and sys.argv[3] == "bfloat16") else torch.float32
    torch.set_num_threads(threads)
    S, L = 64, 64
    N = S * L
    out = {}
    for V in (64, 32000):
        g = torch.Generator().manual_seed(0)
        logits = (torch.randn(N, V, generator=g) * 2).to(device=device, dtype=dtype).requires_grad_(True)
        ids = torch.randint(0, V, (N,), generator=g).to(device)
        with torch.no_grad():
            lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, None]).squeeze(-1)
        old_lp = lp + 0.3 * torch.randn(N, generator=g).to(device)
        ref_lp = lp + 0.3 * torch.randn(N, generator=g).to(device)
        adv_tok = torch.randn(S, generator=g).repeat_interleave(L).to(device)
        lengths = torch.randint(L // 2, L + 1, (S,), generator=g)
        mask = (torch.arange(L)[None, :] < lengths[:, None]).float().reshape(-1).to(device)

        def fb():
            logits.grad = None
            grpo_loss(logits, ids, old_lp, ref_lp, adv_tok, mask, S, L).backward()

        def fo():
            with torch.no_grad():
                grpo_loss(logits, ids, old_lp, ref_lp, adv_tok, mask, S, L)

        if device == "cuda":
            t_fb, t_f = cuda_median(fb), cuda_median(fo)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fb()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
        else:
            t_fb = median_time(fb, max_reps=200, min_time=0.5 if V == 64 else 0, min_reps=10 if V == 64 else 5)
            t_f = median_time(fo, max_reps=200, min_time=0.5 if V == 64 else 0, min_reps=10 if V == 64 else 5)
            peak = None
        out[f"V={V}"] = {"fwd_bwd": t_fb, "fwd": t_f, "peak_extra_bytes": peak}
        del logits
    print(json.dumps(out))


if __name__ == "__main__":
    main()
