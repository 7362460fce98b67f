// Probes every endpoint on an interval, all at once, and flips health after enough results in a row.
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { SMALL_ANSWER_MAX_BYTES } from '../net/body-limits.ts';
import { isSuccess, probe } from '../net/probe.ts';
import { redirectNote } from '../net/redirect.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointRegistry } from './registry.ts';

export interface HealthOptions {
  readonly intervalSecs: number;
  readonly timeoutSecs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly path: string;
  readonly apiKey: string | undefined;
  /** Which probe answers mean healthy (default: any 2xx). */
  readonly healthyStatus?: (status: number) => boolean;
  /** After each good probe of a base URL in a round or at start-up (what it serves is read then). */
  readonly onGoodProbe?: (url: string) => Promise<void>;
  /** The probe of a grpc:// endpoint (HealthCheck or grpc.health.v1): a reason when it is not healthy. */
  readonly grpcProbe?: (url: string, timeoutMs: number) => Promise<string | undefined>;
}

interface Streak {
  ok: number;
  bad: number;
}

type ProbeOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export class HealthChecker implements Disposable {
  readonly #streaks = new Map<string, Streak>();
  /** Why the latest probe of a base URL failed, for the log line when an endpoint turns unhealthy. */
  readonly #lastFailure = new Map<string, string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly options: HealthOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.#timer ??= setInterval(() => void this.round(), this.options.intervalSecs * 1000);
  }

  /** One probe per distinct base URL (data-parallel ranks share a server), all concurrently. */
  async round(): Promise<void> {
    const byUrl = Map.groupBy(this.registry.all(), (e) => e.url);
    for (const url of this.#lastFailure.keys()) if (!byUrl.has(url)) this.#lastFailure.delete(url);
    await Promise.all(
      [...byUrl].map(async ([url, endpoints]) => {
        const ok = await this.probe(url);
        this.apply(endpoints, ok);
        if (ok) await this.options.onGoodProbe?.(url);
      }),
    );
  }

  /** Start-up: the first probe decides health directly, so a dead endpoint takes no traffic from the first request. */
  async initial(endpoints: readonly Endpoint[]): Promise<void> {
    const byUrl = Map.groupBy(endpoints, (e) => e.url);
    await Promise.all(
      [...byUrl].map(async ([url, group]) => {
        const ok = await this.probe(url);
        for (const e of group) this.set(e, ok);
        if (ok) await this.options.onGoodProbe?.(url);
      }),
    );
  }

  /**
   * One probe of a base URL: healthy when it answers a healthy status itself. It runs on node:http (see
   * net/probe.ts), so streams holding every fetch slot cannot starve it; a 3xx is a failure, never followed.
   */
  async probe(url: string): Promise<boolean> {
    const outcome = await this.check(url);
    this.metrics.healthChecks.inc({ worker: url, result: outcome.ok ? 'ok' : 'failed' });
    if (outcome.ok) this.#lastFailure.delete(url);
    else {
      this.#lastFailure.set(url, outcome.reason);
      this.log.debug('health probe failed', { endpoint: url, reason: outcome.reason });
    }
    return outcome.ok;
  }

  private async check(url: string): Promise<ProbeOutcome> {
    if (this.options.grpcProbe !== undefined && isGrpcUrl(url)) {
      const reason = await this.options.grpcProbe(url, this.options.timeoutSecs * 1000);
      return reason === undefined ? { ok: true } : { ok: false, reason };
    }
    const answer = await probe({
      url: url + this.options.path,
      headers: this.options.apiKey === undefined ? {} : { authorization: `Bearer ${this.options.apiKey}` },
      timeoutMs: this.options.timeoutSecs * 1000,
      maxBodyBytes: SMALL_ANSWER_MAX_BYTES,
    });
    if (answer.kind === 'failure') return { ok: false, reason: `${this.options.path}: ${answer.message}` };
    const healthy = this.options.healthyStatus?.(answer.status) ?? isSuccess(answer.status);
    return healthy ? { ok: true } : { ok: false, reason: `${this.options.path} answered ${answer.status}${redirectNote(answer.status)}` };
  }

  private apply(endpoints: readonly Endpoint[], ok: boolean): void {
    for (const e of endpoints) {
      const streak = this.#streaks.get(e.id) ?? { ok: 0, bad: 0 };
      this.#streaks.set(e.id, streak);
      if (ok) {
        streak.ok++;
        streak.bad = 0;
        if (!e.healthy && streak.ok >= this.options.successThreshold) this.set(e, true);
      } else {
        streak.bad++;
        streak.ok = 0;
        if (e.healthy && streak.bad >= this.options.failureThreshold) this.set(e, false);
      }
    }
  }

  private set(e: Endpoint, healthy: boolean): void {
    if (e.healthy !== healthy) {
      if (healthy) this.log.info('endpoint healthy', { endpoint: e.id });
      else this.log.warn('endpoint unhealthy', { endpoint: e.id, reason: this.#lastFailure.get(e.url) });
    }
    e.healthy = healthy;
    this.metrics.workerHealth.set({ worker: e.id }, healthy ? 1 : 0);
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
