// The server span of a traced request: opened before routing, closed when the response is over.
// A streamed body outlives the handler, so routes that relay one hold the span open until it ends.
import type { MiddlewareHandler } from 'hono';
import { extractTraceContext } from '../tracing/traceparent.ts';
import type { Tracer } from '../tracing/tracer.ts';
import type { AppEnv } from './context.ts';

/** Runs after the request-id middleware, so every span carries the id the client gets back. */
export function serverSpan(tracer: Tracer): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    if (!tracer.tracesPath(path)) return next();
    const method = c.req.method;
    const span = tracer.startSpan(`${method} ${path}`, {
      parent: extractTraceContext(c.req.raw.headers),
      kind: 'server',
      attributes: { 'http.request.method': method, 'url.path': path, request_id: c.get('requestId') },
    });
    // The span ends when the handler has returned and every hold taken by a route is released.
    let holds = 1;
    const release = () => {
      if (--holds === 0) span.end();
    };
    c.set('span', span);
    c.set('holdSpan', () => {
      holds++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
      };
    });
    try {
      await next();
      const status = c.res.status;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus(`status ${status}`);
    } finally {
      release();
    }
  };
}
