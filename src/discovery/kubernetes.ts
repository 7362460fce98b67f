// Kubernetes service discovery (`--service-discovery`): ready pods matching the selectors become endpoints.
import type { EndpointRole, EndpointSpec } from '../core/endpoint.ts';
import type { Logger } from '../log/logger.ts';
import type { BackoffOptions } from './backoff.ts';
import { createEndpointTable, type EndpointSink, type TableEvent } from './endpoint-table.ts';
import { createKubeClient } from './kube-client.ts';
import type { KubeCredentials } from './kube-auth.ts';
import type { PodRule } from './pod.ts';
import { runPodSource, type SourceEvent } from './pod-watch.ts';
import { formatSelector, parseSelector, type LabelSelector } from './selector.ts';

export type { EndpointSink, RemovalReason } from './endpoint-table.ts';
export type { BackoffOptions } from './backoff.ts';

export type DiscoveryEvent = TableEvent | SourceEvent;

export interface KubernetesDiscoveryOptions {
  readonly credentials: KubeCredentials;
  readonly sink: EndpointSink;
  /** PD mode: pods of `prefillSelector` become prefill endpoints and of `decodeSelector` decode ones. */
  readonly pd: boolean;
  /** `k=v` items (`--selector`), all of which a pod must carry; regular mode. */
  readonly selector?: readonly string[];
  readonly prefillSelector?: readonly string[];
  readonly decodeSelector?: readonly string[];
  /** Port of vLLM in each pod (`--service-discovery-port`); URLs are `<scheme>://<podIP>:<port>`. */
  readonly port: number;
  /** `grpc` for pods serving vLLM's gRPC engine front; default http. */
  readonly scheme?: 'http' | 'grpc';
  /** Namespace to watch (`--service-discovery-namespace`); undefined watches all namespaces. */
  readonly namespace?: string;
  readonly backoff?: BackoffOptions;
  /** Client timing (see KubeClientOptions): server-side watch timeout, silent-watch and list deadlines. */
  readonly watchTimeoutSeconds?: number;
  readonly idleTimeoutMs?: number;
  readonly listTimeoutMs?: number;
  readonly log?: Logger;
  /** Every change and every list/watch transition, in order; for metrics and for tests to await state. */
  readonly onEvent?: (event: DiscoveryEvent) => void;
}

export interface KubernetesDiscovery extends AsyncDisposable {
  /** True once every selector's first list has reached the sink; false if disposed before that. */
  readonly synced: Promise<boolean>;
  /** Endpoints discovery registered and still holds. */
  endpoints(): EndpointSpec[];
  /** Stops watching. Discovered endpoints stay registered: the router is going away, or discovery restarts. */
  dispose(): Promise<void>;
}

interface Source {
  readonly role: EndpointRole;
  readonly selector: LabelSelector;
  readonly yieldsTo?: LabelSelector;
}

/** One watch per non-empty selector; an empty one would select every pod in the cluster, so it selects none. */
function sourcesOf(options: KubernetesDiscoveryOptions): Source[] {
  if (!options.pd) return [{ role: 'regular', selector: parseSelector(options.selector ?? []) }];
  const prefill = parseSelector(options.prefillSelector ?? []);
  const decode = parseSelector(options.decodeSelector ?? []);
  // Prefill wins when a pod matches both, as in the Rust router: the decode watch leaves such pods alone.
  return [
    { role: 'prefill', selector: prefill },
    { role: 'decode', selector: decode, ...(prefill.length > 0 ? { yieldsTo: prefill } : {}) },
  ];
}

function logEvent(log: Logger, event: DiscoveryEvent): void {
  switch (event.type) {
    case 'added':
      log.info('discovered endpoint added', { endpoint: event.id, role: event.spec.role, pod: `${event.pod.namespace}/${event.pod.name}` });
      return;
    case 'removed':
      log.info('discovered endpoint removed', { endpoint: event.id, pod: `${event.pod.namespace}/${event.pod.name}`, reason: event.reason });
      return;
    case 'refused': {
      // Warn once; the retries that follow repeat the same story.
      const pod = `${event.pod.namespace}/${event.pod.name}`;
      const fields = { endpoint: event.id, pod, error: event.error, attempt: event.attempt, retry_ms: event.retryInMs };
      if (event.attempt === 1) log.warn('discovered endpoint not registered; will retry', fields);
      else log.debug('discovered endpoint still not registered', fields);
      return;
    }
    case 'listed':
      log.info('kubernetes pods listed', { source: event.source, pods: event.pods, resource_version: event.resourceVersion });
      return;
    case 'expired':
      log.info('kubernetes watch expired; listing again', { source: event.source, message: event.message });
      return;
    case 'retrying':
      log.warn('kubernetes discovery failed; retrying', { source: event.source, error: event.message, retry_ms: event.delayMs });
      return;
    default:
      log.debug(`kubernetes ${event.type}`, { source: event.source, resource_version: event.resourceVersion });
  }
}

export function startKubernetesDiscovery(options: KubernetesDiscoveryOptions): KubernetesDiscovery {
  const { log } = options;
  const abort = new AbortController();
  const emit = (event: DiscoveryEvent) => {
    if (log) logEvent(log, event);
    try {
      options.onEvent?.(event);
    } catch (e) {
      // A listener's bug (a metric with a bad label, say) must not stop discovery.
      log?.error('discovery event listener failed', { event: event.type, error: e instanceof Error ? e.message : String(e) });
    }
  };
  const { watchTimeoutSeconds, idleTimeoutMs, listTimeoutMs } = options;
  const client = createKubeClient({
    credentials: options.credentials,
    ...(watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    ...(listTimeoutMs === undefined ? {} : { listTimeoutMs }),
  });
  const table = createEndpointTable(options.sink, emit, options.backoff);
  const sources = sourcesOf(options).filter((s) => {
    if (s.selector.length > 0) return true;
    if (!options.pd) log?.warn('service discovery has an empty --selector; no pods will be selected');
    return false;
  });

  let resolveSynced!: (synced: boolean) => void;
  const synced = new Promise<boolean>((resolve) => (resolveSynced = resolve));
  const unsynced = new Set<string>(sources.map((s) => s.role));
  if (unsynced.size === 0) resolveSynced(true);

  const runs = sources.map((source, rank) => {
    const rule: PodRule = { role: source.role, selector: source.selector, port: options.port, ...(options.scheme ? { scheme: options.scheme } : {}), ...(source.yieldsTo ? { yieldsTo: source.yieldsTo } : {}) };
    log?.info('watching kubernetes pods', {
      role: source.role,
      selector: formatSelector(source.selector),
      namespace: options.namespace ?? '(all)',
      server: options.credentials.server,
      credentials: options.credentials.source,
    });
    return runPodSource({
      name: source.role,
      rule,
      rank,
      query: { namespace: options.namespace, labelSelector: formatSelector(source.selector) },
      client,
      table,
      backoff: options.backoff ?? {},
      signal: abort.signal,
      onEvent: (event) => {
        emit(event);
        if (event.type === 'listed' && unsynced.delete(event.source) && unsynced.size === 0) resolveSynced(true);
      },
    }).catch((e: unknown) => log?.error('kubernetes discovery stopped', { role: source.role, error: e instanceof Error ? e.message : String(e) }));
  });

  let disposed: Promise<void> | undefined;
  const dispose = () => {
    disposed ??= (async () => {
      abort.abort();
      table.close();
      await Promise.all(runs);
      resolveSynced(false);
    })();
    return disposed;
  };
  return { synced, endpoints: () => table.owned(), dispose, [Symbol.asyncDispose]: dispose };
}
