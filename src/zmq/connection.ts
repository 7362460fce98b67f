// Binds one ZMTP session to one Bun TCP socket: write queue with backpressure, handshake deadline, close reason.
import { encodeCommand, encodeMessage, type Command } from './frames.ts';
import type { ZmtpLimits } from './limits.ts';
import { createSession, type PeerInfo, type SessionOptions } from './session.ts';

/** The part of a Bun `Socket` a connection uses; tests may pass a fake. */
export interface Transport {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  terminate(): void;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  setNoDelay?(noDelay?: boolean): boolean;
}

export interface ConnectionHandlers {
  ready(connection: ZmtpConnection): void;
  message(connection: ZmtpConnection, frames: Uint8Array[]): void;
  command?(connection: ZmtpConnection, command: Command): void;
  /** Called exactly once. `reason` is set when the connection was dropped for an error, not on an orderly close. */
  closed(connection: ZmtpConnection, reason: string | undefined): void;
}

export interface ZmtpConnection {
  /** `address:port` of the peer, for logs. */
  readonly remote: string;
  readonly peer: PeerInfo | undefined;
  readonly pendingBytes: number;
  /** Writes queued behind the socket (whole messages and commands, the partly written one included). */
  readonly pendingMessages: number;
  /** Queues a multipart message. False when the handshake is not done, the socket is closing or the queue is full. */
  send(frames: readonly Uint8Array[]): boolean;
  /** Queues a message already encoded by `encodeMessage`, so one encoding can go to many peers (PUB). */
  sendEncoded(message: Uint8Array): boolean;
  sendCommand(name: string, data?: Uint8Array): boolean;
  /** Orderly close: FIN after queued bytes, or RST when the peer is not reading them. */
  close(): void;
  /** Drops the peer at once (RST); used for protocol errors. */
  abort(reason: string): void;
  /** Wire these to the Bun socket handlers. */
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  onClosed(error?: Error): void;
}

export interface ConnectionOptions extends SessionOptions {
  readonly limits: ZmtpLimits;
}

export function createConnection(
  transport: Transport,
  options: ConnectionOptions,
  handlers: ConnectionHandlers,
): ZmtpConnection {
  const queue: Uint8Array[] = [];
  let pendingBytes = 0;
  let state: 'open' | 'closing' | 'closed' = 'open';
  let dropReason: string | undefined;

  function flush(): void {
    while (queue.length > 0) {
      const head = queue[0] as Uint8Array;
      const written = transport.write(head);
      if (written < 0) return;
      pendingBytes -= Math.max(0, written);
      if (written < head.byteLength) {
        queue[0] = head.subarray(written);
        return;
      }
      queue.shift();
    }
    if (state === 'closing') transport.end();
  }

  function write(bytes: Uint8Array): void {
    queue.push(bytes);
    pendingBytes += bytes.byteLength;
    if (queue.length === 1) flush();
  }

  const session = createSession(options, {
    write,
    ready: () => {
      clearTimeout(handshakeTimer);
      handlers.ready(connection);
    },
    message: (frames) => handlers.message(connection, frames),
    command: (command) => handlers.command?.(connection, command),
  });

  const handshakeTimer = setTimeout(() => connection.abort('handshake timed out'), options.limits.handshakeTimeoutMs);

  function canSend(size: number): boolean {
    return state === 'open' && session.peer !== undefined && pendingBytes + size <= options.limits.maxPendingWriteBytes;
  }

  const connection: ZmtpConnection = {
    remote: `${transport.remoteAddress}:${transport.remotePort ?? '?'}`,
    get peer() {
      return session.peer;
    },
    get pendingBytes() {
      return pendingBytes;
    },
    get pendingMessages() {
      return queue.length;
    },
    send(frames) {
      return connection.sendEncoded(encodeMessage(frames));
    },
    sendEncoded(message) {
      if (!canSend(message.byteLength)) return false;
      write(message);
      return true;
    },
    sendCommand(name, data) {
      const bytes = encodeCommand(name, data);
      if (!canSend(bytes.byteLength)) return false;
      write(bytes);
      return true;
    },
    close() {
      if (state !== 'open') return;
      state = 'closing';
      session.stop();
      clearTimeout(handshakeTimer);
      flush();
      // Bytes the peer has not read by now are dropped rather than holding shutdown open (ZMQ_LINGER=0).
      if (queue.length > 0) connection.abort('closed with unsent data');
    },
    abort(reason) {
      if (state === 'closed') return;
      dropReason ??= reason;
      state = 'closing';
      session.stop();
      queue.length = 0;
      transport.terminate();
    },
    onData(chunk) {
      if (state !== 'open') return;
      const error = session.receive(chunk);
      if (error !== undefined) connection.abort(error);
    },
    onDrain() {
      flush();
    },
    onClosed(error) {
      if (state === 'closed') return;
      state = 'closed';
      session.stop();
      clearTimeout(handshakeTimer);
      queue.length = 0;
      pendingBytes = 0;
      handlers.closed(connection, dropReason ?? error?.message);
    },
  };

  transport.setNoDelay?.(true);
  session.start();
  return connection;
}
