// Fused GRPO ops vs float64 references: selective log-softmax (+ entropy, temperature, strided logits,
// in-place backward), every loss variant with its metrics and gradient, group advantages, the fused path
// against an unfused composition of engine ops, and bad inputs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, forEachBackend, fromArray, randomArray, randomInts, rng } from './helpers/reference.js';

// ---- float64 references --------------------------------------------------------------------------------
function refSelective(x: ArrayLike<number>, ids: ArrayLike<number>, N: number, V: number, T: number) {
  const lp = new Float64Array(N), lse = new Float64Array(N), ent = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, x[n * V + v] / T);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[n * V + v] / T - m);
    lse[n] = m + Math.log(s);
    lp[n] = x[n * V + ids[n]] / T - lse[n];
    let h = 0;
    for (let v = 0; v < V; v++) {
      const logp = x[n * V + v] / T - lse[n];
      h -= Math.exp(logp) * logp;
    }
    ent[n] = h;
  }
  return { lp, lse, ent };
}

interface LossCase {
  lossType: 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
  importanceSampling: 'token' | 'sequence';
  epsLow: number;
  epsHigh: number;
  beta: number;
  numItemsInBatch?: number;
  maxCompletionLength?: number;
}

// TRL's GRPOTrainer._compute_loss in float64 (log-ratio clamped to [-20, 20] as the issue asks).
function refLoss(lp: ArrayLike<number>, old: ArrayLike<number> | null, ref: ArrayLike<number> | null, adv: ArrayLike<number>,
  perToken: boolean, mask: ArrayLike<number>, B: number, L: number, c: LossCase) {
  const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
  let total = 0;
  const seqTok = new Float64Array(B), seqLr = new Float64Array(B);
  for (let s = 0; s < B; s++)
    for (let t = 0; t < L; t++) {
      const k = s * L + t;
      seqTok[s] += mask[k];
      seqLr[s] += mask[k] * (lp[k] - (old ? old[k] : lp[k]));
      total += mask[k];
    }
  let loss = 0, low = 0, high = 0, kl = 0, ratioSum = 0;
  const perSeq = new Float64Array(B);
  for (let s = 0; s < B; s++) {
    for (let t = 0; t < L; t++) {
      const k = s * L + t;
      const a = perToken ? adv[k] : adv[s];
      const lr = c.importanceSampling === 'sequence' ? seqLr[s] / Math.max(seqTok[s], 1) : lp[k] - (old ? old[k] : lp[k]);
      const r = Math.exp(clamp(lr, -20, 20));
      let l = -Math.min(r * a, clamp(r, 1 - c.epsLow, 1 + c.epsHigh) * a);
      let klv = 0;
      if (c.beta > 0 && ref) {
        klv = Math.exp(ref[k] - lp[k]) - (ref[k] - lp[k]) - 1;
        l += c.beta * klv;
      }
      perSeq[s] += mask[k] * l;
      low += mask[k] * (r < 1 - c.epsLow && a < 0 ? 1 : 0);
      high += mask[k] * (r > 1 + c.epsHigh && a > 0 ? 1 : 0);
      kl += mask[k] * klv;
      ratioSum += mask[k] * r;
    }
  }
  if (c.lossType === 'grpo') {
    for (let s = 0; s < B; s++) loss += perSeq[s] / Math.max(seqTok[s], 1);
    loss /= B;
  } else {
    const sum = perSeq.reduce((p, q) => p + q, 0);
    if (c.lossType === 'bnpo') loss = sum / Math.max(total, 1);
    else if (c.lossType === 'dr_grpo') loss = sum / (B * (c.maxCompletionLength ?? L));
    else loss = sum / (c.numItemsInBatch ?? Math.max(total, 1));
  }
  const inv = total > 0 ? 1 / total : 0;
  return { loss, low: low * inv, high: high * inv, region: (low + high) * inv, kl: kl * inv, ratio: ratioSum * inv };
}

function refAdvantages(rewards: (number | null)[][], weights: number[], G: number, scale: 'group' | 'batch' | 'none') {
  const total = rewards.map((row) => row.reduce((acc: number, v, j) => acc + (v === null ? 0 : v * weights[j]), 0));
  const N = total.length;
  const bm = total.reduce((a, b) => a + b, 0) / N;
  const bstd = Math.sqrt(total.reduce((a, b) => a + (b - bm) ** 2, 0) / (N - 1));
  const adv = new Float64Array(N);
  let zero = 0;
  for (let g = 0; g < N; g += G) {
    const grp = total.slice(g, g + G);
    const m = grp.reduce((a, b) => a + b, 0) / G;
    const sd = Math.sqrt(grp.reduce((a, b) => a + (b - m) ** 2, 0) / (G - 1));
    if (sd <= 1e-8) zero += G;
    for (let i = 0; i < G; i++) {
      const d = grp[i] - m;
      adv[g + i] = scale === 'none' ? d : d / ((scale === 'group' ? sd : bstd) + 1e-4);
    }
  }
  return { adv, total, frac: zero / N };
}

// ---- data ----------------------------------------------------------------------------------------------
function lossData(B: number, L: number, seed: number, perToken: boolean) {
  const r = rng(seed);
  const lp = randomArray(B * L, seed, 0.5).map((v) => Math.fround(-Math.abs(v) - 0.1));
  const old = lp.map((v, i) => Math.fround(v + 0.25 * randomArray(B * L, seed + 1)[i]));
  const ref = lp.map((v, i) => Math.fround(v + 0.3 * randomArray(B * L, seed + 2)[i]));
  const adv = randomArray(perToken ? B * L : B, seed + 3);
  const mask = new Float64Array(B * L);
  for (let s = 0; s < B; s++) {
    const len = s === 0 ? L : 1 + Math.floor(r() * L);  // padding on most sequences
    for (let t = 0; t < len; t++) mask[s * L + t] = 1;
  }
  return { lp, old, ref, adv, mask };
}

const SEL = { atol: 2e-6, rtol: 2e-6 };

forEachBackend(() => {
  describe('selectiveLogSoftmax', () => {
    for (const [N, V, T] of [[37, 5, 1], [12, 300, 0.7], [6, 4099, 1.3], [3, 1, 1]] as const) {
      it(`matches the float64 reference (N=${N}, V=${V}, T=${T}) with entropy`, () => {
        const x = randomArray(N * V, N + V, 3);
        const ids = randomInts(N, V, N * V);
        const ref = refSelective(x, ids, N, V, T);
        tg.tidy(() => {
          const logits = fromArray(x, [N, V]);
          const idt = tg.tensor(ids, [N], { dtype: 'int32' });
          expectClose(tg.selectiveLogSoftmax(logits, idt, { temperature: T }).data(), ref.lp, SEL, 'lp');
          const both = tg.selectiveLogSoftmaxWithEntropy(logits, idt, { temperature: T });
          expectClose(both.logps.data(), ref.lp, SEL, 'lp');
          expectClose(both.entropy.data(), ref.ent, { atol: 1e-5, rtol: 1e-5 }, 'entropy');
        });
      });
    }

    it('reads strided logits: a [B, T+1, V] view sliced to [B, T, V] and a narrowed vocabulary', () => {
      const B = 3, T = 4, V = 50;
      const x = randomArray(B * (T + 1) * (V + 6), 11, 2);
      tg.tidy(() => {
        const full = fromArray(x, [B, T + 1, V + 6]);
        const view = tg.narrow(tg.narrow(full, 1, 0, T), 2, 3, V);  // leading dims do not collapse: copied
        const rows = tg.narrow(tg.reshape(full, [B * (T + 1), V + 6]), 1, 3, V);  // uniform row stride V + 6
        const dense = tg.contiguous(view);
        const ids = tg.tensor(randomInts(B * T, V, 5), [B, T], { dtype: 'int32' });
        const ref = tg.selectiveLogSoftmax(dense, ids).data();
        expectClose(tg.selectiveLogSoftmax(view, ids).data(), ref, { atol: 0, rtol: 0 }, 'strided');
        const ids2 = tg.tensor(randomInts(B * (T + 1), V, 6), [B * (T + 1)], { dtype: 'int32' });
        const ref2 = tg.selectiveLogSoftmax(tg.contiguous(rows), ids2).data();
        expectClose(tg.selectiveLogSoftmax(rows, ids2).data(), ref2, { atol: 0, rtol: 0 }, 'row stride');
      });
    });

    it('handles -inf logits outside the chosen ids (masked vocabulary)', () => {
      const x = Float32Array.from([0, -Infinity, 1, -Infinity, -Infinity, 2, 3, -Infinity]);
      tg.tidy(() => {
        const lp = tg.selectiveLogSoftmax(tg.tensor(x, [2, 4]), tg.tensor(new Int32Array([2, 2]), [2], { dtype: 'int32' }));
        expectClose(lp.data(), [1 - Math.log(1 + Math.E), 3 - Math.log(Math.exp(2) + Math.exp(3))], SEL, 'lp');
      });
    });

    it('gradcheck: log-probs with temperature', () => {
      const ids = Int32Array.from([2, 0, 5]);
      gradcheck({
        inputs: [{ values: randomArray(18, 3, 2), shape: [3, 6] }],
        engine: ([x]) => tg.selectiveLogSoftmax(x, tg.tensor(ids, [3], { dtype: 'int32' }), { temperature: 0.7 }),
        reference: ([x]) => refSelective(x, ids, 3, 6, 0.7).lp,
      });
    });

    it('gradcheck: entropy', () => {
      const ids = Int32Array.from([1, 4]);
      gradcheck({
        inputs: [{ values: randomArray(14, 4, 1.5), shape: [2, 7] }],
        engine: ([x]) => tg.selectiveLogSoftmaxWithEntropy(x, tg.tensor(ids, [2], { dtype: 'int32' }), { temperature: 1.3 }).entropy,
        reference: ([x]) => refSelective(x, ids, 2, 7, 1.3).ent,
      });
    });

    it('in-place backward gives the out-of-place gradient', () => {
      const N = 9, V = 333;
      const x = randomArray(N * V, 9, 2);
      const ids = tg.tensor(randomInts(N, V, 9), [N], { dtype: 'int32' });
      const w = fromArray(randomArray(N, 10), [N]);
      const grads = [false, true].map((inplace) => tg.tidy(() => {
        const logits = fromArray(x, [N, V], true);
        const lp = tg.selectiveLogSoftmax(logits, ids, { inplaceBackward: inplace, temperature: 0.9 });
        tg.sum(tg.mul(lp, w)).backward();
        return Float64Array.from(logits.grad!.data());
      }));
      expectClose(grads[1], grads[0], { atol: 0, rtol: 0 }, 'in-place gradient');
      ids.dispose();
      w.dispose();
    });

    it('bad inputs throw clear errors and the process lives', () => {
      tg.tidy(() => {
        const logits = fromArray(randomArray(12, 1), [3, 4]);
        const ids = tg.tensor(new Int32Array([0, 1, 2]), [3], { dtype: 'int32' });
        expect(() => tg.selectiveLogSoftmax(logits, tg.tensor(new Int32Array([0, 4, 1]), [3], { dtype: 'int32' })))
          .toThrow(/ids\[1\] = 4 is out of range \[0, 4\)/);
        expect(() => tg.selectiveLogSoftmax(logits, tg.tensor(new Int32Array([0, -1, 1]), [3], { dtype: 'int32' }))).toThrow(RangeError);
        expect(() => tg.selectiveLogSoftmax(logits, tg.tensor(new Int32Array([0, 1]), [2], { dtype: 'int32' })))
          .toThrow(/ids \[2\] must be \[3\]/);
        expect(() => tg.selectiveLogSoftmax(logits, fromArray([0, 1, 2], [3]))).toThrow(TypeError);
        expect(() => tg.selectiveLogSoftmax(logits, ids, { temperature: 0 })).toThrow(/temperature/);
        for (const bad of [NaN, Infinity, -Infinity]) {
          const x = Float32Array.from(randomArray(12, 2));
          x[5] = bad;  // row 1; -inf at the chosen id makes lp -inf
          expect(() => tg.selectiveLogSoftmax(tg.tensor(x, [3, 4]), tg.tensor(new Int32Array([0, 1, 2]), [3], { dtype: 'int32' })))
            .toThrow(/row 1 holds NaN or Inf/);
        }
        const gone = fromArray(randomArray(12, 1), [3, 4]);
        gone.dispose();
        expect(() => tg.selectiveLogSoftmax(gone, ids)).toThrow(/disposed/);
      });
    });
  });

  describe('grpoLoss', () => {
    const B = 5, L = 7;
    const cases: (LossCase & { perToken: boolean; useOld: boolean })[] = [];
    for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const)
      for (const importanceSampling of ['token', 'sequence'] as const)
        for (const beta of [0, 0.04])
          cases.push({ lossType, importanceSampling, beta, epsLow: 0.2, epsHigh: lossType === 'dapo' ? 0.28 : 0.2,
            perToken: lossType === 'bnpo', useOld: !(lossType === 'grpo' && beta === 0 && importanceSampling === 'token'),
            ...(lossType === 'dapo' ? { numItemsInBatch: 61 } : {}), ...(lossType === 'dr_grpo' ? { maxCompletionLength: 9 } : {}) });
    for (const c of cases) {
      const name = `${c.lossType}, ${c.importanceSampling} IS, beta ${c.beta}, eps ${c.epsLow}/${c.epsHigh}, ` +
        `${c.perToken ? 'token' : 'sequence'} advantages${c.useOld ? '' : ', no oldLogps'}`;
      it(`${name}: loss, metrics and gradient vs float64`, () => {
        const d = lossData(B, L, c.lossType.length * 7 + (c.beta > 0 ? 1 : 0) + (c.importanceSampling === 'sequence' ? 3 : 0), c.perToken);
        const ref = refLoss(d.lp, c.useOld ? d.old : null, d.ref, d.adv, c.perToken, d.mask, B, L, c);
        const consts = () => ({
          oldLogps: c.useOld ? fromArray(d.old, [B, L]) : null,
          refLogps: fromArray(d.ref, [B, L]),
          advantages: fromArray(d.adv, c.perToken ? [B, L] : [B]),
          mask: fromArray(d.mask, [B, L]),
        });
        tg.tidy(() => {
          const { loss, metrics } = tg.grpoLoss(fromArray(d.lp, [B, L]), consts(), c);
          expect(loss.item()).toBeCloseTo(ref.loss, 5);
          expect(metrics['clip_ratio/low_mean']).toBeCloseTo(ref.low, 6);
          expect(metrics['clip_ratio/high_mean']).toBeCloseTo(ref.high, 6);
          expect(metrics['clip_ratio/region_mean']).toBeCloseTo(ref.region, 6);
          expect(metrics.kl).toBeCloseTo(ref.kl, 5);
          expect(metrics['ratio/mean']).toBeCloseTo(ref.ratio, 5);
          if (c.importanceSampling === 'token' && c.useOld) expect(ref.low + ref.high).toBeGreaterThan(0);  // clipping exercised
        });
        gradcheck({
          inputs: [{ values: d.lp, shape: [B, L] }],
          engine: ([lp]) => tg.grpoLoss(lp, consts(), c).loss,
          // no oldLogps = logps detached: the reference holds them at the unperturbed values
          reference: ([lp]) => Float64Array.of(refLoss(lp, c.useOld ? d.old : d.lp, d.ref, d.adv, c.perToken, d.mask, B, L, c).loss),
          tolerance: { atol: 1e-5, rtol: 1e-4 },
        });
      });
    }

    it('reports mean entropy over the mask', () => {
      const d = lossData(2, 3, 5, false);
      const ent = [1, 2, 3, 4, 5, 6];
      tg.tidy(() => {
        const { metrics } = tg.grpoLoss(fromArray(d.lp, [2, 3]), { advantages: fromArray(d.adv, [2]), mask: fromArray(d.mask, [2, 3]), entropy: fromArray(ent, [2, 3]) });
        let s = 0, m = 0;
        for (let i = 0; i < 6; i++) { s += ent[i] * d.mask[i]; m += d.mask[i]; }
        expect(metrics.entropy).toBeCloseTo(s / m, 6);
      });
    });

    it('bad inputs throw', () => {
      tg.tidy(() => {
        const lp = fromArray(randomArray(6, 1), [2, 3]);
        const mask = fromArray([1, 1, 1, 1, 0, 0], [2, 3]);
        const adv = fromArray([1, -1], [2]);
        expect(() => tg.grpoLoss(lp, { advantages: fromArray([1, 2, 3], [3]), mask })).toThrow(/advantages \[3\] must be \[2\]/);
        expect(() => tg.grpoLoss(lp, { advantages: adv, mask: fromArray([1, 1], [2]) })).toThrow(/mask \[2\] must be \[2, 3\]/);
        expect(() => tg.grpoLoss(lp, { advantages: adv, mask }, { beta: 0.1 })).toThrow(/refLogps/);
        expect(() => tg.grpoLoss(lp, { advantages: adv, mask }, { lossType: 'foo' as 'grpo' })).toThrow(/lossType/);
        expect(() => tg.grpoLoss(lp, { advantages: adv, mask }, { epsLow: 1.5 })).toThrow(/epsLow/);
        expect(() => tg.grpoLoss(lp, { advantages: fromArray([NaN, 1], [2]), mask })).toThrow(/not finite/);
      });
    });
  });

  describe('fused == unfused composition of engine ops', () => {
    it('selectiveLogSoftmax + grpoLoss vs logSoftmax/gather/exp/clamp/minimum (loss and d logits, 1e-5)', () => {
      const B = 4, L = 6, V = 40, T = 0.8, epsLow = 0.2, epsHigh = 0.28, beta = 0.04;
      const x = randomArray(B * L * V, 21, 2);
      const ids = randomInts(B * L, V, 22);
      const lp0 = refSelective(x, ids, B * L, V, T).lp;
      const old = lp0.map((v, i) => Math.fround(v + 0.3 * randomArray(B * L, 23)[i]));
      const refLp = lp0.map((v, i) => Math.fround(v + 0.3 * randomArray(B * L, 24)[i]));
      const adv = randomArray(B, 25);
      const d = lossData(B, L, 26, false);
      const run = (fused: boolean) => tg.tidy(() => {
        const logits = fromArray(x, [B, L, V], true);
        const idt = tg.tensor(ids, [B, L], { dtype: 'int32' });
        const oldT = fromArray(old, [B, L]), refT = fromArray(refLp, [B, L]), advT = fromArray(adv, [B]), mask = fromArray(d.mask, [B, L]);
        let loss: tg.Tensor;
        if (fused) {
          const lp = tg.selectiveLogSoftmax(logits, idt, { temperature: T });
          loss = tg.grpoLoss(lp, { oldLogps: oldT, refLogps: refT, advantages: advT, mask }, { epsLow, epsHigh, beta }).loss;
        } else {
          const logp = tg.logSoftmax(tg.mul(logits, 1 / T), -1);
          const lp = tg.squeeze(tg.gather(logp, -1, tg.unsqueeze(idt, -1)), -1);
          const ratio = tg.exp(tg.clamp(tg.sub(lp, oldT), -20, 20));
          const a = tg.unsqueeze(advT, 1);
          const surr = tg.neg(tg.minimum(tg.mul(ratio, a), tg.mul(tg.clamp(ratio, 1 - epsLow, 1 + epsHigh), a)));
          const dlt = tg.sub(refT, lp);
          const kl = tg.sub(tg.sub(tg.exp(dlt), dlt), 1);
          const per = tg.mul(tg.add(surr, tg.mul(kl, beta)), mask);
          loss = tg.mean(tg.div(tg.sum(per, 1), tg.clamp(tg.sum(mask, 1), 1)));
        }
        loss.backward();
        return { loss: loss.item(), grad: Float64Array.from(logits.grad!.data()) };
      });
      const f = run(true), u = run(false);
      expect(Math.abs(f.loss - u.loss)).toBeLessThan(1e-5);
      expectClose(f.grad, u.grad, { atol: 1e-5, rtol: 0 }, 'd logits');
    });
  });

  describe('groupAdvantages', () => {
    it('one reward function, group scaling, all-equal groups give 0 and are counted', () => {
      const rewards = [1, 0, 1, 1, 0.5, 0.5, 0.5, 0.5, 2, -1, 0, 3];
      const ref = refAdvantages(rewards.map((r) => [r]), [1], 4, 'group');
      const r = tg.groupAdvantages(rewards, { groupSize: 4 });
      expectClose(r.advantages, ref.adv, { atol: 1e-6, rtol: 1e-5 }, 'advantages');
      expect(Array.from(r.advantages.slice(4, 8))).toEqual([0, 0, 0, 0]);
      expect(r.metrics.frac_reward_zero_std).toBeCloseTo(1 / 3, 10);
      expect(r.metrics.zero_std_groups).toBe(1);
    });

    for (const scale of ['group', 'batch', 'none'] as const) {
      it(`several weighted reward functions with null (not scored), scale ${scale}`, () => {
        const r = rng(3);
        const rewards = Array.from({ length: 12 }, (_, i) => [r() < 0.5 ? 1 : 0, i % 5 === 0 ? null : r() * 2 - 1, r() < 0.2 ? null : r()]);
        const weights = [1, 0.5, 2];
        const ref = refAdvantages(rewards, weights, 3, scale);
        const out = tg.groupAdvantages(rewards, { groupSize: 3, weights, scaleRewards: scale });
        expectClose(out.advantages, ref.adv, { atol: 1e-5, rtol: 1e-5 }, 'advantages');
        expectClose(out.rewards, ref.total, { atol: 1e-6, rtol: 1e-6 }, 'rewards');
      });
    }

    it('bad inputs throw', () => {
      expect(() => tg.groupAdvantages([1, 2, 3, 4, 5, 6], { groupSize: 4 })).toThrow(/does not divide the batch of 6/);
      expect(() => tg.groupAdvantages([[1, 2], [3]], { groupSize: 2 })).toThrow(/completion 1 has 1 rewards/);
      expect(() => tg.groupAdvantages([[1, 2], [3, 4]], { groupSize: 2, weights: [1] })).toThrow(/1 weights for 2/);
      expect(() => tg.groupAdvantages([1, Infinity], { groupSize: 2 })).toThrow(/infinite/);
      expect(() => tg.groupAdvantages([1, 2], { groupSize: 0 })).toThrow(/groupSize/);
    });
  });

  it('frees every intermediate (live buffers return to the baseline)', () => {
    const before = tg.memory().numBuffers;
    tg.tidy(() => {
      const logits = fromArray(randomArray(6 * 30, 1), [2, 3, 30], true);
      const ids = tg.tensor(randomInts(6, 30, 2), [2, 3], { dtype: 'int32' });
      const { logps, entropy } = tg.selectiveLogSoftmaxWithEntropy(logits, ids);
      const { loss } = tg.grpoLoss(logps, { advantages: fromArray([1, -1], [2]), mask: fromArray([1, 1, 1, 1, 1, 0], [2, 3]), entropy });
      loss.backward();
    });
    expect(tg.memory().numBuffers).toBe(before);
  });
});
