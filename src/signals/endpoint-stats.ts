// Live per-endpoint summaries that policies can read: recent TTFT, ITL, throughput, phase counts, error rate.
// Recent means exponentially weighted (half-life in requests), so reading is O(1) and nothing grows.

export interface EndpointSnapshot {
  /** Requests sent that have not produced a first byte yet (still in prefill, as the client sees it). */
  readonly inPrefill: number;
  /** Requests streaming their answer. */
  readonly inDecode: number;
  readonly ttftMs: number | undefined;
  readonly itlMs: number | undefined;
  readonly tokensPerSecond: number | undefined;
  /** Share of recent requests that failed (5xx, transport errors, broken streams). */
  readonly errorRate: number;
  /** Requests started per second over the last window. */
  readonly qps: number;
  readonly completed: number;
}

/**
 * A stream still being relayed, as far as it has come: what its meter (signals/stream-meter.ts) already keeps
 * for the inter-token average, read when a policy asks, so the relay does no extra work per chunk.
 */
export interface LiveStream {
  /** When its first chunk left (ms on the stats clock); undefined until then. */
  readonly firstAt: number | undefined;
  /** When its latest chunk left. */
  readonly lastAt: number;
  /** Gaps between its chunks so far (chunks − 1): vLLM streams one token per chunk. */
  readonly gaps: number;
}

/** How one leg at an endpoint ended. */
export interface LegOutcome {
  readonly ok: boolean;
  readonly sawFirstByte: boolean;
  readonly itlMs?: number | undefined;
  readonly tokensPerSecond?: number | undefined;
  /** From the leg's send to its end; set for an answer read whole (a PD prefill leg is its prefill time). */
  readonly elapsedMs?: number | undefined;
  /** The stream given to `firstByte`, no longer live. */
  readonly stream?: LiveStream | undefined;
}

/**
 * Told of every first byte and every end as they happen, after the counts are updated: the QoE latency
 * predictor learns each endpoint's speed from them (policies/qoe/latency-predictor.ts).
 */
export interface StatsListener {
  /** `ttftMs` from the request's arrival, `sinceSentMs` from this leg's send. */
  firstByte?(endpoint: string, ttftMs: number, sinceSentMs: number): void;
  finished?(endpoint: string, outcome: LegOutcome): void;
}

export interface EndpointStats {
  started(endpoint: string, now: number): void;
  /** `sinceSentMs` defaults to `ttftMs` (the leg was sent when the request arrived); `stream`, when given, is
   * live at the endpoint until the leg's `finished` names it. */
  firstByte(endpoint: string, ttftMs: number, sinceSentMs?: number, stream?: LiveStream): void;
  finished(endpoint: string, outcome: LegOutcome): void;
  snapshot(endpoint: string, now: number): EndpointSnapshot;
  /** The streams being relayed from the endpoint now (those whose first byte brought one). */
  live(endpoint: string): ReadonlySet<LiveStream> | undefined;
  forget(endpoint: string): void;
  /** Calls `listener` on every first byte and end from now on; the returned function stops it. */
  subscribe(listener: StatsListener): () => void;
}

interface Entry {
  inPrefill: number;
  inDecode: number;
  ttft: number | undefined;
  itl: number | undefined;
  tps: number | undefined;
  errors: number;
  completed: number;
  windowStart: number;
  windowCount: number;
  lastQps: number;
  live: Set<LiveStream> | undefined;
}

const ALPHA = 0.2; // weight of the newest sample: about the last 5–10 requests dominate
const DEFAULT_QPS_WINDOW_MS = 10_000;
const ewma = (old: number | undefined, sample: number) => (old === undefined ? sample : old + ALPHA * (sample - old));

/** `qpsWindowMs`: the window requests per second are counted over (--request-stats-window-secs). */
export function createEndpointStats({ qpsWindowMs = DEFAULT_QPS_WINDOW_MS }: { qpsWindowMs?: number } = {}): EndpointStats {
  const entries = new Map<string, Entry>();
  const listeners = new Set<StatsListener>();
  const entry = (id: string, now = 0) => {
    let e = entries.get(id);
    if (e === undefined) {
      e = { inPrefill: 0, inDecode: 0, ttft: undefined, itl: undefined, tps: undefined, errors: 0, completed: 0, windowStart: now, windowCount: 0, lastQps: 0, live: undefined };
      entries.set(id, e);
    }
    return e;
  };
  const roll = (e: Entry, now: number) => {
    if (now - e.windowStart >= qpsWindowMs) {
      e.lastQps = (e.windowCount * 1000) / (now - e.windowStart);
      e.windowStart = now;
      e.windowCount = 0;
    }
  };
  return {
    started(id, now) {
      const e = entry(id, now);
      roll(e, now);
      e.windowCount++;
      e.inPrefill++;
    },
    firstByte(id, ttftMs, sinceSentMs = ttftMs, stream) {
      const e = entry(id);
      e.inPrefill = Math.max(0, e.inPrefill - 1);
      e.inDecode++;
      if (stream !== undefined) (e.live ??= new Set()).add(stream);
      e.ttft = ewma(e.ttft, ttftMs);
      for (const l of listeners) l.firstByte?.(id, ttftMs, sinceSentMs);
    },
    finished(id, o) {
      const e = entry(id);
      if (o.sawFirstByte) e.inDecode = Math.max(0, e.inDecode - 1);
      else e.inPrefill = Math.max(0, e.inPrefill - 1);
      if (o.stream !== undefined) e.live?.delete(o.stream);
      e.completed++;
      e.errors = ewma(e.errors, o.ok ? 0 : 1);
      if (o.itlMs !== undefined) e.itl = ewma(e.itl, o.itlMs);
      if (o.tokensPerSecond !== undefined) e.tps = ewma(e.tps, o.tokensPerSecond);
      for (const l of listeners) l.finished?.(id, o);
    },
    snapshot(id, now) {
      const e = entry(id, now);
      roll(e, now);
      const elapsed = now - e.windowStart;
      // Blend the finished window with the running one so a burst shows before the window closes.
      const qps = elapsed > 1000 ? (e.windowCount * 1000) / elapsed : e.lastQps;
      return { inPrefill: e.inPrefill, inDecode: e.inDecode, ttftMs: e.ttft, itlMs: e.itl, tokensPerSecond: e.tps, errorRate: e.errors, qps, completed: e.completed };
    },
    live: (id) => entries.get(id)?.live,
    forget(id) {
      entries.delete(id);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
