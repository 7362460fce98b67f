// One engine's KV-event publisher, as vLLM's ZmqEventPublisher (vllm/distributed/kv_events.py): the KV pool's events
// of a step become one batch, sent on a PUB socket as `[topic, seq (8 bytes, big-endian), payload]` and kept in a
// bounded buffer that a ROUTER socket replays from a requested sequence number.
import { PubSocket } from '../../../src/zmq/pub-socket.ts';
import { RouterSocket } from '../../../src/zmq/router-socket.ts';
import type { KvCacheEvents } from '../kv-cache.ts';
import { encodeBatch, type BatchFormat, type BlockHashFormat, type KvEvent, type KvEventEncoding } from './event-batch.ts';
import { publisherEndpoints, type KvEventsConfig } from './kv-events-config.ts';
import { createMsgpackWriter } from './msgpack-writer.ts';
import { createReplayBuffer } from './replay-buffer.ts';

/** What the engine's flags say: vLLM's `--kv-events-config`, and the event encoding and hash format to speak. */
export interface KvEventsSettings {
  readonly config: KvEventsConfig;
  readonly encoding: KvEventEncoding;
  readonly blockHashes: BlockHashFormat;
}

export interface KvEventPublisherOptions extends KvEventsSettings {
  readonly blockSize: number;
  /** vLLM's data_parallel_rank: sent in every batch, and added to both ports. */
  readonly dataParallelRank: number;
  /** Seconds since the epoch, as Python's time.time(). */
  readonly clock?: () => number;
  readonly warn?: (message: string) => void;
}

export interface KvEventStats {
  /** The PUB endpoint (bound port resolved) and the replay endpoint. */
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  /** Batches published so far; the next batch's sequence number. */
  readonly batches: number;
  readonly events: number;
  readonly subscribers: number;
  /** Batch deliveries dropped for subscribers at the high-water mark. */
  readonly dropped: number;
  readonly replays: number;
  /** Replays cut short because the requester was not reading. */
  readonly replaysTruncated: number;
  /** Replay requests that were not `["", seq]`. */
  readonly badReplayRequests: number;
}

export interface KvEventPublisher extends KvCacheEvents, AsyncDisposable {
  /** Publishes the events since the last call as one batch; a step that changed nothing publishes nothing. */
  endStep(): void;
  stats(): KvEventStats;
  close(): Promise<void>;
}

/** vLLM's end-of-replay marker: sequence −1 and an empty payload. */
const END_SEQ = new Uint8Array(8).fill(0xff);
const EMPTY = new Uint8Array(0);
/** What one replay may queue for a requester: the buffer's 10,000 batches of a busy engine are tens of MiB. */
const REPLAY_PENDING_BYTES = 256 * 1024 * 1024;

function seqBytes(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(seq));
  return out;
}

/** `int.from_bytes(b, "big")`: any length, unsigned. */
function bigEndian(bytes: Uint8Array): number {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(n);
}

/** Runs `open`, naming the socket and endpoint in its error (Bun says only "Failed to listen at 0.0.0.0"). */
function opening<T>(socket: string, endpoint: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    throw new Error(`KV-event ${socket} socket at ${endpoint}: ${(err as Error).message} (is the port in use?)`);
  }
}

/** Binds (or connects) the sockets at once; throws when an endpoint is unusable or its port is taken. */
export function startKvEventPublisher(o: KvEventPublisherOptions): KvEventPublisher {
  const endpoints = publisherEndpoints(o.config, o.dataParallelRank);
  if (!endpoints.ok) throw new Error(`--kv-events-config: ${endpoints.error}`);
  const format: BatchFormat = { encoding: o.encoding, blockHashes: o.blockHashes, blockSize: o.blockSize };
  const clock = o.clock ?? (() => (performance.timeOrigin + performance.now()) / 1000);
  const warn = o.warn ?? ((m: string) => process.stderr.write(`sim-engine: kv-events: ${m}\n`));
  const topic = new TextEncoder().encode(o.config.topic);
  const writer = createMsgpackWriter();
  const buffer = createReplayBuffer(o.config.bufferSteps);
  const pubOptions = { highWaterMark: o.config.hwm };
  const at = endpoints.value.pub;
  const pub = opening('PUB', at.endpoint, () => (at.mode === 'bind' ? PubSocket.bind(at.endpoint, pubOptions) : PubSocket.connect(at.endpoint, pubOptions)));
  let pending: KvEvent[] = [];
  let seq = 0;
  let events = 0;
  let replays = 0;
  let replaysTruncated = 0;
  let badReplayRequests = 0;

  let replay: RouterSocket | null = null;
  const replayAt = endpoints.value.replay;
  try {
    replay =
      replayAt === null
        ? null
        : opening('replay ROUTER', replayAt, () => RouterSocket.bind(replayAt, { limits: { maxPendingWriteBytes: REPLAY_PENDING_BYTES }, onMessage: (m) => serveReplay(m) }));
  } catch (err) {
    void pub.close();
    throw err;
  }

  /** `_service_replay`: a request is `[identity, "", start seq]`; the answer is every buffered batch from there. */
  function serveReplay(message: Uint8Array[]): void {
    const [identity, , start] = message;
    if (message.length !== 3 || identity === undefined || start === undefined) {
      badReplayRequests++;
      warn(`invalid replay request of ${message.length - 1} frames (expected ["", seq])`);
      return;
    }
    replays++;
    const send = (s: Uint8Array, payload: Uint8Array) => (replay as RouterSocket).send([identity, EMPTY, s, payload]);
    for (const [s, payload] of buffer.from(bigEndian(start))) {
      if (!send(seqBytes(s), payload)) {
        replaysTruncated++;
        warn(`replay from ${bigEndian(start)} cut short at ${s}: the requester is not reading`);
        return;
      }
    }
    send(END_SEQ, EMPTY);
  }

  const publisher: KvEventPublisher = {
    stored(hashes, parent, tokens) {
      pending.push({ kind: 'stored', hashes, parent, tokenIds: tokens });
    },
    removed(hash) {
      pending.push({ kind: 'removed', hash });
    },
    cleared() {
      // A clear right after a clear changes nothing a consumer can see; an idle engine flooded with
      // /reset_prefix_cache (whose events wait for the next step) keeps one, not one per call.
      if (pending.at(-1)?.kind !== 'cleared') pending.push({ kind: 'cleared' });
    },
    endStep() {
      if (pending.length === 0) return;
      const payload = encodeBatch(writer, clock(), pending, o.dataParallelRank, format);
      events += pending.length;
      pending = [];
      pub.send([topic, seqBytes(seq), payload]);
      buffer.push(seq, payload);
      seq++;
    },
    stats() {
      const p = pub.stats();
      return {
        endpoint: pub.endpoint,
        replayEndpoint: replay?.endpoint ?? null,
        batches: seq,
        events,
        subscribers: p.subscribers,
        dropped: p.dropped,
        replays,
        replaysTruncated,
        badReplayRequests,
      };
    },
    async close() {
      await Promise.all([pub.close(), replay?.close()]);
    },
    [Symbol.asyncDispose]() {
      return publisher.close();
    },
  };
  return publisher;
}
