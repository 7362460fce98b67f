// Test helper: Kubernetes discovery against the fake API server, feeding a real endpoint registry, with its events
// recorded so tests await what happened instead of sleeping.
import { createRegistry, type EndpointRegistry } from '../../src/core/registry.ts';
import type { EndpointRole } from '../../src/core/endpoint.ts';
import type { KubeCredentials } from '../../src/discovery/kube-auth.ts';
import {
  startKubernetesDiscovery,
  type DiscoveryEvent,
  type KubernetesDiscovery,
  type KubernetesDiscoveryOptions,
} from '../../src/discovery/kubernetes.ts';
import type { FakeKubernetes } from '../fixtures/fake-k8s.ts';

export type EventOf<T extends DiscoveryEvent['type']> = Extract<DiscoveryEvent, { type: T }>;

export interface Watched extends AsyncDisposable {
  readonly discovery: KubernetesDiscovery;
  readonly registry: EndpointRegistry;
  readonly events: DiscoveryEvent[];
  /** Position in `events`, to wait for something that happens after it. */
  mark(): number;
  /** The first event of `type` at or after `from` (default 0) that matches; waits for it if it has not happened. */
  next<T extends DiscoveryEvent['type']>(type: T, match?: (event: EventOf<T>) => boolean, from?: number): Promise<EventOf<T>>;
  /** Registered endpoint ids (all roles, or one), sorted. */
  ids(role?: EndpointRole): string[];
}

/** Small back-off so retries happen quickly; random fixed at the middle, so delays are exact. */
export const FAST_BACKOFF = { initialMs: 5, maxMs: 40, random: () => 0.5 };

export function credentialsFor(k8s: FakeKubernetes, token?: string): KubeCredentials {
  return {
    server: k8s.url,
    auth: token === undefined ? { kind: 'none' } : { kind: 'token', token },
    tls: { rejectUnauthorized: true },
    namespace: undefined,
    source: 'test',
  };
}

export type WatchOptions = Partial<KubernetesDiscoveryOptions> & { readonly registry?: EndpointRegistry };

export function watchFake(k8s: FakeKubernetes, options: WatchOptions = {}): Watched {
  const registry = options.registry ?? createRegistry();
  const events: DiscoveryEvent[] = [];
  const waiters = new Set<{ from: number; test: (e: DiscoveryEvent) => boolean; resolve: (e: DiscoveryEvent) => void }>();
  const discovery = startKubernetesDiscovery({
    credentials: credentialsFor(k8s),
    sink: { add: (spec) => registry.add(spec), remove: (id) => registry.remove(id) },
    pd: false,
    selector: ['app=vllm'],
    port: 8000,
    backoff: FAST_BACKOFF,
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
      for (const w of [...waiters]) {
        if (events.length - 1 < w.from || !w.test(event)) continue;
        waiters.delete(w);
        w.resolve(event);
      }
    },
  });
  return {
    discovery,
    registry,
    events,
    mark: () => events.length,
    next<T extends DiscoveryEvent['type']>(type: T, match?: (event: EventOf<T>) => boolean, from = 0): Promise<EventOf<T>> {
      const test = (e: DiscoveryEvent): e is EventOf<T> => e.type === type && (match === undefined || match(e as EventOf<T>));
      const seen = events.slice(from).find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ from, test, resolve: (e) => resolve(e as EventOf<T>) }));
    },
    ids: (role) =>
      registry
        .all(role)
        .map((e) => e.id)
        .sort(),
    [Symbol.asyncDispose]: () => discovery.dispose(),
  };
}
