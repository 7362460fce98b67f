// The selection both QoE policies share: gather each candidate's signals, cost it, take the cheapest.
import type { Endpoint } from '../../core/endpoint.ts';
import type { LatencyWindow } from '../../signals/engine-metrics.ts';
import type { Policy, PolicyDeps, SelectContext } from '../types.ts';
import { costParts, pendingPrefill, totalCost, type CostParts, type EndpointSignals } from './cost.ts';
import { resolveQoeOptions, type QoeOptions, type QoeWeights } from './options.ts';
import { requestProfile, type RequestProfile } from './request-profile.ts';
import { taggedPool } from './tags.ts';
import { createAdaptiveWeights, type FleetLoad } from './weights.ts';

export interface ScoredEndpoint {
  readonly endpoint: Endpoint;
  readonly signals: EndpointSignals;
  readonly parts: CostParts;
  readonly cost: number;
}

export interface QoePolicy extends Policy {
  /** The weights in force now. */
  weights(): QoeWeights;
  /** The costs `select` would compare for this context, cheapest first, without choosing or adapting. */
  explain(ctx: SelectContext): readonly ScoredEndpoint[];
  readonly options: QoeOptions;
}

// Costs closer than this are a tie, broken at random so equal endpoints share the load.
const TIE = 1e-9;
// Time constant of the prefill-queue average that a measured TTFT is set against. The router's TTFT is an
// average over the last ~5 first tokens (endpoint-stats.ts), a few seconds of traffic at an endpoint's usual
// 1–3 requests per second, so the queue is averaged over about as long.
const QUEUE_WINDOW_MS = 5000;

/**
 * `disaggregated`: without a PD stage, only the candidates tagged for the request's phase are considered
 * and that phase's metric alone scores them; when none is tagged for it, it scores like qoe_centric. Otherwise
 * every candidate is considered and both phases count, weighted by the request's phase.
 */
export function createQoePolicy(name: 'qoe_centric' | 'disaggregated_qoe', deps: PolicyDeps): QoePolicy {
  const options = resolveQoeOptions(deps.options.qoe);
  const adaptive = createAdaptiveWeights(options.weights, options.adapt);
  const signals = deps.signals;
  const statsClock = signals?.statsClock ?? deps.now;
  const createdAt = deps.now();
  // When this policy last chose each endpoint: what the router measured there is current only while it gets traffic.
  const lastPicked = new Map<string, number>();
  // Each endpoint's prefill queue averaged over time, as the policy saw it at each decision: the queue its
  // measured TTFT was measured behind, so that TTFT can be rescaled to the queue there now (cost.ts
  // expectedTtft). Averaged over time, not over picks: piling requests onto one endpoint must not make the
  // long queue look usual before any of them has answered.
  const queueAverage = new Map<string, { avg: number; last: number; at: number }>();
  const recordQueue = (id: string, queue: number, now: number): void => {
    const q = queueAverage.get(id);
    if (q === undefined) {
      queueAverage.set(id, { avg: queue, last: queue, at: now });
      return;
    }
    // The queue seen last held since then; its share of the average grows with the time it held.
    const held = 1 - Math.exp(-Math.max(0, now - q.at) / QUEUE_WINDOW_MS);
    q.avg += held * (q.last - q.avg);
    q.last = queue;
    q.at = now;
  };
  const disaggregated = name === 'disaggregated_qoe';

  const observe = (e: Endpoint, now: number): EndpointSignals => {
    const stat = signals?.endpointStats?.snapshot(e.id, statsClock());
    const engine = signals?.engineMetrics?.get(e.id);
    const fresh = engine !== undefined && !engine.stale ? engine : undefined;
    const recent = now - (lastPicked.get(e.id) ?? createdAt) <= options.latencyMemoryMs;
    const measured = recent && stat !== undefined && stat.completed > 0 ? stat : undefined;
    // The router's own measurement includes the network and is what the client sees; the engine's latest
    // window stands in when the router has none. Both are forgotten after latencyMemoryMs without new
    // observations (no pick here, no request there), so an endpoint avoided for being slow is tried again.
    const engineMs = (w: LatencyWindow | undefined) => (w !== undefined && w.ageMs <= options.latencyMemoryMs ? w.meanMs : undefined);
    const routerTtft = recent ? stat?.ttftMs : undefined;
    return {
      inFlight: e.inFlight,
      inPrefill: stat?.inPrefill,
      inDecode: stat?.inDecode,
      ttftMs: routerTtft ?? engineMs(fresh?.ttft),
      ttftQueue: routerTtft === undefined ? undefined : queueAverage.get(e.id)?.avg,
      itlMs: (recent ? stat?.itlMs : undefined) ?? engineMs(fresh?.itl),
      tokensPerSecond: recent ? stat?.tokensPerSecond : undefined,
      errorRate: measured?.errorRate,
      breaker: e.breaker.state,
      running: fresh?.running,
      waiting: fresh?.waiting,
      kvCacheUsage: fresh?.kvCacheUsage,
      prefixCacheHitRate: fresh?.prefixCacheHitRate,
    };
  };

  /**
   * The endpoints to choose from and how to score them. The disaggregated router sends a request to its
   * phase's pool, which that phase's metric alone scores. When no candidate is tagged for the phase, every
   * candidate will run both phases of the request, so both count, as in qoe_centric: scoring a chat
   * continuation on decode speed alone sent it to engines whose prefill queue then missed its TTFT target
   * (bench:sim mixed workload on a fast/slow fleet, bench/README.md).
   */
  const routeOf = (ctx: SelectContext): { pool: readonly Endpoint[]; profile: RequestProfile } => {
    const profile = requestProfile(ctx.request, ctx.stage, options);
    if (!disaggregated || profile.stage !== undefined) return { pool: ctx.candidates, profile };
    const tagged = taggedPool(ctx.candidates, profile.phase, options);
    return tagged === undefined ? { pool: ctx.candidates, profile } : { pool: tagged, profile: { ...profile, stage: profile.phase } };
  };

  const score = (pool: readonly Endpoint[], profile: RequestProfile, now: number, weights: QoeWeights): ScoredEndpoint[] => {
    const observed = comparable(pool.map((endpoint) => observe(endpoint, now)));
    return pool.map((endpoint, i) => {
      const s = observed[i]!;
      const parts = costParts(s, profile, options);
      return { endpoint, signals: s, parts, cost: totalCost(parts, weights) };
    });
  };

  const fleetLoad = (scored: readonly ScoredEndpoint[]): FleetLoad => {
    let inPrefill = 0;
    let inDecode = 0;
    for (const { signals: s } of scored) {
      // Without router stats, the engine's queue and batch stand in for the two phases.
      inPrefill += s.inPrefill ?? s.waiting ?? 0;
      inDecode += s.inDecode ?? s.running ?? 0;
    }
    return { inPrefill, inDecode, endpoints: scored.length };
  };

  return {
    name,
    options,
    weights: () => adaptive.current(),
    explain(ctx) {
      const { pool, profile } = routeOf(ctx);
      return score(pool, profile, deps.now(), adaptive.current()).sort((a, b) => a.cost - b.cost);
    },
    select(ctx) {
      const { candidates } = ctx;
      if (candidates.length <= 1) {
        if (candidates[0] !== undefined) lastPicked.set(candidates[0].id, deps.now());
        return candidates[0];
      }
      const now = deps.now();
      const { pool, profile } = routeOf(ctx);
      const before = adaptive.current();
      const scored = score(pool, profile, now, before);
      const weights = adaptive.observe(now, fleetLoad(scored));
      if (weights !== before) for (const [i, s] of scored.entries()) scored[i] = { ...s, cost: totalCost(s.parts, weights) };
      let best = Infinity;
      for (const s of scored) best = Math.min(best, s.cost);
      const cheapest = scored.filter((s) => s.cost <= best + TIE);
      const chosen = cheapest.length === 1 ? cheapest[0] : cheapest[Math.min(cheapest.length - 1, Math.floor(deps.random() * cheapest.length))];
      if (chosen === undefined) return undefined;
      lastPicked.set(chosen.endpoint.id, now);
      for (const s of scored) recordQueue(s.endpoint.id, pendingPrefill(s.signals), statsClock());
      return chosen.endpoint;
    },
    onMembershipChange(all) {
      const ids = new Set(all.map((e) => e.id));
      for (const id of lastPicked.keys()) if (!ids.has(id)) lastPicked.delete(id);
      for (const id of queueAverage.keys()) if (!ids.has(id)) queueAverage.delete(id);
    },
  };
}

/** Engine-side factors that are only compared when every candidate has them. */
const SHARED_FACTORS = ['running', 'waiting', 'kvCacheUsage', 'prefixCacheHitRate'] as const;

/**
 * Drops an engine-side factor for every candidate when one of them lacks it (a stale scrape, an interval
 * without prefix-cache queries): otherwise the endpoint that is measured pays for a cost the unmeasured
 * one escapes, and a cache miss rate caused by the workload would push traffic away from whoever served it.
 */
function comparable(signals: EndpointSignals[]): EndpointSignals[] {
  const missing = SHARED_FACTORS.filter((k) => signals.some((s) => s[k] === undefined) && signals.some((s) => s[k] !== undefined));
  if (missing.length === 0) return signals;
  const blank = Object.fromEntries(missing.map((k) => [k, undefined]));
  return signals.map((s) => ({ ...s, ...blank }));
}
