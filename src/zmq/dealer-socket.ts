// ZeroMQ DEALER socket on Bun.connect: one peer, optional routing identity, reconnects when the connection drops.
import { parseTcpEndpoint } from './address.ts';
import { DEFAULT_RECONNECT, type Dialer, type ReconnectOptions, startDialer } from './dialer.ts';
import type { ZmtpMinor } from './greeting.ts';
import { resolveLimits, type ZmtpLimits } from './limits.ts';

export interface DealerSocketOptions {
  /** Sent as the `Identity` property; a ROUTER uses it to address replies. Must not start with a zero byte. */
  readonly identity?: string | Uint8Array;
  /** Receives each multipart message, synchronously from the data handler. */
  readonly onMessage?: (frames: Uint8Array[]) => void;
  readonly onConnectionChange?: (connected: boolean, reason?: string) => void;
  readonly reconnect?: Partial<ReconnectOptions>;
  readonly limits?: Partial<ZmtpLimits>;
  readonly zmtpMinor?: ZmtpMinor;
}

export class DealerSocket implements AsyncDisposable {
  readonly #dialer: Dialer;

  /** Starts connecting to `tcp://host:port`; connection failures are retried, never thrown. */
  static connect(endpoint: string, options: DealerSocketOptions = {}): DealerSocket {
    return new DealerSocket(endpoint, options);
  }

  private constructor(endpoint: string, options: DealerSocketOptions) {
    const parsed = parseTcpEndpoint(endpoint, 'connect');
    if (!parsed.ok) throw new Error(`cannot connect DEALER socket: ${parsed.error}`);
    const identity = typeof options.identity === 'string' ? new TextEncoder().encode(options.identity) : options.identity;
    if (identity !== undefined && (identity.byteLength > 255 || identity[0] === 0)) {
      throw new Error('DEALER identity must be 1-255 bytes and not start with a zero byte');
    }
    this.#dialer = startDialer({
      endpoint: parsed.endpoint,
      connection: {
        socketType: 'DEALER',
        accepts: ['ROUTER', 'REP', 'DEALER'],
        ...(identity === undefined ? {} : { identity }),
        minor: options.zmtpMinor ?? 1,
        limits: resolveLimits(options.limits),
      },
      reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
      onReady: () => options.onConnectionChange?.(true),
      onMessage: (_connection, frames) => options.onMessage?.(frames),
      onDisconnected: (reason) => options.onConnectionChange?.(false, reason),
    });
  }

  get connected(): boolean {
    return this.#dialer.connection !== undefined;
  }

  /**
   * Sends a multipart message. Unlike libzmq, nothing is queued while disconnected: returns false and the
   * message is dropped, so callers decide whether to retry.
   */
  send(frames: readonly (string | Uint8Array)[]): boolean {
    const connection = this.#dialer.connection;
    if (connection === undefined) return false;
    return connection.send(frames.map((frame) => (typeof frame === 'string' ? new TextEncoder().encode(frame) : frame)));
  }

  close(): Promise<void> {
    return this.#dialer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
