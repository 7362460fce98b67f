// Reads the OpenAI `usage` object out of a response's last bytes, without decoding or parsing the whole body:
// a backward native search finds the last `"usage":{` within the last 4 KiB, and the two counts are read off
// that object's bytes (JSON.parse only for a shape the byte reader does not take, e.g. a number with an exponent).

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const TAIL_BYTES = 4096;
const KEY = Buffer.from('"usage":{');
const PROMPT = Buffer.from('"prompt_tokens"');
const COMPLETION = Buffer.from('"completion_tokens"');
const OPEN = 0x7b;
const CLOSE = 0x7d;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;
const decoder = new TextDecoder();

/** A Buffer over the same bytes (no copy): its `indexOf`/`lastIndexOf` take a multi-byte needle natively. */
const view = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

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

/** Where the usage object opening at `open` (its `{`) closes in `bytes`, or -1. */
function closeOf(bytes: Uint8Array, open: number): number {
  // vLLM writes usage as a flat object, optionally with one nested `prompt_tokens_details`: count braces.
  let depth = 0;
  for (let i = open; i < bytes.byteLength; i++) {
    const b = bytes[i];
    if (b === OPEN) depth++;
    else if (b === CLOSE && --depth === 0) return i;
  }
  return -1;
}

/**
 * The whole-number value of `key` at the top level of the object `bytes` (its braces included): -1 when the
 * key is absent, -2 when its value is not a plain run of digits (null, a string, a fraction: JSON.parse decides).
 */
function countOf(object: Buffer, key: Buffer): number {
  for (let at = object.indexOf(key); at !== -1; at = object.indexOf(key, at + key.byteLength)) {
    let depth = 0;
    for (let i = 0; i < at; i++) if (object[i] === OPEN) depth++;
    else if (object[i] === CLOSE) depth--;
    if (depth !== 1) continue; // a nested object's key of the same name
    let i = at + key.byteLength;
    while (object[i] === 0x20) i++;
    if (object[i] !== COLON) continue;
    i++;
    while (object[i] === 0x20) i++;
    let value = 0;
    const start = i;
    for (let b = object[i] as number; b >= ZERO && b <= NINE; b = object[++i] as number) value = value * 10 + (b - ZERO);
    const after = object[i];
    return i === start || i - start > 15 || (after !== 0x2c && after !== CLOSE && after !== 0x20) ? -2 : value;
  }
  return -1;
}

/** The counts of the usage object `object` (its braces included). */
function readUsage(object: Uint8Array): Usage | undefined {
  const bytes = view(object);
  const prompt = countOf(bytes, PROMPT);
  const completion = countOf(bytes, COMPLETION);
  if (prompt >= 0 && completion >= -1) return { promptTokens: prompt, completionTokens: Math.max(0, completion) };
  if (prompt === -1) return undefined;
  try {
    const u = JSON.parse(decoder.decode(object)) as { prompt_tokens?: unknown; completion_tokens?: unknown };
    if (typeof u.prompt_tokens !== 'number') return undefined;
    return { promptTokens: u.prompt_tokens, completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 };
  } catch {
    return undefined;
  }
}

/** The usage object whose key starts at `at` in `bytes`, or undefined when it does not close there. */
function usageAt(bytes: Uint8Array, at: number): Usage | undefined {
  const open = at + KEY.byteLength - 1;
  const close = closeOf(bytes, open);
  return close < 0 ? undefined : readUsage(bytes.subarray(open, close + 1));
}

/** The usage object in a body's or stream's last bytes (vLLM sends it as the last event before [DONE]). */
export function usageInTail(chunks: readonly Uint8Array[]): Usage | undefined {
  const last = chunks[chunks.length - 1];
  if (last === undefined) return undefined;
  // Most often the last chunk holds the whole object (or the last chunk is [DONE] and the one before it
  // does): read it in place. A key wholly inside the last chunk is later than any that starts before it.
  const lastTail = last.byteLength > TAIL_BYTES ? last.subarray(last.byteLength - TAIL_BYTES) : last;
  const inLast = view(lastTail).lastIndexOf(KEY);
  if (inLast >= 0) {
    const found = usageAt(lastTail, inLast);
    if (found !== undefined || chunks.length === 1 || last.byteLength >= TAIL_BYTES) return found;
  } else if (chunks.length === 1 || last.byteLength >= TAIL_BYTES) return undefined;
  // The key or the object crosses a chunk boundary: the last 4 KiB as one buffer.
  const tail = tailOf(chunks);
  const at = view(tail).lastIndexOf(KEY);
  return at < 0 ? undefined : usageAt(tail, at);
}
