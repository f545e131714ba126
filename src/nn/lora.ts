// LoRA layers in PEFT's layout: a target Linear becomes a LoraLinear (base_layer plus lora_A / lora_B under the
// adapter name 'default'), a module to save becomes a ModulesToSaveWrapper (original_module plus a trainable
// copy), so parameter names are PEFT's. LoraModel injects them into a model and undoes that on merge.
import { isGradEnabled, noGrad } from '../autograd/grad-mode.js';
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { rand, zeros } from '../ops/creation.js';
import { add, ge, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { cast } from '../ops/shape.js';
import { formatShape, type Tensor } from '../tensor.js';
import { initUniform, withoutInit } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** The one adapter name (PEFT's default); saved files leave it out of their keys, as PEFT's do. */
export const ADAPTER_NAME = 'default';

/** Which biases train with the adapters (PEFT's `bias`): none, every bias of the model, or those of the LoRA-wrapped layers. */
export type LoraBias = 'none' | 'all' | 'lora_only';

/** PEFT's task types this package has models for. */
export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_CLS';

/** PEFT's LoraConfig in camelCase, resolved (every field set); `LoraConfigOptions` is what callers give. */
export interface LoraConfig {
  /** Rank of the update B A. Default 8. */
  r: number;
  /** The update is scaled by loraAlpha / r (or loraAlpha / sqrt(r) with useRslora). Default 8. */
  loraAlpha: number;
  /** Dropout probability on the adapter's input while training (forwards with gradients). Default 0. */
  loraDropout: number;
  /**
   * Which Linear layers get adapters: a list of names, each matching a layer whose dotted name equals it or ends
   * with `.name`; a string is a regular expression that must match the whole dotted name (Python's fullmatch);
   * 'all-linear' is every Linear but the output head. null: PEFT's default for the model type (q_proj, v_proj
   * for Llama and Qwen2).
   */
  targetModules: string[] | string | null;
  /** Default 'none'. NOTE: with trained biases, disabling the adapters does not give back the base model. */
  bias: LoraBias;
  /** Modules trained whole beside the adapters (a copy is trained, the original kept), matched as targetModules' list entries. Default null. */
  modulesToSave: string[] | null;
  /** Rank-stabilized LoRA: scale by loraAlpha / sqrt(r). Default false. */
  useRslora: boolean;
  /** true: A Kaiming-uniform (a = sqrt(5)) and B zeros, so the model starts unchanged; false: B drawn like A (for tests). Default true. */
  initLoraWeights: boolean;
  /** PEFT's task type, written to adapter_config.json. Default 'CAUSAL_LM'. */
  taskType: PeftTaskType | null;
  /** Where the base model came from, written to adapter_config.json. Default null. */
  baseModelNameOrPath: string | null;
  /** Adapters frozen (loaded for inference). Default false. */
  inferenceMode: boolean;
}

export type LoraConfigOptions = Partial<LoraConfig>;

export const LORA_DEFAULTS: LoraConfig = {
  r: 8, loraAlpha: 8, loraDropout: 0, targetModules: null, bias: 'none', modulesToSave: null, useRslora: false,
  initLoraWeights: true, taskType: 'CAUSAL_LM', baseModelNameOrPath: null, inferenceMode: false,
};

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0);

/**
 * Checks `options` field by field (unknown fields and bad values throw naming the field) and fills PEFT's
 * defaults. `op` names the caller in errors.
 */
export function resolveLoraConfig(options: LoraConfigOptions, op = 'LoraConfig'): LoraConfig {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${op}: the LoRA config must be an object`);
  for (const key of Object.keys(options)) {
    if (!Object.prototype.hasOwnProperty.call(LORA_DEFAULTS, key)) {
      throw new RangeError(`${op}: unknown LoRA option '${key}' (known: ${Object.keys(LORA_DEFAULTS).join(', ')})`);
    }
  }
  const c: LoraConfig = { ...LORA_DEFAULTS };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) (c as unknown as Record<string, unknown>)[key] = value;
  const bad = (field: string, what: string, v: unknown) => new RangeError(`${op}: ${field} must be ${what}, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(c.r) || c.r < 1) throw bad('r', 'a positive integer', c.r);
  if (typeof c.loraAlpha !== 'number' || !Number.isFinite(c.loraAlpha)) throw bad('loraAlpha', 'a finite number', c.loraAlpha);
  if (typeof c.loraDropout !== 'number' || !(c.loraDropout >= 0 && c.loraDropout < 1)) throw bad('loraDropout', 'a number in [0, 1)', c.loraDropout);
  if (c.targetModules !== null && typeof c.targetModules !== 'string' && !isStringList(c.targetModules)) {
    throw bad('targetModules', 'a list of module names, a regular expression string or null', c.targetModules);
  }
  if (typeof c.targetModules === 'string') targetPattern(c.targetModules, op);
  if (!['none', 'all', 'lora_only'].includes(c.bias)) throw bad('bias', "'none', 'all' or 'lora_only'", c.bias);
  if (c.modulesToSave !== null && !isStringList(c.modulesToSave)) throw bad('modulesToSave', 'a list of module names or null', c.modulesToSave);
  for (const key of ['useRslora', 'initLoraWeights', 'inferenceMode'] as const) {
    if (typeof c[key] !== 'boolean') throw bad(key, 'true or false', c[key]);
  }
  if (c.taskType !== null && c.taskType !== 'CAUSAL_LM' && c.taskType !== 'SEQ_CLS') throw bad('taskType', "'CAUSAL_LM', 'SEQ_CLS' or null", c.taskType);
  if (c.baseModelNameOrPath !== null && typeof c.baseModelNameOrPath !== 'string') throw bad('baseModelNameOrPath', 'a string or null', c.baseModelNameOrPath);
  return { ...c, targetModules: Array.isArray(c.targetModules) ? [...new Set(c.targetModules)] : c.targetModules,
    modulesToSave: c.modulesToSave === null ? null : [...new Set(c.modulesToSave)] };
}

// NOTE: a pattern may come from a downloaded adapter_config.json; a quantified group that itself holds a
// quantifier can backtrack exponentially, so such patterns are refused rather than run.
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]/;

/** A targetModules string as a regular expression that must match a whole name (Python's re.fullmatch). */
export function targetPattern(source: string, op = 'LoraConfig'): RegExp {
  if (source.length > 1000) throw new RangeError(`${op}: the targetModules pattern is ${source.length} characters long (at most 1000)`);
  if (NESTED_QUANTIFIER.test(source)) throw new RangeError(`${op}: targetModules pattern ${JSON.stringify(source)} nests quantifiers (it could backtrack for ever); write it without a repeated group holding a repetition`);
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch (err) {
    throw new RangeError(`${op}: targetModules ${JSON.stringify(source)} is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** Whether the dotted module name `key` is `name` or ends with `.name` (PEFT's list matching). */
export function matchesModuleName(key: string, names: readonly string[]): boolean {
  return names.some((n) => key === n || key.endsWith(`.${n}`));
}

/** A name -> module map registered under those names (torch.nn.ModuleDict), as PEFT keeps one entry per adapter. */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly entries = new Map<string, M>();

  constructor(entries: Record<string, M> = {}) {
    super();
    for (const [name, m] of Object.entries(entries)) this.entries.set(name, this.registerModule(name, m));
  }

  get(name: string): M {
    const m = this.entries.get(name);
    if (m === undefined) throw new RangeError(`ModuleDict: no entry '${name}'`);
    return m;
  }
}

// NOTE: a dropout mask draws from the process-wide generator (as torch's dropout does), only in forwards that
// record gradients: sampling and reference log-probs run without gradients and see the whole input.
function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (p === 0 || !training || !isGradEnabled()) return x;
  const keep = ge(rand(x.shape, { device: x.device }), p);
  return mul(x, mul(keep, 1 / (1 - p)));
}

/** The adapter-wrapped layers switch back to their base behaviour while this is set on them. */
interface Disableable {
  adaptersDisabled: boolean;
}

/**
 * A Linear with a low-rank update (PEFT's lora.Linear): y = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling,
 * lora_A (r, in), lora_B (out, r) under the adapter name 'default'. Reads like the Linear it wraps (weight,
 * bias, inFeatures, outFeatures are the base layer's).
 */
export class LoraLinear extends Module implements Disableable {
  readonly base_layer: Linear;
  readonly lora_A: ModuleDict<Linear>;
  readonly lora_B: ModuleDict<Linear>;
  /** loraAlpha / r, or loraAlpha / sqrt(r) with rsLoRA. */
  readonly scaling: number;
  /** @internal Set by PeftModel.withAdaptersDisabled. */
  adaptersDisabled = false;

  constructor(base: Linear, readonly r: number, loraAlpha: number, readonly loraDropout: number, options: { useRslora?: boolean; initLoraWeights?: boolean } = {}) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.scaling = options.useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
    const device = base.weight.device;
    // kaiming_uniform_(a = sqrt(5)) on a (r, in) weight: bound = sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(in), torch's Linear default.
    const adapter = (inF: number, outF: number, weight: Tensor) => {
      const l = withoutInit(() => new Linear(inF, outF, { bias: false })).to(device);
      noGrad(() => l.weight.backend.copy(l.weight, weight));
      weight.dispose();
      return l;
    };
    const a = adapter(base.inFeatures, r, initUniform([r, base.inFeatures], 1 / Math.sqrt(base.inFeatures), device));
    const b = adapter(r, base.outFeatures, options.initLoraWeights === false ? initUniform([base.outFeatures, r], 1 / Math.sqrt(r), device) : zeros([base.outFeatures, r], { device }));
    this.lora_A = this.registerModule('lora_A', new ModuleDict({ [ADAPTER_NAME]: a }));
    this.lora_B = this.registerModule('lora_B', new ModuleDict({ [ADAPTER_NAME]: b }));
  }

  get weight(): Tensor {
    return this.base_layer.weight;
  }

  get bias(): Tensor | null {
    return this.base_layer.bias;
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }

  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  /**
   * x (..., in) -> (..., out) in the base layer's output dtype (as PEFT casts back); `precision` of every product
   * (default: the process default).
   */
  forward(x: Tensor, precision?: Float32MatmulPrecision): Tensor {
    const y = this.base_layer.forward(x, precision);
    if (this.adaptersDisabled) return y;
    const h = dropout(x, this.loraDropout, this.training);
    const update = this.lora_B.get(ADAPTER_NAME).forward(this.lora_A.get(ADAPTER_NAME).forward(h, precision), precision);
    const out = add(y, mul(update, this.scaling));
    return out.dtype === y.dtype ? out : cast(out, y.dtype);
  }

  /** The adapters train in float32 over a bfloat16 base layer, as PEFT's autocast_adapter_dtype keeps them. */
  protected override keptInFloat32(): Tensor[] {
    return [...this.lora_A.parameters(), ...this.lora_B.parameters()];
  }

  /** scaling * B A (out, in): what merging adds to the base weight. */
  deltaWeight(): Tensor {
    return noGrad(() => mul(matmul(this.lora_B.get(ADAPTER_NAME).weight, this.lora_A.get(ADAPTER_NAME).weight), this.scaling));
  }
}

/**
 * A module trained whole beside the adapters (PEFT's ModulesToSaveWrapper): `original_module` stays as it was and
 * `modules_to_save.default`, a copy, is the one used and trained (the original again while adapters are disabled).
 */
export class ModulesToSaveWrapper extends Module implements Disableable {
  readonly original_module: Linear;
  readonly modules_to_save: ModuleDict<Linear>;
  /** @internal Set by PeftModel.withAdaptersDisabled. */
  adaptersDisabled = false;

  constructor(original: Linear) {
    super();
    this.original_module = this.registerModule('original_module', original);
    const copy = withoutInit(() => new Linear(original.inFeatures, original.outFeatures, { bias: original.bias !== null }));
    copy.to(original.weight.device);
    noGrad(() => {
      copy.weight.backend.copy(copy.weight, original.weight);
      if (copy.bias && original.bias) copy.bias.backend.copy(copy.bias, original.bias);
    });
    this.modules_to_save = this.registerModule('modules_to_save', new ModuleDict({ [ADAPTER_NAME]: copy }));
  }

  /** The module forwards go through: the trained copy, or the original while adapters are disabled. */
  get active(): Linear {
    return this.adaptersDisabled ? this.original_module : this.modules_to_save.get(ADAPTER_NAME);
  }

  get weight(): Tensor {
    return this.active.weight;
  }

  get bias(): Tensor | null {
    return this.active.bias;
  }

  get inFeatures(): number {
    return this.original_module.inFeatures;
  }

  get outFeatures(): number {
    return this.original_module.outFeatures;
  }

  forward(x: Tensor, precision?: Float32MatmulPrecision): Tensor {
    return this.active.forward(x, precision);
  }
}

/**
 * Throws when `model` still has LoRA layers or modules-to-save wrappers: a Hugging Face folder cannot hold them
 * (`op` names the saver in the message, which says what to do instead).
 */
export function assertNoAdapters(op: string, model: Module): void {
  const adapted = model.namedParameters().find(([name]) => /(?:^|\.)(?:lora_[AB]|base_layer|original_module|modules_to_save)\./.test(name));
  if (adapted) {
    throw new Error(`${op}: the model has LoRA adapters ('${adapted[0]}'), which a Hugging Face folder cannot hold; ` +
      'save them with peftModel.savePretrained(dir), or fold them in with peftModel.mergeAndUnload() first');
  }
}

/** Every module of `root` with its dotted name and parent (the root itself excluded), depth first. */
function namedModules(root: Module): { name: string; parent: Module; local: string; module: Module }[] {
  const out: { name: string; parent: Module; local: string; module: Module }[] = [];
  const visit = (m: Module, prefix: string) => {
    for (const [local, child] of m.children()) {
      out.push({ name: prefix + local, parent: m, local, module: child });
      visit(child, `${prefix}${local}.`);
    }
  };
  visit(root, '');
  return out;
}

/** PEFT's target_modules when none are given, by model type (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: Record<string, string[]> = { llama: ['q_proj', 'v_proj'], qwen2: ['q_proj', 'v_proj'] };

/** The output head PEFT's 'all-linear' leaves out. */
const OUTPUT_HEADS = ['lm_head', 'score'];

function modelType(model: Module): string | null {
  const config = (model as Module & { config?: { modelType?: unknown } }).config;
  return typeof config?.modelType === 'string' ? config.modelType : null;
}

/** The layer PEFT would wrap for `config`: each target Linear's dotted name (relative to the model) with its shape. */
export interface LoraTarget {
  name: string;
  inFeatures: number;
  outFeatures: number;
  hasBias: boolean;
}

/**
 * Which layers of `model` `config` wraps (without changing anything): the LoRA targets and the modules to save,
 * and the targetModules the config resolves to (PEFT's default for the model type when null). Throws when a
 * name matches a module that is not a Linear or nothing matches, as PEFT does.
 */
export function planLora(model: Module, config: LoraConfig, op = 'getPeftModel'): { targetModules: string[] | string; targets: LoraTarget[]; modulesToSave: LoraTarget[] } {
  let targetModules = config.targetModules;
  if (targetModules === null) {
    const type = modelType(model);
    const fallback = type === null ? undefined : DEFAULT_TARGETS[type];
    if (!fallback) throw new RangeError(`${op}: targetModules must be given for this model (no default for model type ${JSON.stringify(type)})`);
    targetModules = fallback;
  }
  const pattern = typeof targetModules === 'string' && targetModules !== 'all-linear' ? targetPattern(targetModules, op) : null;
  const names = Array.isArray(targetModules) ? targetModules : [];
  const saved = config.modulesToSave ?? [];
  const targets: LoraTarget[] = [];
  const modulesToSave: LoraTarget[] = [];
  const describe = (name: string, m: Module): LoraTarget => {
    if (!(m instanceof Linear)) {
      throw new TypeError(`${op}: module '${name}' (${m.constructor.name}) is not a Linear layer; LoRA and modulesToSave wrap Linear layers here`);
    }
    return { name, inFeatures: m.inFeatures, outFeatures: m.outFeatures, hasBias: m.bias !== null };
  };
  for (const { name, module } of namedModules(model)) {
    if (module instanceof LoraLinear || module instanceof ModulesToSaveWrapper) throw new Error(`${op}: the model already has adapters ('${name}'); give the base model`);
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    if (matchesModuleName(name, saved)) {
      modulesToSave.push(describe(name, module));
      continue;
    }
    const targeted = targetModules === 'all-linear' ? module instanceof Linear && !OUTPUT_HEADS.includes(leaf)
      : pattern ? pattern.test(name) : matchesModuleName(name, names);
    if (targeted) targets.push(describe(name, module));
  }
  if (targets.length === 0) {
    throw new RangeError(`${op}: target modules ${JSON.stringify(targetModules)} not found in the base model; ` +
      `its Linear layers include ${namedModules(model).filter((e) => e.module instanceof Linear).slice(0, 8).map((e) => e.name).join(', ')}`);
  }
  const unmatched = saved.filter((s) => !modulesToSave.some((t) => matchesModuleName(t.name, [s])));
  if (unmatched.length > 0) throw new RangeError(`${op}: modulesToSave ${JSON.stringify(unmatched)} not found in the base model`);
  return { targetModules, targets, modulesToSave };
}

/**
 * PEFT's LoraModel: the model with its target layers wrapped in place (registered as `model`, so names run
 * `model.<the model's own names>`). Everything but the adapters, the copies of modules to save and the biases
 * that `bias` names is frozen.
 */
export class LoraModel<M extends Module = Module> extends Module {
  readonly model: M;
  /** The config with targetModules resolved. */
  readonly config: LoraConfig;
  /** The wrapped layers by dotted name (relative to the model). */
  readonly loraLayers = new Map<string, LoraLinear>();
  readonly savedModules = new Map<string, ModulesToSaveWrapper>();

  constructor(model: M, config: LoraConfig, op = 'getPeftModel') {
    super();
    const plan = planLora(model, config, op);
    this.config = { ...config, targetModules: plan.targetModules };
    const byName = new Map(namedModules(model).map((e) => [e.name, e]));
    for (const t of plan.targets) {
      const { parent, local, module } = byName.get(t.name)!;
      const layer = new LoraLinear(module as Linear, config.r, config.loraAlpha, config.loraDropout, config);
      parent.replaceModule(local, layer);
      this.loraLayers.set(t.name, layer);
    }
    for (const t of plan.modulesToSave) {
      const { parent, local, module } = byName.get(t.name)!;
      const wrapper = new ModulesToSaveWrapper(module as Linear);
      parent.replaceModule(local, wrapper);
      this.savedModules.set(t.name, wrapper);
    }
    this.model = this.registerModule('model', model);
    this.markTrainable();
  }

  // PEFT's _mark_only_adapters_as_trainable, then the copies of modules to save.
  private markTrainable(): void {
    const c = this.config;
    const trainable = new Set<Tensor>();
    if (!c.inferenceMode) {
      for (const layer of this.loraLayers.values()) {
        for (const t of [...layer.lora_A.parameters(), ...layer.lora_B.parameters()]) trainable.add(t);
        if (c.bias === 'lora_only' && layer.bias) trainable.add(layer.bias);
      }
      for (const w of this.savedModules.values()) for (const t of w.modules_to_save.parameters()) trainable.add(t);
      if (c.bias === 'all') for (const [name, t] of this.biases()) if (!name.includes('.original_module.')) trainable.add(t);
    }
    for (const t of this.parameters()) t.requiresGrad_(trainable.has(t));
  }

  private biases(): [string, Tensor][] {
    return this.model.namedParameters().filter(([name]) => name === 'bias' || name.endsWith('.bias'));
  }

  /** Runs `fn` with every adapter off (the base layers alone, the original modules to save); restores them after, also on a throw. */
  withAdaptersDisabled<T>(fn: () => T): T {
    const layers: Disableable[] = [...this.loraLayers.values(), ...this.savedModules.values()];
    const before = layers.map((l) => l.adaptersDisabled);
    for (const l of layers) l.adaptersDisabled = true;
    try {
      return fn();
    } finally {
      layers.forEach((l, i) => { l.adaptersDisabled = before[i]; });
    }
  }

  /**
   * PEFT's get_peft_model_state_dict: the tensors an adapter file holds, under PEFT's saved names (relative to
   * this LoraModel's parent: `base_model.model.<name>.lora_A.weight`, the adapter name left out; a module to
   * save under its own name; biases per `bias`). `prefix` is prepended to every name.
   */
  adapterStateDict(prefix = 'base_model.model.'): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, layer] of this.loraLayers) {
      out[`${prefix}${name}.lora_A.weight`] = layer.lora_A.get(ADAPTER_NAME).weight;
      out[`${prefix}${name}.lora_B.weight`] = layer.lora_B.get(ADAPTER_NAME).weight;
      if (this.config.bias === 'lora_only' && layer.bias) out[`${prefix}${name}.base_layer.bias`] = layer.bias;
    }
    for (const [name, wrapper] of this.savedModules) {
      for (const [p, t] of wrapper.modules_to_save.get(ADAPTER_NAME).namedParameters()) out[`${prefix}${name}.${p}`] = t;
    }
    if (this.config.bias === 'all') {
      for (const [name, t] of this.biases()) {
        if (!name.includes('.original_module.') && !name.includes('.modules_to_save.')) out[prefix + name] = t;
      }
    }
    return out;
  }

  /**
   * The adapter's expected names and shapes (adapterStateDict's keys), computed from the plan alone so that a
   * file can be checked before anything is allocated.
   */
  static expectedAdapterShapes(model: Module, config: LoraConfig, prefix = 'base_model.model.', op = 'loadPeftModel'): Map<string, number[]> {
    const plan = planLora(model, config, op);
    const out = new Map<string, number[]>();
    for (const t of plan.targets) {
      out.set(`${prefix}${t.name}.lora_A.weight`, [config.r, t.inFeatures]);
      out.set(`${prefix}${t.name}.lora_B.weight`, [t.outFeatures, config.r]);
      if (config.bias === 'lora_only' && t.hasBias) out.set(`${prefix}${t.name}.base_layer.bias`, [t.outFeatures]);
    }
    for (const t of plan.modulesToSave) {
      out.set(`${prefix}${t.name}.weight`, [t.outFeatures, t.inFeatures]);
      if (t.hasBias) out.set(`${prefix}${t.name}.bias`, [t.outFeatures]);
    }
    if (config.bias === 'all') {
      const covered = new Set(plan.modulesToSave.map((t) => t.name));
      const wrapped = new Set(plan.targets.map((t) => t.name));
      for (const [name, t] of model.namedParameters()) {
        if (!(name === 'bias' || name.endsWith('.bias'))) continue;
        const owner = name.slice(0, Math.max(0, name.length - '.bias'.length));
        if (covered.has(owner)) continue;
        out.set(prefix + (wrapped.has(owner) ? `${owner}.base_layer.bias` : name), [...t.shape]);
      }
    }
    return out;
  }

  /**
   * Copies `sd` (adapterStateDict's names and shapes, every one present, nothing else) into the adapters in
   * place. The error lists every missing, unexpected and mis-shaped key at once.
   */
  loadAdapterStateDict(sd: Record<string, Tensor>, prefix = 'base_model.model.', op = 'loadAdapterStateDict'): void {
    const own = this.adapterStateDict(prefix);
    const problems: string[] = [];
    const missing = Object.keys(own).filter((k) => !Object.prototype.hasOwnProperty.call(sd, k));
    const unexpected = Object.keys(sd).filter((k) => !Object.prototype.hasOwnProperty.call(own, k));
    const mismatched = Object.keys(own).filter((k) => Object.prototype.hasOwnProperty.call(sd, k) && sd[k].shape.join() !== own[k].shape.join())
      .map((k) => `${k}: file ${formatShape(sd[k].shape)} vs model ${formatShape(own[k].shape)}`);
    if (missing.length > 0) problems.push(`missing ${missing.length} key(s): ${missing.join(', ')}`);
    if (unexpected.length > 0) problems.push(`unexpected ${unexpected.length} key(s): ${unexpected.join(', ')}`);
    if (mismatched.length > 0) problems.push(`shape mismatch: ${mismatched.join('; ')}`);
    const wrongType = Object.keys(own).filter((k) => Object.prototype.hasOwnProperty.call(sd, k) && sd[k].dtype !== own[k].dtype);
    if (wrongType.length > 0) problems.push(`wrong dtype for ${wrongType.map((k) => `${k} (${sd[k].dtype})`).join(', ')}`);
    if (problems.length > 0) throw new Error(`${op}: ${problems.join('. ')}`);
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const src = sd[k].assertLive(op);
        if (src.device !== t.device) throw new TypeError(`${op}: '${k}' is on ${src.device}, the adapter on ${t.device}`);
        t.backend.copy(t, src);
      }
    });
  }

  /**
   * Folds every adapter into its base layer (W += scaling B A), puts the base layers and the trained copies of the
   * modules to save back in place of the wrappers and frees the adapters and the originals; returns the model,
   * whose parameters keep their requiresGrad flags (the base weights stay frozen, as after PEFT's merge_and_unload).
   */
  mergeAndUnload(): M {
    const byName = new Map(namedModules(this.model).map((e) => [e.name, e]));
    for (const [name, layer] of this.loraLayers) {
      const base = layer.base_layer;
      noGrad(() => {
        const delta = layer.deltaWeight();
        const merged = add(base.weight, delta);
        base.weight.backend.copy(base.weight, merged);
        delta.dispose();
        merged.dispose();
      });
      byName.get(name)!.parent.replaceModule(byName.get(name)!.local, base);
      layer.lora_A.dispose();
      layer.lora_B.dispose();
    }
    for (const [name, wrapper] of this.savedModules) {
      byName.get(name)!.parent.replaceModule(byName.get(name)!.local, wrapper.modules_to_save.get(ADAPTER_NAME));
      wrapper.original_module.dispose();
    }
    this.loraLayers.clear();
    this.savedModules.clear();
    return this.model;
  }
}
