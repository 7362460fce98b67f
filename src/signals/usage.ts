// Reads the OpenAI `usage` object out of a response's last bytes, without decoding or parsing the whole body:
// a backward byte scan finds the last `"usage":{` within the last 4 KiB, and only that object is decoded.

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const TAIL_BYTES = 4096;
const KEY = new TextEncoder().encode('"usage":{');
const QUOTE = 0x22;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const decoder = new TextDecoder();

/** The last `chunks`' final bytes (at most TAIL_BYTES) as one view: no copy when the last chunk holds them all. */
function tailOf(chunks: readonly Uint8Array[]): Uint8Array {
  const last = chunks[chunks.length - 1];
  if (last === undefined) return new Uint8Array(0);
  if (last.byteLength >= TAIL_BYTES || chunks.length === 1) return last.byteLength > TAIL_BYTES ? last.subarray(last.byteLength - TAIL_BYTES) : last;
  let size = 0;
  for (let i = chunks.length - 1; i >= 0 && size < TAIL_BYTES; i--) size += chunks[i]!.byteLength;
  const out = new Uint8Array(Math.min(size, TAIL_BYTES));
  let end = out.byteLength;
  for (let i = chunks.length - 1; i >= 0 && end > 0; i--) {
    const c = chunks[i]!;
    const take = Math.min(end, c.byteLength);
    out.set(c.subarray(c.byteLength - take), end - take);
    end -= take;
  }
  return out;
}

/** Where the last `"usage":{` starts in `bytes`, or -1. */
function lastKey(bytes: Uint8Array): number {
  for (let i = bytes.lastIndexOf(QUOTE, bytes.byteLength - KEY.byteLength); i >= 0; i = i === 0 ? -1 : bytes.lastIndexOf(QUOTE, i - 1)) {
    let k = 1;
    while (k < KEY.byteLength && bytes[i + k] === KEY[k]) k++;
    if (k === KEY.byteLength) return i;
  }
  return -1;
}

/** The usage object in a body's or stream's last bytes (vLLM sends it as the last event before [DONE]). */
export function usageInTail(chunks: readonly Uint8Array[]): Usage | undefined {
  const tail = tailOf(chunks);
  const at = lastKey(tail);
  if (at < 0) return undefined;
  // vLLM writes usage as a flat object, optionally with one nested `prompt_tokens_details`: count braces.
  const open = at + KEY.byteLength - 1;
  let depth = 0;
  let close = -1;
  for (let i = open; i < tail.byteLength; i++) {
    const b = tail[i];
    if (b === OPEN) depth++;
    else if (b === CLOSE && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) return undefined;
  try {
    const u = JSON.parse(decoder.decode(tail.subarray(open, close + 1))) as { prompt_tokens?: unknown; completion_tokens?: unknown };
    if (typeof u.prompt_tokens !== 'number') return undefined;
    return { promptTokens: u.prompt_tokens, completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 };
  } catch {
    return undefined;
  }
}
