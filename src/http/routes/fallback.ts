// Any other path: a transparent proxy to an endpoint picked by the policy, with the same limits and request id.
import type { Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RegularRouter } from '../../routing/regular.ts';
import { reject } from '../../routing/reject.ts';
import { readBytes } from '../body.ts';
import { allowLongRequest, pathAndQuery, type AppEnv } from '../context.ts';
import { routerError, isRouterError } from '../errors.ts';

export interface FallbackDeps {
  readonly router: RegularRouter;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly maxPayloadSize: number;
}

const ROUTE = 'fallback';

export function addFallbackRoute(app: Hono<AppEnv>, deps: FallbackDeps): void {
  app.all('*', async (c) => {
    const requestId = c.get('requestId');
    const method = c.req.method;
    let bytes: Uint8Array | null = null;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBytes(c.req.raw, deps.maxPayloadSize);
      if (isRouterError(read)) return reject(deps, ROUTE, requestId, read);
      bytes = read;
    }
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
    const text = await res.text();
    if (text.includes('"error"')) return new Response(text, { status: res.status, headers: res.headers });
    const kind = res.status === 404 ? 'not_found' : 'method_not_allowed';
    return reject(deps, ROUTE, requestId, routerError(kind, `Unknown route: ${method} ${c.req.path}`));
  });
}
