// Keeps one outgoing ZMTP connection to an endpoint, redialling with exponential backoff whenever it drops.
import type { Command } from './frames.ts';
import { createConnection, type ConnectionOptions, type ZmtpConnection } from './connection.ts';
import type { TcpEndpoint } from './address.ts';

export interface ReconnectOptions {
  /** First retry delay; libzmq's ZMQ_RECONNECT_IVL default is 100 ms. */
  readonly initialMs: number;
  /** Delays double up to this cap (ZMQ_RECONNECT_IVL_MAX). */
  readonly maxMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = Object.freeze({ initialMs: 100, maxMs: 5_000 });

export interface DialerOptions {
  readonly endpoint: TcpEndpoint;
  readonly connection: ConnectionOptions;
  readonly reconnect: ReconnectOptions;
  onReady(connection: ZmtpConnection): void;
  onMessage(connection: ZmtpConnection, frames: Uint8Array[]): void;
  onCommand?(connection: ZmtpConnection, command: Command): void;
  /** A dial failed or a connection dropped; a retry is scheduled unless the dialer is closed. */
  onDisconnected(reason: string): void;
}

export interface Dialer {
  /** The connection once its handshake is done; undefined while (re)connecting. */
  readonly connection: ZmtpConnection | undefined;
  /** Stops redialling and closes the connection; resolves once the socket is closed. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 1_000;

interface DialState {
  connection?: ZmtpConnection;
}

export function startDialer(options: DialerOptions): Dialer {
  let closed = false;
  let delay = options.reconnect.initialMs;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let live: ZmtpConnection | undefined;
  let ready: ZmtpConnection | undefined;
  let onLiveClosed: (() => void) | undefined;

  function retry(reason: string): void {
    options.onDisconnected(reason);
    if (closed) return;
    retryTimer = setTimeout(dial, delay);
    delay = Math.min(delay * 2, options.reconnect.maxMs);
  }

  function dial(): void {
    retryTimer = undefined;
    if (closed) return;
    Bun.connect<DialState>({
      hostname: options.endpoint.host,
      port: options.endpoint.port,
      data: {},
      socket: {
        open: (socket) => {
          if (closed) {
            socket.terminate();
            return;
          }
          live = createConnection(socket, options.connection, {
            ready: (connection) => {
              // Only a finished handshake resets the backoff, so a port that accepts and drops is not hammered.
              delay = options.reconnect.initialMs;
              ready = connection;
              options.onReady(connection);
            },
            message: (connection, frames) => options.onMessage(connection, frames),
            command: (connection, command) => options.onCommand?.(connection, command),
            closed: (_connection, reason) => {
              live = undefined;
              ready = undefined;
              onLiveClosed?.();
              retry(reason ?? 'connection closed');
            },
          });
          socket.data.connection = live;
        },
        data: (socket, chunk) => socket.data.connection?.onData(chunk),
        drain: (socket) => socket.data.connection?.onDrain(),
        close: (socket, error) => socket.data.connection?.onClosed(error),
        error: (socket, error) => socket.data.connection?.abort(`socket error: ${error.message}`),
      },
      // The promise settles once: resolved on open, rejected when the dial fails (refused, unresolvable host),
      // so every failed dial schedules exactly one retry.
    }).catch((error: Error) => retry(`connect failed: ${error.message}`));
  }

  dial();

  return {
    get connection() {
      return ready;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      const connection = live;
      if (connection === undefined) return;
      const done = new Promise<void>((resolve) => {
        onLiveClosed = resolve;
      });
      connection.close();
      // A peer that never answers our FIN would hold close() forever; cut it off after a grace period.
      const grace = setTimeout(() => connection.abort('close timed out'), CLOSE_GRACE_MS);
      await done;
      clearTimeout(grace);
    },
  };
}
