// Reads a request body once, within the size limit and the shared body budget, and parses it as a JSON object.
import { createBodyBudget, type BodyBudget, type BodyLease } from './body-budget.ts';
import { isRouterError, routerError, type RouterError } from '../wire/errors.ts';
import { jsonDepthError } from '../wire/json-depth.ts';

export interface BodyLimits {
  /** --max-payload-size: the largest body, in bytes. */
  readonly maxBytes: number;
  /** --max-inflight-body-bytes: what all bodies held at once may add up to. */
  readonly budget: BodyBudget;
  /** A body refused because the budget is spent (counted by the caller's metrics). */
  readonly onOverBudget?: () => void;
  /** --body-read-timeout-secs: a body still arriving after this long is refused (unset: no deadline). */
  readonly readTimeoutMs?: number;
}

/** A body in memory and its share of the budget; the caller releases the lease once it no longer holds the bytes. */
export interface HeldBody {
  readonly bytes: Uint8Array;
  readonly lease: BodyLease;
}

const tooLarge = (limit: number) => routerError('payload_too_large', `Request body is larger than the limit of ${limit} bytes (--max-payload-size)`);
const overBudget = (limits: BodyLimits) => {
  limits.onOverBudget?.();
  return routerError('body_budget_exhausted', 'The router holds as many request-body bytes as it may at once (--max-inflight-body-bytes); retry shortly', { retryAfterSecs: 1 });
};
const clientClosed = () => routerError('client_closed', 'Client closed the connection while sending the body');
const tooSlow = (ms: number) =>
  routerError('body_timeout', `Request body did not arrive within ${ms / 1000} s (--body-read-timeout-secs)`, { closeConnection: true });

/**
 * A declared body up to this size is read without a deadline timer: it arrives in a packet or two, and what a
 * slow one can hold of the budget is small (while a timer per request would cost on the hot path).
 */
const UNTIMED_BODY_BYTES = 64 * 1024;

/**
 * `read`, or 'timeout' once `deadline` passes. A trickling client would otherwise keep its reserved share of
 * the budget for as long as it likes: Bun's idle timeout resets with every byte.
 */
function beforeDeadline<T>(read: Promise<T>, deadline: number | undefined): Promise<T | 'timeout'> {
  if (deadline === undefined) return read;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - performance.now()))));
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

/**
 * The raw bytes. A declared body is reserved in the budget before it is read, so a refusal reads nothing; a
 * chunked one reserves as it grows and is cut at the limit. On an error nothing stays reserved.
 */
export async function readBody(req: Request, limits: BodyLimits): Promise<HeldBody | RouterError> {
  const timeoutMs = limits.readTimeoutMs;
  // Read off the clock only for a body that gets a deadline (not the small declared ones of most requests).
  const deadlineFromNow = () => (timeoutMs === undefined ? undefined : performance.now() + timeoutMs);
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    const n = Number(declared);
    if (!Number.isSafeInteger(n) || n < 0) return routerError('invalid_body', 'Invalid Content-Length header');
    if (n > limits.maxBytes) return tooLarge(limits.maxBytes);
    const lease = limits.budget.reserve(n);
    if (lease === undefined) return overBudget(limits);
    if (n === 0) return { bytes: new Uint8Array(0), lease };
    try {
      // One buffer of the declared size: Bun's own, handed over (a stream read into a preallocated buffer
      // leaves every chunk behind as garbage until the next collection, which costs more at the peak).
      const body = await beforeDeadline(req.bytes(), n > UNTIMED_BODY_BYTES ? deadlineFromNow() : undefined);
      if (body !== 'timeout') return { bytes: body, lease };
      lease.release();
      return tooSlow(timeoutMs!);
    } catch {
      lease.release();
      return clientClosed();
    }
  }
  const lease = limits.budget.reserve(0) as BodyLease;
  if (req.body === null) return { bytes: new Uint8Array(0), lease };
  const deadline = deadlineFromNow();
  // Chunked upload: count as we go so an endless body is cut at the limit, and take the budget chunk by chunk.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  let refused: RouterError | undefined;
  try {
    for (;;) {
      const next = await beforeDeadline(reader.read(), deadline);
      if (next === 'timeout') {
        refused = tooSlow(timeoutMs!);
        break;
      }
      const { done, value } = next;
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBytes) refused = tooLarge(limits.maxBytes);
      else if (!lease.grow(value.byteLength)) refused = overBudget(limits);
      if (refused !== undefined) break;
      chunks.push(value);
    }
  } catch {
    refused = clientClosed();
  }
  if (refused !== undefined) {
    reader.cancel().catch(() => {});
    lease.release();
    return refused;
  }
  return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), lease };
}

/** A small body outside the shared budget (the admin routes, behind their own key): the bytes, within `limit`. */
export async function readBytes(req: Request, limit: number): Promise<Uint8Array | RouterError> {
  const body = await readBody(req, { maxBytes: limit, budget: createBodyBudget(limit) });
  return isRouterError(body) ? body : body.bytes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses bytes as a JSON object; anything else is a 400 that says what was wrong. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | RouterError {
  if (bytes.byteLength === 0) return routerError('invalid_json', 'Request body is empty; expected a JSON object');
  // The peak of a large body is here: its bytes, their text (one byte per character when every character is
  // Latin-1, two otherwise) and the parsed value. The text is garbage once JSON.parse returns.
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return routerError('invalid_encoding', 'Request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return routerError('invalid_json', `Request body is not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return routerError('invalid_json', `Request body must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  return jsonDepthError(value as Record<string, unknown>) ?? (value as Record<string, unknown>);
}
