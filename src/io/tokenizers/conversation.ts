// TRL's conversational dataset format: a prompt (completion, chosen, rejected, messages) given as a list of
// {role, content} messages instead of text, rendered with the tokenizer's chat template as TRL's
// is_conversational / maybe_apply_chat_template do, and token ids taken from the rendered text without the
// tokenizer's own special tokens (the template writes them).
import type { ChatMessage, Tokenizer } from './types.js';

/** A prompt as datasets give it: text, or a conversation (TRL's conversational format). */
export type Prompt = string | ChatMessage[];

/** A completion as reward functions receive it: text, or for conversational prompts `[{ role: 'assistant', content }]`. */
export type Completion = string | ChatMessage[];

const CONVERSATIONAL_KEYS = ['prompt', 'chosen', 'rejected', 'completion', 'messages'] as const;

/** Whether `value` is a conversation: a non-empty list whose first entry has a role and a content (TRL's test). */
export function isMessageList(value: unknown): value is ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  const first = value[0] as unknown;
  return first !== null && typeof first === 'object' && 'role' in first && 'content' in first;
}

/** TRL's is_conversational: the first of prompt, chosen, rejected, completion, messages the row has is a conversation. */
export function isConversational(example: Record<string, unknown>): boolean {
  const key = CONVERSATIONAL_KEYS.find((k) => example[k] !== undefined);
  return key !== undefined && isMessageList(example[key]);
}

/** Checks every message of a conversation (string role and content), naming `what` in the error. */
export function checkMessages(what: string, messages: unknown): ChatMessage[] {
  if (!isMessageList(messages)) throw new TypeError(`${what} must be a non-empty list of {role, content} messages`);
  messages.forEach((m, i) => {
    if (!m || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new TypeError(`${what}: message ${i} needs a string role and a string content, got ${JSON.stringify(m)}`);
    }
  });
  return messages;
}

/**
 * The text of a prompt: itself, or a conversation rendered with the chat template, as TRL's
 * maybe_apply_chat_template: with the generation prompt (the assistant turn's opening) when the last message is
 * not the assistant's, and continuing the final message (text up to the end of its content) when it is.
 */
export function promptText(tokenizer: Tokenizer, prompt: Prompt, what = 'prompt'): string {
  if (typeof prompt === 'string') return prompt;
  const messages = checkMessages(what, prompt);
  const last = messages[messages.length - 1];
  if (last.role !== 'assistant') return tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  // transformers' continue_final_message: the rendering cut right after the final message's content.
  const rendered = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: false });
  for (const content of [last.content, last.content.trim()]) {
    const at = rendered.lastIndexOf(content);
    if (at >= 0) return rendered.slice(0, at + content.length);
  }
  throw new Error(`${what}: the final assistant message does not appear in the chat template's rendering, so it cannot be continued`);
}

/** A conversation rendered whole (no generation prompt): the text a model is trained on. */
export function conversationText(tokenizer: Tokenizer, messages: readonly ChatMessage[], what = 'messages'): string {
  return tokenizer.applyChatTemplate(checkMessages(what, messages), { addGenerationPrompt: false });
}

/**
 * A prompt's token ids: text prompts with the tokenizer's special tokens (e.g. a BOS it prepends), rendered
 * conversations without them (the chat template already wrote them), as TRL tokenizes each.
 */
export function encodePrompt(tokenizer: Tokenizer, prompt: Prompt, what = 'prompt'): number[] {
  if (typeof prompt === 'string') return tokenizer.encode(prompt);
  return tokenizer.encode(promptText(tokenizer, prompt, what), { addSpecialTokens: false });
}

/** The text a reward reads from a completion: itself, or the contents of its messages in order. */
export function completionText(completion: Completion): string {
  return typeof completion === 'string' ? completion : completion.map((m) => m.content).join('');
}
