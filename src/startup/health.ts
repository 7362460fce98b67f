// Start-up step: the health checker, and the wait at start-up for a first healthy endpoint.
import type { Config } from '../config/schema.ts';
import { HealthChecker, type HealthOptions } from '../core/health.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { openAiHealthy } from '../routing/openai-backend.ts';
import type { ModelsPart } from './models.ts';

interface Needs {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly models: ModelsPart;
  /** The probe of grpc:// endpoints (startup/grpc.ts). */
  readonly grpcProbe?: HealthOptions['grpcProbe'];
}

/** Built stopped: start-up probes once itself (waitForHealthy), then starts the polling. */
export function buildHealth(config: Config, { registry, metrics, log, models, grpcProbe }: Needs): HealthChecker {
  return new HealthChecker(
    registry,
    {
      intervalSecs: config.health_check_interval_secs,
      timeoutSecs: config.health_check_timeout_secs,
      failureThreshold: config.health_failure_threshold,
      successThreshold: config.health_success_threshold,
      // An OpenAI-compatible API has no /health: it is up when /v1/models answers, even 401 without a key.
      path: config.backend === 'openai' && config.health_check_endpoint === '/health' ? '/v1/models' : config.health_check_endpoint,
      apiKey: config.api_key,
      healthyStatus: config.backend === 'openai' ? openAiHealthy : undefined,
      // What an engine serves changes with LoRA adapters loaded at run time: read again after each good probe.
      onGoodProbe: (url) => models.refresher.refresh(url),
      ...(grpcProbe ? { grpcProbe } : {}),
    },
    metrics,
    log,
  );
}

/**
 * Probes every endpoint now, then keeps polling until one is healthy (true) or --worker-startup-timeout-secs
 * passes (false). With no endpoint configured there is nothing to wait for.
 */
export async function waitForHealthy(config: Config, { registry, health, log }: { registry: EndpointRegistry; health: HealthChecker; log: Logger }): Promise<boolean> {
  const endpoints = registry.all();
  if (endpoints.length === 0) return true;
  const deadline = performance.now() + config.worker_startup_timeout_secs * 1000;
  let pause = 250;
  for (;;) {
    await health.initial(registry.all());
    if (registry.all().some((e) => e.healthy)) return true;
    if (performance.now() >= deadline) return false;
    log.info('waiting for a healthy endpoint', { endpoints: endpoints.map((e) => e.id).join(' ') });
    await Bun.sleep(Math.min(pause, config.worker_startup_check_interval * 1000, Math.max(0, deadline - performance.now())));
    pause = Math.min(pause * 2, 5000);
  }
}
