"""PyTorch side of bench/gpu-ops.mjs on the same GPU: GEMM (float32 without TF32, with TF32, and bf16), copy and
elementwise-add bandwidth, and causal GQA attention forward+backward with scaled_dot_product_attention. Prints
one JSON object (milliseconds, medians). Usage: python3 gpu_ops.py '<cases JSON from gpu-ops.mjs>'"""
import json
import sys

import torch
import torch.nn.functional as F

from common import median_time

cases = json.loads(sys.argv[1])
dev = torch.device('cuda')
sync = torch.cuda.synchronize
out = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0), 'gemm': {}, 'bandwidth': {}, 'attention': {}}


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

print(json.dumps(out))
