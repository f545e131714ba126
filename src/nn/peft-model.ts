// PeftModel (PEFT's PeftModel): a model with LoRA adapters injected in place (getPeftModel), with PEFT's names for
// everything, the adapter switched off for a call, merged into the base weights, or saved to and loaded from
// PEFT's adapter folder.
import { readSafetensors } from '../io/safetensors.js';
import { checkAdapterWeights, readAdapterConfig, writePeftAdapter } from '../io/peft.js';
import type { Tensor } from '../tensor.js';
import { withoutInit } from './init.js';
import type { LlamaForCausalLM } from './llama.js';
import { type LoraConfig, type LoraConfigOptions, LoraModel, resolveLoraConfig } from './lora.js';
import { Module } from './module.js';

/** The argument list of M's forward. */
export type ForwardArgs<M> = M extends { forward(...args: infer A): unknown } ? A : never;
/** What M's forward returns. */
export type ForwardResult<M> = M extends { forward(...args: never[]): infer R } ? R : never;

/** The prefix of every saved adapter key: PeftModel's `base_model`, then LoraModel's `model`. */
const SAVED_PREFIX = 'base_model.model.';

/** The head names PEFT adds to modulesToSave for sequence classification (PeftModelForSequenceClassification). */
const CLASSIFIER_HEADS = ['classifier', 'score'];

function withTaskModules(config: LoraConfig, model: Module): LoraConfig {
  if (config.taskType !== 'SEQ_CLS') return config;
  const present = new Set(model.namedParameters().map(([n]) => n.split('.')[0]));
  const heads = CLASSIFIER_HEADS.filter((h) => present.has(h));
  // PEFT's saved configs list both names; the one this model lacks is dropped, as PEFT skips it.
  const given = (config.modulesToSave ?? []).filter((n) => !CLASSIFIER_HEADS.includes(n) || present.has(n));
  return { ...config, modulesToSave: [...new Set([...given, ...heads])] };
}

export interface PeftFromPretrainedOptions {
  /** Train the loaded adapters (PEFT's is_trainable); default false: they are frozen, for inference. */
  isTrainable?: boolean;
}

/**
 * A model with LoRA adapters (PEFT's PeftModel). Its parameters carry PEFT's names
 * (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight`, `...q_proj.base_layer.weight`); the
 * wrapped model itself (`getBaseModel()`) runs the adapters in its forward, so it can be passed wherever the model
 * was (generate, trainers). Only the adapters (and the copies of modulesToSave, and the biases `bias` names) require
 * gradients. Create one with `getPeftModel` or `PeftModel.fromPretrained`.
 */
export class PeftModel<M extends Module = LlamaForCausalLM> extends Module {
  readonly base_model: LoraModel<M>;
  private unloaded = false;

  /** Wraps `model` in place (as PEFT's get_peft_model does): its target layers become LoRA layers. */
  constructor(model: M, config: LoraConfigOptions = {}) {
    super();
    if (!(model instanceof Module)) throw new TypeError('getPeftModel: model must be an nn.Module');
    this.base_model = this.registerModule('base_model', new LoraModel(model, withTaskModules(resolveLoraConfig(config, 'getPeftModel'), model)));
  }

  private live(op: string): LoraModel<M> {
    if (this.unloaded) throw new Error(`PeftModel.${op}: the adapters were merged and unloaded; use the model mergeAndUnload returned`);
    return this.base_model;
  }

  /** The config with targetModules resolved (PEFT's peft_config['default']). */
  get peftConfig(): LoraConfig {
    return this.base_model.config;
  }

  /** The wrapped model (PEFT's get_base_model()): its forward runs the adapters. */
  getBaseModel(): M {
    return this.live('getBaseModel').model;
  }

  /** The wrapped model's forward, adapters included. */
  forward(...args: ForwardArgs<M>): ForwardResult<M> {
    const model = this.getBaseModel() as unknown as { forward(...a: unknown[]): ForwardResult<M> };
    return model.forward(...args);
  }

  /**
   * Runs `fn` with every adapter off, so the wrapped model computes what the base model did (PEFT's
   * `with model.disable_adapter():`); restores them after, also on a throw. With `bias` other than 'none' the
   * trained biases stay in use, as in PEFT.
   */
  withAdaptersDisabled<T>(fn: () => T): T {
    return this.live('withAdaptersDisabled').withAdaptersDisabled(fn);
  }

  /**
   * Folds each adapter into its base weight (W + (alpha/r) B A) and returns the plain model with the LoRA layers
   * replaced by their base layers (and modules to save by their trained copies); this PeftModel is unusable after.
   * The base parameters keep requiresGrad false, as after PEFT's merge_and_unload (call `unfreeze()` to train them).
   */
  mergeAndUnload(): M {
    const model = this.live('mergeAndUnload').mergeAndUnload();
    this.unloaded = true;
    return model;
  }

  /** PEFT's get_nb_trainable_parameters: [trainable elements, all elements], adapters included. */
  getNbTrainableParameters(): [number, number] {
    return [this.numParameters(true), this.numParameters()];
  }

  /**
   * PEFT's print_trainable_parameters: logs (through `log`, default console.log) and returns
   * `trainable params: 1,234 || all params: 56,789 || trainable%: 2.1730`.
   */
  printTrainableParameters(log: (line: string) => void = console.log): string {
    const [trainable, all] = this.getNbTrainableParameters();
    const line = `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${(100 * trainable / all).toFixed(4)}`;
    log(line);
    return line;
  }

  /**
   * The adapter's tensors under the names PEFT saves them with (its get_peft_model_state_dict), e.g.
   * `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`: the module's own tensors, not copies.
   */
  adapterStateDict(): Record<string, Tensor> {
    return this.live('adapterStateDict').adapterStateDict(SAVED_PREFIX);
  }

  /** Copies an adapter state dict (adapterStateDict's names and shapes, all present, nothing else) into the adapters in place. */
  loadAdapterStateDict(sd: Record<string, Tensor>): void {
    this.live('loadAdapterStateDict').loadAdapterStateDict(sd, SAVED_PREFIX, 'PeftModel.loadAdapterStateDict');
  }

  /**
   * Writes PEFT's adapter folder into `dir` (created when missing): adapter_config.json and
   * adapter_model.safetensors, each file atomically; `PeftModel.fromPretrained` and PEFT's
   * `PeftModel.from_pretrained` read it back.
   */
  savePretrained(dir: string): void {
    writePeftAdapter(dir, this.peftConfig, this.adapterStateDict());
  }

  /**
   * Loads a PEFT adapter folder onto `model` (wrapped in place, as PEFT's PeftModel.from_pretrained does). The
   * config and the weights' names, shapes and dtypes are checked against the model before anything is allocated
   * or changed; a folder that does not fit throws listing every problem.
   */
  static fromPretrained<M extends Module>(model: M, dir: string, options: PeftFromPretrainedOptions = {}): PeftModel<M> {
    if (typeof dir !== 'string' || dir === '') throw new TypeError(`PeftModel.fromPretrained: dir must be a folder path, got ${JSON.stringify(dir)}`);
    const config = withTaskModules({ ...readAdapterConfig(dir), inferenceMode: !(options.isTrainable ?? false) }, model);
    const { file } = checkAdapterWeights(dir, LoraModel.expectedAdapterShapes(model, config, SAVED_PREFIX, 'PeftModel.fromPretrained'));
    const tensors = readSafetensors(file);
    try {
      const device = model.device;
      for (const [k, t] of Object.entries(tensors)) {
        if (t.device === device) continue;
        tensors[k] = t.to(device);
        t.dispose();
      }
      const peft = withoutInit(() => new PeftModel(model, config));
      peft.loadAdapterStateDict(tensors);
      return peft;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
}

/**
 * PEFT's get_peft_model: wraps the target Linear layers of `model` in LoRA layers in place and freezes the rest.
 * `config` is PEFT's LoraConfig in camelCase with its defaults (r 8, loraAlpha 8, loraDropout 0, bias 'none',
 * targetModules q_proj and v_proj for Llama / Qwen2). A is Kaiming-uniform and B zero, so the model's outputs
 * are unchanged until training moves B.
 */
export function getPeftModel<M extends Module>(model: M, config: LoraConfigOptions = {}): PeftModel<M> {
  return new PeftModel(model, config);
}
