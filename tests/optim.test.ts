// Optimizers against float64 references of torch.optim.AdamW / SGD, schedules at key steps, global
// gradient-norm clipping, gradient accumulation, and optimizer state round trips.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { adamwSteps } from '../src/ops/nn.js';
import { expectClose, forEachBackend, randomArray } from './helpers/reference.js';

/** Gives `p` the gradient `values` (as backward would: owned by p, outside any scope). */
function setGrad(p: tg.Tensor, values: ArrayLike<number>): void {
  p.zeroGrad();
  p.grad = tg.keep(tg.tensor(Float32Array.from(values), p.shape));
}

interface RefAdamW { lr: number; b1: number; b2: number; eps: number; wd: number }

/** torch.optim.AdamW (amsgrad off) in float64, one parameter, one step. */
function refAdamW(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number, h: RefAdamW): void {
  const bc1 = 1 - h.b1 ** t;
  const bc2 = 1 - h.b2 ** t;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - h.lr * h.wd;
    m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
    v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
    p[i] -= (h.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps);
  }
}

forEachBackend((device) => describe(`AdamW on ${device}`, () => {
  it('has PyTorch defaults', () => {
    const p = tg.zeros([2], { requiresGrad: true });
    const opt = new tg.AdamW([p]);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    p.dispose();
  });

  it('matches a float64 torch.optim.AdamW over 6 steps, with two param groups and a skipped parameter', () => {
    const shapes = [[4, 5], [7], [3, 2]];
    const params = shapes.map((s, i) => tg.tensor(Float32Array.from(randomArray(s.reduce((a, b) => a * b), 100 + i)), s, { requiresGrad: true }));
    const ref = params.map((p) => ({ p: Float64Array.from(p.data()), m: new Float64Array(p.numel), v: new Float64Array(p.numel), t: 0 }));
    const opt = new tg.AdamW([{ params: [params[0], params[1]] }, { params: [params[2]], weightDecay: 0, lr: 3e-2, betas: [0.8, 0.99] }],
      { lr: 1e-2, weightDecay: 0.1, eps: 1e-6 });
    const hyper: RefAdamW[] = [{ lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-6, wd: 0.1 }, { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-6, wd: 0.1 },
      { lr: 3e-2, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0 }];
    for (let step = 1; step <= 6; step++) {
      params.forEach((p, i) => {
        if (i === 1 && step === 3) return p.zeroGrad(); // no gradient: skipped, its step count does not advance
        const g = randomArray(p.numel, 1000 * step + i, 0.5);
        setGrad(p, g);
        ref[i].t += 1;
        refAdamW(ref[i].p, g, ref[i].m, ref[i].v, ref[i].t, hyper[i]);
      });
      tg.tidy(() => opt.step()); // state must survive a tidy around step()
      params.forEach((p, i) => expectClose(p.data(), ref[i].p, { atol: 1e-6, rtol: 1e-5 }, `step ${step} param ${i}`));
    }
    const sd = opt.stateDict();
    expect(sd.state['1'].step).toBe(5);
    expect(sd.state['0'].step).toBe(6);
    expectClose((sd.state['2'].expAvg as tg.Tensor).data(), ref[2].m, { atol: 1e-7, rtol: 1e-5 }, 'expAvg');
    expectClose((sd.state['2'].expAvgSq as tg.Tensor).data(), ref[2].v, { atol: 1e-9, rtol: 1e-5 }, 'expAvgSq');
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0, 1], [2]]);
    opt.dispose();
    params.forEach((p) => p.dispose());
  });

  it('round-trips its state: a restored optimizer continues bit-identically', () => {
    const make = () => tg.tensor(Float32Array.from(randomArray(12, 5)), [3, 4], { requiresGrad: true });
    const a = make();
    const b = make();
    const optA = new tg.AdamW([a], { lr: 0.05 });
    for (let s = 1; s <= 3; s++) {
      setGrad(a, randomArray(12, s));
      optA.step();
    }
    // b gets a's weights and a fresh optimizer loaded from optA's state.
    tg.tidy(() => b.backend.copy(b, a));
    const optB = new tg.AdamW([b], { lr: 1 });
    optB.loadStateDict(optA.stateDict());
    expect(optB.paramGroups[0].lr).toBe(0.05);
    for (let s = 4; s <= 5; s++) {
      setGrad(a, randomArray(12, s));
      setGrad(b, randomArray(12, s));
      optA.step();
      optB.step();
    }
    expect(Array.from(b.data())).toEqual(Array.from(a.data()));
    // Loaded state is a copy: disposing the source optimizer leaves optB working.
    optA.dispose();
    setGrad(b, randomArray(12, 9));
    optB.step();
    optB.dispose();
    a.dispose();
    b.dispose();
  });

  it('refuses bad hyperparameters, parameters and state', () => {
    const p = tg.zeros([2, 2], { requiresGrad: true });
    expect(() => new tg.AdamW([p], { lr: -1 })).toThrow(/lr must be a finite number >= 0/);
    expect(() => new tg.AdamW([p], { betas: [1, 0.9] })).toThrow(/betas\[0\] must be in \[0, 1\)/);
    expect(() => new tg.AdamW([p], { weightDecay: NaN })).toThrow(/weightDecay/);
    expect(() => new tg.AdamW([])).toThrow(/empty parameter list/);
    expect(() => new tg.AdamW([p, p])).toThrow(/appears more than once/);
    expect(() => new tg.AdamW([tg.zeros([2], { dtype: 'int32' })])).toThrow(/must be float32/);
    expect(() => new tg.AdamW([p], { amsgrad: true } as never)).toThrow(/amsgrad/);
    const opt = new tg.AdamW([p]);
    const q = tg.zeros([3]);
    expect(() => opt.loadStateDict({ state: { 0: { step: 1, expAvg: q, expAvgSq: q } }, paramGroups: [{ ...opt.paramGroups[0], params: [0] }] }))
      .toThrow(/state 'expAvg' of parameter 0 is \[3\], parameter is \[2, 2\]/);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [] })).toThrow(/state has 0 param groups, optimizer has 1/);
    q.dispose();
    p.dispose();
  });

  it('frees its state on dispose', () => {
    const before = tg.memory().numTensors;
    const p = tg.zeros([8], { requiresGrad: true });
    const opt = new tg.AdamW([p]);
    setGrad(p, new Float32Array(8).fill(1));
    opt.step();
    expect(tg.memory().numTensors).toBe(before + 4); // p, its grad, m, v
    opt.dispose();
    p.dispose();
    expect(tg.memory().numTensors).toBe(before);
  });

  it('steps a whole group in one kernel call, bit-identical to adamwStep per tensor (sizes past a chunk, odd offsets)', () => {
    // 70000 > the CPU's 32768-element chunks and the CUDA kernel's 65536; offset 1 takes the unaligned path.
    const sizes = [70000, 5, 1, 4099];
    const pool = tg.tensor(Float32Array.from(randomArray(sizes[0] + 1, 7)), [sizes[0] + 1]);
    const make = (i: number) => (i === 0 ? pool.narrow(0, 1, sizes[0]).clone() : tg.tensor(Float32Array.from(randomArray(sizes[i], 10 + i)), [sizes[i]]));
    const hyper = { lr: 3e-3, beta1: 0.85, beta2: 0.99, eps: 1e-7, weightDecay: 0.05 };
    tg.tidy(() => {
      const one = sizes.map((_, i) => ({ p: make(i), g: tg.tensor(Float32Array.from(randomArray(sizes[i], 20 + i, 2)), [sizes[i]]), m: tg.zeros([sizes[i]]), v: tg.zeros([sizes[i]]) }));
      // the same values for the multi-tensor call, params[0] at element offset 1 of its buffer
      const big = tg.zeros([sizes[0] + 1]);
      const many = one.map((t, i) => ({ p: i === 0 ? big.narrow(0, 1, sizes[0]) : t.p.clone(), g: t.g, m: tg.zeros([sizes[i]]), v: tg.zeros([sizes[i]]) }));
      tg.tidy(() => big.backend.copy(many[0].p, one[0].p));
      for (let step = 1; step <= 3; step++) {
        for (const t of one) tg.adamwStep(t.p, t.g, t.m, t.v, { ...hyper, step });
        adamwSteps({ params: many.map((t) => t.p), grads: many.map((t) => t.g), ms: many.map((t) => t.m), vs: many.map((t) => t.v) }, { ...hyper, step });
      }
      one.forEach((t, i) => {
        for (const k of ['p', 'm', 'v'] as const) expect(Array.from(many[i][k].data()), `tensor ${i} ${k}`).toEqual(Array.from(t[k].data()));
      });
    });
    pool.dispose();
  });

  it('refuses multi-tensor steps whose tensors overlap or whose lists disagree, naming the kernel', () => {
    tg.tidy(() => {
      const p = tg.zeros([8]);
      const q = tg.zeros([8]);
      const g = tg.ones([8]);
      const m = tg.zeros([16]);
      const v = tg.zeros([8]);
      const w = tg.zeros([8]);
      const before = Array.from(p.data());
      // two moments in the same elements of one buffer: the update would depend on the order of the tensors (a
      // gradient, only read, may serve two parameters)
      const shared = { params: [p, q], grads: [g, g], ms: [m.narrow(0, 0, 8), m.narrow(0, 4, 8)], vs: [v, w] };
      expect(() => adamwSteps(shared, { step: 1 })).toThrow(/adamwMultiStep: ms\[0\] overlaps ms\[1\]/);
      expect(() => adamwSteps({ params: [p, q], grads: [g, g], ms: [m.narrow(0, 0, 8), m.narrow(0, 8, 8)], vs: [v, v] }, { step: 1 }))
        .toThrow(/adamwMultiStep: vs\[0\] overlaps vs\[1\]/);
      expect(() => adamwSteps({ params: [p, q], grads: [q, g], ms: [m.narrow(0, 0, 8), m.narrow(0, 8, 8)], vs: [v, w] }, { step: 1 }))
        .toThrow(/adamwMultiStep: params\[1\] overlaps grads\[0\]/);
      expect(Array.from(p.data()), 'a refused step changes nothing').toEqual(before);
      expect(() => adamwSteps({ params: [p], grads: [g, g], ms: [m], vs: [v] }, { step: 1 })).toThrow(/adamwSteps: 1 params, 2 grads/);
      expect(() => adamwSteps({ params: [p], grads: [g], ms: [m.narrow(0, 0, 8)], vs: [v] }, { step: 0 })).toThrow(/step must be an integer >= 1/);
      const addon = p.backend;
      expect(() => addon.adamwSteps([p], [g], [m.narrow(0, 0, 8)], [v], { lr: 1e-3, beta1: 1, beta2: 0.9, eps: 1e-8, weightDecay: 0, step: 1 }))
        .toThrow(/adamwMultiStep: beta1 and beta2 must be in \[0, 1\)/);
      expect(() => addon.adamwSteps([p], [g], [m.narrow(0, 0, 8)], [tg.zeros([4])], { lr: 1e-3, beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0, step: 1 }))
        .toThrow(/adamwMultiStep: vs\[0\]: elements \[0, 8\) exceed its buffer of 4/);
    });
  });
}));

describe('SGD', () => {
  const variants = [
    { name: 'plain', opts: { lr: 0.1 } },
    { name: 'momentum + weight decay', opts: { lr: 0.05, momentum: 0.9, weightDecay: 0.01 } },
    { name: 'momentum + dampening', opts: { lr: 0.05, momentum: 0.8, dampening: 0.3 } },
    { name: 'nesterov', opts: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.1 } },
  ];
  for (const { name, opts } of variants) {
    it(`matches a float64 torch.optim.SGD over 5 steps (${name})`, () => {
      const h = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts };
      const p = tg.tensor(Float32Array.from(randomArray(10, 3)), [2, 5], { requiresGrad: true });
      const ref = Float64Array.from(p.data());
      let buf: Float64Array | null = null;
      const opt = new tg.SGD([p], opts);
      for (let step = 1; step <= 5; step++) {
        const g = randomArray(10, 50 + step);
        setGrad(p, g);
        tg.tidy(() => opt.step());
        const d = Float64Array.from(g, (gi, i) => gi + h.weightDecay * ref[i]);
        if (h.momentum !== 0) {
          buf = buf ? Float64Array.from(buf, (b: number, i: number) => h.momentum * b + (1 - h.dampening) * d[i]) : Float64Array.from(d);
          for (let i = 0; i < d.length; i++) d[i] = h.nesterov ? d[i] + h.momentum * buf[i] : buf[i];
        }
        for (let i = 0; i < ref.length; i++) ref[i] -= h.lr * d[i];
        expectClose(p.data(), ref, { atol: 1e-6, rtol: 1e-5 }, `step ${step}`);
      }
      opt.dispose();
      p.dispose();
    });
  }

  it('has PyTorch defaults and validates nesterov', () => {
    const p = tg.zeros([2], { requiresGrad: true });
    expect(new tg.SGD([p]).paramGroups[0]).toMatchObject({ lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });
    expect(() => new tg.SGD([p], { nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    p.dispose();
  });
});

describe('learning-rate schedules', () => {
  const at = (s: tg.LrSchedule, steps: number[]) => steps.map((x) => s(x));
  it('constant and linear warmup', () => {
    expect(at(tg.constantSchedule(), [0, 1, 1000])).toEqual([1, 1, 1]);
    expect(at(tg.linearWarmupSchedule({ warmupSteps: 10 }), [0, 5, 9, 10, 100])).toEqual([0, 0.5, 0.9, 1, 1]);
    expect(at(tg.linearWarmupSchedule(), [0, 3])).toEqual([1, 1]);
  });

  it('linear warmup then linear decay to 0', () => {
    expect(at(tg.linearSchedule({ warmupSteps: 10, totalSteps: 110 }), [0, 5, 10, 60, 85, 110, 200])).toEqual([0, 0.5, 1, 0.5, 0.25, 0, 0]);
  });

  it('cosine with warmup and minLrRatio', () => {
    const s = tg.cosineSchedule({ warmupSteps: 10, totalSteps: 110 });
    expectClose(at(s, [0, 5, 10, 35, 60, 85, 110, 150]), [0, 0.5, 1, 0.5 * (1 + Math.SQRT1_2), 0.5, 0.5 * (1 - Math.SQRT1_2), 0, 0], { atol: 1e-15, rtol: 0 });
    const m = tg.cosineSchedule({ warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 });
    expectClose(at(m, [5, 10, 60, 110, 500]), [0.5, 1, 0.55, 0.1, 0.1], { atol: 1e-15, rtol: 0 });
    const full = tg.cosineSchedule({ totalSteps: 100, numCycles: 1 });
    expectClose(at(full, [0, 50, 100]), [1, 0, 1], { atol: 1e-15, rtol: 0 });
    expect(tg.getSchedule('cosine_with_min_lr', { warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 })(60)).toBeCloseTo(0.55, 15);
    expect(tg.getSchedule('linear', { totalSteps: 10 })(5)).toBe(0.5);
    expect(() => tg.getSchedule('step' as never)).toThrow(/unknown schedule 'step'/);
    expect(() => tg.cosineSchedule({ totalSteps: -1 })).toThrow(/totalSteps must be an integer >= 0/);
    expect(() => tg.cosineSchedule({ totalSteps: 10, minLrRatio: 2 })).toThrow(/minLrRatio/);
    expect(() => s(-1)).toThrow(/step must be a number >= 0/);
  });

  it('LRScheduler drives the optimizer groups like LambdaLR', () => {
    const p = tg.zeros([2], { requiresGrad: true });
    const q = tg.zeros([2], { requiresGrad: true });
    const opt = new tg.AdamW([{ params: [p] }, { params: [q], lr: 0.5 }], { lr: 0.1 });
    const sched = new tg.LRScheduler(opt, tg.linearSchedule({ warmupSteps: 2, totalSteps: 6 }));
    const seen: number[][] = [sched.getLastLr()];
    for (let i = 0; i < 6; i++) {
      sched.step();
      seen.push(sched.getLastLr());
    }
    expectClose(seen.flat(), [[0, 0], [0.05, 0.25], [0.1, 0.5], [0.075, 0.375], [0.05, 0.25], [0.025, 0.125], [0, 0]].flat(), { atol: 1e-15, rtol: 0 });
    const other = new tg.LRScheduler(new tg.AdamW([p], { lr: 0.1 }), tg.linearSchedule({ warmupSteps: 2, totalSteps: 6 }));
    expect(() => other.loadStateDict(sched.stateDict())).toThrow(/baseLrs do not match/);
    p.dispose();
    q.dispose();
  });
});

describe('clipGradNorm', () => {
  function setup(scale: number) {
    const shapes = [[3, 4], [5], [2, 2, 2]];
    const params = shapes.map((s) => tg.zeros(s, { requiresGrad: true }));
    const grads = params.map((p, i) => randomArray(p.numel, 70 + i, scale));
    params.forEach((p, i) => setGrad(p, grads[i]));
    const norm = Math.sqrt(grads.reduce((acc, g) => acc + g.reduce((a, x) => a + x * x, 0), 0));
    return { params, grads, norm };
  }

  it('returns the global L2 norm and scales every gradient by maxNorm / (norm + 1e-6)', () => {
    const { params, grads, norm } = setup(1);
    const frozen = tg.zeros([3], { requiresGrad: true }); // no grad: ignored
    const total = tg.clipGradNorm([...params, frozen], 1.5);
    expectClose([total], [norm], { atol: 0, rtol: 1e-6 }, 'norm');
    const coef = 1.5 / (norm + 1e-6);
    params.forEach((p, i) => expectClose(p.grad!.data(), Array.from(grads[i], (g) => g * coef), { atol: 1e-7, rtol: 1e-6 }, `grad ${i}`));
    expectClose([tg.clipGradNorm(params, 100)], [1.5], { atol: 0, rtol: 1e-5 }, 'norm after clipping');
    [...params, frozen].forEach((p) => p.dispose());
  });

  it('leaves gradients alone when the norm is below maxNorm, and supports the infinity norm', () => {
    const { params, grads, norm } = setup(0.01);
    expectClose([tg.clipGradNorm(params, 10)], [norm], { atol: 0, rtol: 1e-6 }, 'norm');
    params.forEach((p, i) => expect(Array.from(p.grad!.data())).toEqual(Array.from(grads[i])));
    const maxAbs = Math.max(...grads.flatMap((g) => Array.from(g, Math.abs)));
    expect(tg.clipGradNorm(params, 10, { normType: Infinity })).toBe(maxAbs);
    expect(tg.clipGradNorm([], 1)).toBe(0);
    params.forEach((p) => p.dispose());
  });

  it('returns a NaN/Inf norm without touching the gradients, or throws with errorIfNonfinite', () => {
    const { params } = setup(1);
    const g1 = Float64Array.from(params[1].grad!.data());
    g1[2] = NaN;
    setGrad(params[1], g1);
    const before = params.map((p) => Array.from(p.grad!.data()));
    expect(tg.clipGradNorm(params, 1)).toBeNaN();
    params.forEach((p, i) => expect(Array.from(p.grad!.data())).toEqual(before[i]));
    expect(() => tg.clipGradNorm(params, 1, { errorIfNonfinite: true })).toThrow(/total gradient norm is NaN/);
    g1[2] = Infinity;
    setGrad(params[1], g1);
    expect(tg.clipGradNorm(params, 1)).toBe(Infinity);
    params.forEach((p) => p.dispose());
  });
});

describe('gradient accumulation', () => {
  it('micro-batch backward calls accumulate into .grad; scaleGrads averages them', () => {
    const w = tg.tensor(Float32Array.from(randomArray(6, 1)), [3, 2], { requiresGrad: true });
    const x = tg.tensor(Float32Array.from(randomArray(8 * 3, 2)), [8, 3]);
    const y = tg.tensor(Float32Array.from(randomArray(8 * 2, 3)), [8, 2]);
    const lossOf = (xs: tg.Tensor, ys: tg.Tensor) => tg.matmul(xs, w).sub(ys).square().mean();
    tg.tidy(() => lossOf(x, y).backward());
    const full = Array.from(w.grad!.data());
    w.zeroGrad();
    for (const [a, b] of [[0, 4], [4, 8]]) tg.tidy(() => lossOf(x.narrow(0, a, b - a), y.narrow(0, a, b - a)).backward());
    tg.scaleGrads([w], 0.5);
    expectClose(w.grad!.data(), full, { atol: 1e-6, rtol: 1e-5 }, 'accumulated grad');
    tg.zeroGrad([w]);
    expect(w.grad).toBeNull();
    [w, x, y].forEach((t) => t.dispose());
  });
});
