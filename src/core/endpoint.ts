// One backend vLLM server as the router sees it: identity, role and live state.
import type { CircuitBreaker } from './circuit-breaker.ts';

export type EndpointRole = 'regular' | 'prefill' | 'decode';

export interface Endpoint {
  /** Unique key: the base URL, or `${url}@${rank}` when data-parallel ranks are expanded. */
  readonly id: string;
  /** Base URL requests are sent to, without a trailing slash. */
  readonly url: string;
  readonly role: EndpointRole;
  /** Data-parallel rank sent as `X-data-parallel-rank`, when ranks are expanded. */
  readonly dpRank: number | undefined;
  /** Mooncake / SGLang bootstrap port of a prefill endpoint. */
  readonly bootstrapPort: number | null;
  /** `host:port` the KV connectors address this endpoint by (the ZMQ address when discovered). */
  readonly kvAddress: string;
  readonly tags: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** What the endpoint is called besides its URL: a discovered pod's name, or the admin API's `labels.name`. */
  readonly name: string | undefined;
  /** `tcp://host:port` of the engine's KV-event PUB socket when given for this endpoint (admin API); else the flags decide. */
  readonly kvEventsEndpoint: string | undefined;
  readonly breaker: CircuitBreaker;
  /**
   * The models it serves (LoRA adapters included, by their served names): fixed when the configuration names
   * them (--static-models, the admin API's `models`), else what its /v1/models listed when last read, and
   * undefined until that first read, while it may take any model (model-catalog.ts).
   */
  models: ReadonlySet<string> | undefined;
  /** Whether `models` came from the configuration (never replaced by a read of /v1/models). */
  readonly modelsConfigured: boolean;
  /** Its /v1/models cards as it listed them (`owned_by`, LoRA `parent`…), for the router's own listing. */
  modelCards: readonly ModelCard[];
  /** Health as decided by the health checker; endpoints start healthy, as in the Rust router. */
  healthy: boolean;
  /** Requests this router has in flight to the endpoint, for every policy. */
  inFlight: number;
  /** Set when the endpoint is being removed: it takes no new requests. */
  draining: boolean;
  /** Put to sleep through the router (production-stack's POST /sleep?id=): it takes no requests until /wake_up. */
  sleeping: boolean;
}

export interface EndpointSpec {
  url: string;
  role?: EndpointRole;
  bootstrapPort?: number | null;
  dpRank?: number;
  kvAddress?: string;
  tags?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  name?: string;
  kvEventsEndpoint?: string;
  /** The models it serves, when the configuration says (else they are read from its /v1/models). */
  models?: readonly string[];
}

/** One entry of an OpenAI `/v1/models` listing: `id` and whatever else the engine said about it. */
export interface ModelCard {
  readonly id: string;
  readonly [field: string]: unknown;
}

/** An endpoint may take a new request: healthy, not draining, not asleep, and its breaker lets it through. */
export function isAvailable(endpoint: Endpoint): boolean {
  return endpoint.healthy && !endpoint.draining && !endpoint.sleeping && endpoint.breaker.allows();
}

/** `host:port` of a base URL, with the scheme's default port when none is written. */
export function hostPort(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return `${parsed.hostname}:${port}`;
}

/** A base URL as the registry keys it: without trailing slashes. */
export const baseUrl = (url: string): string => url.replace(/\/+$/, '');

/** The specs of one URL with `dpSize` data-parallel ranks (`URL@0`…), or the spec itself without ranks. */
export function rankSpecs<S extends EndpointSpec>(spec: S, dpSize: number): S[] {
  return dpSize > 1 ? Array.from({ length: dpSize }, (_, dpRank) => ({ ...spec, dpRank })) : [spec];
}

/** The registry key of an endpoint: its base URL, with `@rank` when data-parallel ranks are expanded. */
export function endpointId(spec: Pick<EndpointSpec, 'url' | 'dpRank'>): string {
  const url = baseUrl(spec.url);
  return spec.dpRank === undefined ? url : `${url}@${spec.dpRank}`;
}

export function createEndpoint(spec: EndpointSpec, breaker: CircuitBreaker): Endpoint {
  const url = baseUrl(spec.url);
  return {
    id: endpointId(spec),
    url,
    role: spec.role ?? 'regular',
    dpRank: spec.dpRank,
    bootstrapPort: spec.bootstrapPort ?? null,
    kvAddress: spec.kvAddress ?? hostPort(url),
    tags: spec.tags ?? [],
    labels: spec.labels ?? {},
    name: spec.name ?? spec.labels?.['name'],
    kvEventsEndpoint: spec.kvEventsEndpoint,
    breaker,
    models: spec.models === undefined || spec.models.length === 0 ? undefined : new Set(spec.models),
    modelsConfigured: spec.models !== undefined && spec.models.length > 0,
    modelCards: [],
    healthy: true,
    inFlight: 0,
    draining: false,
    sleeping: false,
  };
}
