// The set of endpoints the router knows, by role, with change notifications for policies and health checks.
import { alwaysClosed, type CircuitBreaker } from './circuit-breaker.ts';
import { createEndpoint, isAvailable, type Endpoint, type EndpointRole, type EndpointSpec } from './endpoint.ts';

export interface EndpointRegistry {
  all(role?: EndpointRole): readonly Endpoint[];
  available(role: EndpointRole): Endpoint[];
  get(id: string): Endpoint | undefined;
  add(spec: EndpointSpec): Endpoint | { readonly error: string };
  remove(id: string): Endpoint | undefined;
  /** Called after every add or remove, with the role whose membership changed. */
  onChange(listener: (role: EndpointRole) => void): () => void;
}

export interface RegistryOptions {
  readonly breaker?: (spec: EndpointSpec) => CircuitBreaker;
}

export function createRegistry(options: RegistryOptions = {}): EndpointRegistry {
  const byId = new Map<string, Endpoint>();
  const byRole = new Map<EndpointRole, readonly Endpoint[]>();
  const listeners = new Set<(role: EndpointRole) => void>();
  let everything: readonly Endpoint[] = [];

  const rebuild = (role: EndpointRole) => {
    everything = [...byId.values()];
    byRole.set(role, everything.filter((e) => e.role === role));
    for (const l of listeners) l(role);
  };

  return {
    all: (role) => (role === undefined ? everything : (byRole.get(role) ?? [])),
    available: (role) => (byRole.get(role) ?? []).filter(isAvailable),
    get: (id) => byId.get(id),
    add(spec) {
      const endpoint = createEndpoint(spec, options.breaker?.(spec) ?? alwaysClosed());
      if (byId.has(endpoint.id)) return { error: `Endpoint ${endpoint.id} is already registered` };
      byId.set(endpoint.id, endpoint);
      rebuild(endpoint.role);
      return endpoint;
    },
    remove(id) {
      const endpoint = byId.get(id);
      if (endpoint === undefined) return undefined;
      byId.delete(id);
      endpoint.draining = true;
      rebuild(endpoint.role);
      return endpoint;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
