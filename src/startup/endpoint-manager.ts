// Start-up step: the endpoint manager, which adds endpoints at run time (probed first) and removes them (drained).
import type { Config } from '../config/schema.ts';
import { createEndpointManager, type EndpointManager } from '../core/endpoint-manager.ts';
import type { HealthChecker } from '../core/health.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { ModelsPart } from './models.ts';
import type { PdMode } from './pd-mode.ts';

interface Needs {
  readonly registry: EndpointRegistry;
  readonly health: HealthChecker;
  readonly pdMode: PdMode;
  readonly log: Logger;
  readonly now: () => number;
  readonly models: ModelsPart;
}

export function buildEndpointManager(config: Config, { registry, health, pdMode, log, now, models }: Needs): EndpointManager {
  return createEndpointManager({
    registry,
    probe: (url) => health.probe(url),
    log,
    drainTimeoutMs: config.worker_drain_timeout_secs * 1000,
    now,
    roles: pdMode === undefined ? ['regular'] : ['prefill', 'decode'],
    dpSize: config.intra_node_data_parallel_size,
    onAdded: (url) => models.refresher.refresh(url),
  });
}
