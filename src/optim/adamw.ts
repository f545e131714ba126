// AdamW (Loshchilov & Hutter): decoupled weight decay and bias-corrected moments, in torch.optim.AdamW's
// order, running the native fused update (src/ops/nn.ts adamwSteps) once per parameter group: one kernel call
// (one launch on a GPU) for all of a group's parameters.
import { keep } from '../autograd/tidy.js';
import { zeros } from '../ops/creation.js';
import { adamwSteps } from '../ops/nn.js';
import { formatShape, Tensor } from '../tensor.js';
import { checkBeta, checkNonNegative, Optimizer, type ParamGroup, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface AdamWOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** (beta1, beta2), the moments' decay rates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to sqrt(v_hat). Default 1e-8. */
  eps: number;
  /** Decoupled weight decay: p *= 1 - lr * weightDecay before the Adam step. Default 0.01. */
  weightDecay: number;
}

export interface AdamWState extends ParamState {
  step: number;
  /** First moment m, same shape as the parameter. */
  expAvg: Tensor;
  /** Second moment v. */
  expAvgSq: Tensor;
  // A bfloat16 parameter's state also holds `masterWeight`, its float32 master weight (masterOf): the update runs
  // on it, and the parameter receives its value rounded to bfloat16 after each step. Absent for float32 ones.
}

function masterOf(s: ParamState): Tensor | null {
  const m = s.masterWeight;
  return m instanceof Tensor ? m : null;
}

export const ADAMW_DEFAULTS: Readonly<AdamWOptions> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 });

/**
 * AdamW with PyTorch's defaults. Per step t of each parameter:
 * p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Param groups (e.g. no decay on norms and biases): `new AdamW([{params: decay}, {params: noDecay, weightDecay: 0}])`.
 * A bfloat16 parameter gets float32 master weights: the optimizer keeps a float32 copy (`masterWeight`, created
 * from the parameter at its first step and saved with the state), updates it with the float32 gradient, and writes
 * the copy rounded to bfloat16 back into the parameter, so updates smaller than bfloat16's resolution accumulate
 * instead of vanishing (12 bytes of state per parameter instead of 8).
 */
export class AdamW extends Optimizer<AdamWOptions, AdamWState> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamWOptions>>, options: Partial<AdamWOptions> = {}) {
    if ('amsgrad' in options || 'maximize' in options) throw new RangeError('AdamW: amsgrad and maximize are not supported');
    super('AdamW', params, { ...ADAMW_DEFAULTS, betas: [...ADAMW_DEFAULTS.betas] as [number, number], ...options });
  }

  protected validateGroup(g: ParamGroup<AdamWOptions>, i: number): void {
    const op = `AdamW (group ${i})`;
    checkNonNegative(op, 'lr', g.lr);
    checkNonNegative(op, 'eps', g.eps);
    checkNonNegative(op, 'weightDecay', g.weightDecay);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new RangeError(`${op}: betas must be [beta1, beta2]`);
    checkBeta(op, 'betas[0]', g.betas[0]);
    checkBeta(op, 'betas[1]', g.betas[1]);
  }

  protected checkState(s: ParamState, p: Tensor, i: number): void {
    if (!Number.isInteger(s.step) || (s.step as number) < 0) throw new RangeError(`AdamW.loadStateDict: parameter ${i} has invalid step ${s.step}`);
    for (const k of ['expAvg', 'expAvgSq']) {
      if (!(s[k] instanceof Tensor)) throw new TypeError(`AdamW.loadStateDict: parameter ${i} ${formatShape(p.shape)} lacks tensor '${k}'`);
    }
    const master = s.masterWeight;
    if (master !== undefined && !(master instanceof Tensor && master.dtype === 'float32')) {
      throw new TypeError(`AdamW.loadStateDict: parameter ${i} ${formatShape(p.shape)} has a masterWeight that is not a float32 tensor`);
    }
  }

  step(): void {
    for (const group of this.paramGroups) {
      // One kernel call per set of parameters that share a device and a step count (a whole group, unless some
      // parameter skipped steps or lives elsewhere).
      const sets: { step: number; params: Tensor[]; states: AdamWState[] }[] = [];
      for (const p of group.params) {
        if (!p.grad) continue;
        const s = this.stateFor(p);
        const set = sets.find((x) => x.step === s.step && x.params[0].device === p.device);
        if (set) {
          set.params.push(p);
          set.states.push(s);
        } else {
          sets.push({ step: s.step, params: [p], states: [s] });
        }
      }
      for (const { step, params, states } of sets) {
        const targets = params.map((p, i) => masterOf(states[i]) ?? p);
        adamwSteps({ params: targets, grads: params.map((p) => p.grad as Tensor), ms: states.map((s) => s.expAvg), vs: states.map((s) => s.expAvgSq) }, {
          lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay, step: step + 1,
        });
        // bfloat16 parameters receive their updated master weights, rounded to nearest even.
        params.forEach((p, i) => {
          if (targets[i] !== p) p.backend.copy(p, targets[i]);
        });
        // after the update, so a step that throws (e.g. on a device lacking it) counts nothing
        for (const s of states) s.step += 1;
      }
    }
  }

  // The parameter's state, created on its first step and moved to its device when the parameter moved.
  private stateFor(p: Tensor): AdamWState {
    let s = this.state.get(p);
    if (!s) {
      // NOTE: state is owned by the optimizer, so it must survive any tidy() around step().
      s = { step: 0, expAvg: keep(zeros(p.shape, { device: p.device })), expAvgSq: keep(zeros(p.shape, { device: p.device })) };
      this.state.set(p, s);
    } else if (s.expAvg.device !== p.device) {
      // The parameter moved (Module.to): its state follows it.
      s.expAvg.moveTo_(p.device);
      s.expAvgSq.moveTo_(p.device);
      masterOf(s)?.moveTo_(p.device);
    }
    const master = masterOf(s);
    if (p.dtype === 'bfloat16' && !master) s.masterWeight = floatCopy(p);
    else if (p.dtype === 'float32' && master) {
      // The parameter became float32 (Module.to): it is its own master weight now.
      master.dispose();
      delete s.masterWeight;
    }
    return s;
  }
}

// A float32 copy of p's values, owned by the optimizer (outside any tidy scope and any graph).
function floatCopy(p: Tensor): Tensor {
  const view = p.detach();
  const copy = keep(view.to('float32'));
  view.dispose();
  return copy;
}
