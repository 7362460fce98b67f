// Any other path: a transparent proxy to an endpoint picked by the policy, with the same limits and request id.
import type { Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RegularRouter } from '../../routing/regular.ts';
import { reject } from '../../routing/reject.ts';
import { readAnswer } from '../../routing/read-answer.ts';
import { readBody, type BodyLimits, type HeldBody } from '../body.ts';
import { allowLongRequest, pathAndQuery, type AppEnv } from '../context.ts';
import { routerError, isRouterError } from '../errors.ts';

export interface FallbackDeps {
  readonly router: RegularRouter;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
}

const ROUTE = 'fallback';
/** An endpoint's "no such route" is a few bytes (FastAPI's `{"detail":"Not Found"}`); a longer one is not read to rewrite it. */
const REWRITE_MAX_BYTES = 64 * 1024;

export function addFallbackRoute(app: Hono<AppEnv>, deps: FallbackDeps): void {
  app.all('*', async (c) => {
    const requestId = c.get('requestId');
    const method = c.req.method;
    let held: HeldBody | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBody(c.req.raw, deps.bodyLimits);
      if (isRouterError(read)) return reject(deps, ROUTE, requestId, read);
      held = read;
    }
    // The body's share of the budget comes back once the answer is under way (or refused), whatever happens.
    try {
      const bytes = held?.bytes ?? null;
      let json: Record<string, unknown> | undefined;
      if (bytes !== null && bytes.byteLength > 0 && (c.req.header('content-type') ?? '').includes('json')) {
        try {
          const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) json = value as Record<string, unknown>;
        } catch {
          // Not ours to judge: the endpoint answers malformed bodies on its own routes.
        }
      }
      allowLongRequest(c);
      const path = pathAndQuery(c.req.raw.url);
      const releaseSpan = c.get('holdSpan')?.();
      const res = await deps.router.route({ route: ROUTE, upstreamPath: path, method, headers: c.req.raw.headers, bytes, json, requestId, clientSignal: c.req.raw.signal, startedAt: c.get('startedAt'), span: c.get('span'), onSettled: releaseSpan });
      if (res.status !== 404 && res.status !== 405) return res;
      // An endpoint's own "no such route" (FastAPI's {"detail":...}) becomes the router's OpenAI-style answer.
      const body = await readAnswer(res, REWRITE_MAX_BYTES);
      if (!isRouterError(body) && new TextDecoder().decode(body).includes('"error"')) return new Response(body, { status: res.status, headers: res.headers });
      const kind = res.status === 404 ? 'not_found' : 'method_not_allowed';
      return reject(deps, ROUTE, requestId, routerError(kind, `Unknown route: ${method} ${c.req.path}`));
    } finally {
      held?.lease.release();
    }
  });
}
