// Health, readiness and model listing: answered from the registry or gathered from healthy endpoints.
import type { Hono } from 'hono';
import { isAvailable, type Endpoint, type ModelCard } from '../../core/endpoint.ts';
import type { ModelCatalog } from '../../core/model-catalog.ts';
import { modelCardsOf } from '../../core/model-reader.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { ENGINE_DOCUMENT_MAX_BYTES } from '../../net/body-limits.ts';
import { outboundFetch } from '../../net/fetch.ts';
import { readBody, readJson } from '../../net/read-body.ts';
import { isRedirect, redirectNote } from '../../net/redirect.ts';
import { reject } from '../../wire/reject.ts';
import { isGrpcUrl } from '../../grpc/grpc-url.ts';
import type { AppEnv } from '../context.ts';
import { routerError } from '../../wire/errors.ts';
import { downstreamHeaders } from '../../wire/forward-headers.ts';

export interface InfoDeps {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly apiKey: string | undefined;
  readonly probeTimeoutMs: number;
  /** True once shutdown began: readiness turns 503 so load balancers stop sending. */
  readonly isDraining: () => boolean;
  /** Prefill/decode mode: ready needs a healthy prefill and a healthy decode endpoint. */
  readonly pdMode: boolean;
  /**
   * production-stack's /health (--production-stack-api): the router's own health, 200 `{"status":"healthy"}` while
   * it serves, whatever its engines' state. Its Helm chart probes /health for liveness, so the fleet answer
   * (503 while any endpoint is down) would have Kubernetes restart the router whenever one engine dies.
   */
  readonly processHealth?: boolean;
  /** Told what each engine's listing says, so routing by model follows what /v1/models shows. */
  readonly catalog?: ModelCatalog;
  /** The model cards of a grpc:// endpoint, from its model info (it has no /v1/models). */
  readonly grpcModels?: (url: string) => Promise<readonly Record<string, unknown>[]>;
}

/** The card of a model the configuration names for an endpoint, shaped as production-stack's static listing. */
const configuredCard = (id: string, created: number): ModelCard => ({ id, object: 'model', created, owned_by: 'vllm', root: null, parent: null });

export function addInfoRoutes(app: Hono<AppEnv>, deps: InfoDeps): void {
  const { registry } = deps;
  const authHeaders = (client: Headers): Record<string, string> => {
    if (deps.apiKey !== undefined) return { authorization: `Bearer ${deps.apiKey}` };
    const auth = client.get('authorization');
    return auth === null ? {} : { authorization: auth };
  };
  // An engine document the router reads itself: a 3xx is a failure (never followed), the body is capped.
  const getJson = async (url: string, client: Headers): Promise<unknown> => {
    const res = await outboundFetch(url, { headers: authHeaders(client), signal: AbortSignal.timeout(deps.probeTimeoutMs) });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`${url} answered ${res.status}${redirectNote(res.status)}`);
    }
    const read = await readJson(res, ENGINE_DOCUMENT_MAX_BYTES);
    if (!read.ok) throw new Error(`${url}: ${read.error}`);
    return read.value;
  };
  // The routes below ask an endpoint over HTTP: a grpc:// endpoint has none of them.
  const firstAvailable = (): Endpoint | undefined => registry.all().find((e) => isAvailable(e) && !isGrpcUrl(e.url));

  app.get('/liveness', (c) => c.text('OK'));

  app.get('/health', (c) => {
    if (deps.processHealth) return c.json({ status: 'healthy' });
    const unhealthy = registry.all().filter((e) => !e.healthy);
    if (unhealthy.length === 0) return c.text('All servers healthy');
    return c.text(`Unhealthy servers: [${unhealthy.map((e) => e.id).join(', ')}]`, 503);
  });

  app.get('/readiness', (c) => {
    const total = registry.all().length;
    if (deps.isDraining()) return c.json({ status: 'not_ready', reason: 'shutting down', total_workers: total }, 503);
    if (deps.pdMode) {
      const count = (role: 'prefill' | 'decode') => ({ healthy: registry.available(role).length, total: registry.all(role).length });
      const prefill = count('prefill');
      const decode = count('decode');
      const ready = prefill.healthy > 0 && decode.healthy > 0;
      return c.json(ready ? { status: 'ready', prefill, decode } : { status: 'not_ready', reason: 'needs a healthy prefill and a healthy decode endpoint', prefill, decode }, ready ? 200 : 503);
    }
    const healthy = registry.all().filter(isAvailable).length;
    if (healthy > 0) return c.json({ status: 'ready', healthy_workers: healthy, total_workers: total });
    return c.json({ status: 'not_ready', reason: 'no healthy workers available', total_workers: total }, 503);
  });

  // The union of the models of every healthy endpoint, cards as the engines list them (LoRA adapters with their
  // `parent`), first one wins; an endpoint whose models the configuration names shows those. One dead endpoint
  // does not break the listing.
  app.get('/v1/models', async (c) => {
    const available = registry.all().filter(isAvailable);
    const endpoints = [...new Map(available.filter((e) => !e.modelsConfigured).map((e) => [e.url, e])).values()];
    const results = await Promise.allSettled(
      endpoints.map((e) => (isGrpcUrl(e.url) && deps.grpcModels ? deps.grpcModels(e.url).then((data) => ({ data })) : getJson(`${e.url}/v1/models`, c.req.raw.headers))),
    );
    const models = new Map<string, ModelCard>();
    const created = Math.floor(Date.now() / 1000);
    let answered = 0;
    for (const e of available) {
      if (!e.modelsConfigured) continue;
      answered++;
      for (const id of e.models ?? []) if (!models.has(id)) models.set(id, e.modelCards.find((card) => card.id === id) ?? configuredCard(id, created));
    }
    results.forEach((r, i) => {
      const url = endpoints[i]!.url;
      if (r.status === 'rejected') {
        deps.log.warn('model listing failed', { endpoint: url, request_id: c.get('requestId'), message: String(r.reason) });
        return;
      }
      const listing = modelCardsOf(r.value);
      if (!listing.ok) {
        deps.log.warn('model listing failed', { endpoint: url, request_id: c.get('requestId'), message: listing.reason });
        return;
      }
      answered++;
      for (const e of available) if (e.url === url) deps.catalog?.learn(e, listing.cards);
      for (const card of listing.cards) if (!models.has(card.id)) models.set(card.id, card);
    });
    if (answered === 0)
      return reject(deps, '/v1/models', c.get('requestId'), routerError('no_available_endpoints', 'No healthy endpoint answered /v1/models'));
    return c.json({ object: 'list', data: [...models.values()] });
  });

  // A real generation of one token on an available endpoint: proves the model serves, not only that the process is up.
  app.get('/health_generate', async (c) => {
    const endpoint = firstAvailable();
    const requestId = c.get('requestId');
    if (endpoint === undefined) return reject(deps, '/health_generate', requestId, routerError('no_available_endpoints', 'No available endpoints'));
    try {
      const listing = (await getJson(`${endpoint.url}/v1/models`, c.req.raw.headers)) as { data?: { id?: string }[] };
      const model = listing.data?.[0]?.id;
      const res = await outboundFetch(`${endpoint.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...authHeaders(c.req.raw.headers) },
        body: JSON.stringify({ model, prompt: 'Hello', max_tokens: 1 }),
        signal: AbortSignal.timeout(deps.probeTimeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (!res.ok) throw new Error(`generation answered ${res.status}${redirectNote(res.status)}`);
      return c.json({ status: 'ok', endpoint: endpoint.id });
    } catch (e) {
      return reject(deps, '/health_generate', requestId, routerError('upstream_error', `Generation check failed on ${endpoint.id}: ${(e as Error).message}`, { status: 503 }));
    }
  });

  for (const path of ['/get_server_info', '/get_model_info'] as const) {
    app.get(path, async (c) => {
      const endpoint = firstAvailable();
      const requestId = c.get('requestId');
      if (endpoint === undefined) return reject(deps, path, requestId, routerError('no_available_endpoints', 'No available endpoints'));
      let res: Response;
      try {
        res = await outboundFetch(endpoint.url + path, { headers: authHeaders(c.req.raw.headers), signal: AbortSignal.timeout(deps.probeTimeoutMs) });
      } catch (e) {
        return reject(deps, path, requestId, routerError('upstream_unreachable', `${endpoint.id} did not answer ${path}: ${(e as Error).message}`));
      }
      // Relayed, but as the router's own answer: a redirect would send the client somewhere the router never checked.
      if (isRedirect(res.status)) {
        await res.body?.cancel().catch(() => {});
        return reject(deps, path, requestId, routerError('upstream_error', `${endpoint.id} answered ${path} with ${res.status}${redirectNote(res.status)}`));
      }
      const read = await readBody(res, ENGINE_DOCUMENT_MAX_BYTES);
      if (!read.ok) return reject(deps, path, requestId, routerError('upstream_error', `${endpoint.id} ${path}: ${read.error}`));
      const headers = downstreamHeaders(res.headers, requestId);
      // fetch decoded the body but keeps the header (Bun 1.4.5); the bytes sent are the decoded ones.
      headers.delete('content-encoding');
      return new Response(read.bytes, { status: res.status, headers });
    });
  }
}
