// Router-made errors as values, and their one mapping to HTTP (OpenAI envelope) and to an in-stream SSE frame.

export type RouterErrorKind =
  | 'invalid_json'
  | 'invalid_body'
  | 'invalid_encoding'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_implemented'
  | 'no_available_endpoints'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'stream_interrupted'
  | 'upstream_stalled'
  | 'upstream_too_large'
  | 'client_closed'
  | 'rate_limited'
  | 'queue_timeout'
  | 'unauthorized'
  | 'shutting_down'
  | 'body_budget_exhausted'
  | 'body_timeout';

export interface RouterError {
  /** Brand that tells a router error from any other value in a `T | RouterError` result. */
  readonly isRouterError: true;
  readonly kind: RouterErrorKind;
  readonly message: string;
  /** The request field at fault, when there is one (OpenAI's `param`). */
  readonly param?: string | null;
  /** Overrides the status the kind implies (an upstream status that is passed on, for example). */
  readonly status?: number;
  /** Sent as Retry-After (seconds) with 429 and 503 answers. */
  readonly retryAfterSecs?: number;
  /** Close the client's connection after this answer (what is left of a request on it cannot be trusted). */
  readonly closeConnection?: boolean;
}

const STATUS: Record<RouterErrorKind, number> = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_encoding: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  method_not_allowed: 405,
  not_implemented: 501,
  no_available_endpoints: 503,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  upstream_error: 502,
  stream_interrupted: 502,
  upstream_stalled: 504,
  upstream_too_large: 502,
  client_closed: 499,
  rate_limited: 429,
  queue_timeout: 408,
  unauthorized: 401,
  shutting_down: 503,
  body_budget_exhausted: 503,
  body_timeout: 408,
};

export const isRouterError = (value: unknown): value is RouterError =>
  typeof value === 'object' && value !== null && (value as { isRouterError?: unknown }).isRouterError === true;

export const statusOf = (e: RouterError): number => e.status ?? STATUS[e.kind];

/** `2xx`, `4xx`…: the status label of the request counters. */
export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/** OpenAI's error `type` for a status class. */
function typeOf(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export const routerError = (kind: RouterErrorKind, message: string, extra?: Partial<Omit<RouterError, 'kind' | 'message' | 'isRouterError'>>): RouterError => ({
  isRouterError: true,
  kind,
  message,
  ...extra,
});

/** `{"error":{"message","type","param","code"}}` as a string. */
export function errorBody(e: RouterError): string {
  return JSON.stringify({ error: { message: e.message, type: typeOf(statusOf(e)), param: e.param ?? null, code: e.kind } });
}

export function errorResponse(e: RouterError, requestId: string, headers?: Record<string, string>): Response {
  const retry = e.retryAfterSecs === undefined ? undefined : { 'retry-after': String(e.retryAfterSecs) };
  const close = e.closeConnection === true ? { connection: 'close' } : undefined;
  return new Response(errorBody(e), {
    status: statusOf(e),
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...retry, ...close, ...headers },
  });
}

/** The one frame written into an SSE stream that fails after it started, followed by [DONE] as vLLM does. */
export function sseErrorFrame(e: RouterError): Uint8Array {
  return new TextEncoder().encode(`data: ${errorBody(e)}\n\ndata: [DONE]\n\n`);
}
