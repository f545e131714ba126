// Chat templates: the Jinja template from tokenizer_config.json (or chat_template.jinja) rendered with
// @huggingface/jinja, given the same variables transformers passes (messages, special tokens, flags).
import { Template } from '@huggingface/jinja';
import type { ChatMessage, ChatTemplateOptions } from './types.js';

const compiled = new Map<string, Template>();

/** A tokenizer_config.json `chat_template`: a string, or a list of {name, template} (the "default" one is used). */
export function selectChatTemplate(value: unknown, name = 'default'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const hit = value.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === name);
    if (hit && typeof (hit as { template?: unknown }).template === 'string') return (hit as { template: string }).template;
    throw new Error(`chat template: no template named '${name}' among ${value.map((t) => JSON.stringify((t as { name?: unknown })?.name)).join(', ')}`);
  }
  throw new TypeError(`chat template: expected a string or a list of {name, template}, got ${typeof value}`);
}

/**
 * Renders a chat template. `specialTokens` supplies bos_token/eos_token/... as the template expects them;
 * a template's `raise_exception(msg)` becomes an Error "chat template: msg".
 */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[],
  options: ChatTemplateOptions & { specialTokens?: Record<string, string | null> } = {}): string {
  if (typeof template !== 'string') throw new TypeError('renderChatTemplate: template must be a string');
  if (!Array.isArray(messages)) throw new TypeError('renderChatTemplate: messages must be an array of {role, content}');
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m.role !== 'string') throw new TypeError(`renderChatTemplate: message ${i} needs a string role`);
  }
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (err) {
      throw new Error(`chat template: cannot parse the template: ${(err as Error).message}`);
    }
    if (compiled.size >= 64) compiled.clear();
    compiled.set(template, t);
  }
  const tokens = Object.fromEntries(Object.entries(options.specialTokens ?? {}).filter(([, v]) => v !== null));
  try {
    // The renderer itself provides raise_exception(msg) (throws) and strftime_now(fmt).
    return t.render({
      ...tokens,
      ...options.variables,
      messages: messages as unknown as Record<string, unknown>[],
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  } catch (err) {
    throw new Error(`chat template: ${(err as Error).message}`);
  }
}
