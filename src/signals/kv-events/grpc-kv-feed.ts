// One gRPC engine's KV-event feed: VllmEngine's SubscribeKvEvents stream, its batches translated into the events the
// ZMQ path decodes and applied to that engine's index, resubscribed with backoff whenever the stream ends.
//
// What the servicer sends (lightseekorg/smg grpc_servicer/smg_grpc_servicer/kv_events.py, vllm/servicer.py): vLLM's
// own ZMQ batches, one KvEventBatch each, numbered with the publisher's sequence; block hashes reduced to int64; the
// LoRA adapter as vLLM's number (lora_id), not its name; no medium; data-parallel rank 0 only. It has no replay
// (start_sequence_number is not read), so:
// - on each (re)subscription the index is purged: what happened while unsubscribed is unknown;
// - a gap in the sequence purges the index (the Rust router's kv_aware does the same without replay): the blocks
//   announced in the missing batches are unknown, and a BlockRemoved among them would leave a block held forever;
// - a sequence that goes backwards is a publisher restart: purge.
import type { Logger } from '../../log/logger.ts';
import type { BlockKey, KvEvent } from './decode.ts';
import type { KvFeed, KvFeedRecorder } from './kv-feed.ts';
import type { KvIndex } from './kv-index.ts';

/** A KvEventBatch as decoded (64-bit integers as decimal strings); the shape of src/grpc/kv-event-batch.ts. */
export interface GrpcKvBatch {
  readonly sequence_number?: string;
  readonly events?: readonly {
    readonly data?: string;
    readonly stored?: {
      readonly blocks?: readonly { readonly block_hash?: string; readonly token_ids?: readonly number[]; readonly block_size?: number; readonly lora_id?: string; readonly cache_level?: number }[];
      readonly parent_block_hash?: string;
    };
    readonly removed?: { readonly block_hashes?: readonly string[]; readonly cache_level?: number };
  }[];
  readonly dp_rank?: number;
}

/** Opens one SubscribeKvEvents stream; `onEnd` once, with the gRPC status code (0: the engine ended it). */
export type GrpcKvSubscribe = (handlers: {
  readonly onBatch: (batch: GrpcKvBatch) => void;
  readonly onEnd: (code: number, message: string) => void;
}) => { cancel(): void };

export interface GrpcKvRecorder extends KvFeedRecorder {
  /** A stream ended or failed (it is resubscribed). */
  streamEnded(code: number): void;
}

export interface GrpcKvFeedOptions {
  readonly endpoint: string;
  readonly subscribe: GrpcKvSubscribe;
  readonly index: KvIndex;
  readonly recorder: GrpcKvRecorder;
  readonly log: Logger;
  /** The index was emptied: what the router guessed about this engine goes too. */
  readonly onPurged?: () => void;
  /** The data-parallel rank the endpoint stands for (the servicer streams rank 0's events). */
  readonly dpRank?: number;
  /** Backoff between subscriptions: doubles from `initialMs` after each stream that brought nothing, up to `maxMs`. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
}

/** gRPC status UNIMPLEMENTED: the engine runs without --kv-events-config (or is not a VllmEngine). */
const UNIMPLEMENTED = 12;

export function startGrpcKvFeed(options: GrpcKvFeedOptions): KvFeed {
  const { index, recorder, log, endpoint } = options;
  const initialMs = options.reconnect?.initialMs ?? 500;
  const maxMs = options.reconnect?.maxMs ?? 30_000;
  const rank = options.dpRank ?? 0;
  let delayMs = initialMs;
  let lastSeq: bigint | undefined;
  let connected = false;
  let closed = false;
  let stream: { cancel(): void } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let warnedUnimplemented = false;
  let warnedBlockSize = false;

  const purge = (cause: 'connected' | 'restart' | 'cleared' | 'gap') => {
    index.purge();
    recorder.purge(cause);
    options.onPurged?.();
  };

  const apply = (batch: GrpcKvBatch) => {
    const events = batch.events ?? [];
    recorder.batch(events.length);
    let unknown = 0;
    let malformed = 0;
    let lora = 0;
    for (const message of events) {
      const event = translate(message);
      if (event === 'unknown') unknown++;
      else if (event === 'malformed') malformed++;
      else if (event === 'lora') lora++;
      else if (event.kind === 'cleared') purge('cleared');
      else if (index.apply(event) === 'skipped') {
        recorder.skipped('block_size', 1);
        if (!warnedBlockSize && event.kind === 'stored') {
          warnedBlockSize = true;
          log.warn('KV events of another block size are skipped: set --kv-block-size to the engine\'s --block-size', { endpoint, engine_block_size: event.blockSize });
        }
      }
    }
    if (unknown > 0) recorder.skipped('unknown_type', unknown);
    if (malformed > 0) recorder.skipped('malformed_event', malformed);
    if (lora > 0) recorder.skipped('lora_id', lora);
  };

  const onBatch = (batch: GrpcKvBatch) => {
    connected = true;
    delayMs = initialMs;
    if (batch.dp_rank !== undefined && batch.dp_rank !== rank) return recorder.skipped('dp_rank', batch.events?.length ?? 0);
    let seq: bigint;
    try {
      seq = BigInt(batch.sequence_number ?? '0');
    } catch {
      return recorder.malformed(`sequence_number ${String(batch.sequence_number)}`);
    }
    if (lastSeq !== undefined && seq <= lastSeq) {
      if (seq === lastSeq) return;
      log.info('KV event publisher restarted: index purged', { endpoint, seq: String(seq), last_seq: String(lastSeq) });
      purge('restart');
    } else if (lastSeq !== undefined && seq > lastSeq + 1n) {
      recorder.gap();
      log.info('KV event stream skipped batches, which gRPC cannot replay: index purged', { endpoint, seq: String(seq), last_seq: String(lastSeq) });
      purge('gap');
    }
    lastSeq = seq;
    apply(batch);
  };

  const subscribe = () => {
    timer = undefined;
    if (closed) return;
    // What happened while unsubscribed is unknown, and the engine may be a new one.
    lastSeq = undefined;
    if (index.stats().blocks > 0) purge('connected');
    stream = options.subscribe({
      onBatch,
      onEnd: (code, message) => {
        stream = undefined;
        connected = false;
        if (closed) return;
        recorder.streamEnded(code);
        if (code === UNIMPLEMENTED) {
          // Asked again at the slowest pace: the engine may be restarted with KV events on.
          delayMs = maxMs;
          if (!warnedUnimplemented) log.warn('gRPC engine serves no KV events (start vLLM with --kv-events-config); kv_aware routes it on its own guess', { endpoint, error: message });
          warnedUnimplemented = true;
        } else {
          log.info('KV event stream ended; resubscribing', { endpoint, code, error: message, in_ms: delayMs });
        }
        timer = setTimeout(subscribe, delayMs);
        delayMs = Math.min(maxMs, delayMs * 2);
      },
    });
  };

  subscribe();

  return {
    get connected() {
      return connected;
    },
    get lastSeq() {
      return lastSeq;
    },
    async [Symbol.asyncDispose]() {
      closed = true;
      clearTimeout(timer);
      stream?.cancel();
      stream = undefined;
    },
  };
}

type Translated = KvEvent | 'unknown' | 'malformed' | 'lora';

/** One KvCacheEvent as the event the ZMQ decoder gives (decode.ts), or why it cannot be used. */
function translate(message: NonNullable<GrpcKvBatch['events']>[number]): Translated {
  const medium = (level: number | undefined) => (level !== undefined && level > 0 ? 'CPU' : undefined);
  switch (message.data) {
    case 'cleared':
      return { kind: 'cleared' };
    case 'removed': {
      const keys = message.removed?.block_hashes ?? [];
      if (!keys.every(isKey)) return 'malformed';
      return { kind: 'removed', keys: keys as BlockKey[], medium: medium(message.removed?.cache_level), groupIdx: 0 };
    }
    case 'stored': {
      const blocks = message.stored?.blocks ?? [];
      const first = blocks[0];
      if (first === undefined) return 'malformed';
      const blockSize = first.block_size ?? 0;
      const keys: BlockKey[] = [];
      const tokenIds: number[] = [];
      for (const block of blocks) {
        if (!isKey(block.block_hash) || block.block_size !== blockSize || block.token_ids?.length !== blockSize) return 'malformed';
        // The router chains an adapter's blocks from its name (pool/block-hash.ts chainRoot); a number cannot be matched.
        if (block.lora_id !== undefined) return 'lora';
        keys.push(block.block_hash);
        for (const t of block.token_ids) tokenIds.push(t);
      }
      const parent = message.stored?.parent_block_hash;
      if (parent !== undefined && !isKey(parent)) return 'malformed';
      return { kind: 'stored', keys, parent, tokenIds, blockSize, loraName: undefined, medium: medium(first.cache_level), extraKeys: undefined, groupIdx: 0 };
    }
    default:
      return 'unknown';
  }
}

const isKey = (v: unknown): v is string => typeof v === 'string' && /^-?\d+$/.test(v);
