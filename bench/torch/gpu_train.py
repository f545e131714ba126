"""PyTorch side of bench/gpu-train.mjs on the same GPU: the same Qwen2.5-0.5B-shaped model (transformers'
Qwen2ForCausalLM from a config, random weights, SDPA attention) in the same three workloads:
  W2 training step on batch x seq tokens: float32 weights under bf16 autocast (eager, then torch.compile), fused
     AdamW; tokens/s and peak memory;
  W4 transformers' generate (bf16 weights, top-p 0.95, temperature 1, top-k off, no EOS) with the dynamic and the
     static cache; tokens/s and peak memory;
  W5 one GRPO iteration written in plain PyTorch: generate, toy reward, group advantages, reference (bf16 copy)
     and policy (autocast) passes in micro-batches with gradient accumulation, AdamW; phase seconds.
After each workload it prints one JSON line with everything so far (the caller keeps the last line, so a timeout
loses only the workload it cut). Usage: python3 gpu_train.py '<cases JSON from gpu-train.mjs>'"""
import copy
import json
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import Qwen2Config, Qwen2ForCausalLM

from common import median_time

cases = json.loads(sys.argv[1])
c = cases['config']
dev = torch.device('cuda')
sync = torch.cuda.synchronize
out = {'torch': torch.__version__, 'transformers': transformers.__version__, 'device': torch.cuda.get_device_name(0),
       'w2': {}, 'w4': {}, 'w5': None}


def report():
    print(json.dumps(out), flush=True)


def rope_kwargs():
    """transformers 5 keeps rope_theta under rope_parameters (its migration guide); 4.x takes it directly."""
    if int(transformers.__version__.split('.')[0]) >= 5:
        return {'rope_parameters': {'rope_type': 'default', 'rope_theta': c['ropeTheta']}}
    return {'rope_theta': c['ropeTheta']}


def new_model(dtype=torch.float32):
    config = Qwen2Config(
        vocab_size=c['vocabSize'], hidden_size=c['hiddenSize'], intermediate_size=c['intermediateSize'],
        num_hidden_layers=c['numHiddenLayers'], num_attention_heads=c['numAttentionHeads'],
        num_key_value_heads=c['numKeyValueHeads'], max_position_embeddings=c['maxPositionEmbeddings'],
        rms_norm_eps=c['rmsNormEps'], tie_word_embeddings=c['tieWordEmbeddings'],
        initializer_range=c['initializerRange'], attn_implementation='sdpa', use_cache=True, **rope_kwargs())
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).to(device=dev, dtype=dtype)


def peak_gib():
    return torch.cuda.max_memory_allocated() / 2 ** 30


def autocast():
    return torch.autocast('cuda', dtype=torch.bfloat16)


def measured(fn, reps):
    fn()
    sync()
    torch.cuda.reset_peak_memory_stats()
    return median_time(fn, min_time=0, min_reps=reps, max_reps=reps, sync=sync, warmup=1), peak_gib()


# ---- W2 ------------------------------------------------------------------------------------------------------
w2 = cases['w2']
B, T, V = w2['batch'], w2['seq'], c['vocabSize']
model = new_model()
model.config.use_cache = False
opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0, fused=True)
ids = torch.randint(0, V, (B, T + 1), device=dev)
inputs, labels = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()


def train_step(forward):
    with autocast():
        logits = forward(inputs)
    loss = F.cross_entropy(logits.float().view(-1, V), labels.view(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for name, forward in (('eager autocast', lambda x: model(input_ids=x).logits),
                      ('compile autocast', torch.compile(lambda x: model(input_ids=x).logits))):
    try:
        seconds, peak = measured(lambda: train_step(forward), w2['steps'])
        out['w2'][name] = {'seconds': seconds, 'tokensPerSecond': B * T / seconds, 'peakGiB': peak}
    except Exception as err:  # torch.compile may not run on a machine without a host compiler
        out['w2'][name] = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
    report()
del model, opt, ids, inputs, labels
torch.cuda.empty_cache()

# ---- W4 ------------------------------------------------------------------------------------------------------
model = new_model(torch.bfloat16).eval()


def sample(prompts, new_tokens, cache):
    return model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=True, top_p=0.95, top_k=0,
                          temperature=1.0, max_new_tokens=new_tokens, min_new_tokens=new_tokens, eos_token_id=None,
                          pad_token_id=0, cache_implementation=cache)


for cache in ('dynamic', 'static'):
    for name, w in cases['w4'].items():
        prompts = torch.randint(0, V, (w['batch'], w['prompt']), device=dev)
        try:
            with torch.inference_mode():
                seconds, peak = measured(lambda: sample(prompts, w['newTokens'], cache), 1)
            out['w4'].setdefault(name, {})[f'{cache} cache'] = {
                'seconds': seconds, 'tokensPerSecond': w['batch'] * w['newTokens'] / seconds, 'peakGiB': peak}
        except Exception as err:
            out['w4'].setdefault(name, {})[f'{cache} cache'] = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
        report()
del model
torch.cuda.empty_cache()

# ---- W5 ------------------------------------------------------------------------------------------------------
w5 = cases['w5']
N, G, P, L, MB = w5['prompts'], w5['group'], w5['prompt'], w5['newTokens'], w5['microBatch']
S = N * G
policy = new_model()
ref = copy.deepcopy(policy).to(torch.bfloat16).eval().requires_grad_(False)
opt = torch.optim.AdamW(policy.parameters(), lr=1e-6, weight_decay=0.0, fused=True)


def completion_logps(m, seqs):
    """log p(completion token) of rows (mb, P + L): logits of the last L + 1 positions only, log-softmax in float32."""
    logits = m(input_ids=seqs[:, :-1], logits_to_keep=L + 1).logits[:, :L].float()
    return torch.gather(logits, 2, seqs[:, P:].unsqueeze(2)).squeeze(2) - torch.logsumexp(logits, dim=2)


def iteration():
    t0 = time.perf_counter()
    prompts = torch.randint(0, V, (N, P), device=dev).repeat_interleave(G, 0)
    with torch.inference_mode(), autocast():
        seqs = policy.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=True, top_p=0.95,
                               top_k=0, temperature=1.0, max_new_tokens=L, min_new_tokens=L, eos_token_id=None, pad_token_id=0)
    seqs = seqs.clone()
    sync()
    t1 = time.perf_counter()
    rewards = ((seqs[:, P:] - prompts[:, -1:]).abs() <= 2).float().mean(1)
    grouped = rewards.view(N, G)
    adv = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).view(S)
    sync()
    t2 = time.perf_counter()
    with torch.no_grad():
        ref_lp = torch.cat([completion_logps(ref, seqs[s:s + MB]) for s in range(0, S, MB)])
    sync()
    t3 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    for s in range(0, S, MB):
        with autocast():
            lp = completion_logps(policy, seqs[s:s + MB])
        a, r = adv[s:s + MB, None], ref_lp[s:s + MB]
        ratio = torch.exp(lp - lp.detach())
        pg = -torch.min(ratio * a, torch.clamp(ratio, 0.8, 1.2) * a)
        d = r - lp
        loss = (pg + 0.04 * (torch.exp(d) - d - 1)).mean(1).mean() * (MB / S)
        loss.backward()
    sync()
    t4 = time.perf_counter()
    opt.step()
    sync()
    t5 = time.perf_counter()
    return {'gen': t1 - t0, 'reward': t2 - t1, 'ref_fwd': t3 - t2, 'policy_fwd_bwd': t4 - t3, 'adamw': t5 - t4, 'total': t5 - t0}


try:
    iteration()
    torch.cuda.reset_peak_memory_stats()
    out['w5'] = {'seconds': iteration(), 'peakGiB': peak_gib()}
except Exception as err:
    out['w5'] = {'error': f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'}
report()
