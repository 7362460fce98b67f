// Whether a chat or completions stream ended with vLLM's terminator event, read from its last bytes only.
//
// vLLM ends every chat and completions stream with `data: [DONE]\n\n`, after an in-band error too
// (serving_chat.py / serving_completion.py). A stream that closes cleanly without it was cut short: the
// engine died between events, or something in between closed the connection at an event boundary. The
// client must hear that rather than take a partial answer for a whole one. Responses and /v1/messages
// streams end with their own events, never [DONE], and are not watched.

const KEEP = 32; // a power of two: the ring index wraps with a mask
const MASK = KEEP - 1;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const DONE = Array.from('[DONE]', (c) => c.charCodeAt(0));
const DATA = Array.from('data:', (c) => c.charCodeAt(0));

/** The routes whose streams end with `data: [DONE]`; the fallback counts when it proxies one of their paths. */
const DONE_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

export function streamEndsWithDone(route: string, upstreamPath: string): boolean {
  if (DONE_PATHS.has(route)) return true;
  if (route !== 'fallback') return false;
  const query = upstreamPath.indexOf('?');
  return DONE_PATHS.has(query === -1 ? upstreamPath : upstreamPath.slice(0, query));
}

export interface DoneWatch {
  /**
   * A chunk on its way to the client. A chunk of 32 bytes or more is only referenced (the decision needs no
   * more); shorter ones are copied into a 32-byte ring, made the first time a stream sends one.
   */
  push(chunk: Uint8Array): void;
  /** The last event was `data: [DONE]` (any whitespace after the colon, any line ending). */
  sawDone(): boolean;
  /** How many newlines (0, 1 or 2 and more) the stream ended with, so an appended event starts on its own. */
  trailingNewlines(): number;
}

export function createDoneWatch(): DoneWatch {
  // Either `last` (the last chunk, when it alone holds KEEP bytes or more) or `ring` holds the stream's end.
  let last: Uint8Array | undefined;
  let ring: Uint8Array | undefined;
  let next = 0; // where the ring's next byte goes
  let kept = 0; // bytes in the ring
  let seen = 0; // bytes pushed in all
  const copy = (ringBytes: Uint8Array, chunk: Uint8Array) => {
    const n = chunk.byteLength;
    for (let i = n > KEEP ? n - KEEP : 0; i < n; i++) {
      ringBytes[next] = chunk[i] as number;
      next = (next + 1) & MASK;
    }
    kept = Math.min(KEEP, kept + n);
  };
  /** The byte `back` places before the end (0: the last one); -1 past what is kept. */
  const byteFromEnd = (back: number): number => {
    if (last !== undefined) return back < last.byteLength ? (last[last.byteLength - 1 - back] as number) : -1;
    return back < kept ? (ring![(next - 1 - back) & MASK] as number) : -1;
  };
  const matchesBackwards = (codes: readonly number[], back: number) => {
    for (let i = codes.length - 1; i >= 0; i--, back++) if (byteFromEnd(back) !== codes[i]) return -1;
    return back;
  };
  return {
    push(chunk) {
      seen += chunk.byteLength;
      if (chunk.byteLength >= KEEP) {
        last = chunk;
        return;
      }
      ring ??= new Uint8Array(KEEP);
      if (last !== undefined) {
        copy(ring, last);
        last = undefined;
      }
      copy(ring, chunk);
    },
    sawDone() {
      let back = 0;
      for (let b = byteFromEnd(back); b === LF || b === CR || b === SPACE || b === TAB; b = byteFromEnd(++back));
      back = matchesBackwards(DONE, back);
      if (back < 0) return false;
      while (byteFromEnd(back) === SPACE || byteFromEnd(back) === TAB) back++;
      back = matchesBackwards(DATA, back);
      if (back < 0) return false;
      // `data:` must open its line: the stream's first byte, or right after a line ending.
      const before = byteFromEnd(back);
      return back === seen || before === LF || before === CR;
    },
    trailingNewlines() {
      let newlines = 0;
      for (let back = 0, b = byteFromEnd(0); newlines < 2 && (b === LF || b === CR); b = byteFromEnd(++back)) if (b === LF) newlines++;
      return newlines;
    },
  };
}
