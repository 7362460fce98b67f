// ZeroMQ PUB socket, bound (Bun.listen) or connected (Bun.connect): each message goes to the peers subscribed to a
// prefix of its first frame, and is dropped for a peer whose queue is at the high-water mark.
import type { Socket, TCPSocketListener } from 'bun';
import { formatTcpEndpoint, parseTcpEndpoint } from './address.ts';
import { createConnection, type ConnectionOptions, type ZmtpConnection } from './connection.ts';
import { DEFAULT_RECONNECT, type Dialer, type ReconnectOptions, startDialer } from './dialer.ts';
import { type Command, encodeMessage } from './frames.ts';
import type { ZmtpMinor } from './greeting.ts';
import { resolveLimits, type ZmtpLimits } from './limits.ts';
import type { SocketType } from './session.ts';
import { createTopicFilter, type TopicFilter } from './topic-filter.ts';

export type PubPeerEvent =
  | { readonly kind: 'connected'; readonly remote: string }
  | { readonly kind: 'subscribed' | 'unsubscribed'; readonly remote: string; readonly topic: Uint8Array }
  /** `reason` is set when the peer was dropped for an error, undefined for an orderly close. */
  | { readonly kind: 'disconnected'; readonly remote: string; readonly reason: string | undefined };

export interface PubSocketOptions {
  /**
   * Messages queued for one subscriber beyond which new messages are dropped for it (ZMQ_SNDHWM, in messages;
   * 0 = no limit, leaving only `limits.maxPendingWriteBytes`). libzmq's default is 1000.
   */
  readonly highWaterMark?: number;
  readonly onPeerEvent?: (event: PubPeerEvent) => void;
  readonly limits?: Partial<ZmtpLimits>;
  /** Bound sockets: accepted TCP connections beyond this are closed at once. */
  readonly maxConnections?: number;
  /** Connected sockets: redial backoff. */
  readonly reconnect?: Partial<ReconnectOptions>;
  readonly zmtpMinor?: ZmtpMinor;
}

export interface PubStats {
  /** Subscribed peers (at least one prefix). */
  readonly subscribers: number;
  /** Deliveries queued: one per message and matching peer. */
  readonly delivered: number;
  /** Deliveries dropped because the peer's queue was full (high-water mark or byte limit). */
  readonly dropped: number;
}

/** RFC 29: a PUB talks to SUB and XSUB peers. */
const PUB_PEERS: readonly SocketType[] = ['SUB', 'XSUB'];
/** Prefixes one peer may hold; a peer that subscribes to more is dropped rather than allowed to grow memory. */
const MAX_TOPICS_PER_PEER = 10_000;

interface Subscriber {
  readonly connection: ZmtpConnection;
  readonly topics: TopicFilter;
}

interface SocketState {
  connection?: ZmtpConnection;
}

export class PubSocket implements AsyncDisposable {
  /** Bound: the endpoint with the real port (`tcp://0.0.0.0:40123` after binding `tcp://*:0`). Connected: the peer's. */
  readonly endpoint: string;
  readonly #options: PubSocketOptions;
  readonly #connectionOptions: ConnectionOptions;
  readonly #subscribers = new Map<ZmtpConnection, Subscriber>();
  readonly #highWaterMark: number;
  readonly #listener: TCPSocketListener<SocketState> | undefined;
  readonly #dialer: Dialer | undefined;
  readonly #port: number;
  #delivered = 0;
  #dropped = 0;
  #closed = false;

  /** Binds `tcp://host:port` (port 0 or `*` for an ephemeral port). Throws if the endpoint is invalid or taken. */
  static bind(endpoint: string, options: PubSocketOptions = {}): PubSocket {
    const parsed = parseTcpEndpoint(endpoint, 'bind');
    if (!parsed.ok) throw new Error(`cannot bind PUB socket: ${parsed.error}`);
    return new PubSocket('bind', parsed.endpoint, options);
  }

  /** Starts connecting to a bound SUB or XSUB at `tcp://host:port`; failures are retried, never thrown. */
  static connect(endpoint: string, options: PubSocketOptions = {}): PubSocket {
    const parsed = parseTcpEndpoint(endpoint, 'connect');
    if (!parsed.ok) throw new Error(`cannot connect PUB socket: ${parsed.error}`);
    return new PubSocket('connect', parsed.endpoint, options);
  }

  private constructor(mode: 'bind' | 'connect', at: { host: string; port: number }, options: PubSocketOptions) {
    this.#options = options;
    this.#highWaterMark = options.highWaterMark ?? 1000;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 0) {
      throw new Error(`PUB highWaterMark must be a non-negative integer, got ${options.highWaterMark}`);
    }
    this.#connectionOptions = { socketType: 'PUB', accepts: PUB_PEERS, minor: options.zmtpMinor ?? 1, limits: resolveLimits(options.limits) };
    if (mode === 'bind') {
      this.#listener = this.#listen(at.host, at.port, options.maxConnections ?? 1024);
      this.#port = this.#listener.port;
      this.endpoint = formatTcpEndpoint({ host: at.host, port: this.#port });
    } else {
      this.#port = at.port;
      this.endpoint = formatTcpEndpoint(at);
      let current: ZmtpConnection | undefined;
      this.#dialer = startDialer({
        endpoint: at,
        connection: this.#connectionOptions,
        reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
        onReady: (connection) => {
          current = connection;
          this.#onReady(connection);
        },
        onMessage: (connection, frames) => this.#onMessage(connection, frames),
        onCommand: (connection, command) => this.#onCommand(connection, command),
        onDisconnected: (reason) => {
          if (current === undefined) return;
          this.#onClosed(current, reason);
          current = undefined;
        },
      });
    }
  }

  /** The port bound (bind) or dialled (connect). */
  get port(): number {
    return this.#port;
  }

  /**
   * Sends a multipart message to every peer subscribed to a prefix of its first frame. Encoded once whatever the
   * number of peers; a peer whose queue is full misses it (ZeroMQ's PUB never blocks). Returns how many peers
   * it was queued for.
   */
  send(frames: readonly Uint8Array[]): number {
    const first = frames[0];
    if (first === undefined) throw new Error('a ZMTP message has at least one frame');
    let encoded: Uint8Array | undefined;
    let queued = 0;
    for (const subscriber of this.#subscribers.values()) {
      if (!subscriber.topics.matches(first)) continue;
      const connection = subscriber.connection;
      if (this.#highWaterMark > 0 && connection.pendingMessages >= this.#highWaterMark) {
        this.#dropped++;
        continue;
      }
      encoded ??= encodeMessage(frames);
      if (connection.sendEncoded(encoded)) {
        queued++;
        this.#delivered++;
      } else {
        this.#dropped++;
      }
    }
    return queued;
  }

  stats(): PubStats {
    let subscribers = 0;
    for (const s of this.#subscribers.values()) if (s.topics.size > 0) subscribers++;
    return { subscribers, delivered: this.#delivered, dropped: this.#dropped };
  }

  /** Closes every peer (unsent messages are dropped, ZMQ_LINGER=0) and releases the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#dialer !== undefined) return this.#dialer.close();
    for (const connection of [...this.#subscribers.keys()]) connection.close();
    // stop(true) closes whatever is left (connections still handshaking) synchronously.
    this.#listener?.stop(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #listen(hostname: string, port: number, maxConnections: number): TCPSocketListener<SocketState> {
    let open = 0;
    return Bun.listen<SocketState>({
      hostname,
      port,
      exclusive: true,
      data: {},
      socket: {
        open: (socket: Socket<SocketState>) => {
          if (this.#closed || open >= maxConnections) {
            socket.terminate();
            return;
          }
          open++;
          socket.data = {
            connection: createConnection(socket, this.#connectionOptions, {
              ready: (connection) => this.#onReady(connection),
              message: (connection, frames) => this.#onMessage(connection, frames),
              command: (connection, command) => this.#onCommand(connection, command),
              closed: (connection, reason) => {
                open--;
                this.#onClosed(connection, reason);
              },
            }),
          };
        },
        data: (socket, chunk) => socket.data.connection?.onData(chunk),
        drain: (socket) => socket.data.connection?.onDrain(),
        close: (socket, error) => socket.data.connection?.onClosed(error),
        error: (socket, error) => socket.data.connection?.abort(`socket error: ${error.message}`),
      },
    });
  }

  #onReady(connection: ZmtpConnection): void {
    this.#subscribers.set(connection, { connection, topics: createTopicFilter() });
    this.#options.onPeerEvent?.({ kind: 'connected', remote: connection.remote });
  }

  #onClosed(connection: ZmtpConnection, reason: string | undefined): void {
    // A connection that never finished its handshake was never a subscriber.
    if (!this.#subscribers.delete(connection)) return;
    this.#options.onPeerEvent?.({ kind: 'disconnected', remote: connection.remote, reason });
  }

  /** ZMTP 3.1 subscriptions are commands. */
  #onCommand(connection: ZmtpConnection, command: Command): void {
    if (command.name === 'SUBSCRIBE') this.#subscribe(connection, command.data, true);
    else if (command.name === 'CANCEL') this.#subscribe(connection, command.data, false);
  }

  /**
   * ZMTP 3.0 peers (and libzmq 4.3 on 3.1) subscribe with a one-frame message: 0x01 + prefix, 0x00 + prefix to
   * cancel. A PUB has no other input, so any other message is discarded, as libzmq does.
   */
  #onMessage(connection: ZmtpConnection, frames: Uint8Array[]): void {
    const body = frames[0];
    if (frames.length !== 1 || body === undefined || body.byteLength === 0) return;
    if (body[0] === 1) this.#subscribe(connection, body.subarray(1), true);
    else if (body[0] === 0) this.#subscribe(connection, body.subarray(1), false);
  }

  #subscribe(connection: ZmtpConnection, topic: Uint8Array, on: boolean): void {
    const subscriber = this.#subscribers.get(connection);
    if (subscriber === undefined) return;
    if (on) {
      if (subscriber.topics.size >= MAX_TOPICS_PER_PEER) {
        connection.abort(`more than ${MAX_TOPICS_PER_PEER} subscriptions`);
        return;
      }
      if (!subscriber.topics.add(topic)) return;
    } else if (!subscriber.topics.remove(topic)) {
      return;
    }
    this.#options.onPeerEvent?.({ kind: on ? 'subscribed' : 'unsubscribed', remote: connection.remote, topic: topic.slice() });
  }
}
