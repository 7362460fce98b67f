// `--kv-events-config`: vLLM's KVEventsConfig JSON (vllm/config/kv_events.py), checked key by key, and where the
// sockets go: the PUB binds or connects by vLLM's rule, and data-parallel rank r adds r to both ports.

export interface KvEventsConfig {
  /** PUB address; binds when it has `*` or `::`, else connects (ZmqEventPublisher._socket_setup). */
  readonly endpoint: string;
  /** ROUTER address for replay requests; null: no replay socket. */
  readonly replayEndpoint: string | null;
  readonly topic: string;
  /** Batches kept for replay. */
  readonly bufferSteps: number;
  /** The PUB's high-water mark, in messages per subscriber (0: none). */
  readonly hwm: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** vLLM's defaults for every key. `max_queue_size` bounds vLLM's queue to its publisher thread; here events are
 * published on the engine's own thread at the end of each step, so it is accepted and has nothing to bound. */
const DEFAULTS = {
  enable_kv_cache_events: false,
  publisher: null as string | null,
  endpoint: 'tcp://*:5557',
  replay_endpoint: null as string | null,
  buffer_steps: 10_000,
  hwm: 100_000,
  max_queue_size: 100_000,
  topic: '',
};
type Key = keyof typeof DEFAULTS;

function check(key: Key, value: unknown): string | null {
  const shown = JSON.stringify(value);
  switch (key) {
    case 'enable_kv_cache_events':
      return typeof value === 'boolean' ? null : `${key} must be true or false, got ${shown}`;
    case 'publisher':
      return value === null || value === 'null' || value === 'zmq' ? null : `publisher must be "zmq" or "null", got ${shown}`;
    case 'endpoint':
    case 'topic':
      return typeof value === 'string' ? null : `${key} must be a string, got ${shown}`;
    case 'replay_endpoint':
      return value === null || typeof value === 'string' ? null : `replay_endpoint must be a string or null, got ${shown}`;
    case 'buffer_steps':
    case 'hwm':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? null : `${key} must be a non-negative integer, got ${shown}`;
    case 'max_queue_size':
      return Number.isSafeInteger(value) && (value as number) > 0 ? null : `${key} must be a positive integer, got ${shown}`;
  }
}

/** The JSON of `--kv-events-config`; null when events are off (`enable_kv_cache_events` false or publisher "null"). */
export function parseKvEventsConfig(text: string): Parsed<KvEventsConfig | null> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `is not JSON (${(err as Error).message})` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'must be a JSON object' };
  const c = { ...DEFAULTS };
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in DEFAULTS)) return { ok: false, error: `has an unknown key ${JSON.stringify(key)} (known: ${Object.keys(DEFAULTS).join(', ')})` };
    const problem = check(key as Key, value);
    if (problem !== null) return { ok: false, error: problem };
    (c as Record<string, unknown>)[key] = value;
  }
  // KVEventsConfig.__post_init__: no publisher means zmq when events are on; EventPublisherFactory.create gives a
  // null publisher unless events are on and the publisher is not "null".
  const publisher = c.publisher ?? (c.enable_kv_cache_events ? 'zmq' : 'null');
  if (!c.enable_kv_cache_events || publisher === 'null') return { ok: true, value: null };
  return {
    ok: true,
    value: { endpoint: c.endpoint, replayEndpoint: c.replay_endpoint, topic: c.topic, bufferSteps: c.buffer_steps, hwm: c.hwm },
  };
}

/**
 * ZmqEventPublisher.offset_endpoint_port: rank r publishes on port + r. One deviation: port 0 or `*` stays an
 * ephemeral port on every rank (vLLM would compute port r), so tests can let the OS choose.
 */
export function offsetEndpointPort(endpoint: string, rank: number): Parsed<string> {
  if (rank === 0) return { ok: true, value: endpoint };
  if (!endpoint.includes('tcp')) return { ok: false, error: `${JSON.stringify(endpoint)}: only tcp:// endpoints can be offset by a data-parallel rank` };
  const colon = endpoint.lastIndexOf(':');
  const port = endpoint.slice(colon + 1);
  if (port === '*' || port === '0') return { ok: true, value: endpoint };
  if (!/^\d+$/.test(port)) return { ok: false, error: `${JSON.stringify(endpoint)} has no numeric port to offset` };
  return { ok: true, value: `${endpoint.slice(0, colon + 1)}${Number(port) + rank}` };
}

export interface PublisherEndpoints {
  readonly pub: { readonly mode: 'bind' | 'connect'; readonly endpoint: string };
  readonly replay: string | null;
}

/** Where rank `rank`'s sockets go. The simulated engine speaks TCP only: ipc:// and inproc:// are refused. */
export function publisherEndpoints(config: KvEventsConfig, rank: number): Parsed<PublisherEndpoints> {
  for (const e of [config.endpoint, config.replayEndpoint]) {
    if (e !== null && (e.startsWith('ipc://') || e.startsWith('inproc://'))) return { ok: false, error: `${JSON.stringify(e)}: the simulated engine publishes over tcp:// only` };
  }
  const pub = offsetEndpointPort(config.endpoint, rank);
  if (!pub.ok) return pub;
  const replay = config.replayEndpoint === null ? null : offsetEndpointPort(config.replayEndpoint, rank);
  if (replay !== null && !replay.ok) return replay;
  // "bind stable, connect volatile": vLLM binds when the address is a wildcard.
  const mode = pub.value.includes('*') || pub.value.includes('::') ? 'bind' : 'connect';
  return { ok: true, value: { pub: { mode, endpoint: pub.value }, replay: replay === null ? null : replay.value } };
}
