// The request id: taken from the first configured header the client sent, else generated with a per-route prefix.

export const DEFAULT_REQUEST_ID_HEADERS = ['x-request-id', 'x-correlation-id', 'x-trace-id', 'request-id'] as const;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The Rust router's prefixes: chat → chatcmpl-, completions → cmpl-, generate → gnt-, else req-. */
function prefixFor(path: string): string {
  if (path.includes('/chat/completions')) return 'chatcmpl-';
  if (path.includes('/completions')) return 'cmpl-';
  if (path.includes('/generate')) return 'gnt-';
  return 'req-';
}

export function generateRequestId(path: string, random: () => number): string {
  let id = prefixFor(path);
  for (let i = 0; i < 24; i++) id += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return id;
}

export function requestIdFor(headers: Headers, names: readonly string[], path: string, random: () => number): string {
  for (const name of names) {
    const value = headers.get(name);
    if (value) return value;
  }
  return generateRequestId(path, random);
}
