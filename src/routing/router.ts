// What every router is: one client request in, one response out. The routes call a Router; the router factory
// (router-factory.ts) picks which one from the routing mode.
import type { Span } from '../tracing/tracer.ts';

/** One client request as the routing layer needs it: read once, routed once. */
export interface ProxyRequest {
  /** Metrics and policy label: the router path (`/v1/chat/completions`), or `fallback`. */
  readonly route: string;
  /** Path and query string sent to the endpoint. */
  readonly upstreamPath: string;
  readonly method: string;
  readonly headers: Headers;
  readonly bytes: Uint8Array | null;
  readonly json: Record<string, unknown> | undefined;
  /** The model the request names (the JSON body's `model`, a multipart form's `model` field), after aliases. */
  readonly model?: string;
  readonly requestId: string;
  readonly clientSignal: AbortSignal;
  readonly startedAt: number;
  /** Time spent waiting for admission, for the access log. */
  readonly queueMs?: number;
  /** Called once when the request is over, body included (releases the admission slot). */
  readonly onSettled?: () => void;
  /** The request's server span: routing and upstream spans are its children. */
  readonly span?: Span;
}

export interface Router {
  /** The response for the client; refusals and failures are answered in the OpenAI envelope, never thrown. */
  route(req: ProxyRequest): Promise<Response>;
}
