// The session key the hash policies route on: session headers, then body fields, then the request itself.
import { fbiHashHex } from './fbi-hash.ts';
import type { RoutingRequest } from './types.ts';

/**
 * Headers that name a session, checked in this order (the Rust router's `SESSION_HEADER_NAMES`; its docs
 * list x-request-id before x-correlation-id, its code checks correlation first, PR #125).
 *
 * These must be the client's own headers: a request id the router generates must not be added to them,
 * or every request without a session gets a unique key and hash routing degrades to random.
 */
export const SESSION_HEADERS = [
  'x-session-id',
  'x-user-id',
  'x-tenant-id',
  'x-correlation-id',
  'x-request-id',
  'x-trace-id',
] as const;

/**
 * Of those, the ones that name one request rather than a conversation: a session keyed on them would be a
 * new session per request, so sticky_least_loaded skips them (each would take a table entry and count as load).
 */
const REQUEST_SCOPED_HEADERS: ReadonlySet<string> = new Set(['x-request-id', 'x-trace-id']);

/** Texts longer than this many UTF-8 bytes are keyed by their hash rather than verbatim, as in Rust. */
export const MAX_VERBATIM_TEXT_BYTES = 100;

/**
 * The key a request is hashed on, first hit wins:
 * 0. with `--session-header NAME` (production-stack's `--session-key`): that header, else the body's top-level
 *    field NAME, as production-stack's session router reads it → `header:<name>:<value>` from either, so a
 *    session keeps its endpoint whichever way a request carries it;
 * 1. a non-empty session header → `header:<name>:<value>`;
 * 2. body `session_params.session_id` → `session:<v>`, `user` → `user:<v>`, `session_id` → `session:<v>`,
 *    `user_id` → `user:<v>`;
 * 3. a chat request (`messages` array) → `conversation:<hash of its opening>`;
 * 4. otherwise the routing text: `request:<text>` up to 100 bytes, else `request_hash:<fbi_hash hex>`.
 */
export function hashKey(request: RoutingRequest, sessionHeader?: string): string {
  if (sessionHeader !== undefined) {
    const value = request.headers.get(sessionHeader);
    if (value) return `header:${sessionHeader.toLowerCase()}:${value}`;
    const field = request.body === undefined ? undefined : scalar(request.body[sessionHeader]);
    if (field !== undefined) return `header:${sessionHeader.toLowerCase()}:${field}`;
  }
  for (const name of SESSION_HEADERS) {
    const value = request.headers.get(name);
    if (value) return `header:${name}:${value}`;
  }
  const body = request.body;
  if (body !== undefined) {
    const fromFields = bodyFieldKey(body);
    if (fromFields !== undefined) return fromFields;
    const conversation = conversationKey(body);
    if (conversation !== undefined) return conversation;
  }
  const text = request.text;
  // A string of n UTF-16 units has at least n UTF-8 bytes, so long texts skip the byte count.
  const long = text.length > MAX_VERBATIM_TEXT_BYTES || Buffer.byteLength(text, 'utf8') > MAX_VERBATIM_TEXT_BYTES;
  return long ? `request_hash:${fbiHashHex(text)}` : `request:${text}`;
}

/**
 * The id of the session a request belongs to, for policies that pin sessions (sticky_least_loaded): the
 * value hashKey's steps 0–2 find (the configured header or body field, the session headers except the
 * request-scoped ones, the body's session fields), without a prefix, so `/finish_session?session_id=<v>`
 * names it whichever way the requests carried it. Undefined when the request names no session.
 */
export function sessionId(request: RoutingRequest, sessionHeader?: string): string | undefined {
  if (sessionHeader !== undefined) {
    const value = request.headers.get(sessionHeader);
    if (value) return value;
    const field = request.body === undefined ? undefined : scalar(request.body[sessionHeader]);
    if (field !== undefined) return field;
  }
  for (const name of SESSION_HEADERS) {
    if (REQUEST_SCOPED_HEADERS.has(name)) continue;
    const value = request.headers.get(name);
    if (value) return value;
  }
  if (request.body === undefined) return undefined;
  const key = bodyFieldKey(request.body);
  return key === undefined ? undefined : key.slice(key.indexOf(':') + 1);
}

/**
 * Session fields of the parsed body. The Rust router scans the raw text for `"user"`, `session_id`… with a
 * naive matcher that also hits those words inside prompt strings (a prompt mentioning "user": x pinned the
 * request to x's endpoint) and accepts single-quoted or unquoted values; we read the parsed JSON instead.
 * Empty strings are skipped, like empty headers (Rust would key on `user:`).
 */
function bodyFieldKey(body: Readonly<Record<string, unknown>>): string | undefined {
  const params = body['session_params'];
  if (isRecord(params)) {
    const session = scalar(params['session_id']);
    if (session !== undefined) return `session:${session}`;
  }
  const user = scalar(body['user']);
  if (user !== undefined) return `user:${user}`;
  const session = scalar(body['session_id']);
  if (session !== undefined) return `session:${session}`;
  const userId = scalar(body['user_id']);
  if (userId !== undefined) return `user:${userId}`;
  return undefined;
}

/**
 * A chat conversation's key: a hash of its opening, every message up to and including the first user
 * message (so the system prompts and the first question). Later turns only append messages, so every turn
 * of one conversation gets the same key. The Rust router keys chat on `session_params.session_id` or `""`
 * alone, which sends every chat request without a session to one endpoint.
 */
function conversationKey(body: Readonly<Record<string, unknown>>): string | undefined {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  // Seed-chained wyhash (native, GB/s): no joined copy of a possibly long opening is built, and this
  // digest only names the conversation; the ring position still comes from fbi_hash of the whole key.
  let digest = 0n;
  for (const message of messages) {
    const role = isRecord(message) && typeof message['role'] === 'string' ? message['role'] : '';
    digest = Bun.hash.wyhash(role, digest);
    digest = hashContent(isRecord(message) ? message['content'] : undefined, digest);
    if (role === 'user') break;
  }
  return `conversation:${digest.toString(16).padStart(16, '0')}`;
}

/** Chains message content into `seed`: a string, or a text part alone, as its text; other parts as JSON. */
function hashContent(content: unknown, seed: bigint): bigint {
  if (typeof content === 'string') return Bun.hash.wyhash(content, seed);
  if (!Array.isArray(content)) {
    return Bun.hash.wyhash(content === undefined || content === null ? '' : JSON.stringify(content), seed);
  }
  if (content.length === 1) return hashPart(content[0], seed);
  let digest = Bun.hash.wyhash(`\u0000parts:${content.length}`, seed);
  for (const part of content) digest = hashPart(part, digest);
  return digest;
}

function hashPart(part: unknown, seed: bigint): bigint {
  const text = isRecord(part) && part['type'] === 'text' && typeof part['text'] === 'string' ? part['text'] : undefined;
  return Bun.hash.wyhash(text ?? JSON.stringify(part) ?? '', seed);
}

/** A usable key value: a non-empty string, or a finite number in its JSON spelling. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
