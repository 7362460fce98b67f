// Start-up step: the endpoint registry, a circuit breaker per endpoint, and the endpoints the flags list.
import type { Config } from '../config/schema.ts';
import { createCircuitBreaker } from '../core/circuit-breaker.ts';
import { baseUrl, endpointId, rankSpecs, type EndpointSpec } from '../core/endpoint.ts';
import { createRegistry, type EndpointRegistry, type RegistryOptions } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { PdMode } from './pd-mode.ts';
import { tagsByUrl } from './worker-tags.ts';

export interface EndpointRegistryPart {
  readonly registry: EndpointRegistry;
  /** Adds an endpoint as the flags describe it: its --worker-tags, one entry per data-parallel rank. */
  readonly addEndpoint: (spec: EndpointSpec) => void;
}

interface Needs {
  readonly pdMode: PdMode;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
}

export function buildEndpointRegistry(config: Config, { pdMode, metrics, log, now }: Needs): EndpointRegistryPart {
  const registry = createRegistry({ breaker: config.disable_circuit_breaker ? undefined : breakerPerEndpoint(config, { metrics, log, now }) });
  // With data-parallel ranks each URL is N endpoints (`URL@0`…), each routed with X-data-parallel-rank.
  const tags = tagsByUrl(config);
  const addEndpoint = (given: EndpointSpec) => {
    const spec = { ...given, tags: tags.get(baseUrl(given.url)) ?? given.tags };
    for (const s of rankSpecs(spec, config.intra_node_data_parallel_size)) {
      const added = registry.add(s);
      if ('error' in added) log.warn('duplicate endpoint ignored', { endpoint: endpointId(s) });
    }
  };
  if (pdMode === undefined) config.worker_urls.forEach((url, i) => addEndpoint({ url, models: config.static_models[i] === undefined ? undefined : [config.static_models[i]] }));
  else {
    // Static endpoints and self-registered ones both live in the registry (the Rust router ignored the static ones).
    for (const { url, bootstrapPort } of config.prefill) addEndpoint({ url, role: 'prefill', bootstrapPort });
    for (const url of config.decode) addEndpoint({ url, role: 'decode' });
  }
  metrics.activeWorkers.set(registry.all().length);
  registry.onChange(() => metrics.activeWorkers.set(registry.all().length));
  return { registry, addEndpoint };
}

/** The cb_state gauge's values. */
const BREAKER_STATE_CODE = { closed: 0, open: 1, half_open: 2 } as const;

function breakerPerEndpoint(config: Config, { metrics, log, now }: Omit<Needs, 'pdMode'>): NonNullable<RegistryOptions['breaker']> {
  const options = {
    failureThreshold: config.cb_failure_threshold,
    successThreshold: config.cb_success_threshold,
    timeoutMs: config.cb_timeout_duration_secs * 1000,
    windowMs: config.cb_window_duration_secs * 1000,
    halfOpenMaxProbes: config.cb_half_open_max_probes,
  };
  return (spec) => {
    const worker = endpointId(spec);
    return createCircuitBreaker(options, {
      now,
      onTransition: (from, to) => {
        metrics.cbTransitions.inc({ worker, from, to });
        metrics.cbState.set({ worker }, BREAKER_STATE_CODE[to]);
        log[to === 'open' ? 'warn' : 'info']('circuit breaker', { endpoint: worker, from, to });
      },
    });
  };
}
