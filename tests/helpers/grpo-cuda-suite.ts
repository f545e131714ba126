// The CUDA addon's GRPO kernels against the CPU kernels on the same random inputs (outputs poisoned first), for
// any build of cuda/: the real addon on a GPU (grpo-cuda.test.ts) and the CPU emulator (grpo-cuda-emulated.test.ts).
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as tg from '../../src/index.js';
import { cudaAddon } from '../../src/backend/cuda.js';
import { expectClose, fromArray, randomArray, randomInts } from './reference.js';

function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return f[0];
}

export function grpoCudaSuite(title: string, status: { available: boolean }): void {
  describe.skipIf(!status.available)(title, () => {
    const cases: [number, number, number, 'float32' | 'bfloat16'][] = [
      [129, 64, 1, 'float32'], [64, 1000, 0.7, 'float32'], [32, 4099, 1.3, 'float32'], [16, 32000, 1, 'float32'],
      [129, 64, 1, 'bfloat16'], [16, 32000, 0.9, 'bfloat16'], [9, 3, 1, 'float32'],
    ];
    for (const [N, V, T, dtype] of cases) {
      it(`selective log-softmax + entropy and backward, N=${N} V=${V} T=${T} ${dtype}`, () => {
        const x = randomArray(N * V, N + V, 3).map((v) => (dtype === 'bfloat16' ? bf16(v) : v));
        const ids = randomInts(N, V, V);
        const g = randomArray(N, 1), gh = randomArray(N, 2);
        const cpu = tg.tidy(() => {
          const logits = fromArray(x, [N, V], true);
          const { logps, entropy } = tg.selectiveLogSoftmaxWithEntropy(logits, tg.tensor(ids, [N], { dtype: 'int32' }), { temperature: T });
          tg.add(tg.sum(tg.mul(logps, fromArray(g, [N]))), tg.sum(tg.mul(entropy, fromArray(gh, [N])))).backward();
          return { lp: logps.data(), ent: entropy.data(), d: logits.grad!.data() };
        });
        const c = cudaAddon('test');
        const code = dtype === 'bfloat16' ? 2 : 0;
        const X = c.alloc(N * V, code), I = c.alloc(N, 1), LP = c.alloc(N, 0), LSE = c.alloc(N, 0), ENT = c.alloc(N, 0);
        const G = c.alloc(N, 0), GH = c.alloc(N, 0), D = c.alloc(N * V, code);
        try {
          c.upload(X, 0, Float32Array.from(x));
          c.upload(I, 0, ids);
          for (const id of [LP, LSE, ENT]) c.upload(id, 0, new Float32Array(N).fill(NaN));
          c.upload(D, 0, new Float32Array(N * V).fill(NaN));
          c.upload(G, 0, Float32Array.from(g));
          c.upload(GH, 0, Float32Array.from(gh));
          c.selectiveLogSoftmax(X, 0, V, I, N, V, T, LP, LSE, ENT);
          // logps and entropy each run one backward on CPU; on CUDA one call takes both upstream gradients.
          c.selectiveLogSoftmaxBackward(D, 0, V, X, 0, V, I, LSE, G, GH, ENT, N, V, T);
          const lp = new Float32Array(N), ent = new Float32Array(N), d = new Float32Array(N * V);
          c.download(LP, 0, lp);
          c.download(ENT, 0, ent);
          c.download(D, 0, d);
          expectClose(lp, cpu.lp, { atol: 2e-5, rtol: 2e-5 }, 'lp');
          expectClose(ent, cpu.ent, { atol: 2e-5, rtol: 2e-5 }, 'entropy');
          expectClose(d, cpu.d, dtype === 'bfloat16' ? { atol: 1e-6, rtol: 8e-3 } : { atol: 1e-7, rtol: 1e-4 }, 'dlogits');
        } finally {
          for (const id of [X, I, LP, LSE, ENT, G, GH, D]) c.free(id);
        }
      });
    }

    for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const)
      for (const importanceSampling of ['token', 'sequence'] as const)
        it(`grpoLoss ${lossType}, ${importanceSampling} IS, beta 0.04: loss, metrics and d lp`, () => {
          const B = 16, L = 33, n = B * L;
          const lpv = randomArray(n, 3, 0.5).map((v) => Math.fround(-Math.abs(v) - 0.1));
          const old = lpv.map((v, i) => Math.fround(v + 0.3 * randomArray(n, 4)[i]));
          const ref = lpv.map((v, i) => Math.fround(v + 0.3 * randomArray(n, 5)[i]));
          const adv = randomArray(B, 6);
          const mask = Float64Array.from({ length: n }, (_, i) => ((i % L) < 5 + ((i / L) | 0) ? 1 : 0));
          const opts = { lossType, importanceSampling, beta: 0.04, epsLow: 0.2, epsHigh: 0.28 } as const;
          const cpu = tg.tidy(() => {
            const lp = fromArray(lpv, [B, L], true);
            const r = tg.grpoLoss(lp, { oldLogps: fromArray(old, [B, L]), refLogps: fromArray(ref, [B, L]), advantages: fromArray(adv, [B]), mask: fromArray(mask, [B, L]) }, opts);
            r.loss.backward();
            return { loss: r.loss.item(), m: r.metrics, d: lp.grad!.data() };
          });
          const bufs = [lpv, old, ref, adv, mask].map((a) => tg.CudaBuffer.from(Float32Array.from(a)));
          const dlp = tg.CudaBuffer.from(new Float32Array(n).fill(NaN));
          try {
            const r = tg.cudaGrpo.grpoLoss(dlp, bufs[0], bufs[1], bufs[2], bufs[3], false, bufs[4], null, B, L,
              { ...opts, normalizer: 0, maxCompletionLength: 0 });
            expect(r.loss).toBeCloseTo(cpu.loss, 5);
            expect(r.clipLow).toBeCloseTo(cpu.m['clip_ratio/low_mean'], 6);
            expect(r.clipHigh).toBeCloseTo(cpu.m['clip_ratio/high_mean'], 6);
            expect(r.kl).toBeCloseTo(cpu.m.kl, 5);
            expectClose(dlp.download(), cpu.d, { atol: 1e-7, rtol: 1e-4 }, 'dlp');
          } finally {
            for (const b of [...bufs, dlp]) b.dispose();
          }
        });

    it('a whole GRPO loss step on the device (advantages, selective log-softmax, loss, backward) equals CPU autograd', () => {
      const G = 4, S = 8, L = 12, V = 1500, N = S * L;
      const x = randomArray(N * V, 31, 2), ids = randomInts(N, V, 32);
      const old = randomArray(N, 33, 0.2), rewards = Array.from(randomArray(S, 34), Math.fround);
      const mask = Float64Array.from({ length: N }, (_, i) => ((i % L) < 4 + ((i / L) | 0) ? 1 : 0));
      const opts = { lossType: 'dapo', importanceSampling: 'token', beta: 0, epsLow: 0.2, epsHigh: 0.28 } as const;
      const cpu = tg.tidy(() => {
        const { advantages } = tg.groupAdvantages(rewards, { groupSize: G });
        const logits = fromArray(x, [S, L, V], true);
        const lp = tg.selectiveLogSoftmax(logits, tg.tensor(ids, [S, L], { dtype: 'int32' }));
        const oldLp = tg.add(tg.detach(lp), fromArray(old, [S, L]));
        const r = tg.grpoLoss(lp, { oldLogps: oldLp, advantages: tg.tensor(advantages, [S]), mask: fromArray(mask, [S, L]) }, opts);
        r.loss.backward();
        return { loss: r.loss.item(), oldLp: oldLp.data(), d: logits.grad!.data() };
      });
      const X = tg.CudaBuffer.from(Float32Array.from(x)), I = tg.CudaBuffer.from(Int32Array.from(ids));
      const LP = new tg.CudaBuffer(N, 'float32'), LSE = new tg.CudaBuffer(N, 'float32'), ADV = new tg.CudaBuffer(S, 'float32');
      const OLD = tg.CudaBuffer.from(cpu.oldLp), M = tg.CudaBuffer.from(Float32Array.from(mask));
      const DLP = tg.CudaBuffer.from(new Float32Array(N).fill(NaN));
      try {
        tg.cudaGrpo.groupAdvantages(ADV, null, Float32Array.from(rewards), Float32Array.from([1]), S, 1, G);
        tg.cudaGrpo.selectiveLogSoftmaxForward(LP, LSE, null, X, V, I, N, V, 1);
        const r = tg.cudaGrpo.grpoLoss(DLP, LP, OLD, null, ADV, false, M, null, S, L, { ...opts, normalizer: 0, maxCompletionLength: 0 });
        // The loss's d lp is the backward's upstream gradient; the logits' gradient is written over them.
        tg.cudaGrpo.selectiveLogSoftmaxBackward(X, X, V, I, LSE, DLP, null, null, N, V, 1);
        expect(r.loss).toBeCloseTo(cpu.loss, 5);
        expectClose(X.download(), cpu.d, { atol: 1e-8, rtol: 1e-4 }, 'dlogits');
      } finally {
        for (const b of [X, I, LP, LSE, ADV, OLD, M, DLP]) b.dispose();
      }
    });

    it('the cuda Backend runs the GRPO primitives on cuda tensors as the cpu Backend does, and names what it lacks', () => {
      const G = 4, S = 8, L = 6, V = 700, N = S * L;
      const x = randomArray(N * V, 41, 2), ids = randomInts(N, V, 42), old = randomArray(N, 43, 0.2);
      const rewards = Float32Array.from(randomArray(S, 44)), mask = Float32Array.from({ length: N }, (_, i) => (i % 5 ? 1 : 0));
      const opts = { lossType: 'grpo', importanceSampling: 'token', beta: 0, epsLow: 0.2, epsHigh: 0.28, normalizer: 0,
        maxCompletionLength: 0 } as const;
      const run = (device: tg.Device) => tg.tidy(() => {
        const logits = tg.tensor(Float32Array.from(x), [S, L, V], { device });
        const idT = tg.tensor(Int32Array.from(ids), [S, L], { device });
        // The public forwards: views, outputs on the device, one kernel each.
        const lp = tg.selectiveLogSoftmax(logits, idT);
        const oldLp = tg.tensor(Float32Array.from(lp.data(), (v, i) => v + old[i]), [S, L], { device });
        const adv = tg.empty([S], { device }), totals = tg.empty([S], { device });
        const b = adv.backend;
        expect(b.device).toBe(device);
        const stats = b.groupAdvantages(adv, totals, rewards, Float32Array.from([1]), S, 1, G, 'group');
        const { loss, metrics } = tg.grpoLoss(lp, { oldLogps: oldLp, advantages: adv, mask: tg.tensor(mask, [S, L], { device }) }, opts);
        // The backward primitive with the loss's gradient (d lp = 1/N per token here), written over the logits.
        const lse = tg.empty([N], { device }), glp = tg.tensor(new Float32Array(N).fill(1 / N), [N], { device });
        b.selectiveLogSoftmaxForward(tg.empty([N], { device }), lse, null, logits, V, idT, N, V, 1);
        b.selectiveLogSoftmaxBackward(logits, V, logits, V, idT, lse, glp, null, null, N, V, 1);
        return { lp: lp.data(), adv: adv.data(), totals: totals.data(), stats, loss: loss.item(), kl: metrics.kl, d: logits.data() };
      });
      const cpu = run('cpu'), cuda = run('cuda');
      expectClose(cuda.lp, cpu.lp, { atol: 2e-5, rtol: 2e-5 }, 'lp');
      expectClose(cuda.adv, cpu.adv, { atol: 1e-6, rtol: 1e-5 }, 'advantages');
      expectClose(cuda.totals, cpu.totals, { atol: 0, rtol: 0 }, 'totals');
      expect(cuda.stats.std).toBeCloseTo(cpu.stats.std, 6);
      expect(cuda.loss).toBeCloseTo(cpu.loss, 5);
      expectClose(cuda.d, cpu.d, { atol: 1e-8, rtol: 1e-4 }, 'dlogits');
      // The elementwise family runs there too.
      expect(tg.tidy(() => {
        const t = tg.tensor([1, 2, 3], [3], { device: 'cuda' });
        return Array.from(tg.add(t, t).data());
      })).toEqual([2, 4, 6]);
      expect(tg.tidy(() => Array.from(tg.zeros([2], { device: 'cuda' }).data()))).toEqual([0, 0]);
      // Optional families are asked for by capability, not by device name.
      const w = tg.tensor(new Float32Array(6), [2, 3], { device: 'cuda' });
      try {
        expect(() => new tg.PackedLinearWeight(w)).toThrow(/PackedLinearWeight: the cuda backend has no packed products/);
      } finally {
        w.dispose();
      }
    });

    for (const scaleRewards of ['group', 'batch', 'none'] as const)
      it(`groupAdvantages (${scaleRewards}): CUDA equals CPU with unscored rewards and zero-std groups`, () => {
        const G = 8, prompts = 6, N = G * prompts, R = 3;
        const scores = randomArray(N * R, 21, 1.5);
        const rows: (number | null)[][] = Array.from({ length: N }, (_, i) => [0, 1, 2].map((j) => {
          if ((i * R + j) % 7 === 3) return null;  // not scored by this function
          return Math.fround(scores[i * R + j]);
        }));
        for (let i = G; i < 2 * G; i++) rows[i] = [1, null, 0.5];  // group 1: all equal -> advantage 0, counted
        for (let i = 4 * G; i < 5 * G; i++) rows[i] = [0, 0, 0];
        const weights = [1, 0.1, 2];
        const cpu = tg.groupAdvantages(rows, { groupSize: G, weights, scaleRewards });
        const flat = Float32Array.from(rows.flat().map((v) => (v === null ? NaN : v)));
        const adv = tg.CudaBuffer.from(new Float32Array(N).fill(NaN)), totals = tg.CudaBuffer.from(new Float32Array(N).fill(NaN));
        try {
          const st = tg.cudaGrpo.groupAdvantages(adv, totals, flat, Float32Array.from(weights), N, R, G, scaleRewards);
          expectClose(totals.download(), cpu.rewards, { atol: 0, rtol: 0 }, 'totals');
          // Same double arithmetic per group as the CPU; the batch mean and std sum in a different order.
          expectClose(adv.download(), cpu.advantages, { atol: 1e-6, rtol: 1e-6 }, 'advantages');
          expect(st.zeroStdGroups).toBe(cpu.metrics.zero_std_groups);
          expect(st.zeroStdGroups).toBe(2);
          expect(st.fracZeroStd).toBeCloseTo(cpu.metrics.frac_reward_zero_std, 12);
          expect(st.mean).toBeCloseTo(cpu.metrics.reward, 10);
          expect(st.std).toBeCloseTo(cpu.metrics.reward_std, 10);
        } finally {
          adv.dispose();
          totals.dispose();
        }
      });

    it('groupAdvantages rejects a group size that does not divide the batch, and infinite rewards', () => {
      const adv = new tg.CudaBuffer(12, 'float32');
      try {
        const ones = new Float32Array(12).fill(1), w = Float32Array.from([1]);
        expect(() => tg.cudaGrpo.groupAdvantages(adv, null, ones, w, 12, 1, 5)).toThrow(/group size G = 5 does not divide the batch of 12/);
        ones[4] = Infinity;
        expect(() => tg.cudaGrpo.groupAdvantages(adv, null, ones, w, 12, 1, 4)).toThrow(/rewards\[4\] is infinite/);
        ones[4] = 1;
        expect(() => tg.cudaGrpo.groupAdvantages(adv, adv, ones, w, 12, 1, 4)).toThrow(/different buffers/);
      } finally {
        adv.dispose();
      }
    });

    it('bad inputs on the device throw and the process lives', () => {
      const x = tg.CudaBuffer.from(Float32Array.from([1, 2, 3, NaN, 5, 6]));
      const lp = new tg.CudaBuffer(2, 'float32'), lse = new tg.CudaBuffer(2, 'float32');
      const bad = tg.CudaBuffer.from(Int32Array.from([0, 3])), good = tg.CudaBuffer.from(Int32Array.from([0, 1]));
      expect(() => tg.cudaGrpo.selectiveLogSoftmaxForward(lp, lse, null, x, 3, bad, 2, 3, 1)).toThrow(/ids\[1\] = 3 is out of range/);
      expect(() => tg.cudaGrpo.selectiveLogSoftmaxForward(lp, lse, null, x, 3, good, 2, 3, 1)).toThrow(/row 1 holds NaN or Inf/);
      expect(() => tg.cudaGrpo.selectiveLogSoftmaxForward(lp, lse, null, x, 4, good, 2, 3, 1)).toThrow(/exceeds its buffer/);
      for (const b of [x, lp, lse, bad, good]) b.dispose();
      expect(() => x.download()).toThrow(/disposed/);
    });

    it('a CudaBuffer dropped without dispose() is freed when garbage-collected', async () => {
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const c = cudaAddon('test');
      const before = c.stats().liveBuffers;
      (() => {
        for (let i = 0; i < 50; i++) new tg.CudaBuffer(1024, 'float32');
      })();
      expect(c.stats().liveBuffers).toBe(before + 50);
      for (let round = 0; round < 20 && c.stats().liveBuffers > before; round++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(c.stats().liveBuffers).toBe(before);
    });

    it('wrong arguments to the binding throw TypeError/RangeError naming the op, nothing is leaked', () => {
      const c = cudaAddon('test');
      const before = c.stats();
      const x = c.alloc(6, 0), ids = c.alloc(2, 1), lp = c.alloc(2, 0), lse = c.alloc(2, 0), mask = c.alloc(4, 0);
      c.upload(x, 0, Float32Array.from([0.5, -1, 2, 0.25, 3, -2]));
      c.upload(ids, 0, Int32Array.from([2, 0]));
      c.upload(mask, 0, Float32Array.from([1, 1, 1, 0]));
      const call = (fn: () => unknown) => () => fn();
      try {
        expect(call(() => c.alloc('4' as unknown as number, 0))).toThrow(TypeError);
        expect(call(() => c.alloc(4, 7))).toThrow(/thinkgrad\.cuda\.alloc: unknown dtype code 7/);
        expect(call(() => c.alloc(-1, 0))).toThrow(RangeError);
        expect(call(() => c.upload(x, 0, new Int32Array(2)))).toThrow(/thinkgrad\.cuda\.upload: a float32 buffer needs a Float32Array/);
        expect(call(() => c.upload(x, 5, new Float32Array(2)))).toThrow(/elements \[5, 7\) exceed the buffer of 6/);
        expect(call(() => c.selectiveLogSoftmax(ids, 0, 3, ids, 2, 3, 1, lp, lse, null))).toThrow(/logits must be float32 or bfloat16, got int32/);
        expect(call(() => c.selectiveLogSoftmax(x, 0, 3, ids, 2, 3, 0, lp, lse, null))).toThrow(/temperature must be a finite number > 0/);
        expect(call(() => c.selectiveLogSoftmax(x, 0, 3, ids, 2, 3, 1, lp, lp, null))).toThrow(/must be different buffers/);
        const truncated = c.selectiveLogSoftmax as unknown as (...args: number[]) => void;
        expect(call(() => truncated(x, 0, 3, ids, 2, 3, 1, lp))).toThrow(/thinkgrad\.cuda\.selectiveLogSoftmax: missing argument 8 \(lse\)/);
        expect(call(() => c.selectiveLogSoftmax(x, 0, 3, 999_999, 2, 3, 1, lp, lse, null))).toThrow(/ids refers to a disposed or unknown device buffer/);
        const loss = (options: object, ref: number | null = null) =>
          call(() => c.grpoLoss(lp, null, ref, lse, false, mask, null, null, 2, 1, options as never));
        expect(loss({ lossType: 'ppo' })).toThrow(/thinkgrad\.cuda\.grpoLoss: options\.lossType must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo', got 'ppo'/);
        expect(loss({ epsLow: 1.5 })).toThrow(RangeError);
        expect(loss({ beta: 0.1 })).toThrow(/beta > 0 needs refLp/);
        expect(loss({ beta: '0.1' })).toThrow(TypeError);
        c.selectiveLogSoftmax(x, 0, 3, ids, 2, 3, 1, lp, lse, null);
        const out = new Float32Array(2);
        c.download(lp, 0, out);
        expect(out[0]).toBeCloseTo(2 - Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2)), 5);
      } finally {
        for (const id of [x, ids, lp, lse, mask]) expect(c.free(id)).toBe(true);
      }
      expect(c.free(x)).toBe(false);
      expect(c.stats().liveBytes).toBe(before.liveBytes);
      expect(c.stats().liveBuffers).toBe(before.liveBuffers);
    });
  });
}
