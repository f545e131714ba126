// TRL's peft_config for every trainer: the trainer wraps its model in LoRA adapters (getPeftModel), so only the
// adapters reach the optimizer and checkpoints hold them in PEFT's files; a model already wrapped is taken as is.
import type { Module } from '../nn/module.js';
import { getPeftModel, PeftModel } from '../nn/peft-model.js';
import { type LoraConfig, type LoraConfigOptions, resolveLoraConfig } from '../nn/lora.js';

/**
 * The LoRA config a trainer will train with, checked before anything changes: `peftConfig` resolved with
 * `defaults` under it, or the config of a model given as a PeftModel, or null (no adapters).
 */
export function trainerLoraConfig<M extends Module>(owner: string, model: M | PeftModel<M>, peftConfig: LoraConfigOptions | null,
  defaults: LoraConfigOptions = {}): LoraConfig | null {
  if (model instanceof PeftModel) {
    if (peftConfig !== null) throw new RangeError(`${owner}: the model already has LoRA adapters (a PeftModel); give it without peftConfig, or give the base model`);
    if (model.numParameters(true) === 0) {
      throw new RangeError(`${owner}: the PeftModel's adapters are frozen (loaded for inference); load them with PeftModel.fromPretrained(model, dir, { isTrainable: true })`);
    }
    return model.peftConfig;
  }
  return peftConfig === null ? null : resolveLoraConfig({ ...defaults, ...peftConfig }, `${owner}: peftConfig`);
}

/**
 * The model a trainer trains (the wrapped model, which runs the adapters in its forward) and its PeftModel: `model`
 * wrapped per `peftConfig` (defaults under it: `defaults`), or `model` itself when it is a PeftModel already, or
 * no adapters at all. `owner` names the trainer in errors.
 */
export function trainerPeftModel<M extends Module>(owner: string, model: M | PeftModel<M>, peftConfig: LoraConfigOptions | null,
  defaults: LoraConfigOptions = {}): { model: M; peftModel: PeftModel<M> | null } {
  const config = trainerLoraConfig(owner, model, peftConfig, defaults);
  if (model instanceof PeftModel) return { model: model.getBaseModel(), peftModel: model };
  if (config === null) return { model, peftModel: null };
  const peftModel = getPeftModel(model, config);
  return { model: peftModel.getBaseModel(), peftModel };
}
