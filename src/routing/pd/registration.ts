// vLLM self-registration listener: a ZMQ ROUTER that keeps http_address → {zmq address, role} with a TTL per ping.
import { RouterSocket, type RouterPeerEvent } from '../../zmq/router-socket.ts';
import {
  createRegistrationDecoder,
  type Registration,
  type RejectReason,
  type TransferMode,
} from './registration-message.ts';

export type { DiscoveredRole, RejectReason, TransferMode } from './registration-message.ts';

/** One registered engine. A snapshot: refreshing an entry produces new objects, never mutates handed-out ones. */
export interface DiscoveredInstance extends Registration {
  /** When the entry expires unless pinged again, on the listener's clock (ms). */
  readonly expiresAt: number;
}

export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
  /** The sender's routing identity (vLLM sets it to its zmq_address), printable characters only. */
  readonly identity: string;
}

export interface RegistrationListenerOptions {
  /** Where to bind: `host:port` (the `--vllm-discovery-address` form) or `tcp://host:port`; port 0 picks one. */
  readonly address: string;
  /** Entry lifetime after each ping; vLLM's proxy uses 5 s (DEFAULT_PING_SECONDS) against a 3 s ping. */
  readonly ttlMs?: number;
  /** How often expired entries are purged; defaults to a fifth of the TTL, at most 1 s. */
  readonly sweepIntervalMs?: number;
  /** Clock in ms; injectable so tests can expire entries without waiting. */
  readonly now?: () => number;
  /** Distinct http_addresses kept at most; more are rejected (`capacity`), bounding memory under a flood. */
  readonly maxInstances?: number;
  readonly onAdded?: (instance: DiscoveredInstance) => void;
  /** `replaced` when an http_address re-registers with another role, zmq address or transfer mode. */
  readonly onRemoved?: (instance: DiscoveredInstance, cause: 'expired' | 'replaced') => void;
  readonly onRejected?: (rejection: Rejection) => void;
  /** Connection-level events (peers connecting, garbage being dropped), for logs. */
  readonly onPeerEvent?: (event: RouterPeerEvent) => void;
}

export interface RegistrationCounts {
  readonly accepted: number;
  readonly rejected: Readonly<Partial<Record<RejectReason, number>>>;
}

/** Registrations are a few hundred bytes of msgpack in one frame; anything bigger is not a vLLM engine. */
const REGISTRATION_LIMITS = { maxFrameBytes: 64 * 1024, maxMessageBytes: 64 * 1024, maxMessageFrames: 8 };

function printable(identity: Uint8Array): string {
  return new TextDecoder().decode(identity).replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

function sameEndpoint(a: Registration, b: Registration): boolean {
  return a.role === b.role && a.zmqAddress === b.zmqAddress && a.transferMode === b.transferMode;
}

export class RegistrationListener implements AsyncDisposable {
  readonly #router: RouterSocket;
  readonly #table = new Map<string, DiscoveredInstance>();
  readonly #rejected = new Map<RejectReason, number>();
  readonly #options: RegistrationListenerOptions;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  #accepted = 0;
  /** MoRI-IO: the first accepted registration carrying a transfer mode fixes it for the listener's lifetime. */
  #transferMode: TransferMode | undefined;

  /** Binds the ROUTER socket and starts the expiry timer. Throws if the address is invalid or taken. */
  static start(options: RegistrationListenerOptions): RegistrationListener {
    return new RegistrationListener(options);
  }

  private constructor(options: RegistrationListenerOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#now = options.now ?? Date.now;
    const decode = createRegistrationDecoder();
    const endpoint = options.address.startsWith('tcp://') ? options.address : `tcp://${options.address}`;
    this.#router = RouterSocket.bind(endpoint, {
      limits: REGISTRATION_LIMITS,
      onMessage: (message) => {
        const decoded = decode(message);
        const identity = message[0] as Uint8Array;
        if (decoded.ok) this.#register(decoded.registration, identity);
        else this.#reject(decoded.reason, decoded.detail, identity);
      },
      ...(options.onPeerEvent ? { onPeerEvent: options.onPeerEvent } : {}),
    });
    // Expiry runs on its own timer: vLLM's proxy only purged when another instance of the same type pinged,
    // so the last prefill or decode engine of a kind never expired (disagg_proxy_p2p_nccl_xpyd.py in vLLM's examples/online_serving/disaggregated_serving_p2p_nccl_xpyd/).
    const interval = options.sweepIntervalMs ?? Math.max(10, Math.min(1_000, this.#ttlMs / 5));
    this.#sweepTimer = setInterval(() => this.sweep(), interval);
    this.#sweepTimer.unref();
  }

  /** The bound endpoint with its real port, e.g. `tcp://0.0.0.0:30001`. */
  get endpoint(): string {
    return this.#router.endpoint;
  }

  get port(): number {
    return this.#router.port;
  }

  /** The MoRI-IO transfer mode fixed by the first registration that carried one, if any. */
  get transferMode(): TransferMode | undefined {
    return this.#transferMode;
  }

  /** Live entries, least recently pinged first. */
  instances(): DiscoveredInstance[] {
    return [...this.#table.values()];
  }

  counts(): RegistrationCounts {
    return { accepted: this.#accepted, rejected: Object.fromEntries(this.#rejected) };
  }

  /** Drops entries whose TTL has passed. The timer calls it; tests with an injected clock may call it directly. */
  sweep(): void {
    const now = this.#now();
    for (const [key, instance] of this.#table) {
      if (instance.expiresAt > now) continue;
      this.#table.delete(key);
      this.#options.onRemoved?.(instance, 'expired');
    }
  }

  /** Stops the timer and the socket. Entries are dropped without `removed` events: the router is going away. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    await this.#router.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #register(registration: Registration, identity: Uint8Array): void {
    const mode = registration.transferMode;
    if (mode !== undefined && this.#transferMode !== undefined && mode !== this.#transferMode) {
      this.#reject('transfer_mode_mismatch', `transfer_mode ${mode} differs from the fixed ${this.#transferMode}`, identity);
      return;
    }
    // Purge first so a ping arriving after its entry's TTL counts as a new registration, not a refresh.
    this.sweep();
    const previous = this.#table.get(registration.httpAddress);
    if (previous === undefined && this.#table.size >= (this.#options.maxInstances ?? 4_096)) {
      this.#reject('capacity', `already tracking ${this.#table.size} instances`, identity);
      return;
    }
    this.#transferMode ??= mode;
    this.#accepted += 1;
    const instance: DiscoveredInstance = { ...registration, expiresAt: this.#now() + this.#ttlMs };
    if (previous !== undefined && sameEndpoint(previous, registration)) {
      // Re-inserted, not just updated, so iteration order stays "least recently pinged first".
      this.#table.delete(registration.httpAddress);
      this.#table.set(registration.httpAddress, instance);
      return;
    }
    if (previous !== undefined) {
      this.#table.delete(registration.httpAddress);
      this.#options.onRemoved?.(previous, 'replaced');
    }
    this.#table.set(registration.httpAddress, instance);
    this.#options.onAdded?.(instance);
  }

  #reject(reason: RejectReason, detail: string, identity: Uint8Array): void {
    this.#rejected.set(reason, (this.#rejected.get(reason) ?? 0) + 1);
    this.#options.onRejected?.({ reason, detail, identity: printable(identity) });
  }
}
