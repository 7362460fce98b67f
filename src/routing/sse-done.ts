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

/** What a watch keeps: either `last` (the last chunk, when it alone holds KEEP bytes or more) or `ring`. */
interface DoneState {
  last: Uint8Array | undefined;
  ring: Uint8Array | undefined;
  /** Where the ring's next byte goes. */
  next: number;
  /** Bytes in the ring. */
  kept: number;
  /** Bytes pushed in all. */
  seen: number;
}

// Module-level helpers over the state, not closures: every open stream would hold its own copies.
function copyIntoRing(s: DoneState, ring: Uint8Array, chunk: Uint8Array): void {
  const n = chunk.byteLength;
  for (let i = n > KEEP ? n - KEEP : 0; i < n; i++) {
    ring[s.next] = chunk[i] as number;
    s.next = (s.next + 1) & MASK;
  }
  s.kept = Math.min(KEEP, s.kept + n);
}

/** The byte `back` places before the end (0: the last one); -1 past what is kept. */
function byteFromEnd(s: DoneState, back: number): number {
  const { last } = s;
  if (last !== undefined) return back < last.byteLength ? (last[last.byteLength - 1 - back] as number) : -1;
  return back < s.kept ? (s.ring![(s.next - 1 - back) & MASK] as number) : -1;
}

function matchesBackwards(s: DoneState, codes: readonly number[], back: number): number {
  for (let i = codes.length - 1; i >= 0; i--, back++) if (byteFromEnd(s, back) !== codes[i]) return -1;
  return back;
}

export function createDoneWatch(): DoneWatch {
  const s: DoneState = { last: undefined, ring: undefined, next: 0, kept: 0, seen: 0 };
  return {
    push(chunk) {
      s.seen += chunk.byteLength;
      if (chunk.byteLength >= KEEP) {
        s.last = chunk;
        return;
      }
      const ring = (s.ring ??= new Uint8Array(KEEP));
      if (s.last !== undefined) {
        copyIntoRing(s, ring, s.last);
        s.last = undefined;
      }
      copyIntoRing(s, ring, chunk);
    },
    sawDone() {
      let back = 0;
      for (let b = byteFromEnd(s, back); b === LF || b === CR || b === SPACE || b === TAB; b = byteFromEnd(s, ++back));
      back = matchesBackwards(s, DONE, back);
      if (back < 0) return false;
      while (byteFromEnd(s, back) === SPACE || byteFromEnd(s, back) === TAB) back++;
      back = matchesBackwards(s, DATA, back);
      if (back < 0) return false;
      // `data:` must open its line: the stream's first byte, or right after a line ending.
      const before = byteFromEnd(s, back);
      return back === s.seen || before === LF || before === CR;
    },
    trailingNewlines() {
      let newlines = 0;
      for (let back = 0, b = byteFromEnd(s, 0); newlines < 2 && (b === LF || b === CR); b = byteFromEnd(s, ++back)) if (b === LF) newlines++;
      return newlines;
    },
  };
}
