// ZeroMQ ROUTER socket on Bun.listen: accepts DEALER/REQ/ROUTER peers and tags each message with the peer's identity.
import type { Socket, TCPSocketListener } from 'bun';
import { formatTcpEndpoint, parseTcpEndpoint } from './address.ts';
import { createConnection, type ZmtpConnection } from './connection.ts';
import type { ZmtpMinor } from './greeting.ts';
import { resolveLimits, type ZmtpLimits } from './limits.ts';
import type { SocketType } from './session.ts';

export interface RouterPeer {
  /** Routing identity: the peer's `Identity` property, or 0x00 + 4 bytes when it sent none (as libzmq does). */
  readonly identity: Uint8Array;
  readonly socketType: SocketType;
  /** `address:port` of the TCP peer. */
  readonly remote: string;
}

export type RouterPeerEvent =
  | { readonly kind: 'connected'; readonly peer: RouterPeer }
  /** `peer` is undefined when the connection never finished its handshake (garbage, wrong socket type, timeout). */
  | {
      readonly kind: 'disconnected';
      readonly remote: string;
      readonly peer: RouterPeer | undefined;
      /** Why it was dropped; undefined for an orderly close. */
      readonly reason: string | undefined;
    };

export interface RouterSocketOptions {
  /**
   * Receives every message as `[identity, ...frames]`, synchronously from the socket's data handler, in arrival
   * order per peer. A callback rather than an async iterator: no unbounded queue builds up inside the socket.
   * If it throws, the sending peer is dropped and the error is reported as the disconnect reason.
   */
  readonly onMessage: (message: Uint8Array[]) => void;
  readonly onPeerEvent?: (event: RouterPeerEvent) => void;
  readonly limits?: Partial<ZmtpLimits>;
  /** Accepted TCP connections beyond this are closed at once. */
  readonly maxConnections?: number;
  /** ZMTP minor version to announce; peers on 3.0 are served 3.0 either way. */
  readonly zmtpMinor?: ZmtpMinor;
}

interface SocketState {
  connection?: ZmtpConnection;
  /** Set once the handshake is done and the identity is registered. */
  peer?: RouterPeer;
  identityKey?: string;
}

const ROUTER_PEERS: readonly SocketType[] = ['DEALER', 'REQ', 'ROUTER'];

function keyOf(identity: Uint8Array): string {
  return Buffer.from(identity.buffer, identity.byteOffset, identity.byteLength).toString('hex');
}

export class RouterSocket implements AsyncDisposable {
  /** The bound endpoint with the real port, e.g. `tcp://127.0.0.1:40123` after binding port 0. */
  readonly endpoint: string;
  readonly #listener: TCPSocketListener<SocketState>;
  readonly #peers = new Map<string, { peer: RouterPeer; connection: ZmtpConnection }>();
  readonly #connections = new Set<ZmtpConnection>();
  readonly #options: RouterSocketOptions;
  readonly #limits: ZmtpLimits;
  #nextGeneratedId: number;
  #closed = false;

  /** Binds `tcp://host:port` (port 0 or `*` for an ephemeral port). Throws if the endpoint is invalid or taken. */
  static bind(endpoint: string, options: RouterSocketOptions): RouterSocket {
    return new RouterSocket(endpoint, options);
  }

  private constructor(endpoint: string, options: RouterSocketOptions) {
    const parsed = parseTcpEndpoint(endpoint, 'bind');
    if (!parsed.ok) throw new Error(`cannot bind ROUTER socket: ${parsed.error}`);
    this.#options = options;
    this.#limits = resolveLimits(options.limits);
    // libzmq starts generated ids at a random value so ids from a restarted socket do not collide with old ones.
    this.#nextGeneratedId = Math.floor(Math.random() * 2 ** 32);
    const maxConnections = options.maxConnections ?? 1024;
    this.#listener = Bun.listen<SocketState>({
      hostname: parsed.endpoint.host,
      port: parsed.endpoint.port,
      // Without it a second router could share the port and silently take half the registrations.
      exclusive: true,
      data: {},
      socket: {
        open: (socket) => {
          if (this.#closed || this.#connections.size >= maxConnections) {
            socket.terminate();
            return;
          }
          socket.data = { connection: this.#accept(socket) };
        },
        data: (socket, chunk) => socket.data.connection?.onData(chunk),
        drain: (socket) => socket.data.connection?.onDrain(),
        close: (socket, error) => socket.data.connection?.onClosed(error),
        error: (socket, error) => socket.data.connection?.abort(`socket error: ${error.message}`),
      },
    });
    this.endpoint = formatTcpEndpoint({ host: parsed.endpoint.host, port: this.#listener.port });
  }

  get port(): number {
    return this.#listener.port;
  }

  /**
   * Sends `frames` to the peer named by `message[0]` (ROUTER semantics). Returns false, dropping the message,
   * when no such peer is connected or its send queue is full, as libzmq does without ROUTER_MANDATORY.
   */
  send(message: readonly Uint8Array[]): boolean {
    const [identity, ...frames] = message;
    if (identity === undefined || frames.length === 0) throw new Error('ROUTER send needs [identity, frame, ...]');
    const entry = this.#peers.get(keyOf(identity));
    return entry !== undefined && entry.connection.send(frames);
  }

  /** Peers that finished the handshake, in connection order. */
  peers(): RouterPeer[] {
    return [...this.#peers.values()].map((entry) => entry.peer);
  }

  /** Stops accepting, closes every peer and releases the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of this.#connections) connection.close();
    // stop(true) closes whatever is left synchronously, running the close handlers.
    this.#listener.stop(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #accept(socket: Socket<SocketState>): ZmtpConnection {
    const connection = createConnection(
      socket,
      { socketType: 'ROUTER', accepts: ROUTER_PEERS, minor: this.#options.zmtpMinor ?? 1, limits: this.#limits },
      {
        ready: (conn) => this.#onReady(socket, conn),
        message: (_conn, frames) => {
          const peer = socket.data.peer;
          if (peer !== undefined) this.#options.onMessage([peer.identity, ...frames]);
        },
        closed: (conn, reason) => {
          this.#connections.delete(conn);
          const key = socket.data.identityKey;
          // A connection whose identity was taken over must not remove its successor.
          if (key !== undefined && this.#peers.get(key)?.connection === conn) this.#peers.delete(key);
          this.#options.onPeerEvent?.({ kind: 'disconnected', remote: conn.remote, peer: socket.data.peer, reason });
        },
      },
    );
    this.#connections.add(connection);
    return connection;
  }

  #onReady(socket: Socket<SocketState>, connection: ZmtpConnection): void {
    const info = connection.peer;
    if (info === undefined) return;
    let identity = info.identity;
    if (identity.byteLength > 0 && identity[0] === 0) {
      connection.abort('Identity starting with a zero byte is reserved for generated ids');
      return;
    }
    if (identity.byteLength === 0) identity = this.#generateIdentity();
    const key = keyOf(identity);
    const previous = this.#peers.get(key);
    const peer: RouterPeer = { identity, socketType: info.socketType, remote: connection.remote };
    this.#peers.set(key, { peer, connection });
    socket.data.peer = peer;
    socket.data.identityKey = key;
    // Handover (libzmq ZMQ_ROUTER_HANDOVER): a restarted engine reconnects with the same identity before the
    // old TCP connection times out; the newest connection wins instead of being ignored.
    previous?.connection.abort('identity taken over by a new connection');
    this.#options.onPeerEvent?.({ kind: 'connected', peer });
  }

  #generateIdentity(): Uint8Array {
    for (;;) {
      const identity = new Uint8Array(5);
      new DataView(identity.buffer).setUint32(1, this.#nextGeneratedId);
      this.#nextGeneratedId = (this.#nextGeneratedId + 1) >>> 0;
      if (!this.#peers.has(keyOf(identity))) return identity;
    }
  }
}
