// Adds and removes endpoints at run time: probe before the first request, drain after the last one.
//
// Adding: the URL is checked first (nothing is fetched from a refused URL), then probed once, and only a good
// probe puts the endpoint in the registry. The alternative, registering it unhealthy and letting the health
// loop flip it, would leave a refused endpoint behind in the registry and make the caller poll to learn the
// outcome; probing first means the answer to the add is the truth, and policies only ever see endpoints that
// answered. The probe is a single try: an engine still loading its model is refused and the caller (a
// script, the discovery loop) retries, instead of an HTTP request held open for minutes as in the Rust router.
//
// Removing: the registry drops the endpoint at once (policies learn through registry.onChange and the
// endpoint is marked draining, so nothing new is sent to it); requests already there run to their end.
// `drained` resolves when its in-flight count reaches zero or the drain timeout passes. Nothing is cut at
// the timeout: it only bounds how long a caller waits.
import type { Logger } from '../log/logger.ts';
import { rankSpecs, type Endpoint, type EndpointRole, type EndpointSpec } from './endpoint.ts';
import { parseEndpointUrl } from './endpoint-url.ts';
import type { EndpointRegistry } from './registry.ts';

export interface AddSpec {
  /** Base URL as the caller wrote it; checked and normalised here. */
  readonly url: string;
  readonly role?: EndpointRole;
  readonly bootstrapPort?: number | null;
  readonly labels?: Readonly<Record<string, string>>;
  readonly tags?: readonly string[];
  /** `tcp://host:port` of its KV-event PUB socket (kv_aware), when the flags do not say. */
  readonly kvEventsEndpoint?: string;
  /** The models it serves; without them they are read from its /v1/models. */
  readonly models?: readonly string[];
}

export type AddResult =
  | { readonly ok: true; readonly endpoint: Endpoint; /** Every data-parallel rank added (just `endpoint` without ranks). */ readonly endpoints: readonly Endpoint[] }
  | { readonly ok: false; readonly status: 400 | 409 | 502; readonly message: string; /** The request field at fault, for a 400. */ readonly param?: 'url' | 'worker_type' | 'bootstrap_port' };

export interface DrainOutcome {
  /** True when every removed endpoint reached zero requests in flight before the timeout. */
  readonly drained: boolean;
  /** Requests still in flight when the wait ended. */
  readonly inFlight: number;
  readonly waitedMs: number;
}

export type RemoveResult =
  | { readonly ok: true; readonly endpoints: readonly Endpoint[]; readonly drained: Promise<DrainOutcome> }
  | { readonly ok: false; readonly status: 404; readonly message: string };

export interface EndpointManager {
  add(spec: AddSpec): Promise<AddResult>;
  /** Removes the endpoint with this id, or every data-parallel rank of this base URL. */
  remove(key: string): RemoveResult;
  /** Registered endpoints with this id, or the ranks of this base URL. */
  find(key: string): readonly Endpoint[];
  /** Endpoints removed from the registry that still have requests in flight. */
  draining(): readonly Endpoint[];
  [Symbol.dispose](): void;
}

export interface EndpointManagerDeps {
  readonly registry: EndpointRegistry;
  /** One health probe of a base URL (the health checker's). */
  readonly probe: (url: string) => Promise<boolean>;
  readonly log: Logger;
  readonly drainTimeoutMs: number;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  /** Roles this router serves (regular mode: regular; PD: prefill and decode). Default: all. */
  readonly roles?: readonly EndpointRole[];
  /** Data-parallel ranks per URL (--intra-node-data-parallel-size); each rank is its own endpoint. */
  readonly dpSize?: number;
  /** Runs once an endpoint is in the registry, before the add answers (what it serves is read then). */
  readonly onAdded?: (url: string) => Promise<void>;
  /** How often a drain looks at the in-flight counts. */
  readonly drainPollMs?: number;
}

export function createEndpointManager(deps: EndpointManagerDeps): EndpointManager {
  const { registry, log } = deps;
  const now = deps.now ?? (() => performance.now());
  const dpSize = deps.dpSize ?? 1;
  const roles = deps.roles ?? ['regular', 'prefill', 'decode'];
  const pollMs = deps.drainPollMs ?? 25;
  /** Base URLs whose probe is under way; a remove in the meantime cancels the add. */
  const pending = new Map<string, { cancelled: boolean }>();
  const leaving = new Set<Endpoint>();

  // Endpoints from flags were registered with their URL as written; compare in normalised form.
  const normalised = (url: string) => {
    const parsed = parseEndpointUrl(url);
    return parsed.ok ? parsed.url : url;
  };
  const find = (key: string): readonly Endpoint[] => {
    const exact = registry.get(key);
    if (exact !== undefined) return [exact];
    const base = normalised(key);
    return registry.all().filter((e) => e.id === base || normalised(e.url) === base);
  };

  /** Ends every wait in progress with what is known now (used on dispose). */
  const waits = new Set<() => void>();

  const waitForDrain = (endpoints: readonly Endpoint[]): Promise<DrainOutcome> => {
    const started = now();
    const inFlight = () => endpoints.reduce((n, e) => n + e.inFlight, 0);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        clearTimeout(timer);
        waits.delete(finish);
        const left = inFlight();
        const waitedMs = now() - started;
        const ids = endpoints.map((e) => e.id).join(' ');
        if (left === 0) log.info('endpoint drained', { endpoint: ids, waited_ms: Math.round(waitedMs) });
        else log.warn('endpoint drain wait ended; its requests keep running', { endpoint: ids, in_flight: left, waited_ms: Math.round(waitedMs) });
        resolve({ drained: left === 0, inFlight: left, waitedMs });
      };
      // The in-flight count is a plain field the routing layer updates, so it is looked at on a short timer.
      const check = () => {
        if (inFlight() > 0 && now() - started < deps.drainTimeoutMs) timer = setTimeout(check, pollMs);
        else finish();
      };
      waits.add(finish);
      check();
    });
  };

  return {
    async add(spec) {
      const parsed = parseEndpointUrl(spec.url);
      if (!parsed.ok) return { ok: false, status: 400, message: parsed.message, param: 'url' };
      const url = parsed.url;
      const role = spec.role ?? 'regular';
      if (!roles.includes(role)) return { ok: false, status: 400, message: `This router takes ${roles.join(' and ')} endpoints, not ${role}`, param: 'worker_type' };
      if (spec.bootstrapPort != null && role !== 'prefill') return { ok: false, status: 400, message: 'bootstrap_port applies to prefill endpoints only', param: 'bootstrap_port' };
      if (find(url).length > 0) return { ok: false, status: 409, message: `Endpoint ${url} is already registered` };
      if (pending.has(url)) return { ok: false, status: 409, message: `Endpoint ${url} is already being added` };

      const ticket = { cancelled: false };
      pending.set(url, ticket);
      let healthy: boolean;
      try {
        healthy = await deps.probe(url);
      } finally {
        pending.delete(url);
      }
      if (ticket.cancelled) return { ok: false, status: 409, message: `Endpoint ${url} was removed while it was being added` };
      if (!healthy) {
        log.warn('endpoint refused: health probe failed', { endpoint: url });
        return { ok: false, status: 502, message: `Endpoint ${url} failed its health probe; it was not added` };
      }
      const base: EndpointSpec = { url, role, bootstrapPort: spec.bootstrapPort ?? null, labels: spec.labels, tags: spec.tags, kvEventsEndpoint: spec.kvEventsEndpoint, models: spec.models };
      const specs = rankSpecs(base, dpSize);
      const added: Endpoint[] = [];
      for (const s of specs) {
        const result = registry.add(s);
        if ('error' in result) {
          // Registered by someone else (discovery, a config reload) during the probe: undo our part.
          for (const e of added) registry.remove(e.id);
          return { ok: false, status: 409, message: result.error };
        }
        added.push(result);
      }
      await deps.onAdded?.(url);
      log.info('endpoint added', { endpoint: url, role, ranks: added.length, models: [...(added[0]!.models ?? [])].join(' ') || undefined });
      return { ok: true, endpoint: added[0]!, endpoints: added };
    },

    remove(key) {
      const base = normalised(key);
      const adding = pending.get(base);
      const endpoints = find(key);
      if (endpoints.length === 0) {
        if (adding === undefined) return { ok: false, status: 404, message: `Endpoint ${key} is not registered` };
        adding.cancelled = true;
        return { ok: true, endpoints: [], drained: Promise.resolve({ drained: true, inFlight: 0, waitedMs: 0 }) };
      }
      for (const e of endpoints) {
        registry.remove(e.id);
        // The registry marks it draining too; set here as well so this holds whatever the registry does.
        e.draining = true;
        leaving.add(e);
      }
      log.info('endpoint removed; draining', { endpoint: endpoints.map((e) => e.id).join(' '), in_flight: endpoints.reduce((n, e) => n + e.inFlight, 0) });
      return { ok: true, endpoints, drained: waitForDrain(endpoints) };
    },

    find,
    draining() {
      for (const e of leaving) if (e.inFlight === 0) leaving.delete(e);
      return [...leaving];
    },

    [Symbol.dispose]() {
      for (const finish of [...waits]) finish();
    },
  };
}
