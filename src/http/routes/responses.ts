// Stored-response routes of the Responses API: the response lives on one endpoint, so ask them all at once.
import type { Hono } from 'hono';
import { isAvailable } from '../../core/endpoint.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { reject } from '../../routing/reject.ts';
import { upstreamHeaders, downstreamHeaders } from '../forward-headers.ts';
import { pathAndQuery, type AppContext, type AppEnv } from '../context.ts';
import { routerError } from '../errors.ts';

export interface ResponsesDeps {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly apiKey: string | undefined;
  readonly requestTimeoutMs: number;
}

export function addResponsesRoutes(app: Hono<AppEnv>, deps: ResponsesDeps): void {
  app.get('/v1/responses/:id', (c) => fanOut(c, 'GET', deps));
  app.post('/v1/responses/:id/cancel', (c) => fanOut(c, 'POST', deps));
  const notImplemented = (c: AppContext) =>
    reject(deps, '/v1/responses', c.get('requestId'), routerError('not_implemented', `${c.req.method} ${c.req.path} is not implemented by the router`));
  app.delete('/v1/responses/:id', notImplemented);
  app.get('/v1/responses/:id/input_items', notImplemented);
}

/** First 2xx wins and the other calls are aborted; with none, the last endpoint's answer (or 404). */
async function fanOut(c: AppContext, method: 'GET' | 'POST', deps: ResponsesDeps): Promise<Response> {
  const requestId = c.get('requestId');
  const endpoints = [...new Map(deps.registry.all().filter(isAvailable).map((e) => [e.url, e])).values()];
  if (endpoints.length === 0) return reject(deps, '/v1/responses', requestId, routerError('no_available_endpoints', 'No available endpoints'));
  const path = pathAndQuery(c.req.raw.url);
  const extra = deps.apiKey === undefined ? undefined : { authorization: `Bearer ${deps.apiKey}` };
  const abort = new AbortController();
  const signal = AbortSignal.any([abort.signal, c.req.raw.signal, AbortSignal.timeout(deps.requestTimeoutMs)]);
  const failures: Response[] = [];
  const calls = endpoints.map(async (e) => {
    const res = await fetch(e.url + path, { method, headers: upstreamHeaders(c.req.raw.headers, requestId, extra), signal });
    if (!res.ok) {
      failures.push(res);
      throw new Error(String(res.status));
    }
    return res;
  });
  try {
    const winner = await Promise.any(calls);
    abort.abort();
    return new Response(winner.body, { status: winner.status, headers: downstreamHeaders(winner.headers, requestId) });
  } catch {
    const last = failures.find((r) => r.status !== 404) ?? failures.at(-1);
    if (last === undefined || last.status === 404)
      return reject(deps, '/v1/responses', requestId, routerError('not_found', `Response ${c.req.param('id')} was not found on any endpoint`, { param: 'response_id' }));
    return new Response(last.body, { status: last.status, headers: downstreamHeaders(last.headers, requestId) });
  }
}
