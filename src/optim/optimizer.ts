// The optimizer base: parameter groups with per-group hyperparameters, per-parameter state owned by the
// optimizer (kept out of tidy scopes), zeroGrad, and a torch-shaped stateDict for checkpoints.
import { keep } from '../autograd/tidy.js';
import { noGrad } from '../autograd/grad-mode.js';
import { copyContiguous } from '../ops/raw.js';
import { formatShape, Tensor } from '../tensor.js';

/** A group's parameters plus any hyperparameters that override the optimizer's defaults. */
export type ParamGroupInput<H> = { params: Tensor[] } & Partial<H>;
export type ParamGroup<H> = { params: Tensor[] } & H;

/** Per-parameter state: numbers and tensors (e.g. AdamW's step, expAvg, expAvgSq). */
export type ParamState = Record<string, number | Tensor | null>;

/** The serializable state: per-parameter state by flat parameter index, and each group's hyperparameters. */
export interface OptimizerStateDict<H = Record<string, unknown>> {
  state: Record<string, ParamState>;
  paramGroups: Array<H & { params: number[] }>;
}

/** Releases every parameter's gradient (sets .grad to null, freeing its memory). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) p.zeroGrad();
}

/** @internal dst[...] = src[...] in place (same number of elements), without autograd. */
export function assign(dst: Tensor, src: Tensor): void {
  if (dst.numel !== src.numel) throw new RangeError(`assign: ${formatShape(dst.shape)} <- ${formatShape(src.shape)}: element counts differ`);
  if (dst.numel === 0) return;
  const s = src.shape.join() === dst.shape.join() ? src : src.reshape(dst.shape);
  dst.backend.copy(dst, s);
  if (s !== src) s.dispose();
}

/** @internal A detached contiguous copy owned by the caller (not tracked by any tidy scope). */
export function ownedCopy(t: Tensor): Tensor {
  return keep(noGrad(() => copyContiguous(t)));
}

export abstract class Optimizer<H extends object, S extends ParamState> {
  readonly paramGroups: ParamGroup<H>[];
  readonly defaults: Readonly<H>;
  /** State per parameter, created lazily at its first step. */
  protected readonly state = new Map<Tensor, S>();

  protected constructor(readonly name: string, params: Iterable<Tensor> | Iterable<ParamGroupInput<H>>, defaults: H) {
    this.defaults = Object.freeze({ ...defaults });
    const list = [...params] as (Tensor | ParamGroupInput<H>)[];
    if (list.length === 0) throw new RangeError(`${name}: got an empty parameter list`);
    const groups: ParamGroupInput<H>[] = list.every((p) => p instanceof Tensor)
      ? [{ params: list as Tensor[] } as ParamGroupInput<H>]
      : list.map((g, i) => {
        if (g instanceof Tensor || !g || !Array.isArray(g.params)) throw new TypeError(`${name}: item ${i} must be a param group {params: Tensor[], ...}; do not mix tensors and groups`);
        return g;
      });
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      for (const [pi, p] of g.params.entries()) {
        if (!(p instanceof Tensor)) throw new TypeError(`${name}: group ${gi} param ${pi} is not a Tensor`);
        p.assertLive(name);
        if (p.dtype === 'int32') throw new TypeError(`${name}: group ${gi} param ${pi} ${formatShape(p.shape)} is ${p.dtype}; parameters must be float32 or bfloat16`);
        if (seen.has(p)) throw new RangeError(`${name}: a parameter ${formatShape(p.shape)} appears more than once`);
        seen.add(p);
      }
      const group = { ...defaults, ...g, params: [...g.params] } as ParamGroup<H>;
      this.validateGroup(group, gi);
      return group;
    });
  }

  /** Checks a group's hyperparameters; throws a RangeError naming the bad one. */
  protected abstract validateGroup(group: ParamGroup<H>, index: number): void;

  /** Updates every parameter that has a gradient (parameters without one are skipped, as in PyTorch). */
  abstract step(): void;

  /** Every parameter, group by group (the order of stateDict indices). */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Releases the gradients of all parameters. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** Sets the learning rate of every group. */
  setLr(lr: number): void {
    for (const g of this.paramGroups) (g as unknown as { lr: number }).lr = lr;
  }

  /**
   * The optimizer's state. Tensors in it are the optimizer's own (read them, do not dispose them); numbers
   * and hyperparameters are copies.
   */
  stateDict(): OptimizerStateDict<H> {
    const params = this.params;
    const state: Record<string, ParamState> = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) state[String(i)] = { ...s };
    });
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params: ps, ...hyper } = g;
      return { ...structuredClone(hyper), params: ps.map(() => next++) } as unknown as H & { params: number[] };
    });
    return { state, paramGroups };
  }

  /** Restores state saved by stateDict() (tensor values are copied); group sizes and shapes must match. */
  loadStateDict(sd: OptimizerStateDict<H>): void {
    const op = `${this.name}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || !sd.state || typeof sd.state !== 'object') {
      throw new TypeError(`${op}: expected {state, paramGroups}`);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${op}: state has ${sd.paramGroups.length} param groups, optimizer has ${this.paramGroups.length}`);
    }
    sd.paramGroups.forEach((g, i) => {
      if (!Array.isArray(g.params) || g.params.length !== this.paramGroups[i].params.length) {
        throw new RangeError(`${op}: group ${i} has ${g.params?.length} params in the state, ${this.paramGroups[i].params.length} in the optimizer`);
      }
    });
    const params = this.params;
    const next = new Map<Tensor, S>();
    try {
      for (const [key, s] of Object.entries(sd.state)) {
        const i = Number(key);
        if (!Number.isInteger(i) || i < 0 || i >= params.length) throw new RangeError(`${op}: state for parameter ${key}, but there are ${params.length}`);
        const p = params[i];
        const copy: ParamState = {};
        for (const [name, v] of Object.entries(s)) {
          if (v instanceof Tensor) {
            v.assertLive(op);
            if (v.numel !== p.numel) throw new RangeError(`${op}: state '${name}' of parameter ${i} is ${formatShape(v.shape)}, parameter is ${formatShape(p.shape)}`);
            const c = ownedCopy(v);
            copy[name] = c.shape.join() === p.shape.join() ? c : (() => {
              const r = keep(c.reshape(p.shape));
              c.dispose();
              return r;
            })();
          } else {
            copy[name] = v;
          }
        }
        this.checkState(copy, p, i);
        next.set(p, copy as S);
      }
    } catch (err) {
      for (const s of next.values()) disposeState(s);
      throw err;
    }
    this.disposeState();
    for (const [p, s] of next) this.state.set(p, s);
    sd.paramGroups.forEach((g, i) => {
      const { params: _ignored, ...hyper } = g;
      const group = this.paramGroups[i] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(hyper)) group[k] = structuredClone(v);
      this.validateGroup(this.paramGroups[i], i);
    });
  }

  /** Checks one parameter's loaded state; throws naming what is wrong. */
  protected abstract checkState(state: ParamState, param: Tensor, index: number): void;

  private disposeState(): void {
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
  }

  /** Frees the optimizer's state tensors (the parameters are not touched). */
  dispose(): void {
    this.disposeState();
  }
}

function disposeState(s: ParamState): void {
  for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
}

/** @internal Validation helpers for hyperparameters. */
export function checkNonNegative(op: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${op}: ${name} must be a finite number >= 0, got ${v}`);
}

export function checkBeta(op: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new RangeError(`${op}: ${name} must be in [0, 1), got ${v}`);
}
