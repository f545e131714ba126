// End-to-end learning check: a two-layer pre-norm attention block (embedding, RMSNorm, RoPE, causal GQA
// attention, a SiLU MLP, cross-entropy, fused AdamW) memorizes a small fixed batch.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { randomInts } from './helpers/reference.js';

describe('two-layer attention block', () => {
  it('overfits a small batch: loss falls by 10x', () => {
    tg.manualSeed(5);
    const [B, T, C, H, Hkv, D, V, hidden] = [4, 8, 32, 4, 2, 8, 16, 64];
    const init = (shape: number[], std: number) => tg.randn(shape, { std, requiresGrad: true });
    const params: tg.Tensor[] = [];
    const p = (t: tg.Tensor) => (params.push(t), t);
    const embedding = p(init([V, C], 0.5));
    const layers = Array.from({ length: 2 }, () => ({
      norm1: p(tg.ones([C], { requiresGrad: true })),
      wq: p(init([C, H * D], C ** -0.5)),
      wk: p(init([C, Hkv * D], C ** -0.5)),
      wv: p(init([C, Hkv * D], C ** -0.5)),
      wo: p(init([H * D, C], (H * D) ** -0.5)),
      norm2: p(tg.ones([C], { requiresGrad: true })),
      w1: p(init([C, hidden], C ** -0.5)),
      w2: p(init([hidden, C], hidden ** -0.5)),
    }));
    const finalNorm = p(tg.ones([C], { requiresGrad: true }));
    const head = p(init([C, V], C ** -0.5));
    const moments = params.map((t) => [tg.zeros(t.shape), tg.zeros(t.shape)]);
    const { cos, sin } = tg.rotaryTables(T, D);
    const positions = tg.arange(0, T);
    const ids = tg.tensor(randomInts(B * T, V, 1), [B, T], { dtype: 'int32' });
    const targets = tg.tensor(randomInts(B * T, V, 2), [B * T], { dtype: 'int32' });

    const forward = () => {
      let x = tg.embedding(embedding, ids); // (B, T, C)
      for (const l of layers) {
        const h = tg.rmsNorm(x, l.norm1);
        const q = tg.applyRotary(tg.matmul(h, l.wq).reshape(B, T, H, D), cos, sin, positions);
        const k = tg.applyRotary(tg.matmul(h, l.wk).reshape(B, T, Hkv, D), cos, sin, positions);
        const v = tg.matmul(h, l.wv).reshape(B, T, Hkv, D);
        const a = tg.scaledDotProductAttention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), { causal: true });
        x = x.add(tg.matmul(a.transpose(1, 2).reshape(B, T, H * D), l.wo));
        const m = tg.rmsNorm(x, l.norm2);
        x = x.add(tg.matmul(tg.silu(tg.matmul(m, l.w1)), l.w2));
      }
      const logits = tg.matmul(tg.rmsNorm(x, finalNorm), head);
      return tg.crossEntropy(logits.reshape(B * T, V), targets);
    };

    const losses: number[] = [];
    for (let step = 1; step <= 150; step++) {
      tg.tidy(() => {
        const loss = forward();
        losses.push(loss.item());
        loss.backward();
      });
      params.forEach((t, i) => {
        tg.adamwStep(t, t.grad!, moments[i][0], moments[i][1], { lr: 1e-2, weightDecay: 0, step });
        t.zeroGrad();
      });
    }
    expect(losses[0]).toBeGreaterThan(Math.log(V) * 0.7);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    for (const t of [...params, ...moments.flat(), cos, sin, positions, ids, targets]) t.dispose();
  });
});
