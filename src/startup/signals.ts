// Start-up step: the live measurements policies read: the router's per-endpoint statistics and vLLM's own metrics.
import type { Config } from '../config/schema.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import { createEndpointStats, type EndpointStats } from '../signals/endpoint-stats.ts';
import { createEngineMetrics, type EngineMetrics, type EngineMetricsOptions } from '../signals/engine-metrics.ts';

/** Per-endpoint request statistics; an endpoint's are dropped when it leaves the registry. */
export function trackEndpointStats(registry: EndpointRegistry, qpsWindowMs?: number): EndpointStats {
  const stats = createEndpointStats({ qpsWindowMs });
  let known = new Set(registry.all().map((e) => e.id));
  registry.onChange(() => {
    const present = new Set(registry.all().map((e) => e.id));
    for (const id of known) if (!present.has(id)) stats.forget(id);
    known = present;
  });
  return stats;
}

interface Needs {
  readonly registry: EndpointRegistry;
  readonly now: () => number;
  readonly log: Logger;
  /** The loads of grpc:// endpoints (GetLoads), which have no /metrics. */
  readonly loadOf?: EngineMetricsOptions['loadOf'];
}

/** vLLM's gauges and histograms, scraped only when a QoE policy uses them (and the interval is not 0). */
export function startEngineMetrics(config: Config, { registry, now, log, loadOf }: Needs): EngineMetrics | undefined {
  const qoeInUse = [config.policy, config.prefill_policy, config.decode_policy].some((p) => p === 'qoe_centric' || p === 'disaggregated_qoe');
  if (!qoeInUse || config.engine_metrics_interval_secs <= 0) return undefined;
  const engineMetrics = createEngineMetrics({
    endpoints: () => registry.all(),
    intervalMs: config.engine_metrics_interval_secs * 1000,
    timeoutMs: config.engine_metrics_timeout_secs * 1000,
    apiKey: config.api_key,
    now,
    log,
    ...(loadOf ? { loadOf } : {}),
  });
  engineMetrics.start();
  return engineMetrics;
}
