// SGD with momentum, dampening, Nesterov and (coupled, L2) weight decay, as torch.optim.SGD, composed from
// elementwise ops and written back into the parameters in place.
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { formatShape, Tensor } from '../tensor.js';
import { assign, checkNonNegative, Optimizer, ownedCopy, type ParamGroup, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface SGDOptions {
  /** Default 1e-3. */
  lr: number;
  /** Default 0 (plain SGD). */
  momentum: number;
  /** Default 0. */
  dampening: number;
  /** L2 penalty added to the gradient: g += weightDecay * p. Default 0. */
  weightDecay: number;
  /** Default false. */
  nesterov: boolean;
}

export interface SGDState extends ParamState {
  momentumBuffer: Tensor | null;
}

export const SGD_DEFAULTS: Readonly<SGDOptions> = Object.freeze({ lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });

/**
 * d = g + wd*p; buf = d at the first step, then momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf;
 * p -= lr * d. A bfloat16 parameter is updated in float32 and rounded back (no master weights: AdamW keeps them).
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<SGDOptions>>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, { ...SGD_DEFAULTS, ...options });
  }

  protected validateGroup(g: ParamGroup<SGDOptions>, i: number): void {
    const op = `SGD (group ${i})`;
    checkNonNegative(op, 'lr', g.lr);
    checkNonNegative(op, 'momentum', g.momentum);
    checkNonNegative(op, 'dampening', g.dampening);
    checkNonNegative(op, 'weightDecay', g.weightDecay);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new RangeError(`${op}: nesterov needs momentum > 0 and dampening 0`);
  }

  protected checkState(s: ParamState, p: Tensor, i: number): void {
    if (s.momentumBuffer !== null && !(s.momentumBuffer instanceof Tensor)) {
      throw new TypeError(`SGD.loadStateDict: parameter ${i} ${formatShape(p.shape)}: momentumBuffer must be a tensor or null`);
    }
  }

  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const g = p.grad;
          if (!g) continue;
          tidy(() => {
            let d = group.weightDecay !== 0 ? add(g, mul(p, group.weightDecay)) : g;
            if (group.momentum !== 0) {
              const s = this.state.get(p);
              if (!s || !s.momentumBuffer) {
                this.state.set(p, { momentumBuffer: ownedCopy(d) });
              } else {
                // The parameter moved (Module.to): its state follows it.
                if (s.momentumBuffer.device !== p.device) s.momentumBuffer.moveTo_(p.device);
                assign(s.momentumBuffer, add(mul(s.momentumBuffer, group.momentum), group.dampening === 0 ? d : mul(d, 1 - group.dampening)));
              }
              const buf = this.state.get(p)!.momentumBuffer!;
              d = group.nesterov ? add(d, mul(buf, group.momentum)) : buf;
            }
            assign(p, sub(p, mul(d, group.lr)));
          });
        }
      }
    });
  }
}
