// The Hono environment shared by the routes: per-request variables and the Bun server binding.
import type { Context } from 'hono';
import { getPath as honoGetPath } from 'hono/utils/url';
import type { Span } from '../tracing/tracer.ts';

export interface AppEnv {
  Bindings: { server?: Bun.Server<unknown> };
  Variables: {
    requestId: string;
    startedAt: number;
    /** The request's server span; unset when tracing is off or the path is excluded. */
    span?: Span;
    /** Keeps the server span open past the handler (a relayed body); call the result when the body is over. */
    holdSpan?: () => () => void;
  };
}

export type AppContext = Context<AppEnv>;

/**
 * Path and query string of the request, as sent upstream (no URL object on the hot path). Without a Host
 * header (HTTP/1.0 clients such as HAProxy health checks) Bun gives the bare path as the URL.
 */
export function pathAndQuery(url: string): string {
  if (url.charCodeAt(0) === 47) return url;
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? '/' : url.slice(slash);
}

/**
 * What a route needs of its request, whether Hono dispatched it (`scopeOf`) or the inference fast path in
 * app.ts did (no Hono context for the hot routes).
 */
export interface RequestScope {
  readonly raw: Request;
  readonly requestId: string;
  readonly startedAt: number;
  readonly span?: Span;
  readonly holdSpan?: () => () => void;
  readonly server?: Bun.Server<unknown>;
}

export const scopeOf = (c: AppContext): RequestScope => ({
  raw: c.req.raw,
  requestId: c.get('requestId'),
  startedAt: c.get('startedAt'),
  span: c.get('span'),
  holdSpan: c.get('holdSpan'),
  server: c.env?.server,
});

/** Model calls may be silent for minutes: the request timeout governs them, not Bun's idle timeout. */
export function allowLongRequest(server: Bun.Server<unknown> | undefined, raw: Request): void {
  server?.timeout(raw, 0);
}

/** Hono's path extraction, taught the bare-path URLs Bun gives requests without a Host header. */
export function pathOf(req: Request): string {
  const url = req.url;
  if (url.charCodeAt(0) !== 47) return honoGetPath(req);
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
