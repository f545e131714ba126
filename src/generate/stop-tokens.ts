// Where a completion ends for a model and its tokenizer: the model's generation_config.json EOS ids (else its
// config.json's) together with the tokenizer's EOS, the way transformers' generate reads a generation config.
import type { Tokenizer } from '../io/tokenizers/types.js';
import type { LlamaForCausalLM } from '../nn/llama.js';

/**
 * The ids that end generation: model.generationConfig.eosTokenId (one id or a list, from
 * generation_config.json), else model.config.eosTokenId, plus tokenizer.eosTokenId; empty when none is known.
 */
export function stopTokenIds(model: LlamaForCausalLM, tokenizer: Tokenizer): number[] {
  const fromModel = model.generationConfig.eosTokenId ?? model.config.eosTokenId;
  const ids = fromModel === null ? [] : Array.isArray(fromModel) ? [...fromModel] : [fromModel];
  if (tokenizer.eosTokenId !== null && !ids.includes(tokenizer.eosTokenId)) ids.push(tokenizer.eosTokenId);
  return ids;
}

/** A completion's ids without the stop token it ended with (what its text is decoded from). */
export function withoutStopToken(ids: readonly number[], stops: readonly number[]): number[] {
  return ids.length > 0 && stops.includes(ids[ids.length - 1]) ? ids.slice(0, -1) : [...ids];
}
