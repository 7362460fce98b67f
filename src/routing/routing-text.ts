// The text a request is routed on: the whole conversation for chat, the prompt for completions, and so on.
import { jsonPrefix } from './json-prefix.ts';

const MAX_PART = 256; // non-text parts (images, audio) count by a bounded fingerprint, not their base64 payload

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : jsonPrefix(content, MAX_PART);
  let out = '';
  for (const part of content) {
    if (part !== null && typeof part === 'object' && (part as { type?: unknown }).type === 'text') out += String((part as { text?: unknown }).text ?? '');
    else out += jsonPrefix(part, MAX_PART);
  }
  return out;
}

/** Messages as `role: content` lines, so a growing conversation extends its own prefix. */
export function conversationText(messages: readonly unknown[]): string {
  let out = '';
  for (const m of messages) {
    if (m === null || typeof m !== 'object') continue;
    const { role, content } = m as { role?: unknown; content?: unknown };
    out += `${String(role ?? '')}: ${contentText(content)}\n`;
  }
  return out;
}

function promptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt)) {
    // Token ids are routed on as digits so that shared id prefixes are shared text prefixes.
    return prompt.map((p) => (typeof p === 'string' ? p : Array.isArray(p) ? p.join(',') : String(p))).join(typeof prompt[0] === 'number' ? ',' : ' ');
  }
  return '';
}

export function routingText(route: string, body: Readonly<Record<string, unknown>> | undefined, raw: () => string): string {
  if (body === undefined) return '';
  // Anthropic's Messages API keeps the system prompt beside the messages: it opens the prompt the engine sees.
  if (route === '/v1/messages' && Array.isArray(body.messages))
    return body.system === undefined ? conversationText(body.messages) : `system: ${contentText(body.system)}\n${conversationText(body.messages)}`;
  if (Array.isArray(body.messages)) return conversationText(body.messages);
  if (route.endsWith('/completions')) return promptText(body.prompt);
  if (route === '/generate') return typeof body.text === 'string' ? body.text : body.prompt !== undefined ? promptText(body.prompt) : promptText(body.input_ids);
  if (route.endsWith('/embeddings')) return promptText(body.input);
  if (route.endsWith('/rerank')) return typeof body.query === 'string' ? body.query : '';
  if (route === '/v1/responses') {
    const input = body.input;
    return typeof input === 'string' ? input : Array.isArray(input) ? conversationText(input) : '';
  }
  return raw();
}
