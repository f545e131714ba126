"""PyTorch side of bench/gpu-ops.mjs on the same GPU: GEMM (float32 without TF32, with TF32, and bf16), copy and
elementwise-add bandwidth, causal GQA attention forward+backward with scaled_dot_product_attention, and one token
sampled per row the way transformers' generate does it (TopK/TopP logits warpers, softmax, multinomial). Prints
one JSON object (milliseconds, medians). Usage: python3 gpu_ops.py '<cases JSON from gpu-ops.mjs>'"""
import json
import sys

import torch
import torch.nn.functional as F

from common import median_time

cases = json.loads(sys.argv[1])
dev = torch.device('cuda')
sync = torch.cuda.synchronize
out = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0), 'gemm': {}, 'bandwidth': {}, 'attention': {},
       'sampling': {}}


def timed(fn):
    return median_time(fn, min_time=0.3, min_reps=10, max_reps=200, sync=sync, warmup=3) * 1e3


for name, (m, n, k) in cases['gemm'].items():
    a = torch.randn(m, k, device=dev)
    b = torch.randn(k, n, device=dev)
    row = {}
    torch.backends.cuda.matmul.allow_tf32 = False
    row['float32'] = timed(lambda: torch.matmul(a, b))
    torch.backends.cuda.matmul.allow_tf32 = True
    row['tf32'] = timed(lambda: torch.matmul(a, b))
    torch.backends.cuda.matmul.allow_tf32 = False
    ab, bb = a.bfloat16(), b.bfloat16()
    row['bfloat16'] = timed(lambda: torch.matmul(ab, bb))
    out['gemm'][name] = row
    del a, b, ab, bb

n = cases['bandwidth']['numel']
x = torch.randn(n, device=dev)
y = torch.randn(n, device=dev)
z = torch.empty_like(x)
out['bandwidth']['copy'] = timed(lambda: z.copy_(x))
out['bandwidth']['add'] = timed(lambda: torch.add(x, y, out=z))
out['bandwidth']['silu'] = timed(lambda: torch.nn.functional.silu(x))
del x, y, z

for name, (b, hq, hkv, t, d) in cases['attention'].items():
    row = {}
    for dtype in ('float32', 'bfloat16'):
        q = torch.randn(b, hq, t, d, device=dev, dtype=getattr(torch, dtype), requires_grad=True)
        k = torch.randn(b, hkv, t, d, device=dev, dtype=q.dtype, requires_grad=True)
        v = torch.randn(b, hkv, t, d, device=dev, dtype=q.dtype, requires_grad=True)
        g = torch.randn(b, hq, t, d, device=dev, dtype=q.dtype)

        def step():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            o.backward(g)

        def forward():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

        row[dtype] = {'forward': timed(forward), 'forwardBackward': timed(step)}
        del q, k, v, g
    out['attention'][name] = row



def hf_sample(scores, top_k, top_p):
    # transformers' TopKLogitsWarper and TopPLogitsWarper (sorted ascending, cumulative softmax), then a draw;
    # .tolist() copies the ids to the host as generate's stopping criteria make it.
    if top_k:
        kth = torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float('inf'))
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - top_p)
    remove[..., -1:] = 0
    scores = scores.masked_fill(remove.scatter(1, sorted_indices, remove), -float('inf'))
    return torch.multinomial(scores.softmax(dim=-1), num_samples=1).squeeze(1).tolist()


for name, (rows, v) in cases.get('sampling', {}).items():
    logits = torch.randn(rows, v, device=dev) * 3
    out['sampling'][name] = {
        'top-p 0.95': timed(lambda: hf_sample(logits, 0, 0.95)),
        'top-k 50, top-p 0.95': timed(lambda: hf_sample(logits, 50, 0.95)),
        'greedy': timed(lambda: torch.argmax(logits, dim=-1).tolist()),
    }
    del logits

print(json.dumps(out))
