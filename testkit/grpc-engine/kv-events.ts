// The stand-in's prefix cache and its SubscribeKvEvents stream, as `vllm serve --grpc` with --kv-events-config
// sends them: the engine caches the full blocks of each prompt (chained block hashes, vllm/v1/core/block_pool.py
// cache_full_blocks → BlockStored with the parent's hash and the blocks' tokens), evicts the least recently used
// block past its capacity (BlockRemoved), and empties on reset (AllBlocksCleared). smg-grpc-servicer forwards each
// ZMQ batch as one KvEventBatch under the publisher's sequence number, block hashes reduced to int64
// (grpc_servicer/smg_grpc_servicer/kv_events.py to_int64), no medium, no replay: a subscriber hears what is published
// from then on, and a batch the servicer's SUB socket missed is a gap in the sequence.
import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';

type Msg = Record<string, any>;

export interface StandInKvCache {
  /** Caches the full blocks of a prompt (what a Generate call does before generating) and publishes the batch. */
  prefill(ids: readonly number[]): void;
  /** vLLM's reset_prefix_cache: forgets every block and publishes AllBlocksCleared. */
  clear(): void;
  /** The next batch is numbered but never reaches the subscribers (a message the servicer's SUB dropped). */
  dropNextBatch(): void;
  /** Ends every open SubscribeKvEvents stream with UNAVAILABLE (the servicer's SUB failed, or the engine restarted it). */
  breakStreams(): void;
  /** Streams opened so far, and open now. */
  readonly subscriptions: number;
  readonly open: number;
  /** Blocks held now. */
  readonly blocks: number;
  /** The SubscribeKvEvents handler. */
  serve(call: ServerWritableStream<Msg, Msg>): void;
}

export interface StandInKvOptions {
  /** Off: SubscribeKvEvents answers UNIMPLEMENTED, as the servicer does without --kv-events-config. */
  readonly enabled: boolean;
  readonly blockSize: number;
  /** Blocks the cache holds; past it the least recently used go (BlockRemoved). */
  readonly capacityBlocks: number;
}

const UNAVAILABLE = 14;
const UNIMPLEMENTED = 12;
const MASK_64 = (1n << 64n) - 1n;
const SIGN_64 = 1n << 63n;

/** A chained block hash as the servicer sends it: the engine's 64-bit hash as a signed int64. */
const toInt64 = (h: bigint) => {
  const m = h & MASK_64;
  return m >= SIGN_64 ? m - (1n << 64n) : m;
};

export function createStandInKvCache(options: StandInKvOptions): StandInKvCache {
  const { blockSize } = options;
  /** Held blocks by hash, least recently used first (Map order). */
  const held = new Map<bigint, true>();
  const streams = new Set<ServerWritableStream<Msg, Msg>>();
  let seq = 0n;
  let drop = false;
  let subscriptions = 0;

  const publish = (events: Msg[]) => {
    if (events.length === 0) return;
    const batch = { sequence_number: String(seq++), timestamp: Date.now() / 1000, events };
    if (drop) {
      drop = false;
      return;
    }
    for (const call of streams) call.write(batch);
  };

  return {
    prefill(ids) {
      if (!options.enabled) return;
      const events: Msg[] = [];
      const stored: Msg[] = [];
      let parent: bigint | undefined;
      let storedParent: bigint | undefined;
      for (let b = 0; (b + 1) * blockSize <= ids.length; b++) {
        const tokens = ids.slice(b * blockSize, (b + 1) * blockSize);
        // vLLM chains each block's hash to its parent's (hash_block_tokens); any 64-bit chained hash stands in.
        const hash = toInt64(BigInt(Bun.hash.wyhash(Uint32Array.from(tokens), parent ?? 0n)));
        if (held.has(hash)) {
          held.delete(hash);
          held.set(hash, true);
        } else {
          if (stored.length === 0) storedParent = parent;
          held.set(hash, true);
          stored.push({ block_hash: String(hash), token_ids: tokens, block_size: blockSize });
        }
        parent = hash;
      }
      if (stored.length > 0) events.push({ event_id: '0', stored: { blocks: stored, ...(storedParent !== undefined ? { parent_block_hash: String(storedParent) } : {}) } });
      const removed: string[] = [];
      while (held.size > options.capacityBlocks) {
        const oldest = held.keys().next().value as bigint;
        held.delete(oldest);
        removed.push(String(oldest));
      }
      if (removed.length > 0) events.push({ event_id: '0', removed: { block_hashes: removed } });
      events.forEach((e, i) => (e.event_id = String(i + 1)));
      publish(events);
    },
    clear() {
      held.clear();
      if (options.enabled) publish([{ event_id: '1', cleared: {} }]);
    },
    dropNextBatch() {
      drop = true;
    },
    breakStreams() {
      for (const call of streams) call.emit('error', Object.assign(new Error('KV event subscriber lost its ZMQ socket'), { code: UNAVAILABLE, details: 'KV event subscriber lost its ZMQ socket' }));
      streams.clear();
    },
    get subscriptions() {
      return subscriptions;
    },
    get open() {
      return streams.size;
    },
    get blocks() {
      return held.size;
    },
    serve(call) {
      if (!options.enabled) {
        call.emit('error', Object.assign(new Error('KV cache events not enabled'), { code: UNIMPLEMENTED, details: 'KV cache events not enabled. Start vLLM with --kv-events-config' }));
        return;
      }
      subscriptions++;
      // The servicer sends the headers before its first batch, so the client's call starts at once.
      call.sendMetadata(new Metadata());
      streams.add(call);
      call.on('cancelled', () => streams.delete(call));
    },
  };
}
