// Where a top-level string member of a JSON object sits in its bytes, found without parsing the rest: an alias
// is rewritten by splicing only the bytes of the `model` value, so every other byte reaches the engine as the
// client sent it (a re-serialised body loses unknown fields' spelling, number forms, key order, whitespace).

/** Bytes [start, end) of a JSON string token, quotes included. */
export interface ByteSpan {
  readonly start: number;
  readonly end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

const isSpace = (b: number | undefined) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

function skipSpace(bytes: Uint8Array, i: number): number {
  while (isSpace(bytes[i])) i++;
  return i;
}

/** The index after the string token that opens at `i`, or -1 when it does not close. */
function skipString(bytes: Uint8Array, i: number): number {
  for (let j = i + 1; j < bytes.length; j++) {
    const b = bytes[j];
    if (b === BACKSLASH) j++;
    else if (b === QUOTE) return j + 1;
  }
  return -1;
}

/** The index after the value that starts at `i` (structural bytes are ASCII, so UTF-8 needs no decoding). */
function skipValue(bytes: Uint8Array, i: number): number {
  const first = bytes[i];
  if (first === QUOTE) return skipString(bytes, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < bytes.length; j++) {
      const b = bytes[j];
      if (b === QUOTE) {
        j = skipString(bytes, j) - 1;
        if (j < 0) return -1;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < bytes.length && bytes[j] !== COMMA && bytes[j] !== CLOSE_BRACE && bytes[j] !== CLOSE_BRACKET && !isSpace(bytes[j])) j++;
  return j === i ? -1 : j;
}

const decoder = new TextDecoder();

function keyIs(bytes: Uint8Array, start: number, end: number, key: string): boolean {
  const raw = bytes.subarray(start + 1, end - 1);
  if (!raw.includes(BACKSLASH)) {
    if (raw.length !== key.length) return false;
    for (let k = 0; k < raw.length; k++) if (raw[k] !== key.charCodeAt(k)) return false;
    return true;
  }
  // An escaped key ("mod\u0065l") is the same member to JSON.parse.
  return JSON.parse(decoder.decode(bytes.subarray(start, end))) === key;
}

/**
 * The span of the string value of top-level member `key` in a JSON object's bytes: the last one, as JSON.parse
 * keeps the last of duplicate keys; undefined when that member is missing or not a string, or the bytes are
 * not an object (the caller parsed them already, so that does not happen).
 */
export function topLevelStringSpan(bytes: Uint8Array, key: string): ByteSpan | undefined {
  let i = skipSpace(bytes, 0);
  if (bytes[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(bytes, i + 1);
  let found: ByteSpan | undefined;
  if (bytes[i] === CLOSE_BRACE) return undefined;
  for (;;) {
    if (bytes[i] !== QUOTE) return undefined;
    const keyEnd = skipString(bytes, i);
    if (keyEnd < 0) return undefined;
    const matches = keyIs(bytes, i, keyEnd, key);
    i = skipSpace(bytes, keyEnd);
    if (bytes[i] !== COLON) return undefined;
    const valueStart = skipSpace(bytes, i + 1);
    const valueEnd = skipValue(bytes, valueStart);
    if (valueEnd < 0) return undefined;
    if (matches) found = bytes[valueStart] === QUOTE ? { start: valueStart, end: valueEnd } : undefined;
    i = skipSpace(bytes, valueEnd);
    if (bytes[i] === COMMA) i = skipSpace(bytes, i + 1);
    else if (bytes[i] === CLOSE_BRACE) return found;
    else return undefined;
  }
}

/** `bytes` with [span.start, span.end) replaced by `replacement`: one new buffer, the rest copied as is. */
export function splice(bytes: Uint8Array, span: ByteSpan, replacement: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - (span.end - span.start) + replacement.length);
  out.set(bytes.subarray(0, span.start), 0);
  out.set(replacement, span.start);
  out.set(bytes.subarray(span.end), span.start + replacement.length);
  return out;
}
