// Module: the base of every layer. It owns registered parameters and submodules, names them with Hugging
// Face's dotted paths (model.layers.0.self_attn.q_proj.weight), and loads/saves them as a state dict.
import { keep } from '../autograd/tidy.js';
import type { Device, DType } from '../backend/backend.js';
import { formatShape, Tensor } from '../tensor.js';

export interface LoadStateDictOptions {
  /** Throw when a parameter is missing from the dict or the dict has keys the module lacks. Default true. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Base class of layers (like torch.nn.Module). Subclasses create their tensors with `registerParameter` and
 * their children with `registerModule`; names follow the registration order and join with dots.
 */
export class Module {
  /** Training mode flag (set by train()/eval()); LoRA's dropout reads it (the other layers have no dropout). */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly modules = new Map<string, Module>();
  /** Extra names under which a parameter is also known (tied weights): alias -> canonical local name. */
  private readonly aliases = new Map<string, string>();

  /** Registers `t` as parameter `name` (a leaf that requires grad), owned by this module and kept out of tidy scopes. */
  registerParameter(name: string, t: Tensor): Tensor {
    if (name.includes('.') || name.length === 0) throw new RangeError(`registerParameter: invalid name '${name}'`);
    if (this.params.has(name) || this.modules.has(name)) throw new RangeError(`registerParameter: '${name}' is already registered`);
    if (!(t instanceof Tensor)) throw new TypeError(`registerParameter: '${name}' must be a Tensor`);
    if (t.dtype === 'int32') throw new TypeError(`registerParameter: '${name}' must be float32 or bfloat16, got ${t.dtype}`);
    keep(t);
    if (!t.requiresGrad) t.requiresGrad_(true);
    this.params.set(name, t);
    return t;
  }

  /** Registers a child module under `name`. */
  registerModule<M extends Module>(name: string, m: M): M {
    if (name.includes('.') || name.length === 0) throw new RangeError(`registerModule: invalid name '${name}'`);
    if (this.params.has(name) || this.modules.has(name)) throw new RangeError(`registerModule: '${name}' is already registered`);
    this.modules.set(name, m);
    return m;
  }

  /**
   * Makes the parameter at dotted path `alias` (relative to this module) share the tensor at `target`
   * (tied weights, e.g. lm_head.weight -> model.embed_tokens.weight). The alias is listed once, under the
   * target's name; loadStateDict accepts (and ignores) the alias key when a checkpoint carries it.
   */
  protected tieParameter(alias: string, target: string): void {
    this.aliases.set(alias, target);
  }

  /**
   * @internal Puts `m` in place of the child registered as `name` (how LoRA wraps a layer, as PEFT's setattr
   * does), and in the property of that name when it holds the old child; returns the old child.
   */
  replaceModule(name: string, m: Module): Module {
    const old = this.modules.get(name);
    if (old === undefined) throw new RangeError(`replaceModule: no child module '${name}'`);
    if (!(m instanceof Module)) throw new TypeError(`replaceModule: '${name}' must be replaced by a Module`);
    this.modules.set(name, m);
    const fields = this as unknown as Record<string, unknown>;
    if (fields[name] === old) fields[name] = m;
    return old;
  }

  /** Child modules with their local names. */
  children(): [string, Module][] {
    return [...this.modules.entries()];
  }

  /** Every parameter with its dotted name, depth first in registration order; shared tensors appear once. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const visit = (m: Module, p: string) => {
      for (const [name, t] of m.params) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([p + name, t]);
      }
      for (const [name, child] of m.modules) visit(child, `${p}${name}.`);
    };
    visit(this, prefix);
    return out;
  }

  /** The device of the first parameter ('cpu' for a module without parameters), as Hugging Face's `model.device`. */
  get device(): Device {
    return this.namedParameters()[0]?.[1].device ?? 'cpu';
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Alias names (tied weights) of this module tree, dotted from the root: alias -> canonical name. */
  private allAliases(): Map<string, string> {
    const out = new Map<string, string>();
    const visit = (m: Module, p: string) => {
      for (const [a, t] of m.aliases) out.set(p + a, p + t);
      for (const [name, child] of m.modules) visit(child, `${p}${name}.`);
    };
    visit(this, '');
    return out;
  }

  /** The parameters by name (the module's own tensors, not copies: clone them to keep a snapshot). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copies the values of `sd` into this module's parameters in place (gradients and optimizer references
   * stay valid). A key whose shape differs always throws; with strict (default), missing and unexpected keys
   * throw too. The error lists every problem at once.
   */
  loadStateDict(sd: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const shapes = new Map<string, readonly number[]>();
    for (const [key, t] of Object.entries(sd)) {
      if (!(t instanceof Tensor)) throw new TypeError(`loadStateDict: value of '${key}' is not a Tensor`);
      t.assertLive(`loadStateDict ('${key}')`);
      shapes.set(key, t.shape);
    }
    return this.loadStateDictFrom(shapes, (key) => sd[key], options);
  }

  /**
   * @internal loadStateDict over a source that produces one tensor at a time: every name and shape (`shapes`) is
   * checked as loadStateDict checks them before anything is copied, then each parameter's tensor is read
   * (`read(key)`), copied and released (`release`), so a checkpoint streams in with one tensor beyond the weights.
   */
  loadStateDictFrom(shapes: ReadonlyMap<string, readonly number[]>, read: (key: string) => Tensor, options: LoadStateDictOptions = {},
    release: (t: Tensor) => void = () => {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = new Map(this.namedParameters());
    const aliases = this.allAliases();
    const missingKeys: string[] = [];
    const unexpectedKeys: string[] = [];
    const mismatched: string[] = [];
    const plan: [Tensor, string][] = [];
    for (const [name, p] of own) {
      const key = shapes.has(name) ? name : [...aliases].filter(([, t]) => t === name).map(([a]) => a).find((a) => shapes.has(a));
      if (key === undefined) {
        missingKeys.push(name);
        continue;
      }
      const shape = shapes.get(key)!;
      if (shape.join() !== p.shape.join()) mismatched.push(`${name}: checkpoint ${formatShape(shape)} vs model ${formatShape(p.shape)}`);
      else plan.push([p, key]);
    }
    for (const key of shapes.keys()) {
      if (!own.has(key) && !aliases.has(key)) unexpectedKeys.push(key);
    }
    const problems: string[] = [];
    if (mismatched.length > 0) problems.push(`shape mismatch for ${mismatched.length} key(s): ${mismatched.join('; ')}`);
    if (strict && missingKeys.length > 0) problems.push(`missing ${missingKeys.length} key(s): ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected ${unexpectedKeys.length} key(s): ${unexpectedKeys.join(', ')}`);
    if (problems.length > 0) throw new Error(`loadStateDict: ${problems.join('. ')}`);
    for (const [p, key] of plan) {
      const src = read(key);
      try {
        if (src.shape.join() !== p.shape.join()) throw new Error(`loadStateDict: '${key}' read as ${formatShape(src.shape)}, announced as ${formatShape(p.shape)}`);
        if (src.device !== p.device) throw new TypeError(`loadStateDict: tensor on ${src.device} for a ${p.device} parameter`);
        p.backend.copy(p, src);
      } finally {
        release(src);
      }
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and its children. */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.modules.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Number of parameter elements (shared tensors counted once); `trainableOnly` counts those requiring grad. */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const t of this.parameters()) if (!trainableOnly || t.requiresGrad) n += t.numel;
    return n;
  }

  /** Stops gradients for every parameter (or those whose name passes `filter`). */
  freeze(filter?: (name: string) => boolean): this {
    for (const [name, t] of this.namedParameters()) if (!filter || filter(name)) t.requiresGrad_(false);
    return this;
  }

  /** Turns gradients back on for every parameter (or those whose name passes `filter`). */
  unfreeze(filter?: (name: string) => boolean): this {
    for (const [name, t] of this.namedParameters()) if (!filter || filter(name)) t.requiresGrad_(true);
    return this;
  }

  /** Frees every parameter's gradient. */
  zeroGrad(): void {
    for (const t of this.parameters()) t.zeroGrad();
  }

  /** The dtype of the first parameter (float32 for a module without parameters), as Hugging Face's `model.dtype`. */
  get dtype(): DType {
    return this.namedParameters()[0]?.[1].dtype ?? 'float32';
  }

  /**
   * Moves every parameter (with its gradient) and buffer to `device` in place, as torch's Module.to does: the
   * parameter objects keep their identities, so an optimizer built before still holds them (its state follows each
   * parameter to its device at the next step). Given a dtype ('float32' or 'bfloat16'), converts every parameter
   * instead (RMSNorm weights and biases included, as transformers' `torch_dtype` does), in place and keeping
   * identities too; gradients stay float32 and buffers (RoPE tables) float32, and so do the parameters a layer
   * keeps in float32 (LoRA adapters, as PEFT's autocast_adapter_dtype).
   */
  to(target: Device | DType): this {
    if (target !== 'cpu' && target !== 'cuda') {
      if (target !== 'float32' && target !== 'bfloat16') throw new TypeError(`Module.to: dtype must be 'float32' or 'bfloat16', got ${String(target)}`);
      const kept = new Set<Tensor>();
      const visit = (m: Module) => {
        for (const t of m.keptInFloat32()) kept.add(t);
        for (const c of m.modules.values()) visit(c);
      };
      visit(this);
      for (const t of this.parameters()) if (!kept.has(t)) t.castTo_(target);
      return this;
    }
    const device = target;
    for (const t of this.parameters()) t.moveTo_(device);
    const visit = (m: Module) => {
      m.moveExtra(device);
      for (const c of m.modules.values()) visit(c);
    };
    visit(this);
    return this;
  }

  /** @internal Parameters that `to(dtype)` leaves in float32 (none here; LoRA adapters). */
  protected keptInFloat32(): Tensor[] {
    return [];
  }

  /** @internal Subclasses move non-parameter tensors (tables, buffers) here. */
  protected moveExtra(_device: Device): void {}

  /** Frees the parameters (and anything else a subclass owns); the module is unusable after. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    const visit = (m: Module) => {
      m.disposeExtra();
      for (const c of m.modules.values()) visit(c);
    };
    visit(this);
  }

  /** @internal Subclasses free non-parameter tensors (tables, buffers) here. */
  protected disposeExtra(): void {}
}

/** An indexed list of modules, named 0, 1, 2, ... as in torch.nn.ModuleList. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.append(m);
  }

  override replaceModule(name: string, m: Module): Module {
    const old = super.replaceModule(name, m);
    this.items[Number(name)] = m as M;
    return old;
  }

  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    return this.items[i];
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
