// Start-up step: the ZMQ socket vLLM instances register on in PD mode (--vllm-discovery-address).
import type { Config } from '../config/schema.ts';
import type { EndpointSpec } from '../core/endpoint.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { RegistrationListener } from '../routing/pd/registration.ts';
import type { PdMode } from './pd-mode.ts';

interface Needs {
  readonly pdMode: PdMode;
  readonly addEndpoint: (spec: EndpointSpec) => void;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export function startRegistration(config: Config, { pdMode, addEndpoint, registry, metrics, log }: Needs): RegistrationListener | undefined {
  if (pdMode === undefined || config.vllm_discovery_address === undefined) return undefined;
  const registration = RegistrationListener.start({
    address: config.vllm_discovery_address,
    onAdded: (i) => {
      addEndpoint({ url: i.url, role: i.role, kvAddress: i.zmqAddress });
      metrics.discoveryUpdates.inc({ source: 'zmq', change: 'added' });
      log.info('endpoint registered', { endpoint: i.url, role: i.role, zmq: i.zmqAddress });
    },
    onRemoved: (i, cause) => {
      registry.remove(i.url);
      metrics.discoveryUpdates.inc({ source: 'zmq', change: 'removed' });
      log.info('endpoint registration ended', { endpoint: i.url, role: i.role, cause });
    },
    onRejected: (r) => log.warn('registration rejected', { reason: r.reason, detail: r.detail }),
  });
  log.info('listening for vLLM self-registration', { address: registration.endpoint });
  return registration;
}
