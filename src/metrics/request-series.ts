// The labelled children every request updates, looked up once per endpoint, model, route and policy and kept.
//
// A request touched about a dozen labelled series (in flight, sent, decisions, breaker outcomes, TTFT, ITL,
// e2e, tokens, duration, status, outcome), and each `labels(...)` walks a map per label and allocates its
// argument list: 2.4% of the router's samples (bench/results/overhead-profile.md). These maps hand out the
// same children the metrics hold. They are bounded (an endpoint or model label that keeps changing cannot
// grow them past MAX_KEYS; they start over) and forget everything when one of their metrics is reset, so a
// child kept here is always one the exposition shows.
import type { CounterChild, GaugeChild, HistogramChild, LeanCounter, LeanGauge, LeanHistogram } from './lean.ts';

/** One endpoint's series. */
export interface EndpointSeries {
  readonly running: GaugeChild;
  readonly processed: CounterChild;
  readonly breakerSuccess: CounterChild;
  readonly breakerFailure: CounterChild;
}

/** One endpoint's series for one model label. */
export interface ModelSeries {
  readonly ttft: HistogramChild;
  readonly itl: HistogramChild;
  readonly e2e: HistogramChild;
  readonly tokensPerSecond: HistogramChild;
  readonly promptTokens: CounterChild;
  readonly completionTokens: CounterChild;
}

/** One route's series. */
export interface RouteSeries {
  readonly duration: HistogramChild;
  /** `vllm_router_requests_total{route, status class}` for an HTTP status. */
  requests(status: number): CounterChild;
  /** `vllm_router_stream_outcomes_total{route, outcome}`. */
  outcome(outcome: string): CounterChild;
}

export interface RequestSeries {
  endpoint(id: string): EndpointSeries;
  model(id: string, model: string): ModelSeries;
  route(route: string): RouteSeries;
  /** `vllm_router_policy_decisions_total{policy, worker}`. */
  decision(policy: string, id: string): CounterChild;
}

/** The metrics the series come from (metrics.ts defines them). */
export interface RequestSeriesSource {
  readonly running: LeanGauge;
  readonly processed: LeanCounter;
  readonly cbOutcomes: LeanCounter;
  readonly policyDecisions: LeanCounter;
  readonly ttft: LeanHistogram;
  readonly itl: LeanHistogram;
  readonly e2e: LeanHistogram;
  readonly tokensPerSecond: LeanHistogram;
  readonly promptTokens: LeanCounter;
  readonly completionTokens: LeanCounter;
  readonly requests: LeanCounter;
  readonly requestDuration: LeanHistogram;
  readonly streamOutcomes: LeanCounter;
}

/** More keys than any fleet has endpoints × models: past it a map starts over rather than grow. */
const MAX_KEYS = 4096;

/** A bounded memo: `make` runs once per key until the map is cleared or full. */
function memo<V>(make: (key: string) => V): { get(key: string): V; clear(): void } {
  let map = new Map<string, V>();
  return {
    get(key) {
      let value = map.get(key);
      if (value === undefined) {
        if (map.size >= MAX_KEYS) map = new Map();
        value = make(key);
        map.set(key, value);
      }
      return value;
    },
    clear() {
      map = new Map();
    },
  };
}

export function createRequestSeries(m: RequestSeriesSource): RequestSeries {
  const endpoints = memo<EndpointSeries>((id) => ({
    running: m.running.labels(id),
    processed: m.processed.labels(id),
    breakerSuccess: m.cbOutcomes.labels(id, 'success'),
    breakerFailure: m.cbOutcomes.labels(id, 'failure'),
  }));
  // endpoint → model → series: no key string to build per request.
  const models = memo((id) =>
    memo<ModelSeries>((model) => ({
      ttft: m.ttft.labels(id, model),
      itl: m.itl.labels(id, model),
      e2e: m.e2e.labels(id, model),
      tokensPerSecond: m.tokensPerSecond.labels(id, model),
      promptTokens: m.promptTokens.labels(id, model),
      completionTokens: m.completionTokens.labels(id, model),
    })),
  );
  const routes = memo<RouteSeries>((route) => {
    const byStatus = new Map<number, CounterChild>();
    const byOutcome = new Map<string, CounterChild>();
    return {
      duration: m.requestDuration.labels(route),
      requests(status) {
        let child = byStatus.get(status);
        if (child === undefined) {
          child = m.requests.labels(route, `${Math.floor(status / 100)}xx`);
          // Statuses are 100–599 (Bun's Response refuses others): the map stays small.
          byStatus.set(status, child);
        }
        return child;
      },
      outcome(outcome) {
        let child = byOutcome.get(outcome);
        if (child === undefined) byOutcome.set(outcome, (child = m.streamOutcomes.labels(route, outcome)));
        return child;
      },
    };
  });
  const decisions = memo((policy) => memo((id) => m.policyDecisions.labels(policy, id)));
  const forget = {
    endpoints: () => endpoints.clear(),
    models: () => models.clear(),
    routes: () => routes.clear(),
    decisions: () => decisions.clear(),
  };
  for (const metric of [m.running, m.processed, m.cbOutcomes]) metric.onReset(forget.endpoints);
  for (const metric of [m.ttft, m.itl, m.e2e, m.tokensPerSecond, m.promptTokens, m.completionTokens]) metric.onReset(forget.models);
  for (const metric of [m.requests, m.requestDuration, m.streamOutcomes]) metric.onReset(forget.routes);
  m.policyDecisions.onReset(forget.decisions);
  return {
    endpoint: (id) => endpoints.get(id),
    model: (id, model) => models.get(id).get(model),
    route: (route) => routes.get(route),
    decision: (policy, id) => decisions.get(policy).get(id),
  };
}
