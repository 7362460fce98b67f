// Seeded generator of hostile requests for the fuzz test, each with the answer the router owes it.
//
// What counts as malformed (the router must refuse it itself, with its OpenAI envelope, and never forward it):
// on the inference routes, a body over --max-payload-size (413), empty, not UTF-8, not JSON, not a JSON
// object, nested more than 128 levels deep anywhere (400), or with a wrong type in a field the router reads (400): `model` a string, `stream` a boolean or null,
// chat `messages` an array of objects, completions `prompt` (or `prompt_embeds`) present and a string or a
// non-empty array, embeddings `input` the same, rerank `query` a non-empty string and `documents` a non-empty
// array. A mutation that still meets all of that is well-formed: it is forwarded and the engine's answer
// comes back, whatever it is. Other methods on those routes are forwarded too (a JSON object body still gets the
// nesting bound), and the engine's 405 comes back as the router's envelope; unknown routes are refused with a 404 envelope and never reach the engine (the
// catch-all forwards vLLM's listed routes only). HTTP that Bun's parser rejects never reaches the router: Bun answers
// with a bare status (or drops the connection), recorded separately.
// The oracle below is written from that contract, not from the router's code.

import { mulberry32 } from '../../testkit/mulberry32.ts';

export type Random = () => number;

export type Expected =
  /** The router refuses it itself: this status, one of these codes, never forwarded. */
  | { readonly by: 'router'; readonly status: number; readonly codes: readonly string[] }
  /** Well-formed for the router: forwarded, and the engine's answer comes back as it is. */
  | { readonly by: 'endpoint' }
  /**
   * An unknown route (refused by the router, `forwarded: false`) or another method on a listed route
   * (forwarded, the engine's 405 comes back): either way a 404 or 405 in the router's envelope.
   */
  | { readonly by: 'fallback'; readonly forwarded: boolean }
  /** Bun's HTTP parser refuses it before any router code runs: one of these bare statuses, or a closed connection. */
  | { readonly by: 'bun'; readonly answers: readonly (number | 'closed')[] };

export type FuzzCase =
  | { readonly via: 'fetch'; readonly op: string; readonly method: string; readonly path: string; readonly headers: Record<string, string>; readonly body: Uint8Array | null; readonly expected: Expected }
  | { readonly via: 'socket'; readonly op: string; readonly bytes: Uint8Array; readonly expected: Expected };

type Json = Record<string, unknown>;

const BASES: Readonly<Record<string, Json>> = {
  '/v1/chat/completions': { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hello there' }] },
  '/v1/completions': { model: 'm', max_tokens: 1, prompt: 'hello there' },
  '/v1/embeddings': { model: 'm', input: 'hello there' },
  '/v1/rerank': { model: 'm', query: 'hello', documents: ['hello there', 'goodbye'] },
  '/rerank': { model: 'm', query: 'hello', documents: ['hello there'] },
  '/generate': { model: 'm', prompt: 'hello', max_tokens: 1 },
  '/v1/responses': { model: 'm', input: 'hello', max_output_tokens: 1 },
};
const ROUTES = Object.keys(BASES);

/** The fields the router itself reads on each route. */
const ROUTER_FIELDS: Readonly<Record<string, readonly string[]>> = {
  '/v1/chat/completions': ['model', 'stream', 'messages'],
  '/v1/completions': ['model', 'stream', 'prompt'],
  '/v1/embeddings': ['model', 'stream', 'input'],
  '/v1/rerank': ['model', 'stream', 'query', 'documents'],
  '/rerank': ['model', 'stream', 'query', 'documents'],
  '/generate': ['model', 'stream'],
  '/v1/responses': ['model', 'stream'],
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encode = (s: string) => new TextEncoder().encode(s);
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const stringOrList = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0);

/** The first contract violation among the fields the router reads, or undefined. */
function fieldProblem(route: string, body: Json): string | undefined {
  if (body.model !== undefined && typeof body.model !== 'string') return 'model';
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') return 'stream';
  switch (route) {
    case '/v1/chat/completions':
      return Array.isArray(body.messages) && body.messages.every(isObject) ? undefined : 'messages';
    case '/v1/completions':
      if (body.prompt === undefined) return body.prompt_embeds === undefined ? 'prompt' : undefined;
      return stringOrList(body.prompt) ? undefined : 'prompt';
    case '/v1/embeddings':
      return stringOrList(body.input) ? undefined : 'input';
    case '/v1/rerank':
    case '/rerank':
      if (typeof body.query !== 'string' || body.query === '') return 'query';
      return Array.isArray(body.documents) && body.documents.length > 0 ? undefined : 'documents';
    default:
      return undefined;
  }
}

const refused = (status: number, ...codes: string[]): Expected => ({ by: 'router', status, codes });

/** What the router owes a POST of `body` to inference route `route`. */
export function verdict(route: string, body: Uint8Array, limit: number): Expected {
  if (body.byteLength > limit) return refused(413, 'payload_too_large');
  if (body.byteLength === 0) return refused(400, 'invalid_json');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return refused(400, 'invalid_encoding');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refused(400, 'invalid_json');
  }
  if (!isObject(value)) return refused(400, 'invalid_json');
  if (nesting(value) > 128) return refused(400, 'invalid_body');
  if (fieldProblem(route, value) !== undefined) return refused(400, 'invalid_body');
  // The fuzz fleet serves the one model `m` (read from its /v1/models): another model is the router's 404.
  return typeof value.model === 'string' && value.model !== FLEET_MODEL ? refused(404, 'model_not_found') : { by: 'endpoint' };
}

/** The model the fuzz test's engine serves. */
export const FLEET_MODEL = 'm';

/** Whether `body` is JSON text of an object nested more than 128 levels deep. */
function nestedTooDeep(body: Uint8Array): boolean {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return false;
  }
  return isObject(value) && nesting(value) > 128;
}

/** How deep containers nest in `root` (the root is level 1), without recursion: the cases go 8,000 deep. */
function nesting(root: object): number {
  let deepest = 1;
  const pending: [unknown, number][] = [[root, 1]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [value, level] = item;
    deepest = Math.max(deepest, level);
    for (const child of Object.values(value as object)) if (typeof child === 'object' && child !== null) pending.push([child, level + 1]);
  }
  return deepest;
}

// ── Building blocks

const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Random, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

const WRONG_VALUES: readonly unknown[] = [null, true, false, 0, -1, 3.5, 'text', '', [], [1, 2], ['a'], [null], [[]], {}, { a: 1 }, { role: 'user' }];
const HUGE_NUMBERS = ['1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890123456789', '9'.repeat(400), '1.7976931348623157e309', '0.' + '0'.repeat(300) + '1'];
const INVALID_UTF8 = [[0xff], [0xfe], [0xc3, 0x28], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];
const NON_OBJECTS = ['[]', '[{}]', '"messages"', '0', '-1e999', 'true', 'false', 'null', '[[[[]]]]', '""', '[{"messages":[]}]'];
const GARBAGE = ['x', '}', ']', ',', ' null', '{}', '\u0000', '//', '/* */', 'NaN', '\\', "'"];

/** One mutation of a valid body; the oracle decides what it became. */
type BodyOp = (r: Random, route: string, base: Json, limit: number) => Uint8Array;

const text = (j: unknown) => JSON.stringify(j);

const BODY_OPS: Readonly<Record<string, readonly [weight: number, BodyOp]>> = {
  truncate: [10, (r, _route, base) => {
    const b = encode(text(base));
    return b.subarray(0, int(r, 0, b.length - 1));
  }],
  flip_bytes: [10, (r, _route, base) => {
    const b = encode(text(base));
    for (let i = int(r, 1, 4); i > 0; i--) b[int(r, 0, b.length - 1)] = int(r, 0, 255);
    return b;
  }],
  wrong_type: [16, (r, route, base) => encode(text({ ...base, [pick(r, ROUTER_FIELDS[route]!)]: pick(r, WRONG_VALUES) }))],
  missing_field: [3, (r, route, base) => {
    const required = ROUTER_FIELDS[route]!.filter((f) => f !== 'stream' && f !== 'model');
    const copy = { ...base };
    // Routes that require nothing get an empty object, which is well-formed for them.
    if (required.length === 0) return encode('{}');
    delete copy[pick(r, required)];
    return encode(text(copy));
  }],
  deep_nesting: [5, (r, route, base, limit) => {
    const [open, close] = r() < 0.5 ? ['[', ']'] : ['{"a":', '}'];
    const depth = int(r, 2, Math.floor((limit - 200) / (open.length + close.length)));
    const nested = open.repeat(depth) + (open === '[' ? '' : '1') + close.repeat(depth);
    if (r() < 0.2) return encode(nested);
    return encode(text({ ...base, [pick(r, ROUTER_FIELDS[route]!)]: '__NESTED__' }).replace('"__NESTED__"', nested));
  }],
  huge_number: [8, (r, route, base) => {
    const field = pick(r, [...ROUTER_FIELDS[route]!, 'max_tokens']);
    return encode(text({ ...base, [field]: '__HUGE__' }).replace('"__HUGE__"', pick(r, HUGE_NUMBERS)));
  }],
  invalid_utf8: [8, (r, _route, base) => {
    const b = encode(text(base));
    const at = int(r, 0, b.length);
    return concat(b.subarray(0, at), Uint8Array.from(pick(r, INVALID_UTF8)), b.subarray(at));
  }],
  duplicate_keys: [6, (r, route, base) => {
    const field = pick(r, ROUTER_FIELDS[route]!);
    const t = text(base);
    return encode(`${t.slice(0, -1)},${JSON.stringify(field)}:${text(pick(r, WRONG_VALUES))}}`);
  }],
  non_object: [5, (r, _route, base) => encode(r() < 0.3 ? `[${text(base)}]` : pick(r, NON_OBJECTS))],
  empty: [2, (r) => encode(pick(r, ['', ' ', '\n', '\t\r\n ']))],
  over_limit: [3, (r, route, base, limit) => padTo(route, base, limit + 1 + int(r, 0, 64))],
  at_limit: [1, (_r, route, base, limit) => padTo(route, base, limit)],
  trailing_garbage: [4, (r, _route, base) => encode(text(base) + pick(r, GARBAGE))],
  control_chars: [4, (r, _route, base) => {
    const t = text(base);
    const at = t.indexOf('"', int(r, 1, t.length - 2)) + 1 || 1;
    return encode(t.slice(0, at) + String.fromCharCode(int(r, 0, 31)) + t.slice(at));
  }],
  random_bytes: [4, (r) => Uint8Array.from({ length: int(r, 1, 200) }, () => int(r, 0, 255))],
  proto_keys: [2, (r, route, base) => {
    const copy: Json = r() < 0.5 ? { ...base } : {};
    return encode(`{"__proto__":${text(base)},"constructor":{"prototype":{"model":1}}${Object.keys(copy).length ? ',' + text(copy).slice(1, -1) : ''}}`);
  }],
  bom: [2, (r, _route, base) => {
    const b = encode(text(base));
    return concat(Uint8Array.of(0xef, 0xbb, 0xbf), r() < 0.5 ? b : b.subarray(0, b.length - 1));
  }],
  lone_surrogate: [2, (_r, route, base) => encode(text({ ...base, [ROUTER_FIELDS[route]!.at(-1)!]: '__S__' }).replace('"__S__"', '"\\ud800"'))],
};

/** The base body with its text field padded so the whole body is exactly `size` bytes. */
function padTo(route: string, base: Json, size: number): Uint8Array {
  const field = route === '/v1/chat/completions' ? 'messages' : route === '/v1/rerank' || route === '/rerank' ? 'query' : route === '/v1/embeddings' || route === '/v1/responses' ? 'input' : 'prompt';
  const build = (n: number) => text({ ...base, [field]: field === 'messages' ? [{ role: 'user', content: 'x'.repeat(n) }] : 'x'.repeat(n) });
  return encode(build(size - build(0).length));
}

const weighted = Object.entries(BODY_OPS).flatMap(([name, [weight, op]]) => Array.from({ length: weight }, () => [name, op] as const));

function bodyCase(r: Random, limit: number): { op: string; route: string; body: Uint8Array; expected: Expected } {
  const route = pick(r, ROUTES);
  const [op, mutate] = pick(r, weighted);
  const body = mutate(r, route, BASES[route]!, limit);
  return { op, route, body, expected: verdict(route, body, limit) };
}

// ── Requests that reach the router through fetch

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUE_CHARS = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const randomString = (r: Random, chars: string, n: number) => Array.from({ length: n }, () => chars[int(r, 0, chars.length - 1)]).join('');

/** An unknown path: under `/fz-` so it can name no route, with no dot segments Bun would resolve. */
function unknownPath(r: Random): string {
  const segments = Array.from({ length: int(r, 1, 5) }, () =>
    Array.from({ length: int(r, 1, 12) }, () => (r() < 0.15 ? `%${int(r, 0x80, 0xff).toString(16).toUpperCase()}` : pick(r, [...TOKEN_CHARS, '~', '!', '$', ':', '@']))).join(''),
  );
  const query = r() < 0.3 ? `?${randomString(r, TOKEN_CHARS + '=&%', int(r, 1, 30)).replace(/%/g, '%25')}` : '';
  return `/fz-${segments.join('/')}${query}`;
}

function fetchCase(r: Random, limit: number): FuzzCase {
  const roll = r();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (roll < 0.12) {
    // Another method on an inference route, or any method on an unknown route.
    const method = pick(r, ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST']);
    const known = !(method === 'POST' || r() < 0.5);
    const path = known ? pick(r, ROUTES) : unknownPath(r);
    const body = method === 'GET' ? null : bodyCase(r, limit).body;
    // An unknown path is refused before its body is read; a listed one gets the size limit and, when its
    // JSON object body is nested more than 128 levels deep, the nesting bound, before forwarding.
    const expected: Expected = !known
      ? { by: 'fallback', forwarded: false }
      : body !== null && body.byteLength > limit
        ? refused(413, 'payload_too_large')
        : body !== null && nestedTooDeep(body)
          ? refused(400, 'invalid_body')
          : { by: 'fallback', forwarded: true };
    return { via: 'fetch', op: 'route', method, path, headers, body, expected };
  }
  const c = bodyCase(r, limit);
  if (roll < 0.3) {
    // The same body under hostile but valid headers; some too large for Bun's 16 KiB header budget.
    for (let i = int(r, 1, 12); i > 0; i--) headers[`x-${randomString(r, TOKEN_CHARS, int(r, 1, 20))}`] = randomString(r, VALUE_CHARS, int(r, 0, 300)).trim();
    if (r() < 0.5) headers['x-request-id'] = randomString(r, VALUE_CHARS, int(r, 1, 200)).trim() || 'id';
    if (r() < 0.3) headers['content-type'] = pick(r, ['text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', '*/*']);
    if (r() < 0.25) {
      headers[`x-big-${int(r, 0, 9)}`] = 'b'.repeat(int(r, 17 * 1024, 40 * 1024));
      return { via: 'fetch', op: 'header_431', method: 'POST', path: c.route, headers, body: c.body, expected: { by: 'bun', answers: [431] } };
    }
    return { via: 'fetch', op: `headers+${c.op}`, method: 'POST', path: c.route, headers, body: c.body, expected: c.expected };
  }
  return { via: 'fetch', op: c.op, method: 'POST', path: c.route, headers, body: c.body, expected: c.expected };
}

// ── Requests that need a raw socket (fetch would refuse or repair them)

const BAD_HEADER_LINES = ['NoColon', 'X Bad: v', 'X-A: a\x01b', ' folded', ': empty-name', 'X-(A): v', 'X-A : v', 'X-A:\x00', 'X-A: \x1b[31m'];
const BAD_LENGTHS = ['abc', '-1', '1.5', '0x10', '99999999999999999999', ' ', '1,2', '+5', '', '7, 7'];
const BAD_VERSIONS = ['HTTP/9.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/1', 'http/1.1', 'HTTP/1.1 extra', 'FTP/1.1'];
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

type SocketOp = (r: Random, limit: number) => { bytes: Uint8Array; expected: Expected };
const bun = (...answers: (number | 'closed')[]): Expected => ({ by: 'bun', answers });
const crlf = (lines: string[]) => latin1(lines.join('\r\n') + '\r\n\r\n');

const SOCKET_OPS: Readonly<Record<string, readonly [weight: number, SocketOp]>> = {
  huge_header: [3, (r) => ({ bytes: crlf(['GET /liveness HTTP/1.1', 'Host: r', `X-Big: ${'a'.repeat(int(r, 16_500, 40_000))}`, 'Connection: close']), expected: bun(431) })],
  many_headers: [2, (r) => ({ bytes: crlf(['GET /liveness HTTP/1.1', 'Host: r', ...Array.from({ length: int(r, 250, 500) }, (_, i) => `X-H${i}: v`), 'Connection: close']), expected: bun(431) })],
  huge_path: [2, (r) => ({ bytes: crlf([`GET /${'p'.repeat(int(r, 17_000, 30_000))} HTTP/1.1`, 'Host: r', 'Connection: close']), expected: bun(431) })],
  bad_header: [3, (r) => ({ bytes: crlf(['GET /liveness HTTP/1.1', 'Host: r', pick(r, BAD_HEADER_LINES), 'Connection: close']), expected: bun(400) })],
  bad_length: [3, (r) => ({ bytes: latin1(`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: ${pick(r, BAD_LENGTHS)}\r\nConnection: close\r\n\r\n{"messages":[]}`), expected: bun(400) })],
  bad_transfer: [2, (r) => {
    const framing = pick(r, ['Content-Length: 15\r\nTransfer-Encoding: chunked', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding: chunked']);
    return { bytes: latin1(`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\n${framing}\r\nConnection: close\r\n\r\nzz\r\n{"messages":[]}\r\n0\r\n\r\n`), expected: bun(400) };
  }],
  bad_version: [2, (r) => ({ bytes: crlf([`GET /liveness ${pick(r, BAD_VERSIONS)}`, 'Host: r', 'Connection: close']), expected: bun(505) })],
  no_host: [1, () => ({ bytes: crlf(['GET /liveness HTTP/1.1', 'Connection: close']), expected: bun(400) })],
  unknown_method: [2, (r) => ({ bytes: crlf([`Q${randomString(r, UPPER, int(r, 3, 8))} /liveness HTTP/1.1`, 'Host: r', 'Connection: close']), expected: bun('closed', 400) })],
  junk_line: [2, (r) => ({ bytes: concat(Uint8Array.from({ length: int(r, 1, 80) }, () => int(r, 0, 255)), latin1('\r\n\r\n')), expected: bun(400, 505, 'closed') })],
  short_length: [3, (r, limit) => {
    // Content-Length shorter than the body: the router sees the prefix (never valid JSON), the rest is ignored.
    const { route, body } = bodyCase(r, limit);
    const cut = int(r, 0, Math.max(0, Math.min(body.length, limit) - 1));
    const expected = verdict(route, body.subarray(0, cut), limit);
    return { bytes: concat(latin1(`POST ${route} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${cut}\r\nConnection: close\r\n\r\n`), body), expected };
  }],
  chunked_body: [3, (r, limit) => {
    const { route, body, expected } = bodyCase(r, limit);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < body.length; ) {
      const n = Math.min(body.length - at, int(r, 1, 4096));
      chunks.push(latin1(`${n.toString(16)}\r\n`), body.subarray(at, at + n), latin1('\r\n'));
      at += n;
    }
    return { bytes: concat(latin1(`POST ${route} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`), ...chunks, latin1('0\r\n\r\n')), expected };
  }],
  obs_text_header: [2, (r, limit) => {
    const { route, body, expected } = bodyCase(r, limit);
    const value = Array.from({ length: int(r, 1, 40) }, () => String.fromCharCode(int(r, 0x80, 0xff))).join('');
    return { bytes: concat(latin1(`POST ${route} HTTP/1.1\r\nHost: r\r\nX-Note: ${value}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body), expected };
  }],
  raw_path_bytes: [2, (r) => {
    const raw = Array.from({ length: int(r, 1, 30) }, () => String.fromCharCode(int(r, 0x80, 0xff))).join('');
    return { bytes: crlf([`${pick(r, ['GET', 'POST', 'DELETE'])} /fz-${raw} HTTP/1.1`, 'Host: r', 'Content-Length: 0', 'Connection: close']), expected: { by: 'fallback', forwarded: false } };
  }],
  http10_with_host: [1, (r, limit) => {
    const { route, body, expected } = bodyCase(r, limit);
    return { bytes: concat(latin1(`POST ${route} HTTP/1.0\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`), body), expected };
  }],
};

const weightedSocket = Object.entries(SOCKET_OPS).flatMap(([name, [weight, op]]) => Array.from({ length: weight }, () => [name, op] as const));

/** `count` cases from `seed`: about 70% malformed bodies through fetch, the rest raw HTTP through a socket. */
export function generateCases(seed: number, count: number, limit: number): FuzzCase[] {
  const r = mulberry32(seed);
  return Array.from({ length: count }, (): FuzzCase => {
    if (r() < 0.75) return fetchCase(r, limit);
    const [op, make] = pick(r, weightedSocket);
    const { bytes, expected } = make(r, limit);
    return { via: 'socket', op, bytes, expected };
  });
}
