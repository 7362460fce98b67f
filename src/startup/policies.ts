// Start-up step: the routing policies (regular, and one per PD stage), each in a slot a reload can refill.
import { routingBlockSize } from './block-size.ts';
import type { PolicyName } from '../config/policy-names.ts';
import type { Config } from '../config/schema.ts';
import type { EndpointRole } from '../core/endpoint.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { createPolicy } from '../policies/index.ts';
import { swappablePolicy, type SwappablePolicy } from '../policies/swappable.ts';
import type { Policy, PolicyDeps, PolicySignals, PredictionRecorder, SessionStats } from '../policies/types.ts';
import type { TokenizerPool } from '../pool/pool.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import type { EngineMetrics } from '../signals/engine-metrics.ts';
import type { KvEventsReader } from '../signals/kv-events/kv-events.ts';
import type { PdMode } from './pd-mode.ts';
import { qoeInput } from './qoe.ts';

/** Routers hold these slots, never the policies in them, so a reload can put new ones in place under live traffic. */
export interface Policies {
  /** --policy, for regular routing (its cache statistics are the ones exported). */
  readonly main: SwappablePolicy;
  /** In PD mode, one per stage. */
  readonly stages: StagePolicies | undefined;
  /** Forgets a session in every slot that pins sessions (POST /finish_session); true when one held it. */
  finishSession(sessionId: string): boolean;
  /** The session tables of the slots that pin sessions, summed; undefined when none does. */
  sessionStats(): SessionStats | undefined;
  /** Builds every policy again from `next` and puts each in its slot (a reload changed their settings). */
  replace(next: Config): void;
  /** Stops their background work (cache_aware's eviction timer). */
  dispose(): void;
}

/** --prefill-policy / --decode-policy, else --policy, each its own instance. */
export interface StagePolicies {
  readonly prefill: SwappablePolicy;
  readonly decode: SwappablePolicy;
}

interface Needs {
  readonly registry: EndpointRegistry;
  readonly pdMode: PdMode;
  readonly pool: TokenizerPool | undefined;
  readonly random: () => number;
  /** The router's monotonic clock: EndpointStats rolls its windows on it, so policies read the stats on it too. */
  readonly now: () => number;
  readonly stats: EndpointStats;
  readonly engineMetrics: EngineMetrics | undefined;
  /** The engines' KV-cache events, when a policy routes on them. */
  readonly kvEvents: KvEventsReader | undefined;
  /** Where the QoE policies report predicted against measured latency. */
  readonly predictions?: PredictionRecorder;
}

export function buildPolicies(config: Config, { registry, pdMode, pool, random, now, stats, engineMetrics, kvEvents, predictions }: Needs): Policies {
  const signals: PolicySignals = { endpointStats: stats, engineMetrics, statsClock: now, kvEvents };
  // Every policy, for every use (regular and each PD stage), comes from the registry, which a tokenizer serves too.
  const make = (name: PolicyName, c: Config): Policy => createPolicy(name, policyDeps(c, random, signals, pool !== undefined, predictions));
  const main = swappablePolicy(make(config.policy, config));
  const stages =
    pdMode === undefined
      ? undefined
      : { prefill: swappablePolicy(make(config.prefill_policy ?? config.policy, config)), decode: swappablePolicy(make(config.decode_policy ?? config.policy, config)) };
  const slotOf = (role: EndpointRole) => (role === 'regular' ? main : stages?.[role]);
  for (const role of ['regular', 'prefill', 'decode'] as const) slotOf(role)?.onMembershipChange?.(registry.all(role));
  registry.onChange((role) => slotOf(role)?.onMembershipChange?.(registry.all(role)));
  const slots = () => [main, stages?.prefill, stages?.decode].filter((p) => p !== undefined);
  return {
    main,
    stages,
    finishSession(id) {
      // Every slot is asked: in PD mode the session is pinned once per stage.
      let released = false;
      for (const slot of slots()) released = slot.finishSession(id) || released;
      return released;
    },
    sessionStats() {
      const all = slots()
        .map((slot) => slot.sessionStats())
        .filter((s) => s !== undefined);
      return all.length === 0 ? undefined : all.reduce(sumSessionStats);
    },
    replace(next) {
      main.replace(make(next.policy, next), registry.all('regular'));
      stages?.prefill.replace(make(next.prefill_policy ?? next.policy, next), registry.all('prefill'));
      stages?.decode.replace(make(next.decode_policy ?? next.policy, next), registry.all('decode'));
    },
    dispose() {
      main.dispose?.();
      stages?.prefill.dispose?.();
      stages?.decode.dispose?.();
    },
  };
}

/** What the policy registry needs from a configuration; with a tokenizer, prefix-aware policies match on token blocks. */
function policyDeps(c: Config, random: () => number, signals: PolicySignals, tokenized: boolean, predictions: PredictionRecorder | undefined): PolicyDeps {
  return {
    random,
    now: () => Date.now(),
    options: {
      cacheThreshold: c.cache_threshold,
      balanceAbsThreshold: c.balance_abs_threshold,
      balanceRelThreshold: c.balance_rel_threshold,
      evictionIntervalSecs: c.eviction_interval,
      maxTreeSize: c.max_tree_size,
      sessionHeader: c.session_header,
      sessionTtlMs: c.session_ttl_secs * 1000,
      maxSessions: c.max_sessions,
      qoe: qoeInput(c),
    },
    signals,
    tokenizer: tokenized ? { blockSize: routingBlockSize(c) } : undefined,
    ...(predictions === undefined ? {} : { predictions }),
  };
}

function sumSessionStats(a: SessionStats, b: SessionStats): SessionStats {
  const perEndpoint = new Map(a.perEndpoint);
  for (const [id, n] of b.perEndpoint) perEndpoint.set(id, (perEndpoint.get(id) ?? 0) + n);
  return { size: a.size + b.size, evictions: a.evictions + b.evictions, expiries: a.expiries + b.expiries, released: a.released + b.released, repins: a.repins + b.repins, perEndpoint };
}
