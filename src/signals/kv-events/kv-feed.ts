// One engine's KV-event feed: a SUB socket on its PUB, a DEALER on its replay socket, the sequence kept in
// order, and every batch applied to that engine's index.
//
// The wire (vllm/distributed/kv_events.py ZmqEventPublisher): messages `[topic, seq (uint64 big-endian),
// payload]`, seq counting from 0 for each publisher. The replay ROUTER answers `["", start seq]` with every
// buffered batch from `start` on as `["", seq, payload]` and ends with seq = −1 and an empty payload.
// PUB/SUB drops without telling, and vLLM never announces a block twice, so:
// - on each (re)connection the index is purged (a new connection may be a new publisher, and what was missed
//   in between is unknown) and everything the replay socket still buffers is asked for;
// - a gap in the sequence asks the replay socket for what was missed; without one, it is counted and the index
//   goes on as it is (the router's own guess fills in where the events are silent);
// - a sequence that goes backwards is a publisher restart: purge first.
// Live batches that arrive during a replay wait (boundedly) and are applied after it, in order.
import type { Logger } from '../../log/logger.ts';
import { DealerSocket } from '../../zmq/dealer-socket.ts';
import type { ZmtpLimits } from '../../zmq/limits.ts';
import { SubSocket } from '../../zmq/sub-socket.ts';
import { createKvEventDecoder } from './decode.ts';
import type { KvIndex } from './kv-index.ts';

/** What a feed reports; the caller maps it onto metrics. */
export interface KvFeedRecorder {
  batch(events: number): void;
  /** Events skipped: another block size, a non-attention group, unknown types or fields that are not vLLM's. */
  skipped(reason: 'block_size' | 'group' | 'unknown_type' | 'malformed_event' | 'lora_id' | 'dp_rank', n: number): void;
  gap(): void;
  replay(outcome: 'requested' | 'completed' | 'timed_out' | 'unavailable'): void;
  /** `gap`: a gRPC stream skipped batches (it has no replay). */
  purge(cause: 'connected' | 'restart' | 'cleared' | 'gap'): void;
  malformed(reason: string): void;
}

export interface KvFeedOptions {
  /** The endpoint the feed describes (for logs). */
  readonly endpoint: string;
  /** `tcp://host:port` of the engine's PUB socket. */
  readonly pub: string;
  /** `tcp://host:port` of its replay socket, when it has one. */
  readonly replay?: string;
  /** Topic prefix subscribed to; '' receives all. */
  readonly topic: string;
  readonly index: KvIndex;
  readonly recorder: KvFeedRecorder;
  readonly log: Logger;
  /** The index was emptied (a purge or AllBlocksCleared): what the router guessed about this engine goes too. */
  readonly onPurged?: () => void;
  /** How long a replay may take before live batches go on without it. */
  readonly replayTimeoutMs?: number;
  /** Live batches held while a replay runs; past it the oldest are dropped (and the sequence then shows a gap). */
  readonly maxPending?: number;
  readonly limits?: Partial<ZmtpLimits>;
  /** Reconnect pacing of both sockets. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
}

export interface KvFeed extends AsyncDisposable {
  readonly connected: boolean;
  /** The last sequence number applied. */
  readonly lastSeq: bigint | undefined;
}

const END = 0xffff_ffff_ffff_ffffn;
const seqOf = (frame: Uint8Array | undefined): bigint | undefined =>
  frame !== undefined && frame.byteLength === 8 ? new DataView(frame.buffer, frame.byteOffset, 8).getBigUint64(0) : undefined;
const seqBytes = (seq: bigint) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, seq);
  return out;
};

export function startKvFeed(options: KvFeedOptions): KvFeed {
  const { index, recorder, log } = options;
  const decode = createKvEventDecoder();
  const replayTimeoutMs = options.replayTimeoutMs ?? 5000;
  const maxPending = options.maxPending ?? 10_000;
  let lastSeq: bigint | undefined;
  /** Set while a replay runs: live batches wait here. */
  let pending: { seq: bigint; payload: Uint8Array }[] | undefined;
  let replayTimer: ReturnType<typeof setTimeout> | undefined;
  /** The start of the replay under way, sent once the DEALER is connected. */
  let replayFrom: bigint | undefined;
  let dealer: DealerSocket | undefined;
  let warnedBlockSize = false;

  const purge = (cause: 'connected' | 'restart' | 'cleared') => {
    index.purge();
    recorder.purge(cause);
    options.onPurged?.();
  };

  const apply = (seq: bigint, payload: Uint8Array) => {
    const decoded = decode(payload);
    lastSeq = seq;
    if (!decoded.ok) {
      recorder.malformed(decoded.reason);
      return;
    }
    const { batch } = decoded;
    recorder.batch(batch.events.length);
    if (batch.unknown > 0) recorder.skipped('unknown_type', batch.unknown);
    if (batch.malformed > 0) recorder.skipped('malformed_event', batch.malformed);
    for (const event of batch.events) {
      if (event.kind === 'cleared') {
        purge('cleared');
        continue;
      }
      if (index.apply(event) === 'applied') continue;
      const reason = event.kind === 'stored' && event.groupIdx === 0 ? 'block_size' : 'group';
      recorder.skipped(reason, 1);
      if (reason === 'block_size' && !warnedBlockSize && event.kind === 'stored') {
        warnedBlockSize = true;
        log.warn('KV events of another block size are skipped: set --kv-block-size to the engine\'s --block-size', { endpoint: options.endpoint, engine_block_size: event.blockSize });
      }
    }
  };

  const endReplay = (outcome: 'completed' | 'timed_out') => {
    clearTimeout(replayTimer);
    replayTimer = undefined;
    // The buffer had nothing from `replayFrom` on: the next live batch must be that one, or some were lost.
    if (outcome === 'completed' && lastSeq === undefined && replayFrom !== undefined) lastSeq = replayFrom - 1n;
    replayFrom = undefined;
    recorder.replay(outcome);
    const waiting = pending ?? [];
    pending = undefined;
    // What the replay already brought is not news (nor a restart): only what came after it is applied, in order,
    // and what it could not bring either is a gap for good (asking again would bring nothing more).
    for (const { seq, payload } of waiting) {
      if (lastSeq !== undefined && seq <= lastSeq) continue;
      if (lastSeq !== undefined && seq > lastSeq + 1n) recorder.gap();
      apply(seq, payload);
    }
  };

  const sendReplayRequest = () => {
    if (replayFrom !== undefined && dealer?.send([new Uint8Array(0), seqBytes(replayFrom)])) recorder.replay('requested');
  };

  /**
   * Asks for every buffered batch from `from` on (as soon as the DEALER is connected); live batches wait until
   * it ends or times out. False when the engine has no replay socket.
   */
  const requestReplay = (from: bigint): boolean => {
    if (options.replay === undefined) {
      recorder.replay('unavailable');
      return false;
    }
    pending ??= [];
    replayFrom = from;
    clearTimeout(replayTimer);
    replayTimer = setTimeout(() => endReplay('timed_out'), replayTimeoutMs);
    sendReplayRequest();
    return true;
  };

  const live = (seq: bigint, payload: Uint8Array) => {
    if (pending !== undefined) {
      if (pending.length >= maxPending) pending.shift();
      pending.push({ seq, payload });
      return;
    }
    if (lastSeq !== undefined && seq <= lastSeq) {
      if (seq === lastSeq) return; // seen already (it came in a replay)
      log.info('KV event publisher restarted: index purged', { endpoint: options.endpoint, seq: String(seq), last_seq: String(lastSeq) });
      purge('restart');
    } else if (lastSeq !== undefined && seq > lastSeq + 1n) {
      recorder.gap();
      if (requestReplay(lastSeq + 1n)) {
        pending!.push({ seq, payload });
        return;
      }
    }
    apply(seq, payload);
  };

  const sub = SubSocket.connect(options.pub, {
    subscriptions: [options.topic],
    limits: options.limits,
    reconnect: options.reconnect,
    onMessage: (frames) => {
      const seq = seqOf(frames[1]);
      if (frames.length !== 3 || seq === undefined) return recorder.malformed(`expected [topic, seq, payload], got ${frames.length} frames`);
      live(seq, frames[2] as Uint8Array);
    },
    onConnectionChange: (event) => {
      if (!event.connected) return log.info('KV event feed disconnected', { endpoint: options.endpoint, reason: event.reason });
      log.info('KV event feed connected', { endpoint: options.endpoint, pub: options.pub });
      // What happened while disconnected is unknown, and the publisher may be a new one.
      lastSeq = undefined;
      purge('connected');
      requestReplay(0n);
    },
  });

  dealer =
    options.replay === undefined
      ? undefined
      : DealerSocket.connect(options.replay, {
          limits: options.limits,
          reconnect: options.reconnect,
          onMessage: (frames) => {
            // ["", seq, payload] (the ROUTER's identity frame is gone; the empty delimiter stays).
            const seq = seqOf(frames[1]);
            if (frames.length !== 3 || seq === undefined) return recorder.malformed(`replay: expected ["", seq, payload], got ${frames.length} frames`);
            if (pending === undefined) return; // a replay that already timed out
            if (seq === END) return endReplay('completed');
            if (lastSeq === undefined || seq > lastSeq) apply(seq, frames[2] as Uint8Array);
          },
          onConnectionChange: (connected) => {
            // A replay asked for while the DEALER was still dialing goes out now.
            if (connected) sendReplayRequest();
          },
        });

  return {
    get connected() {
      return sub.connected;
    },
    get lastSeq() {
      return lastSeq;
    },
    async [Symbol.asyncDispose]() {
      clearTimeout(replayTimer);
      await Promise.all([sub.close(), dealer?.close()]);
    },
  };
}
