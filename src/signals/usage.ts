// Reads the OpenAI `usage` object out of a response's last bytes, without parsing the whole body.

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

// vLLM writes usage as a flat object, optionally with one nested `prompt_tokens_details` object.
const USAGE = /"usage":(\{[^{}]*(?:\{[^{}]*\}[^{}]*)?\})/g;
const TAIL_BYTES = 4096;
const decoder = new TextDecoder();

/** The last usage object in the text, when there is one. */
export function usageIn(text: string): Usage | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(USAGE)) last = m[1];
  if (last === undefined) return undefined;
  try {
    const u = JSON.parse(last) as { prompt_tokens?: unknown; completion_tokens?: unknown };
    if (typeof u.prompt_tokens !== 'number') return undefined;
    return { promptTokens: u.prompt_tokens, completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 };
  } catch {
    return undefined;
  }
}

/** Usage from the tail of a body or of a stream's last chunks (it is the last event before [DONE]). */
export function usageInTail(chunks: readonly Uint8Array[]): Usage | undefined {
  let text = '';
  for (let i = chunks.length - 1; i >= 0 && text.length < TAIL_BYTES; i--) {
    const c = chunks[i]!;
    text = decoder.decode(c.byteLength > TAIL_BYTES ? c.subarray(c.byteLength - TAIL_BYTES) : c) + text;
  }
  return usageIn(text);
}
