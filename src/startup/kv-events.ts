// Start-up step: the engines' KV-event feeds, when a policy routes on them (kv_aware); each endpoint's event
// sockets from --kv-events-endpoint / --kv-events-port (and their replay twins), rank r at port + r; a grpc://
// VllmEngine endpoint's from its SubscribeKvEvents stream.
import { routingBlockSize } from './block-size.ts';
import type { Config } from '../config/schema.ts';
import type { Endpoint } from '../core/endpoint.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { chainRoot } from '../pool/block-hash.ts';
import type { GrpcEngines } from '../grpc/engines.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import { grpcCodeName } from '../routing/grpc/grpc-errors.ts';
import type { GrpcKvRecorder, GrpcKvSubscribe } from '../signals/kv-events/grpc-kv-feed.ts';
import { startKvEvents, type KvAddress, type KvEvents } from '../signals/kv-events/kv-events.ts';

interface Needs {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The gRPC engine clients: a grpc:// endpoint's events come over its SubscribeKvEvents stream. */
  readonly engines?: GrpcEngines;
}

export function startKvEventFeeds(config: Config, { registry, metrics, log, engines }: Needs): KvEvents | undefined {
  if (![config.policy, config.prefill_policy, config.decode_policy].includes('kv_aware')) return undefined;
  const zmqAddressOf = kvAddresses(config);
  // vllm.Inference engines publish over ZMQ only (their GetKvEventSources names the socket): the flags then apply.
  const viaGrpc = engines !== undefined && config.grpc_protocol !== 'vllm-inference';
  const addressOf = (e: Endpoint): KvAddress | undefined => (isGrpcUrl(e.url) && viaGrpc ? { grpc: e.url } : zmqAddressOf(e));
  return startKvEvents({
    registry,
    addressOf,
    topic: config.kv_events_topic_filter ?? '',
    blockSize: routingBlockSize(config),
    maxEntries: config.kv_index_max_entries,
    rootFor: chainRoot,
    recorderFor: (worker) => feedRecorder(metrics, worker),
    ...(engines !== undefined ? { subscribeGrpc: (url: string) => (handlers: Parameters<GrpcKvSubscribe>[0]) => engines.of(url).kvEvents(handlers) } : {}),
    log,
  });
}

/** `URL=tcp://HOST:PORT` items by base URL. */
function mappings(items: readonly string[]): Map<string, { host: string; port: number }> {
  const out = new Map<string, { host: string; port: number }>();
  for (const item of items) {
    const at = item.indexOf('=tcp://');
    const target = item.slice(at + 7);
    const colon = target.lastIndexOf(':');
    out.set(item.slice(0, at).replace(/\/+$/, ''), { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) });
  }
  return out;
}

const parseTcp = (endpoint: string | undefined) => {
  const m = endpoint === undefined ? null : /^tcp:\/\/(.+):(\d+)$/.exec(endpoint);
  return m === null ? undefined : { host: m[1]!, port: Number(m[2]) };
};

/** The event sockets of each endpoint: an explicit mapping, the admin API's field, or its host and the port flag. */
export function kvAddresses(config: Pick<Config, 'kv_events_endpoint' | 'kv_events_port' | 'kv_events_replay_endpoint' | 'kv_events_replay_port'>): (e: Endpoint) => KvAddress | undefined {
  const pub = mappings(config.kv_events_endpoint);
  const replay = mappings(config.kv_events_replay_endpoint);
  const at = (base: { host: string; port: number } | undefined, rank: number) => (base === undefined ? undefined : `tcp://${base.host}:${base.port + rank}`);
  return (e) => {
    const host = new URL(e.url).hostname;
    const rank = e.dpRank ?? 0;
    const byPort = (port: number | undefined) => (port === undefined ? undefined : { host, port });
    const pubAt = at(pub.get(e.url) ?? parseTcp(e.kvEventsEndpoint) ?? byPort(config.kv_events_port), rank);
    if (pubAt === undefined) return undefined;
    const replayAt = at(replay.get(e.url) ?? byPort(config.kv_events_replay_port), rank);
    return replayAt === undefined ? { pub: pubAt } : { pub: pubAt, replay: replayAt };
  };
}

function feedRecorder(m: Metrics, worker: string): GrpcKvRecorder {
  return {
    streamEnded: (code) => m.kvEventStreamEnds.inc({ worker, code: grpcCodeName(code) }),
    batch: (events) => {
      m.kvEventBatches.inc({ worker });
      m.kvEvents.inc({ worker }, events);
    },
    skipped: (reason, n) => m.kvEventsSkipped.inc({ worker, reason }, n),
    gap: () => m.kvEventGaps.inc({ worker }),
    replay: (outcome) => m.kvEventReplays.inc({ worker, outcome }),
    purge: (cause) => m.kvEventPurges.inc({ worker, cause }),
    malformed: () => m.kvEventMalformed.inc({ worker }),
  };
}
