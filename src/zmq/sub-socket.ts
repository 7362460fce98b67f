// ZeroMQ SUB socket on Bun.connect: subscribes to topic prefixes on a PUB endpoint and reconnects when it drops.
import { parseTcpEndpoint } from './address.ts';
import type { ZmtpConnection } from './connection.ts';
import { DEFAULT_RECONNECT, type Dialer, type ReconnectOptions, startDialer } from './dialer.ts';
import type { ZmtpMinor } from './greeting.ts';
import { resolveLimits, type ZmtpLimits } from './limits.ts';

export type SubConnectionEvent =
  | { readonly connected: true; readonly remote: string; readonly minor: ZmtpMinor }
  | { readonly connected: false; readonly reason: string };

export interface SubSocketOptions {
  /** Topic prefixes to receive; `''` receives everything. Nothing is received until something is subscribed. */
  readonly subscriptions?: readonly (string | Uint8Array)[];
  /**
   * Receives each multipart message, synchronously from the data handler. A callback, not an async iterator,
   * so a slow consumer cannot grow a hidden queue; PUB drops for slow subscribers on its side anyway.
   */
  readonly onMessage: (frames: Uint8Array[]) => void;
  readonly onConnectionChange?: (event: SubConnectionEvent) => void;
  readonly reconnect?: Partial<ReconnectOptions>;
  readonly limits?: Partial<ZmtpLimits>;
  /** ZMTP minor version to announce; 0 makes us subscribe with 3.0-style messages. */
  readonly zmtpMinor?: ZmtpMinor;
}

const encoder = new TextEncoder();

function topicBytes(topic: string | Uint8Array): Uint8Array {
  return typeof topic === 'string' ? encoder.encode(topic) : topic.slice();
}

function topicKey(topic: Uint8Array): string {
  return Buffer.from(topic.buffer, topic.byteOffset, topic.byteLength).toString('hex');
}

function startsWith(frame: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.byteLength > frame.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (frame[i] !== prefix[i]) return false;
  return true;
}

/** ZMTP 3.1 uses SUBSCRIBE/CANCEL commands; 3.0 uses a message whose first byte is 1 (subscribe) or 0 (cancel). */
function sendSubscription(connection: ZmtpConnection, topic: Uint8Array, subscribe: boolean): void {
  if ((connection.peer?.minor ?? 0) >= 1) {
    connection.sendCommand(subscribe ? 'SUBSCRIBE' : 'CANCEL', topic);
    return;
  }
  const body = new Uint8Array(1 + topic.byteLength);
  body[0] = subscribe ? 1 : 0;
  body.set(topic, 1);
  connection.send([body]);
}

export class SubSocket implements AsyncDisposable {
  readonly #topics = new Map<string, Uint8Array>();
  readonly #dialer: Dialer;

  /** Starts connecting to `tcp://host:port`; connection failures are retried, never thrown. */
  static connect(endpoint: string, options: SubSocketOptions): SubSocket {
    return new SubSocket(endpoint, options);
  }

  private constructor(endpoint: string, options: SubSocketOptions) {
    const parsed = parseTcpEndpoint(endpoint, 'connect');
    if (!parsed.ok) throw new Error(`cannot connect SUB socket: ${parsed.error}`);
    for (const topic of options.subscriptions ?? []) {
      const bytes = topicBytes(topic);
      this.#topics.set(topicKey(bytes), bytes);
    }
    this.#dialer = startDialer({
      endpoint: parsed.endpoint,
      connection: {
        socketType: 'SUB',
        accepts: ['PUB', 'XPUB'],
        minor: options.zmtpMinor ?? 1,
        limits: resolveLimits(options.limits),
      },
      reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
      onReady: (connection) => {
        // Subscriptions live in the PUB's connection state, so every new connection has to be told again.
        for (const topic of this.#topics.values()) sendSubscription(connection, topic, true);
        options.onConnectionChange?.({ connected: true, remote: connection.remote, minor: connection.peer?.minor ?? 0 });
      },
      onMessage: (_connection, frames) => {
        // PUB filters on its side, but messages sent before a CANCEL took effect still arrive; libzmq's SUB
        // filters again locally, and so do we.
        const first = frames[0] as Uint8Array;
        for (const topic of this.#topics.values()) {
          if (startsWith(first, topic)) {
            options.onMessage(frames);
            return;
          }
        }
      },
      onDisconnected: (reason) => options.onConnectionChange?.({ connected: false, reason }),
    });
  }

  /** True while a PUB peer is connected and handshaken. */
  get connected(): boolean {
    return this.#dialer.connection !== undefined;
  }

  subscribe(topic: string | Uint8Array): void {
    const bytes = topicBytes(topic);
    const key = topicKey(bytes);
    if (this.#topics.has(key)) return;
    this.#topics.set(key, bytes);
    const connection = this.#dialer.connection;
    if (connection) sendSubscription(connection, bytes, true);
  }

  unsubscribe(topic: string | Uint8Array): void {
    const bytes = topicBytes(topic);
    if (!this.#topics.delete(topicKey(bytes))) return;
    const connection = this.#dialer.connection;
    if (connection) sendSubscription(connection, bytes, false);
  }

  close(): Promise<void> {
    return this.#dialer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
