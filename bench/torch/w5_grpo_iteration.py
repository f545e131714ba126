#!/usr/bin/env python3
"""W5 of ../../../shared/anchors: one GRPO iteration of the W2 small Llama: 8 prompts x G = 8 completions x 64
tokens sampled with the KV cache (temperature 1, top-p 0.95), a toy reward (share of completion tokens before
the first EOS within 2 of the prompt's last token), group advantages, the reference model's log-probs, then
the policy forward + backward through log_softmax + gather and the clipped GRPO loss with the k3 KL (beta 0.04,
eps 0.2, per-sequence mean), and AdamW. Thread count argv[1] (default 2), iterations argv[2] (default 5),
precision argv[3] (float32, the default, or bf16: torch.autocast("cpu", bfloat16) around sampling and forwards).
Prints one JSON line {"gen": median_s, "reward", "ref_fwd", "policy_fwd_bwd", "adamw", "total", "blas": ...}."""
import copy
import json
import statistics
import sys
import time

import torch

from common import Llama, blas_library, generate_cached

N_PROMPTS, G, P, LC, EOS, VOCAB = 8, 8, 16, 64, 0, 64
S = N_PROMPTS * G


def grpo_loss(logp, ref_lp, adv_tok, mask, eps=0.2, beta=0.04):
    ratio = torch.exp(logp - logp.detach())  # one policy update per generation: old log-probs = current
    pg = -torch.min(ratio * adv_tok, torch.clamp(ratio, 1 - eps, 1 + eps) * adv_tok)
    d = ref_lp - logp
    per_tok = (pg + beta * (torch.exp(d) - d - 1)) * mask
    return (per_tok.view(S, LC).sum(1) / mask.view(S, LC).sum(1).clamp(min=1)).mean()


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    autocast = len(sys.argv) > 3 and sys.argv[3] == "bf16"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy = Llama(VOCAB, 256, 4, 4, 688)
    ref = copy.deepcopy(policy).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    amp = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)

    def iteration():
        t0 = time.perf_counter()
        prompts = torch.randint(1, VOCAB, (N_PROMPTS, P), generator=gen).repeat_interleave(G, 0)
        policy.eval()
        with amp():
            comp = generate_cached(policy, prompts, LC, gen).clone()
        t1 = time.perf_counter()
        is_eos = comp == EOS
        mask = ((is_eos.cumsum(1) - is_eos.long()) == 0).float()  # up to and including the first EOS
        reward = (((comp - prompts[:, -1:]).abs() <= 2).float() * mask).sum(1) / mask.sum(1).clamp(min=1)
        r = reward.view(N_PROMPTS, G)
        adv_tok = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).reshape(-1).repeat_interleave(LC)
        inp = torch.cat([prompts, comp], 1)[:, :-1]
        ids = comp.reshape(-1)
        t2 = time.perf_counter()
        with torch.no_grad(), amp():
            ref_logits = ref(inp)[:, P - 1:].reshape(-1, VOCAB).float()
            ref_lp = ref_logits.gather(-1, ids[:, None]).squeeze(-1) - torch.logsumexp(ref_logits, dim=-1)
        t3 = time.perf_counter()
        policy.train()
        with amp():
            logits = policy(inp)[:, P - 1:].reshape(-1, VOCAB).float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, None]).squeeze(-1)
        loss = grpo_loss(logp, ref_lp, adv_tok, mask.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        return {"gen": t1 - t0, "reward": t2 - t1, "ref_fwd": t3 - t2, "policy_fwd_bwd": t4 - t3, "adamw": t5 - t4, "total": t5 - t0}

    for _ in range(2):
        iteration()
    recs = [iteration() for _ in range(iters)]
    out = {k: statistics.median(r[k] for r in recs) for k in recs[0]}
    out["blas"] = blas_library()
    print(json.dumps(out))


main()
