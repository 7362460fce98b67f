// The request id: taken from the first configured header the client sent, else generated with a per-route prefix.
//
// A generated id is `<route prefix><13 random characters drawn once per id source><11-character counter>`: the
// Rust router's shape (its prefix, then 24 alphanumerics), unique within the process by the counter and across
// processes and restarts by the random part (62^13 ≈ 2·10^23). Drawing 24 random characters per request cost a
// microsecond on the hot path (bench/results/overhead-profile.md); a counter costs an addition. The ids are
// not secrets (a client may send its own), so their being sequential gives nothing away.

export const DEFAULT_REQUEST_ID_HEADERS = ['x-request-id', 'x-correlation-id', 'x-trace-id', 'request-id'] as const;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const RANDOM_CHARS = 13;
/**
 * 36^10: the counter in base 36 has 11 digits from here, and stays an exact integer (below 2^53) for 5·10^15
 * ids; a larger start would lose the increments to float rounding.
 */
const COUNTER_START = 36 ** 10;

/** The Rust router's prefixes: chat → chatcmpl-, completions → cmpl-, generate → gnt-, else req-. */
function prefixFor(path: string): string {
  if (path.includes('/chat/completions')) return 'chatcmpl-';
  if (path.includes('/completions')) return 'cmpl-';
  if (path.includes('/generate')) return 'gnt-';
  return 'req-';
}

/** Generates request ids for one process (or one app): `random` is drawn from only when the source is made. */
export type RequestIdSource = (path: string) => string;

export function requestIdSource(random: () => number): RequestIdSource {
  let stem = '';
  for (let i = 0; i < RANDOM_CHARS; i++) stem += ALPHABET[Math.floor(random() * ALPHABET.length)];
  let counter = COUNTER_START;
  return (path) => prefixFor(path) + stem + (counter++).toString(36);
}

export function requestIdFor(headers: Headers, names: readonly string[], path: string, ids: RequestIdSource): string {
  for (const name of names) {
    const value = headers.get(name);
    if (value) return value;
  }
  return ids(path);
}
