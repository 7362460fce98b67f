// Probes every endpoint on an interval, all at once, and flips health after enough results in a row.
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
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
}

interface Streak {
  ok: number;
  bad: number;
}

export class HealthChecker implements Disposable {
  readonly #streaks = new Map<string, Streak>();
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
    await Promise.all([...byUrl].map(async ([url, endpoints]) => this.apply(endpoints, await this.probe(url))));
  }

  /** Start-up: the first probe decides health directly, so a dead endpoint takes no traffic from the first request. */
  async initial(endpoints: readonly Endpoint[]): Promise<void> {
    const byUrl = Map.groupBy(endpoints, (e) => e.url);
    await Promise.all(
      [...byUrl].map(async ([url, group]) => {
        const ok = await this.probe(url);
        for (const e of group) this.set(e, ok);
      }),
    );
  }

  async probe(url: string): Promise<boolean> {
    try {
      const res = await fetch(url + this.options.path, {
        headers: this.options.apiKey === undefined ? {} : { authorization: `Bearer ${this.options.apiKey}` },
        signal: AbortSignal.timeout(this.options.timeoutSecs * 1000),
      });
      await res.body?.cancel();
      const ok = this.options.healthyStatus?.(res.status) ?? res.ok;
      this.metrics.healthChecks.inc({ worker: url, result: ok ? 'ok' : 'failed' });
      return ok;
    } catch {
      this.metrics.healthChecks.inc({ worker: url, result: 'failed' });
      return false;
    }
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
    if (e.healthy !== healthy) this.log[healthy ? 'info' : 'warn'](healthy ? 'endpoint healthy' : 'endpoint unhealthy', { endpoint: e.id });
    e.healthy = healthy;
    this.metrics.workerHealth.set({ worker: e.id }, healthy ? 1 : 0);
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
