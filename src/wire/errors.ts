// Router-made errors as values, and their one mapping to HTTP (OpenAI envelope) and to an in-stream SSE frame.

export type RouterErrorKind =
  | 'invalid_json'
  | 'invalid_body'
  | 'invalid_encoding'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'model_not_found'
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
  model_not_found: 404,
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

/**
 * Which error shape a client expects: OpenAI's, or Anthropic's on the Messages API (vLLM serves
 * /v1/messages and answers its errors as `{"type":"error","error":{"type","message"}}`).
 */
export type Envelope = 'openai' | 'anthropic';

const ANTHROPIC_PATHS: ReadonlySet<string> = new Set(['/v1/messages', '/v1/messages/count_tokens']);

/** The envelope for a route label or request path. */
export const envelopeOf = (routeOrPath: string): Envelope => (ANTHROPIC_PATHS.has(routeOrPath) ? 'anthropic' : 'openai');

/** Anthropic's error `type` for a status (docs.anthropic.com, "Errors"). */
function anthropicTypeOf(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** `{"error":{"message","type","param","code"}}` as a string, or Anthropic's `{"type":"error","error":{"type","message"}}`. */
export function errorBody(e: RouterError, envelope: Envelope = 'openai'): string {
  if (envelope === 'anthropic') return JSON.stringify({ type: 'error', error: { type: anthropicTypeOf(statusOf(e)), message: e.message } });
  return JSON.stringify({ error: { message: e.message, type: typeOf(statusOf(e)), param: e.param ?? null, code: e.kind } });
}

export function errorResponse(e: RouterError, requestId: string, headers?: Record<string, string>, envelope: Envelope = 'openai'): Response {
  const retry = e.retryAfterSecs === undefined ? undefined : { 'retry-after': String(e.retryAfterSecs) };
  const close = e.closeConnection === true ? { connection: 'close' } : undefined;
  return new Response(errorBody(e, envelope), {
    status: statusOf(e),
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...retry, ...close, ...headers },
  });
}

/**
 * The one frame written into an SSE stream that fails after it started: followed by [DONE] as vLLM does, or on
 * the Messages API the `error` event Anthropic's streams carry (they have no [DONE]).
 */
export function sseErrorFrame(e: RouterError, envelope: Envelope = 'openai'): Uint8Array {
  if (envelope === 'anthropic') return new TextEncoder().encode(`event: error\ndata: ${errorBody(e, 'anthropic')}\n\n`);
  return new TextEncoder().encode(`data: ${errorBody(e)}\n\ndata: [DONE]\n\n`);
}
