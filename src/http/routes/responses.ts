// Stored-response routes of the Responses API: the response lives on one endpoint, so ask them all at once.
import type { Hono } from 'hono';
import { isAvailable } from '../../core/endpoint.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { ERROR_BODY_MAX_BYTES } from '../../net/body-limits.ts';
import { outboundFetch } from '../../net/fetch.ts';
import { readBody } from '../../net/read-body.ts';
import { isRedirect, redirectNote } from '../../net/redirect.ts';
import { reject } from '../../wire/reject.ts';
import { upstreamHeaders, downstreamHeaders } from '../../wire/forward-headers.ts';
import { pathAndQuery, type AppContext, type AppEnv } from '../context.ts';
import { routerError, type RouterError } from '../../wire/errors.ts';
import { isPlainPath } from '../../wire/engine-paths.ts';

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

/** What one endpoint said: the response itself, an error answer (its body read, capped), or nothing usable. */
type Answer =
  | { readonly kind: 'found'; readonly response: Response }
  | { readonly kind: 'error'; readonly status: number; readonly headers: Headers; readonly body: Uint8Array }
  | { readonly kind: 'refused'; readonly error: RouterError }
  | { readonly kind: 'no_answer'; readonly message: string };

/**
 * Every available endpoint is asked at once; the first 2xx wins and is relayed as it streams. Each call has its
 * own abort, so picking the winner cuts only the others (one shared signal cut the winner's own body too).
 * Without a winner: the first error answer other than 404 is relayed, else a redirect is reported as the
 * endpoint's failure, else the response was not found (or no endpoint answered at all).
 */
async function fanOut(c: AppContext, method: 'GET' | 'POST', deps: ResponsesDeps): Promise<Response> {
  const requestId = c.get('requestId');
  const endpoints = [...new Map(deps.registry.all().filter(isAvailable).map((e) => [e.url, e])).values()];
  if (endpoints.length === 0) return reject(deps, '/v1/responses', requestId, routerError('no_available_endpoints', 'No available endpoints'));
  const path = pathAndQuery(c.req.raw.url);
  // The id goes upstream as sent: an encoded slash or dot segment must not turn it into another engine route.
  const query = path.indexOf('?');
  if (!isPlainPath(query === -1 ? path : path.slice(0, query)))
    return reject(deps, '/v1/responses', requestId, routerError('not_found', `Response ${c.req.param('id')} was not found on any endpoint`, { param: 'response_id' }));
  const extra = deps.apiKey === undefined ? undefined : { authorization: `Bearer ${deps.apiKey}` };
  const deadline = AbortSignal.timeout(deps.requestTimeoutMs);
  const shared = AbortSignal.any([c.req.raw.signal, deadline]);
  const aborts = endpoints.map(() => new AbortController());
  let winner: Response | undefined;

  const ask = async (url: string, i: number): Promise<Answer> => {
    let res: Response;
    try {
      res = await outboundFetch(url + path, {
        method,
        headers: upstreamHeaders(c.req.raw.headers, requestId, extra),
        signal: AbortSignal.any([aborts[i]!.signal, shared]),
        // Relayed as the endpoint sent it, content-encoding included (as the proxy does).
        decompress: false,
      });
    } catch (e) {
      return { kind: 'no_answer', message: `${url}: ${(e as Error).message}` };
    }
    if (res.ok) {
      if (winner === undefined) {
        winner = res;
        aborts.forEach((a, j) => j !== i && a.abort());
        return { kind: 'found', response: res };
      }
      // A second holder of the same id lost the race: free its connection.
      await res.body?.cancel().catch(() => {});
      return { kind: 'no_answer', message: `${url}: answered after another endpoint` };
    }
    if (isRedirect(res.status)) {
      await res.body?.cancel().catch(() => {});
      return { kind: 'refused', error: routerError('upstream_error', `${url} answered ${method} ${c.req.path} with ${res.status}${redirectNote(res.status)}`) };
    }
    // Read now, capped, so every connection is released whatever the outcome; a 404 body is never used.
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      return { kind: 'error', status: 404, headers: res.headers, body: new Uint8Array(0) };
    }
    const read = await readBody(res, ERROR_BODY_MAX_BYTES);
    if (!read.ok) return { kind: 'refused', error: routerError('upstream_error', `${url} answered ${res.status}, and ${read.error}`) };
    return { kind: 'error', status: res.status, headers: res.headers, body: read.bytes };
  };

  const answers: Answer[] = [];
  const found = await new Promise<Response | undefined>((resolve) => {
    let pending = endpoints.length;
    endpoints.forEach((e, i) => {
      void ask(e.url, i)
        .catch((err: unknown): Answer => ({ kind: 'no_answer', message: `${e.url}: ${String(err)}` }))
        .then((answer) => {
          answers.push(answer);
          if (answer.kind === 'found') resolve(answer.response);
          if (--pending === 0) resolve(undefined);
        });
    });
  });
  if (found !== undefined) return new Response(found.body, { status: found.status, headers: downstreamHeaders(found.headers, requestId) });
  if (c.req.raw.signal.aborted) return reject(deps, '/v1/responses', requestId, routerError('client_closed', 'Client closed the connection'));
  if (deadline.aborted) return reject(deps, '/v1/responses', requestId, routerError('upstream_timeout', `No endpoint answered ${method} ${c.req.path} in time`));

  const failure = answers.find((a) => a.kind === 'error' && a.status !== 404);
  if (failure?.kind === 'error') return new Response(failure.body, { status: failure.status, headers: downstreamHeaders(failure.headers, requestId) });
  const refused = answers.find((a) => a.kind === 'refused');
  if (refused?.kind === 'refused') return reject(deps, '/v1/responses', requestId, refused.error);
  if (!answers.some((a) => a.kind === 'error')) {
    const reasons = answers.map((a) => (a.kind === 'no_answer' ? a.message : '')).join('; ');
    return reject(deps, '/v1/responses', requestId, routerError('upstream_unreachable', `No endpoint answered ${method} ${c.req.path}: ${reasons}`));
  }
  return reject(deps, '/v1/responses', requestId, routerError('not_found', `Response ${c.req.param('id')} was not found on any endpoint`, { param: 'response_id' }));
}
