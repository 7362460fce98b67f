// Start-up step: Kubernetes service discovery (--service-discovery), feeding the endpoint manager.
import type { Config } from '../config/schema.ts';
import type { EndpointManager } from '../core/endpoint-manager.ts';
import { resolveKubeCredentials } from '../discovery/kube-credentials.ts';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../discovery/kubernetes.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { ConfigProblem } from './config-problem.ts';
import type { PdMode } from './pd-mode.ts';

interface Needs {
  readonly endpoints: EndpointManager;
  readonly pdMode: PdMode;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Where the Kubernetes credentials come from (KUBECONFIG, KUBERNETES_SERVICE_HOST…). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export async function startDiscovery(config: Config, { endpoints, pdMode, metrics, log, env }: Needs): Promise<KubernetesDiscovery | undefined> {
  if (!config.service_discovery) return undefined;
  const creds = await resolveKubeCredentials({ env });
  if (!creds.ok) throw new ConfigProblem(`--service-discovery: ${creds.error}`);
  return startKubernetesDiscovery({
    credentials: creds.credentials,
    sink: { add: (spec) => endpoints.add(spec), remove: (id) => endpoints.remove(id) },
    pd: pdMode !== undefined,
    selector: config.selector,
    prefillSelector: config.prefill_selector,
    decodeSelector: config.decode_selector,
    port: config.service_discovery_port,
    scheme: config.service_discovery_scheme,
    namespace: config.service_discovery_namespace,
    log,
    onEvent: (e) => {
      if (e.type === 'added' || e.type === 'removed') metrics.discoveryUpdates.inc({ source: 'kubernetes', change: e.type });
    },
  });
}
