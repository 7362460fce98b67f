// production-stack's own routes (src/vllm_router/routers/main_router.py): /engines, /version, and the sleep-mode
// routes that address one engine by its id. Mounted with --production-stack-api (production-stack's command line).
import type { Hono, MiddlewareHandler } from 'hono';
import type { Endpoint } from '../../core/endpoint.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { ENGINE_DOCUMENT_MAX_BYTES } from '../../net/body-limits.ts';
import { outboundFetch } from '../../net/fetch.ts';
import { readBody, readJson } from '../../net/read-body.ts';
import { redirectNote } from '../../net/redirect.ts';
import { isRouterError, routerError } from '../../wire/errors.ts';
import { reject } from '../../wire/reject.ts';
import { readBytes } from '../body.ts';
import type { AppEnv } from '../context.ts';

export interface ProductionStackDeps {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The admin check: the sleep-mode routes stop an engine serving, so they need the admin key. */
  readonly adminAuth: MiddlewareHandler<AppEnv>;
  /** --api-key, sent to the engines (production-stack sends $VLLM_API_KEY). */
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly version: string;
}

const MAX_BODY = 64 * 1024;
/** RFC 4122's URL namespace: engine ids are UUIDv5 of the endpoint id, the same in every replica and restart. */
const URL_NAMESPACE = Uint8Array.from('6ba7b8119dad11d180b400c04fd430c8'.match(/../g)!.map((h) => parseInt(h, 16)));

export function engineId(endpointId: string): string {
  const sha = new Bun.CryptoHasher('sha1').update(URL_NAMESPACE).update(endpointId).digest();
  const b = Uint8Array.from(sha.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Buffer.from(b).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function addProductionStackRoutes(app: Hono<AppEnv>, deps: ProductionStackDeps): void {
  const { registry } = deps;
  const auth = (): Record<string, string> => (deps.apiKey === undefined ? {} : { authorization: `Bearer ${deps.apiKey}` });
  // When the router first listed each endpoint: production-stack's `created` (its discovery time).
  const firstSeen = new WeakMap<Endpoint, number>();
  const createdOf = (e: Endpoint) => {
    let t = firstSeen.get(e);
    if (t === undefined) firstSeen.set(e, (t = Math.floor(Date.now() / 1000)));
    return t;
  };

  const servedModels = async (url: string, requestId: string): Promise<string[]> => {
    try {
      const res = await outboundFetch(`${url}/v1/models`, { headers: auth(), signal: AbortSignal.timeout(deps.timeoutMs) });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`answered ${res.status}${redirectNote(res.status)}`);
      }
      const read = await readJson(res, ENGINE_DOCUMENT_MAX_BYTES);
      if (!read.ok) throw new Error(read.error);
      const data = (read.value as { data?: unknown }).data;
      return Array.isArray(data) ? data.flatMap((card) => (card && typeof card.id === 'string' ? [card.id as string] : [])) : [];
    } catch (e) {
      deps.log.warn('model listing failed', { endpoint: url, request_id: requestId, message: (e as Error).message });
      return [];
    }
  };

  app.get('/version', (c) => c.json({ version: deps.version }));

  /** `[{"engine_id", "serving_models", "created"}]`, one per endpoint; the models as each engine lists them now. */
  app.get('/engines', async (c) => {
    const endpoints = registry.all();
    const urls = [...new Set(endpoints.map((e) => e.url))];
    const models = new Map(await Promise.all(urls.map(async (u) => [u, await servedModels(u, c.get('requestId'))] as const)));
    return c.json(endpoints.map((e) => ({ engine_id: engineId(e.id), serving_models: models.get(e.url) ?? [], created: createdOf(e) })));
  });

  for (const [method, path] of [['POST', '/sleep'], ['POST', '/wake_up'], ['GET', '/is_sleeping']] as const) {
    app.on(method, path, deps.adminAuth, async (c) => {
      const requestId = c.get('requestId');
      const id = c.req.query('id');
      if (id === undefined || id === '') return reject(deps, path, requestId, routerError('invalid_body', 'Invalid request: missing target Engine Id.', { param: 'id' }));
      const endpoint = registry.all().find((e) => engineId(e.id) === id);
      if (endpoint === undefined) return reject(deps, path, requestId, routerError('invalid_body', `Engine with Id ${id} not found.`, { param: 'id' }));
      // Every other query parameter goes on (/sleep's level and mode, /wake_up's tags); `id` is the router's.
      const query = new URL(c.req.url).searchParams;
      query.delete('id');
      const search = query.size > 0 ? `?${query}` : '';
      let body: Uint8Array | undefined;
      if (method === 'POST') {
        const bytes = await readBytes(c.req.raw, MAX_BODY);
        if (isRouterError(bytes)) return reject(deps, path, requestId, bytes);
        body = bytes.length > 0 ? bytes : undefined;
      }
      const headers: Record<string, string> = { 'x-request-id': requestId, ...auth(), ...(body ? { 'content-type': 'application/json' } : {}) };
      if (endpoint.dpRank !== undefined) headers['x-data-parallel-rank'] = String(endpoint.dpRank);
      let res: Response;
      try {
        res = await outboundFetch(`${endpoint.url}${path}${search}`, { method, headers, body, signal: AbortSignal.timeout(deps.timeoutMs) });
      } catch (e) {
        return reject(deps, path, requestId, routerError('upstream_unreachable', `${endpoint.id} did not answer ${path}: ${(e as Error).message}`));
      }
      const read = await readBody(res, ENGINE_DOCUMENT_MAX_BYTES);
      if (!res.ok || !read.ok) {
        const detail = read.ok ? new TextDecoder().decode(read.bytes).slice(0, 200) : read.error;
        return reject(deps, path, requestId, routerError('upstream_error', `${endpoint.id} answered ${path} with ${res.status}${redirectNote(res.status)}: ${detail}`));
      }
      deps.metrics.requests.inc({ route: path, status: '2xx' });
      if (path === '/is_sleeping') return new Response(read.bytes, { status: res.status, headers: { 'content-type': 'application/json' } });
      // A sleeping engine frees its GPU memory and serves nothing: no request is routed to it until it wakes.
      // The whole engine sleeps, so every data-parallel rank of its URL does.
      for (const e of registry.all()) if (e.url === endpoint.url) e.sleeping = path === '/sleep';
      deps.log.info(path === '/sleep' ? 'engine put to sleep' : 'engine woken up', { endpoint: endpoint.id, request_id: requestId });
      return c.json({ status: 'success' }, res.status as 200);
    });
  }
}
