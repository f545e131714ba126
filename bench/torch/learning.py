"""The PyTorch side of `npm run bench learning`: thinkgrad's cold-start SFT and GRPO written as plain PyTorch
loops (the way TRL's SFTTrainer and GRPOTrainer compute them), on the data, model shape, initialization,
schedules and hyperparameters bench/learning.ts writes to a JSON spec. It prints one JSON line per held-out
evaluation and one per GRPO step, so the two sides' learning curves can be set side by side. A spec with
"mode": "replay" instead replays thinkgrad's own SFT batch and sampled GRPO rounds from thinkgrad's weights,
so the updates themselves can be compared.

Usage: learning.py <threads> <spec.json>
"""
import json
import math
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED = -1e9  # finite, as thinkgrad's mask value: a fully masked (padding) query row stays finite


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads, self.hd = c["num_heads"], d // c["num_heads"]
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, h, cos, sin, bias, cache):
        b, t, d = h.shape
        q, k, v = (f(h).view(b, t, self.heads, self.hd).transpose(1, 2) for f in (self.q_proj, self.k_proj, self.v_proj))
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd) + bias
        return self.o_proj((torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hidden = c["hidden_size"], c["intermediate_size"]
        self.gate_proj, self.up_proj = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, h):
        return self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn, self.mlp = Attention(c), MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin, bias, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, bias, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class Llama(nn.Module):
    """Hugging Face's LlamaForCausalLM (and its parameter names) with tied embeddings: RMSNorm, rotate-half
    RoPE at explicit positions, causal attention with a key padding mask, SwiGLU; every weight matrix drawn
    from N(0, initializer_range)."""

    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        hd = c["hidden_size"] // c["num_heads"]
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=c["initializer_range"])

    @property
    def layers(self):
        return self.model.layers

    def forward(self, ids, positions, key_mask=None, caches=None):
        """ids, positions [B, T]; key_mask [B, past + T] (1 = real token) or None; caches: one list per layer,
        extended in place. Returns logits [B, T, V]."""
        B, T = ids.shape
        past = caches[0][0].shape[2] if caches is not None and caches[0] else 0
        freqs = positions.unsqueeze(-1).float() * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1).unsqueeze(1)  # [B, 1, T, hd]
        cos, sin = emb.cos(), emb.sin()
        allowed = torch.arange(past + T).unsqueeze(0) <= (past + torch.arange(T)).unsqueeze(1)  # [T, past + T]
        allowed = allowed.unsqueeze(0).expand(B, T, past + T)
        if key_mask is not None:
            allowed = allowed & key_mask.bool().unsqueeze(1)
        bias = torch.zeros(B, 1, T, past + T).masked_fill(~allowed.unsqueeze(1), MASKED)
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, bias, caches[i] if caches is not None else None)
        return self.model.norm(x) @ self.model.embed_tokens.weight.t()


class DataOrder:
    """Shuffled passes over n examples, a fresh permutation per pass."""

    def __init__(self, n, generator):
        self.n, self.gen, self.order, self.at = n, generator, [], 0

    def next(self):
        if self.at >= len(self.order):
            self.order, self.at = torch.randperm(self.n, generator=self.gen).tolist(), 0
        self.at += 1
        return self.order[self.at - 1]


def schedule(name, warmup, total):
    """transformers' get_*_schedule_with_warmup lambdas."""
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        if name == "constant_with_warmup":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if name == "linear":
            return max(0.0, 1.0 - progress)
        if name == "cosine":
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))
        raise ValueError(f"unknown schedule {name}")
    return f


def optimizer(model, c, total):
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"], weight_decay=c["weight_decay"])
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule(c["schedule"], c["warmup_steps"], total))


def labeled(prompt, completion):
    """Token ids and labels: the prompt (and the first token) unlabeled, the completion (EOS included) labeled."""
    labels = [-100] * len(prompt) + completion
    labels[0] = -100
    return prompt + completion, labels


def sft_step(model, opt, sched, batch, pad, max_grad_norm):
    """One optimizer step on right-padded (ids, labels) pairs: mean cross-entropy over the batch's labeled tokens."""
    T = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([s + [pad] * (T - len(s)) for s, _ in batch])
    labels = torch.tensor([l + [-100] * (T - len(l)) for _, l in batch])
    logits = model(ids, torch.arange(T).expand(len(batch), T))
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return {"loss": loss.item(), "grad_norm": norm.item()}


def sft(model, c, pad, gen):
    """Completion-only SFT in shuffled passes over the examples."""
    seqs = [labeled(p, q) for p, q in zip(c["prompts"], c["completions"])]
    order = DataOrder(len(seqs), gen)
    opt, sched = optimizer(model, c, c["steps"])
    for _ in range(c["steps"]):
        sft_step(model, opt, sched, [seqs[order.next()] for _ in range(c["batch_size"])], pad, c["max_grad_norm"])


def left_pad(prompts, pad, extra):
    """ids [B, P], key mask [B, P + extra] and positions [B, P] (count from each prompt's first real token)."""
    P = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (P - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (P - len(p)) + [1] * (len(p) + extra) for p in prompts])
    positions = (mask[:, :P].cumsum(1) - 1).clamp(min=0)
    return ids, mask, positions


def sample_from(logits, temperature, top_p, gen):
    """One token per row: softmax(logits / T), cut to the smallest set whose mass reaches top_p (a token is
    kept while the mass before it is < top_p), renormalized; greedy when temperature is 0."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    if top_p < 1:
        sp, si = probs.sort(dim=-1, descending=True)
        sp[(sp.cumsum(-1) - sp) >= top_p] = 0
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


@torch.no_grad()
def generate(model, prompts, max_new, temperature, top_p, eos, pad, gen):
    """Completions (token lists ending at the first EOS, which is kept) sampled with a KV cache; finished
    sequences leave the batch, their cached keys and values with them."""
    ids, mask, positions = left_pad(prompts, pad, max_new)
    P = ids.shape[1]
    caches = [[] for _ in model.layers]
    logits = model(ids, positions, mask[:, :P], caches)[:, -1]
    out = [[] for _ in prompts]
    rows = torch.arange(len(prompts))  # batch row r holds sequence rows[r]
    pos = positions[:, -1]
    for step in range(max_new):
        tok = sample_from(logits, temperature, top_p, gen)
        for r, b in enumerate(rows.tolist()):
            out[b].append(int(tok[r]))
        alive = tok != eos
        if not bool(alive.any()) or step == max_new - 1:
            break
        if not bool(alive.all()):
            rows, tok, pos, mask = rows[alive], tok[alive], pos[alive], mask[alive]
            for cache in caches:
                cache[:] = [t[alive] for t in cache]
        pos = pos + 1
        logits = model(tok.unsqueeze(1), pos.unsqueeze(1), mask[:, :P + step + 1], caches)[:, -1]
    return out


class Task:
    def __init__(self, spec):
        self.pieces, self.eos, self.pad = spec["pieces"], spec["eos"], spec["pad"]
        self.answer = re.compile(spec["answer_pattern"])
        self.well_formed = re.compile(spec["format_pattern"])

    def decode(self, ids):
        return "".join(self.pieces[i] for i in (ids[:-1] if ids and ids[-1] == self.eos else ids))

    def extract(self, text):
        m = self.answer.search(text)
        return m.group(1) if m else None


# thinkgrad's format() and accuracy() rewards: the R1 layout (each tag once, neither block empty), and the
# last <answer> equal by value.
R1_FORMAT = re.compile(r"^<think>\n?([\s\S]*?)\n?</think>\n?<answer>\n?([\s\S]*?)\n?</answer>$")


def format_reward(text):
    m = R1_FORMAT.match(text)
    once = all(text.count(tag) == 1 for tag in ("<think>", "</think>", "<answer>", "</answer>"))
    return 1.0 if m and once and m.group(1).strip() and m.group(2).strip() else 0.0


def accuracy_reward(text, reference):
    tags = re.findall(r"<answer>([\s\S]*?)</answer>", text)
    answer = tags[-1].strip() if tags else ""
    return 1.0 if answer.isdigit() and int(answer) == int(reference) else 0.0


def evaluate(model, task, c, gen):
    """pass@1 over k samples at (T, top-p), cons@k by majority vote (ties to the first seen), greedy accuracy."""
    prompts, answers, k = c["prompts"], c["answers"], c["k"]
    sampled = generate(model, [p for p in prompts for _ in range(k)], c["max_new_tokens"], c["temperature"], c["top_p"], task.eos, task.pad, gen)
    texts = [task.decode(s) for s in sampled]
    greedy = [task.decode(s) for s in generate(model, prompts, c["max_new_tokens"], 0, 1, task.eos, task.pad, gen)]
    right = lambda a, ref: a is not None and int(a) == int(ref)
    pass1 = cons = 0.0
    for i, ref in enumerate(answers):
        got = [task.extract(t) for t in texts[i * k:(i + 1) * k]]
        pass1 += sum(right(a, ref) for a in got) / k
        votes = {}
        for a in got:
            if a is not None:
                votes.setdefault(int(a), [0, a])[0] += 1
        best = max(votes.values(), key=lambda v: v[0], default=None)  # max keeps the first of equal counts
        cons += right(best[1] if best else None, ref)
    n = len(answers)
    return {
        "pass_at_1": pass1 / n, "cons_at_k": cons / n,
        "greedy": sum(right(task.extract(t), ref) for t, ref in zip(greedy, answers)) / n,
        "format": sum(bool(task.well_formed.search(t)) for t in texts) / len(texts),
        "mean_length": sum(len(s) for s in sampled) / len(sampled),
    }


def grpo_step(model, opt, sched, task, c, prompts, completions, refs):
    """TRL's GRPO update for one generation round with num_iterations 1 (old log-probs = the policy's,
    detached): weighted rewards, (r - group mean) / (group std + 1e-4), the clipped surrogate over completion
    tokens (EOS included), aggregated by loss_type, one AdamW step."""
    G = c["num_generations"]
    texts = [task.decode(s) for s in completions]
    scores = torch.tensor([[accuracy_reward(t, r), format_reward(t)] for t, r in zip(texts, refs)])
    rewards = (scores * torch.tensor(c["reward_weights"])).sum(1)
    grouped = rewards.view(-1, G)
    adv = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).reshape(-1)

    L = max(len(s) for s in completions)
    p_ids, mask, _ = left_pad(prompts, task.pad, L)
    P = p_ids.shape[1]
    c_ids = torch.tensor([s + [task.pad] * (L - len(s)) for s in completions])
    c_mask = torch.tensor([[1.0] * len(s) + [0.0] * (L - len(s)) for s in completions])
    ids = torch.cat([p_ids, c_ids], 1)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    logits = model(ids, positions, mask)[:, P - 1:P + L - 1] / c["temperature"]
    logps = torch.log_softmax(logits, -1).gather(-1, c_ids.unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(logps - logps.detach())
    a = adv.unsqueeze(1)
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 1 - c["epsilon"], 1 + c["epsilon"]) * a)
    if c["loss_type"] == "dapo":
        loss = (per_token * c_mask).sum() / c_mask.sum()
    elif c["loss_type"] == "grpo":
        loss = ((per_token * c_mask).sum(1) / c_mask.sum(1).clamp(min=1)).mean()
    else:
        raise ValueError(f"loss_type {c['loss_type']} is not in this reference")
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), c["max_grad_norm"])
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return {"loss": loss.item(), "grad_norm": norm.item(), "rewards": rewards.tolist(), "advantages": adv.tolist(),
            "accuracy": scores[:, 0].mean().item(), "mean_length": sum(len(s) for s in completions) / len(completions)}


def grpo(model, task, c, ev, gen, emit):
    """GRPO rounds: generation_batch_size / G prompts in shuffled passes, G completions each at the
    training temperature, one update per round; held-out evaluations every ev["every"] rounds."""
    G, N = c["num_generations"], c["generation_batch_size"]
    order = DataOrder(len(c["prompts"]), gen)
    opt, sched = optimizer(model, c, c["steps"])
    for step in range(1, c["steps"] + 1):
        picked = [order.next() for _ in range(N // G)]
        prompts = [c["prompts"][i] for i in picked for _ in range(G)]
        refs = [c["answers"][i] for i in picked for _ in range(G)]
        completions = generate(model, prompts, c["max_completion_length"], c["temperature"], 1.0, task.eos, task.pad, gen)
        stats = grpo_step(model, opt, sched, task, c, prompts, completions, refs)
        emit({"kind": "train", "step": step, "accuracy": stats["accuracy"], "mean_length": stats["mean_length"]})
        if step % ev["every"] == 0:
            emit({"kind": "eval", "step": step, **evaluate(model, task, ev, gen)})


def load_weights(model, spec, file):
    """Parameters from a file of float32 values in the order and shapes spec["tensors"] lists."""
    flat = torch.from_numpy(np.fromfile(file, dtype="<f4"))
    params, at = dict(model.named_parameters()), 0
    with torch.no_grad():
        for t in spec["tensors"]:
            n = math.prod(t["shape"])
            params[t["name"]].copy_(flat[at:at + n].view(t["shape"]))
            at += n


def save_weights(model, spec, file):
    params = dict(model.named_parameters())
    torch.cat([params[t["name"]].detach().reshape(-1) for t in spec["tensors"]]).numpy().astype("<f4").tofile(file)


def replay(spec, emit):
    """The two trainers' updates on thinkgrad's own batches, from thinkgrad's weights: SFT steps over a fixed
    batch, then GRPO rounds on the completions thinkgrad sampled. Writes the weights after each stage."""
    task, model = Task(spec), Llama(spec["model"])
    c = spec["sft"]
    load_weights(model, spec, c["weights_in"])
    opt, sched = optimizer(model, c, c["steps"])
    batch = [labeled(p, q) for p, q in zip(c["prompts"], c["completions"])]
    for step in range(1, c["steps"] + 1):
        emit({"kind": "sft", "step": step, **sft_step(model, opt, sched, batch, task.pad, c["max_grad_norm"])})
    save_weights(model, spec, c["weights_out"])
    c = spec["grpo"]
    load_weights(model, spec, c["weights_in"])
    opt, sched = optimizer(model, c, len(c["rounds"]))
    for step, r in enumerate(c["rounds"], 1):
        emit({"kind": "grpo", "step": step, **grpo_step(model, opt, sched, task, c, r["prompts"], r["completions"], r["answers"])})
    save_weights(model, spec, c["weights_out"])


def main():
    torch.set_num_threads(int(sys.argv[1]))
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    emit = lambda record: print(json.dumps(record), flush=True)
    if spec.get("mode") == "replay":
        replay(spec, emit)
        return
    torch.manual_seed(spec["seed"])
    model = Llama(spec["model"])
    gen = torch.Generator().manual_seed(spec["seed"])
    task = Task(spec)
    started = time.perf_counter()
    sft(model, spec["sft"], task.pad, gen)
    emit({"kind": "time", "phase": "sft", "seconds": time.perf_counter() - started})
    emit({"kind": "eval", "step": 0, **evaluate(model, task, spec["eval"], gen)})
    started = time.perf_counter()
    grpo(model, task, spec["grpo"], spec["eval"], gen, emit)
    emit({"kind": "time", "phase": "grpo", "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
