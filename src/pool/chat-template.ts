// Renders a chat request with the model's chat template the way vLLM does, so the tokens match its prefill.
//
// Sources followed: transformers `apply_chat_template` (jinja2 with trim_blocks/lstrip_blocks, special
// tokens passed as variables, named templates, continue_final_message) and vLLM
// `entrypoints/chat_utils.py` (content flattened to a string or kept as OpenAI parts depending on what
// the template iterates over; tool call arguments parsed from JSON; None for absent tools).
import { Template } from '@huggingface/jinja';
import { exceedsDepth, MAX_JSON_DEPTH } from '../wire/json-depth.ts';

export type ContentFormat = 'string' | 'openai';

export interface ChatRenderInput {
  readonly messages: readonly unknown[];
  readonly tools?: readonly unknown[] | null | undefined;
  readonly documents?: readonly unknown[] | null | undefined;
  /** vLLM's default is true. */
  readonly addGenerationPrompt?: boolean | undefined;
  /** Render the last (assistant) message open-ended, as transformers does. */
  readonly continueFinalMessage?: boolean | undefined;
  /** `chat_template_kwargs` of the request: extra template variables, which win over the special tokens. */
  readonly kwargs?: Readonly<Record<string, unknown>> | undefined;
}

export type Rendered = { ok: true; text: string } | { ok: false; error: string };

export interface ChatTemplate {
  /** Where the template came from (`tokenizer_config.json`, a file path, or `none`). */
  readonly source: string;
  readonly contentFormat: ContentFormat;
  render(input: ChatRenderInput): Rendered;
}

export interface LoadedTemplate {
  readonly template: ChatTemplate;
  /** Problems worth a log line (no template, template that does not compile). */
  readonly warnings: readonly string[];
}

/**
 * Builds the renderer from `tokenizer_config.json` and an optional template file that overrides it.
 * Without a usable template the renderer writes `role\ncontent\n\n` per message: not what vLLM prefills
 * (vLLM refuses chat for such models), but prefix-preserving, so routing on it still works.
 */
export function loadChatTemplate(
  config: Readonly<Record<string, unknown>>,
  override: { readonly text: string; readonly source: string } | null,
): LoadedTemplate {
  const warnings: string[] = [];
  const variables = specialTokenVariables(config);
  const named = new Map<string, string>();
  let source = 'tokenizer_config.json';
  if (override) {
    named.set('default', override.text);
    source = override.source;
  } else if (typeof config.chat_template === 'string') {
    named.set('default', config.chat_template);
  } else if (Array.isArray(config.chat_template)) {
    for (const entry of config.chat_template as unknown[]) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name === 'string' && typeof template === 'string') named.set(name, template);
    }
  }
  const compiled = new Map<string, Template>();
  for (const [name, text] of named) {
    try {
      compiled.set(name, new Template(text));
    } catch (error) {
      warnings.push(`chat template "${name}" from ${source} does not compile: ${(error as Error).message}`);
    }
  }
  if (compiled.size === 0) {
    if (named.size === 0) warnings.push('no chat template found; chat requests are hashed in a plain role/content form');
    return { template: plainTemplate(), warnings };
  }
  const texts = [...named.values()].join('\n');
  const contentFormat = detectContentFormat(texts);
  return {
    warnings,
    template: {
      source,
      contentFormat,
      render(input) {
        // transformers: a named template is picked by "tool_use" when tools are given, else "default".
        const hasTools = input.tools !== undefined && input.tools !== null;
        const template =
          (hasTools ? compiled.get('tool_use') : undefined) ??
          compiled.get('default') ??
          (compiled.size === 1 ? compiled.values().next().value : undefined);
        if (!template) return { ok: false, error: `no "default" chat template among: ${[...compiled.keys()].join(', ')}` };
        const continueFinal = input.continueFinalMessage === true;
        const addGenerationPrompt = input.addGenerationPrompt ?? true;
        if (continueFinal && addGenerationPrompt) {
          return { ok: false, error: 'continue_final_message and add_generation_prompt cannot both be true' };
        }
        const messages = normalizeMessages(input.messages, contentFormat);
        if (!messages.ok) return messages;
        let text: string;
        try {
          text = template.render({
            ...variables,
            ...input.kwargs,
            messages: messages.value,
            // Python None, not undefined: templates test `tools is not none`.
            tools: input.tools ?? null,
            documents: input.documents ?? null,
            add_generation_prompt: addGenerationPrompt,
          });
        } catch (error) {
          return { ok: false, error: `chat template failed: ${(error as Error).message}` };
        }
        return continueFinal ? cutAfterFinalMessage(text, messages.value) : { ok: true, text };
      },
    },
  };
}

/**
 * vLLM's "auto" content format: "openai" when the template loops over a message's content (it expects
 * a list of parts), else "string". vLLM walks the Jinja AST; a pattern over the source covers the
 * templates in use (`{% for part in message['content'] %}`, `… in message.content | selectattr(…) %}`).
 */
export function detectContentFormat(template: string): ContentFormat {
  return /\{%-?\s*for\s+\w+(?:\s*,\s*\w+)?\s+in\s+\w+(?:\[\s*['"]content['"]\s*\]|\.content\b)/.test(template)
    ? 'openai'
    : 'string';
}

/** `bos_token`, `eos_token`… as strings (tokenizer_config may hold AddedToken objects), like transformers. */
export function specialTokenVariables(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
    const text = tokenText(config[key]);
    if (text !== undefined) out[key] = text;
  }
  if (Array.isArray(config.additional_special_tokens)) {
    out.additional_special_tokens = config.additional_special_tokens.map(tokenText).filter((t) => t !== undefined);
  }
  return out;
}

function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

type Normalized = { ok: true; value: Record<string, unknown>[] } | { ok: false; error: string };

/**
 * vLLM `parse_chat_messages`: content (string, null or parts) becomes one string with text parts joined
 * by "\n" for "string" templates, or a list of `{type:"text",text}` / `{type:"image"}`… parts for
 * "openai" templates. Tool call arguments given as JSON strings are parsed, as vLLM does before rendering.
 */
export function normalizeMessages(messages: readonly unknown[], format: ContentFormat): Normalized {
  const out: Record<string, unknown>[] = [];
  for (const [index, raw] of messages.entries()) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return { ok: false, error: `messages[${index}] is not an object` };
    }
    const message = raw as Record<string, unknown>;
    if (typeof message.role !== 'string') return { ok: false, error: `messages[${index}].role is not a string` };
    const parts = contentParts(message.content);
    if (!parts) return { ok: false, error: `messages[${index}].content must be a string, null or an array of parts` };
    const result: Record<string, unknown> = {
      role: message.role,
      content:
        format === 'string'
          ? parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n')
          : parts.map((p) => (p.type === 'text' ? { type: 'text', text: p.text } : { type: p.type })),
    };
    if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      result.tool_calls = message.tool_calls.map(parseToolCallArguments);
    }
    if (message.role === 'tool' && message.tool_call_id !== undefined) result.tool_call_id = message.tool_call_id;
    if (typeof message.name === 'string') result.name = message.name;
    out.push(result);
  }
  return { ok: true, value: out };
}

interface Part {
  type: string;
  text: string;
}

function contentParts(content: unknown): Part[] | undefined {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return undefined;
  const parts: Part[] = [];
  for (const part of content) {
    if (typeof part === 'string') {
      parts.push({ type: 'text', text: part });
    } else if (typeof part === 'object' && part !== null) {
      const { type, text, refusal } = part as { type?: unknown; text?: unknown; refusal?: unknown };
      if ((type === 'text' || type === 'input_text') && typeof text === 'string') parts.push({ type: 'text', text });
      else if (type === 'refusal' && typeof refusal === 'string') parts.push({ type: 'text', text: refusal });
      // Media parts become `{type:"image"}`-style placeholders for "openai" templates; "string" templates
      // get model-specific placeholder text in vLLM, which we do not reproduce.
      else if (type === 'image_url' || type === 'image') parts.push({ type: 'image', text: '' });
      else if (type === 'input_audio' || type === 'audio_url') parts.push({ type: 'audio', text: '' });
      else if (type === 'video_url') parts.push({ type: 'video', text: '' });
    }
  }
  return parts;
}

function parseToolCallArguments(call: unknown): unknown {
  if (typeof call !== 'object' || call === null) return call;
  const fn = (call as { function?: unknown }).function;
  if (typeof fn !== 'object' || fn === null) return call;
  const args = (fn as { arguments?: unknown }).arguments;
  let parsed: unknown = args;
  if (args === undefined || args === null || args === '') parsed = {};
  else if (typeof args === 'string') {
    try {
      parsed = JSON.parse(args);
    } catch {
      parsed = args; // vLLM would reject the request; for routing the raw text is good enough.
    }
    // The template's `tojson` recurses: arguments nested past the body's own bound stay text too.
    if (typeof parsed === 'object' && parsed !== null && exceedsDepth(parsed, MAX_JSON_DEPTH)) parsed = args;
  }
  return { ...(call as object), function: { ...(fn as object), arguments: parsed } };
}

/** transformers `continue_final_message`: cut the rendering right after the final message's (stripped) text. */
function cutAfterFinalMessage(text: string, messages: Record<string, unknown>[]): Rendered {
  const last = messages.at(-1)?.content;
  let final: string | undefined;
  if (typeof last === 'string') final = last;
  else if (Array.isArray(last)) {
    final = [...(last as { type: string; text?: string }[])].reverse().find((p) => p.type === 'text')?.text;
  }
  const needle = final?.trim();
  if (needle === undefined || !text.includes(needle)) {
    return { ok: false, error: 'continue_final_message is set but the final message does not appear in the rendered chat' };
  }
  return { ok: true, text: text.slice(0, text.lastIndexOf(needle) + needle.length) };
}

function plainTemplate(): ChatTemplate {
  return {
    source: 'none',
    contentFormat: 'string',
    render(input) {
      const messages = normalizeMessages(input.messages, 'string');
      if (!messages.ok) return messages;
      let text = '';
      for (const m of messages.value) text += `${m.role as string}\n${m.content as string}\n\n`;
      return { ok: true, text };
    },
  };
}
