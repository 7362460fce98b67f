// The fleet's KV-event feeds: one feed and one index per endpoint that has an event socket (ZMQ) or stream (gRPC), following the
// registry as endpoints come and go, and the one read interface policies use.
import type { Logger } from '../../log/logger.ts';
import type { ZmtpLimits } from '../../zmq/limits.ts';
import { startKvFeed, type KvFeed } from './kv-feed.ts';
import { startGrpcKvFeed, type GrpcKvRecorder, type GrpcKvSubscribe } from './grpc-kv-feed.ts';
import { createHolders, type HolderEntry } from './holders.ts';
import { createKvIndex, type BlockState, type KvIndex, type KvIndexStats } from './kv-index.ts';

/** What one endpoint's events say of a block (its index). */
export interface BlockLookup {
  stateOf(hash: number): BlockState;
}

/** What a policy reads. */
export interface KvEventsReader {
  /** Endpoint `id`'s blocks, or undefined when it has no feed (every block silent: the guess alone decides).
   * A policy resolves it once per candidate, then looks blocks up. */
  holdings(id: string): BlockLookup | undefined;
  /** The endpoints whose events say they hold this block (GPU or CPU: `holdings(id).stateOf(hash)` is 'gpu' or
   * 'cpu' exactly for them; ask with `holds`). One map for the whole fleet: a policy looks a block up once and asks
   * it about every candidate. */
  holdersOf(hash: number): HolderEntry;
  /** Whether every endpoint with a feed holds this block (a system prompt the whole fleet has cached): no
   * candidate with a feed needs asking about it. */
  heldByAll(hash: number): boolean;
  /** Calls `listener(id)` whenever an endpoint's index is emptied: what the router guessed about it goes too. */
  onPurge(listener: (id: string) => void): () => void;
}

/** What the tokenizer side needs: whether a request's model is a LoRA adapter some engine stores blocks of. */
export interface KvAdapters {
  isAdapter(model: string): boolean;
}

export interface KvEndpointStats extends KvIndexStats {
  readonly connected: boolean;
}

export interface KvEvents extends KvEventsReader, KvAdapters, AsyncDisposable {
  /** Per endpoint id with a feed. */
  stats(): ReadonlyMap<string, KvEndpointStats>;
}

/**
 * Where an endpoint publishes: its PUB socket and, when it has one, its replay socket (`tcp://host:port`); or, for a
 * gRPC VllmEngine endpoint, its own SubscribeKvEvents stream (`grpc`: the endpoint's URL).
 */
export type KvAddress = { readonly pub: string; readonly replay?: string } | { readonly grpc: string };

/** What the feeds need of an endpoint; the registry's `Endpoint` fits. */
export interface KvEventSource {
  readonly id: string;
  /** Its data-parallel rank, when it stands for one rank of an engine. */
  readonly dpRank?: number | undefined;
}

export interface KvEventsOptions<E extends KvEventSource> {
  readonly registry: { all(): readonly E[]; onChange(listener: () => void): () => void };
  /** The event sockets of an endpoint, or undefined when it has none (no events: the guess alone decides). */
  readonly addressOf: (endpoint: E) => KvAddress | undefined;
  /** --kv-events-topic-filter; '' receives every topic. */
  readonly topic: string;
  /** --kv-block-size. */
  readonly blockSize: number;
  /** --kv-index-max-entries, per endpoint. */
  readonly maxEntries: number;
  readonly rootFor: (loraName: string | undefined, cacheSalt: string | undefined) => number;
  readonly recorderFor: (endpointId: string) => GrpcKvRecorder;
  /** Opens a SubscribeKvEvents stream to a gRPC endpoint (for `{ grpc }` addresses). */
  readonly subscribeGrpc?: (url: string) => GrpcKvSubscribe;
  readonly log: Logger;
  readonly limits?: Partial<ZmtpLimits>;
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
}

interface Tracked {
  readonly index: KvIndex;
  readonly feed: KvFeed;
  /** The address the feed was started for: a changed one starts a new feed. */
  readonly key: string;
  /** Cleared once the endpoint stops being tracked and its holdings are released: whatever its closing feed still
   * applies changes no holder (another index may hold the same blocks under the same id by then). */
  readonly live: { on: boolean };
}

/** Whether `entry` names all `fleet` endpoints (the holders only ever name tracked endpoints). */
export function heldByAll(entry: HolderEntry, fleet: number): boolean {
  return fleet > 0 && (typeof entry === 'object' ? entry.size === fleet : entry !== undefined && fleet === 1);
}

export function startKvEvents<E extends KvEventSource>(options: KvEventsOptions<E>): KvEvents {
  const tracked = new Map<string, Tracked>();
  const holders = createHolders();
  const purgeListeners = new Set<(id: string) => void>();
  const closing = new Set<Promise<void>>();

  const stop = (id: string) => {
    const t = tracked.get(id);
    if (t === undefined) return;
    tracked.delete(id);
    t.index.purge(); // out of the fleet's holders too
    t.live.on = false;
    const closed: Promise<void> = Promise.resolve(t.feed[Symbol.asyncDispose]()).finally(() => closing.delete(closed));
    closing.add(closed);
  };

  const sync = () => {
    const present = new Map(options.registry.all().map((e) => [e.id, e]));
    for (const id of [...tracked.keys()]) if (!present.has(id)) stop(id);
    for (const [id, endpoint] of present) {
      const address = options.addressOf(endpoint);
      const key = address === undefined ? '' : 'grpc' in address ? address.grpc : `${address.pub} ${address.replay ?? ''}`;
      const known = tracked.get(id);
      if (known !== undefined && known.key === key) continue;
      stop(id);
      if (address === undefined || ('grpc' in address && options.subscribeGrpc === undefined)) continue;
      const live = { on: true };
      const listener = holders.listenerFor(id);
      const onHolding = (hash: number, held: boolean) => live.on && listener(hash, held);
      const index = createKvIndex({ blockSize: options.blockSize, maxEntries: options.maxEntries, rootFor: options.rootFor, onHolding });
      const onPurged = () => {
        for (const listener of purgeListeners) listener(id);
      };
      const feed = 'grpc' in address
        ? startGrpcKvFeed({
            endpoint: id,
            subscribe: (options.subscribeGrpc as (url: string) => GrpcKvSubscribe)(address.grpc),
            index,
            recorder: options.recorderFor(id),
            log: options.log,
            onPurged,
            dpRank: endpoint.dpRank,
            reconnect: options.reconnect,
          })
        : startKvFeed({
            endpoint: id,
            pub: address.pub,
            replay: address.replay,
            topic: options.topic,
            index,
            recorder: options.recorderFor(id),
            log: options.log,
            onPurged,
            limits: options.limits,
            reconnect: options.reconnect,
          });
      tracked.set(id, { index, feed, key, live });
    }
  };

  sync();
  const unsubscribe = options.registry.onChange(sync);

  return {
    holdings: (id) => tracked.get(id)?.index,
    holdersOf: holders.holdersOf,
    heldByAll: (hash) => heldByAll(holders.holdersOf(hash), tracked.size),
    isAdapter(model) {
      for (const t of tracked.values()) if (t.index.hasAdapter(model)) return true;
      return false;
    },
    onPurge(listener) {
      purgeListeners.add(listener);
      return () => purgeListeners.delete(listener);
    },
    stats() {
      return new Map([...tracked].map(([id, t]) => [id, { ...t.index.stats(), connected: t.feed.connected }]));
    },
    async [Symbol.asyncDispose]() {
      unsubscribe();
      for (const id of [...tracked.keys()]) stop(id);
      await Promise.all(closing);
    },
  };
}
