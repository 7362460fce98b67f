// A running router: the parts start-up built, owned together, drained and closed in the order a shutdown needs.
import type { Config } from '../config/schema.ts';
import type { Admission } from '../core/admission.ts';
import type { EndpointManager } from '../core/endpoint-manager.ts';
import type { HealthChecker } from '../core/health.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { KubernetesDiscovery } from '../discovery/kubernetes.ts';
import type { ShutdownPhase } from '../http/shutdown-gate.ts';
import type { DailyLogFile } from '../log/daily-file.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Policy } from '../policies/types.ts';
import type { TokenizerPool } from '../pool/pool.ts';
import type { MooncakeBootstrap } from '../routing/pd/mooncake-bootstrap.ts';
import type { RegistrationListener } from '../routing/pd/registration.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import type { EngineMetrics } from '../signals/engine-metrics.ts';
import type { KvEvents } from '../signals/kv-events/kv-events.ts';
import type { Tracing } from '../tracing/setup.ts';
import type { GrpcFront } from './grpc.ts';
import type { Policies } from './policies.ts';
import type { Reconfigure, ReloadOutcome } from './reload.ts';

/** Everything a running router owns; built by startRouter, disposed together. */
export interface RouterParts {
  readonly config: Config;
  readonly log: Logger;
  readonly logFile: DailyLogFile | undefined;
  readonly metrics: Metrics;
  readonly registry: EndpointRegistry;
  readonly stats: EndpointStats;
  readonly pool: TokenizerPool | undefined;
  readonly grpc: GrpcFront;
  readonly engineMetrics: EngineMetrics | undefined;
  readonly kvEvents: KvEvents | undefined;
  readonly policies: Policies;
  readonly health: HealthChecker;
  readonly endpoints: EndpointManager;
  readonly discovery: KubernetesDiscovery | undefined;
  readonly admission: Admission;
  readonly registration: RegistrationListener | undefined;
  readonly mooncake: MooncakeBootstrap | undefined;
  readonly tracing: Tracing | undefined;
  readonly server: Bun.Server<unknown>;
  /** Absent with --metrics-on-router-port: the router's own listener serves /metrics. */
  readonly metricsServer: Bun.Server<unknown> | undefined;
  /** Applies a new configuration (SIGHUP); see RunningRouter.reconfigure. */
  readonly reconfigure: Reconfigure;
}

/** The parts built so far while starting: whatever is there is closed when a later step fails. */
export type PartsSoFar = { -readonly [K in keyof RouterParts]?: RouterParts[K] };

export interface DrainTimes {
  /** --shutdown-delay-secs: new requests are still served this long. */
  readonly delayMs: number;
  /** --shutdown-grace-period-secs: then in-flight requests and streams get this long to finish. */
  readonly graceMs: number;
}

export class RunningRouter implements AsyncDisposable {
  #phase: ShutdownPhase = 'serving';
  #config: Config;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly policy: Policy;
  readonly log: Logger;
  readonly stats: EndpointStats;

  constructor(private readonly parts: RouterParts) {
    ({ config: this.#config, registry: this.registry, metrics: this.metrics, log: this.log, stats: this.stats } = parts);
    this.policy = parts.policies.main;
  }

  /** The configuration in force (the latest one a reload accepted). */
  get config(): Config {
    return this.#config;
  }

  /**
   * Applies a new configuration without dropping a connection: endpoints the configuration lists are added
   * (probed first) or removed (drained), policies are rebuilt when their settings changed, the log level
   * follows; anything else waits for a restart and is named in the outcome.
   */
  async reconfigure(next: Config): Promise<ReloadOutcome> {
    const outcome = await this.parts.reconfigure(next);
    this.#config = next;
    return outcome;
  }

  get url(): string {
    return `http://${this.parts.server.hostname}:${this.parts.server.port}`;
  }
  get metricsUrl(): string {
    const server = this.parts.metricsServer ?? this.parts.server;
    return `http://${server.hostname}:${server.port}/metrics`;
  }
  /** Port of the ZMQ self-registration socket, when --vllm-discovery-address is set. */
  get registrationPort(): number | undefined {
    return this.parts.registration?.port;
  }
  get phase(): ShutdownPhase {
    return this.#phase;
  }

  /**
   * The shutdown Kubernetes and load balancers expect: readiness fails at once while new requests are still
   * served for `delayMs`; then new requests are refused (503, Retry-After) while the ones in flight get
   * `graceMs` to finish; whatever is still open then is cut. The listener stays open until the end, so a
   * client is answered rather than refused a connection. Resolves true when everything finished in time.
   */
  async drain(times: DrainTimes): Promise<boolean> {
    this.#phase = 'draining';
    await this.parts.discovery?.[Symbol.asyncDispose]();
    await Bun.sleep(times.delayMs);
    this.#phase = 'closing';
    this.log.info('draining: new requests are refused; waiting for the ones in flight', { in_flight: this.parts.server.pendingRequests });
    const finished = await idle(this.parts.server, times.graceMs);
    await this.parts.server.stop(!finished);
    closeParts(this.parts);
    await flushTraces(this.parts);
    return finished;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#phase = 'closing';
    await disposeParts(this.parts);
  }
}

/** Stops discovery and the listener at once, closes the rest, then sends the last spans. */
export async function disposeParts(parts: PartsSoFar): Promise<void> {
  await parts.discovery?.[Symbol.asyncDispose]();
  await parts.server?.stop(true);
  closeParts(parts);
  await flushTraces(parts);
}

/** Everything but discovery, the API listener and the trace exporter, which a drain times itself. */
function closeParts(parts: PartsSoFar): void {
  void parts.pool?.close();
  void parts.registration?.close();
  parts.mooncake?.[Symbol.dispose]();
  parts.admission?.[Symbol.dispose]();
  parts.endpoints?.[Symbol.dispose]();
  parts.engineMetrics?.[Symbol.dispose]();
  void parts.kvEvents?.[Symbol.asyncDispose]();
  parts.health?.[Symbol.dispose]();
  parts.grpc?.[Symbol.dispose]();
  parts.policies?.dispose();
  void parts.metricsServer?.stop(true);
  parts.log?.flush();
  parts.logFile?.[Symbol.dispose]();
}

/** The last spans go out after the listeners are closed (bounded by the exporter's shutdown timeout). */
async function flushTraces(parts: PartsSoFar): Promise<void> {
  await parts.tracing?.exporter[Symbol.asyncDispose]();
}

/** How often a drain looks at the requests still open (Bun counts them, streamed bodies included, but has no event). */
const DRAIN_POLL_MS = 50;

/** Resolves true once the server has no request open (refusals answer at once), false after `graceMs`. */
async function idle(server: Bun.Server<unknown>, graceMs: number): Promise<boolean> {
  const deadline = performance.now() + graceMs;
  while (server.pendingRequests > 0) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await Bun.sleep(Math.min(DRAIN_POLL_MS, left));
  }
  return true;
}
