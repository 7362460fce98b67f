// One ZMTP 3.x conversation as a pure state machine: greeting, NULL handshake, commands, multipart assembly.
import { createFrameDecoder } from './frame-decoder.ts';
import {
  asciiBytes,
  type Command,
  encodeCommand,
  encodeProperties,
  parseCommand,
  parseProperties,
} from './frames.ts';
import { encodeGreeting, type Greeting, negotiateMinor, type ZmtpMinor } from './greeting.ts';
import type { ZmtpLimits } from './limits.ts';

export type SocketType = 'PAIR' | 'PUB' | 'SUB' | 'REQ' | 'REP' | 'DEALER' | 'ROUTER' | 'PULL' | 'PUSH' | 'XPUB' | 'XSUB';

export interface PeerInfo {
  readonly socketType: SocketType;
  /** The peer's `Identity` property; empty when it sent none. */
  readonly identity: Uint8Array;
  /** The ZMTP 3 minor version both sides speak (the lower of the two greetings). */
  readonly minor: ZmtpMinor;
  readonly properties: ReadonlyMap<string, Uint8Array>;
}

export interface SessionOptions {
  readonly socketType: SocketType;
  /** Peer socket types this socket may talk to (RFC 28/29 compatibility tables). */
  readonly accepts: readonly SocketType[];
  /** Sent as the `Identity` property; libzmq sends one only from REQ, DEALER and ROUTER sockets. */
  readonly identity?: Uint8Array;
  readonly minor: ZmtpMinor;
  readonly limits: ZmtpLimits;
}

export interface SessionHandlers {
  write(bytes: Uint8Array): void;
  ready(peer: PeerInfo): void;
  message(frames: Uint8Array[]): void;
  /** Commands the session does not answer itself (SUBSCRIBE, CANCEL, anything unknown). */
  command?(command: Command): void;
}

export interface Session {
  /** Sends our greeting; call once the transport is open. */
  start(): void;
  /** Feeds received bytes. Returns a reason when the peer broke the protocol; the caller must then drop it. */
  receive(chunk: Uint8Array): string | undefined;
  /** Stops delivering events (the transport is closing), even for frames already buffered. */
  stop(): void;
  readonly peer: PeerInfo | undefined;
}

const SOCKET_TYPES = new Set<string>(['PAIR', 'PUB', 'SUB', 'REQ', 'REP', 'DEALER', 'ROUTER', 'PULL', 'PUSH', 'XPUB', 'XSUB']);
const MAX_IDENTITY_BYTES = 255;
const MAX_PING_CONTEXT = 16;

export function createSession(options: SessionOptions, handlers: SessionHandlers): Session {
  const decoder = createFrameDecoder(options.limits.maxFrameBytes);
  let peerGreeting: Greeting | undefined;
  let peer: PeerInfo | undefined;
  let stopped = false;
  let parts: Uint8Array[] = [];
  let partsBytes = 0;

  function sendReady(): void {
    const properties: Array<readonly [string, Uint8Array]> = [['Socket-Type', asciiBytes(options.socketType)]];
    if (options.socketType === 'ROUTER' || options.socketType === 'DEALER' || options.socketType === 'REQ') {
      properties.push(['Identity', options.identity ?? new Uint8Array(0)]);
    }
    handlers.write(encodeCommand('READY', encodeProperties(properties)));
  }

  function onReady(data: Uint8Array, greeting: Greeting): string | undefined {
    const parsed = parseProperties(data);
    if (!parsed.ok) return parsed.error;
    const rawType = parsed.properties.get('socket-type');
    const socketType = rawType === undefined ? undefined : new TextDecoder().decode(rawType);
    if (socketType === undefined) return 'READY without Socket-Type';
    if (!SOCKET_TYPES.has(socketType) || !options.accepts.includes(socketType as SocketType)) {
      return `${options.socketType} cannot talk to a ${socketType.slice(0, 32)} peer`;
    }
    const identity = parsed.properties.get('identity') ?? new Uint8Array(0);
    if (identity.byteLength > MAX_IDENTITY_BYTES) return 'Identity longer than 255 bytes';
    peer = {
      socketType: socketType as SocketType,
      // Copied so the identity does not pin the whole READY frame.
      identity: identity.slice(),
      minor: negotiateMinor(options.minor, greeting),
      properties: parsed.properties,
    };
    handlers.ready(peer);
    return undefined;
  }

  function onCommand(command: Command): string | undefined {
    if (peerGreeting === undefined) return 'command before greeting';
    if (peer === undefined) {
      if (command.name === 'READY') return onReady(command.data, peerGreeting);
      if (command.name === 'ERROR') return `peer refused the handshake: ${errorReason(command.data)}`;
      return `expected READY, got ${command.name}`;
    }
    switch (command.name) {
      case 'READY':
        return 'duplicate READY';
      case 'ERROR':
        return `peer sent ERROR: ${errorReason(command.data)}`;
      case 'PING': {
        // PING = 2-byte TTL + up to 16 bytes of context, echoed back in PONG (ZMTP 3.1 heartbeats).
        if (command.data.byteLength < 2 || command.data.byteLength > 2 + MAX_PING_CONTEXT) return 'malformed PING';
        handlers.write(encodeCommand('PONG', command.data.subarray(2)));
        return undefined;
      }
      case 'PONG':
        return undefined;
      default:
        handlers.command?.(command);
        return undefined;
    }
  }

  function onDataFrame(body: Uint8Array, more: boolean): string | undefined {
    if (peer === undefined) return 'message frame before the handshake finished';
    partsBytes += body.byteLength;
    parts.push(body);
    if (partsBytes > options.limits.maxMessageBytes) {
      return `message exceeds the ${options.limits.maxMessageBytes}-byte limit`;
    }
    if (parts.length > options.limits.maxMessageFrames) {
      return `message exceeds the ${options.limits.maxMessageFrames}-frame limit`;
    }
    if (more) return undefined;
    const message = parts;
    parts = [];
    partsBytes = 0;
    handlers.message(message);
    return undefined;
  }

  return {
    start() {
      handlers.write(encodeGreeting(options.minor));
    },
    receive(chunk) {
      if (stopped) return undefined;
      const result = decoder.push(chunk);
      for (const event of result.events) {
        if (stopped) return undefined;
        let error: string | undefined;
        if (event.kind === 'greeting') {
          peerGreeting = event.greeting;
          sendReady();
        } else if (event.command) {
          const parsed = parseCommand(event.body);
          error = parsed.ok ? onCommand(parsed.command) : parsed.error;
        } else {
          error = onDataFrame(event.body, event.more);
        }
        if (error !== undefined) return error;
      }
      return result.ok ? undefined : result.error;
    },
    stop() {
      stopped = true;
    },
    get peer() {
      return peer;
    },
  };
}

function errorReason(data: Uint8Array): string {
  const size = data[0] ?? 0;
  const text = new TextDecoder().decode(data.subarray(1, 1 + size));
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) || 'no reason given';
}
