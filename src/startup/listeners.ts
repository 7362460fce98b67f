// Start-up step: the two listeners, the router's API (--host/--port) and Prometheus' /metrics (--prometheus-*).
import { createApp, type AppDeps } from '../app.ts';
import type { Config } from '../config/schema.ts';
import type { Admission } from '../core/admission.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { CacheAwareStats, Policy, SessionStats } from '../policies/types.ts';
import type { TokenizerPool } from '../pool/pool.ts';
import type { KvEvents } from '../signals/kv-events/kv-events.ts';
import type { Tracing } from '../tracing/setup.ts';
import type { Policies } from './policies.ts';

export function openRouterListener(deps: AppDeps): Bun.Server<unknown> {
  const app = createApp(deps);
  return Bun.serve({
    hostname: deps.config.host,
    port: deps.config.port,
    // The router enforces --max-payload-size itself (with an OpenAI error body); Bun's own cap only backstops it.
    maxRequestBodySize: deps.config.max_payload_size + 1024 * 1024,
    fetch: (req, srv) => app.fetch(req, { server: srv }),
  });
}

interface ScrapeSources {
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly pool: TokenizerPool | undefined;
  /** The --policy slot's prefix-index counters are exported; kv_aware's predictions from every slot. */
  readonly policies: Pick<Policies, 'main' | 'stages' | 'sessionStats'>;
  readonly kvEvents: KvEvents | undefined;
  readonly tracing: Tracing | undefined;
}

/** The Prometheus page. Gauges that mirror state owned elsewhere are read at scrape time, just before the page is written. */
export function metricsPage({ metrics, admission, pool, policies, kvEvents, tracing }: ScrapeSources): () => Promise<Response> {
  return async () => {
    const a = admission.stats();
    metrics.queueDepth.set(a.queued);
    metrics.admissionInUse.set(a.inUse);
    if (pool !== undefined) metrics.poolQueueDepth.set(pool.stats().queueDepth);
    const cache = policies.main.cacheStats?.();
    if (cache !== undefined) copyCacheAwareStats(cache, metrics);
    copyKvStats([policies.main, policies.stages?.prefill, policies.stages?.decode], kvEvents, metrics);
    const sessions = policies.sessionStats();
    if (sessions !== undefined) copySessionStats(sessions, metrics);
    if (tracing !== undefined) for (const [result, n] of Object.entries(tracing.exporter.stats())) metrics.traceSpans.set({ result }, n);
    return new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } });
  };
}

/** The --prometheus-port listener; none with --metrics-on-router-port, where the router's own port serves the page. */
export function openMetricsListener(config: Config, page: () => Promise<Response>): Bun.Server<unknown> | undefined {
  if (config.metrics_on_router_port) return undefined;
  return Bun.serve({
    hostname: config.prometheus_host,
    port: config.prometheus_port,
    fetch: (req) => (new URL(req.url).pathname === '/metrics' ? page() : new Response('Not Found', { status: 404 })),
  });
}

function copySessionStats(s: SessionStats, metrics: Metrics): void {
  metrics.stickySessions.set(s.size);
  metrics.stickySessionsPerWorker.reset();
  for (const [worker, n] of s.perEndpoint) metrics.stickySessionsPerWorker.set({ worker }, n);
  metrics.stickySessionsEnded.reset();
  metrics.stickySessionsEnded.inc({ reason: 'finished' }, s.released);
  metrics.stickySessionsEnded.inc({ reason: 'expired' }, s.expiries);
  metrics.stickySessionsEnded.inc({ reason: 'evicted' }, s.evictions);
  metrics.stickySessionRepins.reset();
  metrics.stickySessionRepins.inc(s.repins);
}

/** The policy keeps cumulative counts; Prometheus counters take them at scrape time. */
function copyCacheAwareStats(s: CacheAwareStats, metrics: Metrics): void {
  const set = (counter: Metrics['cacheHits'], value: number) => {
    counter.reset();
    counter.inc(value);
  };
  set(metrics.cacheHits, s.hits);
  set(metrics.cacheMisses, s.misses);
  set(metrics.loadBalancingEvents, s.loadBalancingFallbacks);
  set(metrics.sharedPrefixFallbacks, s.sharedPrefixFallbacks);
  metrics.maxLoad.set(s.lastMaxLoad);
  metrics.minLoad.set(s.lastMinLoad);
  metrics.treeSize.reset();
  for (const [worker, size] of s.indexSize) metrics.treeSize.set({ worker }, size);
}

/** The feeds' state and kv_aware's predicted cached tokens (summed over the policies that route on events). */
function copyKvStats(policies: readonly (Pick<Policy, 'cacheStats'> | undefined)[], kvEvents: KvEvents | undefined, metrics: Metrics): void {
  if (kvEvents === undefined) return;
  for (const g of [metrics.kvIndexBlocks, metrics.kvIndexOrphans, metrics.kvFeedConnected]) g.reset();
  for (const [worker, s] of kvEvents.stats()) {
    metrics.kvIndexBlocks.set({ worker }, s.blocks);
    metrics.kvIndexOrphans.set({ worker }, s.orphans);
    metrics.kvFeedConnected.set({ worker }, s.connected ? 1 : 0);
  }
  const predicted = new Map<string, number>();
  for (const p of policies) for (const [worker, n] of p?.cacheStats?.()?.predictedCachedTokens ?? []) predicted.set(worker, (predicted.get(worker) ?? 0) + n);
  metrics.kvPredictedCachedTokens.reset();
  for (const [worker, n] of predicted) metrics.kvPredictedCachedTokens.inc({ worker }, n);
}
