// The selection both QoE policies share: predict each candidate's TTFT and TPOT for this request (queue
// ahead, uncached prompt, measured speed), probe an endpoint that is due, else take the one most likely to
// meet the request's targets (decide.ts).
import type { Endpoint } from '../../core/endpoint.ts';
import type { Policy, PolicyDeps, SelectContext } from '../types.ts';
import { choose, judge, type Judged, type Targets } from './decide.ts';
import { createLatencyPredictor, type Prediction } from './latency-predictor.ts';
import { resolveQoeOptions, type QoeOptions } from './options.ts';
import { createPrefixAffinity, type PromptCache } from './prefix-affinity.ts';
import { createProber } from './probe.ts';
import { requestProfile, type RequestProfile } from './request-profile.ts';
import { taggedPool } from './tags.ts';

export interface ScoredEndpoint {
  readonly endpoint: Endpoint;
  readonly prediction: Prediction;
  readonly judged: Judged;
}

export interface QoePolicy extends Policy {
  /** What `select` would weigh for this context, best first, without choosing or recording anything. */
  explain(ctx: SelectContext): readonly ScoredEndpoint[];
  readonly options: QoeOptions;
}

/** A PD decode stage prefills nothing: its engine receives the KV cache, so no prefix there saves anything. */
const NOTHING_CACHED: PromptCache = { promptTokens: 0, cachedTokens: () => 0 };

/**
 * `disaggregated`: without a PD stage, only the candidates tagged for the request's phase are considered
 * and that phase's latency alone decides; when none is tagged for it, it decides like qoe_centric.
 */
export function createQoePolicy(name: 'qoe_centric' | 'disaggregated_qoe', deps: PolicyDeps): QoePolicy {
  const options = resolveQoeOptions(deps.options.qoe);
  const signals = deps.signals;
  const affinity = createPrefixAffinity({
    blockSize: deps.tokenizer?.blockSize,
    maxTreeSize: deps.options.maxTreeSize,
    evictionIntervalMs: deps.options.evictionIntervalSecs * 1000,
    kvEvents: signals?.kvEvents,
  });
  const predictor = createLatencyPredictor({ signals, now: deps.now, latencyMemoryMs: options.latencyMemoryMs, recorder: deps.predictions });
  const prober = createProber(options.probeIntervalMs, deps.now());
  const disaggregated = name === 'disaggregated_qoe';

  /**
   * The endpoints to choose from and the stage that decides. The disaggregated policy sends a request to its
   * phase's pool, which that phase's latency alone scores. When no candidate is tagged for the phase, every
   * candidate runs both phases of the request, so both count, as in qoe_centric: scoring a chat continuation
   * on decode speed alone sent it to engines whose prefill queue then missed its TTFT target (bench:sim mixed
   * workload on a fast/slow fleet, bench/README.md).
   */
  const routeOf = (ctx: SelectContext): { pool: readonly Endpoint[]; profile: RequestProfile } => {
    const profile = requestProfile(ctx.request, ctx.stage, options);
    if (!disaggregated || profile.stage !== undefined) return { pool: ctx.candidates, profile };
    const tagged = taggedPool(ctx.candidates, profile.phase, options);
    return tagged === undefined ? { pool: ctx.candidates, profile } : { pool: tagged, profile: { ...profile, stage: profile.phase } };
  };

  const evaluate = (ctx: SelectContext, now: number) => {
    const { pool, profile } = routeOf(ctx);
    const targets: Targets = { ttftMs: profile.slaTargetMs, tpotMs: profile.tpotTargetMs, priority: profile.priority, stage: profile.stage };
    const cache = ctx.stage === 'decode' ? NOTHING_CACHED : affinity.lookup(ctx.request, pool);
    const predictions = predictor.predict(pool, cache, now);
    const judged = predictions.map((p, i) => judge(p, (pool[i] as Endpoint).breaker.state, targets));
    return { pool, profile, targets, predictions, judged };
  };

  return {
    name,
    options,
    wantsBlockHashes: deps.tokenizer !== undefined,
    explain(ctx) {
      const { pool, predictions, judged } = evaluate(ctx, deps.now());
      return pool.map((endpoint, i) => ({ endpoint, prediction: predictions[i] as Prediction, judged: judged[i] as Judged })).sort((a, b) => a.judged.score - b.judged.score);
    },
    select(ctx) {
      if (ctx.candidates.length === 0) return undefined;
      const now = deps.now();
      const { pool, profile, targets, predictions, judged } = evaluate(ctx, now);
      const probe = predictor.learns && pool.length > 1 ? prober.due(pool, predictions, profile.priority, now) : undefined;
      const i = probe ?? choose(predictions, judged, targets, deps.random);
      const chosen = pool[i];
      if (chosen === undefined) return undefined;
      predictor.sent(chosen, predictions[i] as Prediction, ctx.stage, now);
      prober.sent(chosen.id, now);
      if (ctx.stage !== 'decode') affinity.record(ctx.request, chosen.id);
      return chosen;
    },
    onMembershipChange(all) {
      const ids = new Set(all.map((e) => e.id));
      affinity.retain(ids);
      predictor.retain(ids);
      prober.retain(ids);
    },
    dispose() {
      affinity.dispose();
      predictor.dispose();
    },
  };
}
