// The fleet in virtual time: the same engine model and workload as bench:sim, no processes, no router, no
// clock, so a whole sweep takes seconds. For calibrating the model and checking that the real-time benchmark
// is not limited by the machine (its numbers should match these). The policies are stand-ins for the
// router's: round robin, seeded random, power of two on in-flight counts, and a consistent hash of the chat
// opening (system + first user message) taken modulo the fleet size rather than on the router's ring; and
// cache_aware, which is the router's own policy object (src/policies/cache-aware.ts, character mode, on the
// router's routing text) fed with the virtual in-flight counts, so its thresholds can be swept in seconds;
// and qoe_centric, the router's own policy object too, fed the router's EndpointStats events (started, first
// token, end with its mean inter-token gap) at virtual times, with each request's QoE headers.
// Prompts are tokenized as the engines tokenize them (sim-tokenizer.ts), and each engine can have a preset.
//
//   bun bench/sim/virtual-fleet.ts [--workload chat] [--rates 12,16,20] [--duration 15] [--engines 4] [--seed 1]
//        [--policies a,b] [--cache-threshold 0.3] [--balance-abs-threshold 64] [--balance-rel-threshold 1.5]
//        [--kv-blocks N] [--system-prompts N] [--presets a100-80g,l4,…] [--seeds 1,2,3 (means)]
import { parseArgs } from 'node:util';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.ts';
import { cacheAwarePolicy } from '../../src/policies/cache-aware.ts';
import { qoeCentric } from '../../src/policies/qoe-centric.ts';
import { createEndpointStats } from '../../src/signals/endpoint-stats.ts';
import type { Policy, PolicyOptions } from '../../src/policies/types.ts';
import { routingText } from '../../src/routing/routing-text.ts';
import { createEngineModel, type EngineModel, type StepPlan } from './engine-model.ts';
import type { EngineParams } from './engine-params.ts';
import { isPresetName, PRESET_NAMES, presetParams } from './engine-presets.ts';
import { percentile } from './report.ts';
import { loadSimTokenizer, type SimTokenizer } from './sim-tokenizer.ts';
import type { ChatMessage } from './tokens.ts';
import { buildWorkload, type SimRequestSpec, type WorkloadName } from './workloads.ts';
import { createRng } from './rng.ts';

export type VirtualPolicy = 'round_robin' | 'random' | 'power_of_two' | 'consistent_hash' | 'cache_aware' | 'qoe_centric';
export const VIRTUAL_POLICIES: readonly VirtualPolicy[] = ['round_robin', 'random', 'power_of_two', 'consistent_hash', 'cache_aware', 'qoe_centric'];

/** The router's defaults (src/config/flags.ts). */
export const ROUTER_POLICY_OPTIONS: PolicyOptions = { cacheThreshold: 0.3, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 67_108_864 };

export interface VirtualOptions {
  /** Tokenizes prompts as the engines do and gives the model its reply vocabulary. */
  tokenizer: SimTokenizer;
  /** cache_aware's flags (default: the router's defaults). */
  policyOptions?: PolicyOptions;
  /** Engine parameters: one set for every engine, or one per engine (a preset each, say). */
  engine?: Partial<EngineParams> | readonly Partial<EngineParams>[];
}

export interface VirtualResult {
  policy: VirtualPolicy;
  hitRate: number;
  /** Requests per engine. */
  perEngine: number[];
  /** cache_aware only: how its requests were decided. */
  decisions?: { hits: number; misses: number; fallbacks: number };
  ttft: { p50: number; p90: number; p99: number };
  sla: number;
  preemptions: number;
  /** SLA met per priority (1 high … 3 low), for the classes the workload has. */
  slaByPriority: Record<number, number>;
  /** Requests that met their SLA, per second of arrivals. */
  metPerSecond: number;
  /** qoe_centric only: mean absolute percentage error of its TTFT and TPOT predictions. */
  mape?: { ttft: number; tpot: number };
}

interface Engine {
  model: EngineModel;
  plan: StepPlan | null;
  end: number;
  inFlight: number;
  requests: number;
  endpoint: Endpoint;
}

function promptOf(spec: SimRequestSpec, tokenizer: SimTokenizer): { ids: readonly number[]; key: string; body: Record<string, unknown> } {
  const body = JSON.parse(spec.body) as { messages?: ChatMessage[]; prompt?: string };
  const encoded = tokenizer.encodeRequest(spec.path, body);
  if (!encoded.ok) throw new Error(`request ${spec.seq}: ${encoded.error}`);
  if (body.messages === undefined) return { ids: encoded.ids, key: body.prompt ?? '', body };
  let key = '';
  for (const m of body.messages) {
    key += `${m.role}\u0000${m.content}\u0000`;
    if (m.role === 'user') break;
  }
  return { ids: encoded.ids, key, body };
}

export function simulateFleet(specs: readonly SimRequestSpec[], policy: VirtualPolicy, engines: number, seed: number, options: VirtualOptions): VirtualResult {
  const perEngine = Array.isArray(options.engine) ? options.engine : null;
  if (perEngine !== null && perEngine.length !== engines) throw new Error(`${perEngine.length} engine parameter sets for ${engines} engines`);
  const fleet: Engine[] = Array.from({ length: engines }, (_, i) => ({
    model: createEngineModel((perEngine?.[i] ?? options.engine ?? {}) as Partial<EngineParams>, options.tokenizer.replies),
    plan: null,
    end: Number.POSITIVE_INFINITY,
    inFlight: 0,
    requests: 0,
    endpoint: createEndpoint({ url: `http://engine-${i}:8000` }, alwaysClosed()),
  }));
  const rng = createRng(seed).fork('policy');
  const policyRng = createRng(seed).fork('cache-aware');
  const cacheAware: Policy | null =
    policy === 'cache_aware' ? cacheAwarePolicy({ random: () => policyRng.next(), now: () => 0, options: options.policyOptions ?? ROUTER_POLICY_OPTIONS }) : null;
  let now = 0;
  const endpointStats = createEndpointStats();
  const qoeRng = createRng(seed).fork('qoe');
  const errors = { ttft: { sum: 0, n: 0 }, tpot: { sum: 0, n: 0 } };
  const count = (e: { sum: number; n: number }, predicted: number, measured: number) => {
    if (measured <= 0) return;
    e.sum += Math.abs(predicted - measured) / measured;
    e.n++;
  };
  const predictions = { ttft: (_: string, p: number, m: number) => count(errors.ttft, p, m), tpot: (_: string, p: number, m: number) => count(errors.tpot, p, m) };
  const qoe: Policy | null =
    policy === 'qoe_centric'
      ? qoeCentric({ random: () => qoeRng.next(), now: () => now, options: options.policyOptions ?? ROUTER_POLICY_OPTIONS, signals: { endpointStats, statsClock: () => now }, predictions })
      : null;
  const routedBy = cacheAware ?? qoe;
  const endpoints = fleet.map((e) => e.endpoint);
  // `live` is the stream as the router's meter shows it to the policy while it lasts (signals/endpoint-stats.ts).
  const info = new Map<string, { spec: SimRequestSpec; engine: Engine; first?: number; last?: number; tokens: number; live: { firstAt: number | undefined; lastAt: number; gaps: number } }>();
  let rr = 0;
  const pick = (key: string, spec: SimRequestSpec, body: Record<string, unknown>): Engine => {
    if (routedBy !== null) {
      for (const e of fleet) e.endpoint.inFlight = e.inFlight;
      const text = routingText(spec.path, body, () => spec.body);
      const chosen = routedBy.select({ candidates: endpoints, all: endpoints, request: { route: spec.path, headers: new Headers(spec.headers), body, text } });
      return fleet[endpoints.indexOf(chosen as Endpoint)] as Engine;
    }
    if (policy === 'round_robin') return fleet[rr++ % engines]!;
    if (policy === 'random') return rng.pick(fleet);
    if (policy === 'power_of_two') {
      const a = rng.int(0, engines - 1);
      let b = rng.int(0, engines - 2);
      if (b >= a) b++;
      return fleet[a]!.inFlight <= fleet[b]!.inFlight ? fleet[a]! : fleet[b]!;
    }
    return fleet[Number(Bun.hash.wyhash(key) % BigInt(engines))]!;
  };
  const start = (e: Engine, t: number): void => {
    e.plan = e.model.plan();
    e.end = e.plan === null ? Number.POSITIVE_INFINITY : t + e.plan.durationMs;
  };
  let next = 0;
  for (;;) {
    const arrival = specs[next]?.at ?? Number.POSITIVE_INFINITY;
    let e: Engine | undefined;
    for (const x of fleet) if (e === undefined || x.end < e.end) e = x;
    const stepEnd = e?.end ?? Number.POSITIVE_INFINITY;
    if (arrival === Number.POSITIVE_INFINITY && stepEnd === Number.POSITIVE_INFINITY) break;
    if (arrival <= stepEnd) {
      const spec = specs[next++]!;
      now = spec.at;
      const { ids, key, body } = promptOf(spec, options.tokenizer);
      const target = pick(key, spec, body);
      endpointStats.started(target.endpoint.id, now);
      target.requests++;
      const err = target.model.add({ id: String(spec.seq), promptIds: ids, maxTokens: spec.maxTokens, arrival: spec.at });
      if (err !== null) throw new Error(err);
      target.inFlight++;
      info.set(String(spec.seq), { spec, engine: target, tokens: 0, live: { firstAt: undefined, lastAt: 0, gaps: 0 } });
      if (target.plan === null) start(target, spec.at);
    } else {
      const engine = e as Engine;
      now = stepEnd;
      for (const ev of engine.model.commit(engine.plan as StepPlan, stepEnd)) {
        const r = info.get(ev.id)!;
        if (ev.index === 0) {
          r.first = stepEnd;
          r.live.firstAt = stepEnd;
          endpointStats.firstByte(engine.endpoint.id, stepEnd - r.spec.at, stepEnd - r.spec.at, r.live);
        } else r.live.gaps++;
        r.last = stepEnd;
        r.live.lastAt = stepEnd;
        r.tokens++;
        if (ev.finish !== null) {
          engine.inFlight--;
          const itlMs = r.tokens > 1 ? (stepEnd - r.first!) / (r.tokens - 1) : undefined;
          endpointStats.finished(engine.endpoint.id, { ok: true, sawFirstByte: true, itlMs, stream: r.live });
        }
      }
      start(engine, stepEnd);
    }
  }
  const all = [...info.values()];
  const ttft = all.map((r) => (r.first ?? Number.POSITIVE_INFINITY) - r.spec.at);
  const met = all.filter((r) => r.first !== undefined && r.first - r.spec.at <= r.spec.sla.ttftMs && (r.tokens <= 1 || (r.last! - r.first) / (r.tokens - 1) <= r.spec.sla.tpotMs));
  const slaByPriority: Record<number, number> = {};
  for (const p of new Set(all.map((r) => r.spec.priority))) slaByPriority[p] = met.filter((r) => r.spec.priority === p).length / all.filter((r) => r.spec.priority === p).length;
  const span = all.length > 1 ? (Math.max(...all.map((r) => r.spec.at)) - Math.min(...all.map((r) => r.spec.at))) / 1000 : 1;
  let queries = 0;
  let hits = 0;
  let preemptions = 0;
  for (const x of fleet) {
    const c = x.model.counters();
    queries += c.prefixCacheQueries;
    hits += c.prefixCacheHits;
    preemptions += c.preemptions;
  }
  cacheAware?.dispose?.();
  qoe?.dispose?.();
  const stats = cacheAware === null ? undefined : cacheAware.cacheStats?.();
  return {
    policy,
    hitRate: queries > 0 ? hits / queries : Number.NaN,
    perEngine: fleet.map((e) => e.requests),
    ...(stats === undefined ? {} : { decisions: { hits: stats.hits, misses: stats.misses, fallbacks: stats.loadBalancingFallbacks } }),
    ttft: { p50: percentile(ttft, 0.5), p90: percentile(ttft, 0.9), p99: percentile(ttft, 0.99) },
    sla: all.length > 0 ? met.length / all.length : Number.NaN,
    preemptions,
    slaByPriority,
    metPerSecond: met.length / span,
    ...(qoe === null ? {} : { mape: { ttft: errors.ttft.sum / errors.ttft.n, tpot: errors.tpot.sum / errors.tpot.n } }),
  };
}

if (import.meta.main) {
  const { values: a } = parseArgs({
    options: {
      workload: { type: 'string', default: 'chat' },
      rates: { type: 'string', default: '12,16,20' },
      duration: { type: 'string', default: '15' },
      engines: { type: 'string', default: '4' },
      seed: { type: 'string', default: '1' },
      seeds: { type: 'string' },
      policies: { type: 'string', default: VIRTUAL_POLICIES.join(',') },
      'cache-threshold': { type: 'string', default: String(ROUTER_POLICY_OPTIONS.cacheThreshold) },
      'balance-abs-threshold': { type: 'string', default: String(ROUTER_POLICY_OPTIONS.balanceAbsThreshold) },
      'balance-rel-threshold': { type: 'string', default: String(ROUTER_POLICY_OPTIONS.balanceRelThreshold) },
      'kv-blocks': { type: 'string' },
      'system-prompts': { type: 'string' },
      presets: { type: 'string' },
    },
  });
  const policyOptions: PolicyOptions = {
    ...ROUTER_POLICY_OPTIONS,
    cacheThreshold: Number(a['cache-threshold']),
    balanceAbsThreshold: Number(a['balance-abs-threshold']),
    balanceRelThreshold: Number(a['balance-rel-threshold']),
  };
  const kv = a['kv-blocks'] === undefined ? {} : { kvBlocks: Number(a['kv-blocks']) };
  const presets = a.presets === undefined ? null : a.presets.split(',').map((n) => n.trim());
  for (const n of presets ?? []) if (!isPresetName(n)) throw new Error(`--presets: unknown ${JSON.stringify(n)}; one of ${PRESET_NAMES.join(', ')}`);
  const engines = presets?.length ?? Number(a.engines);
  const engine = presets === null ? kv : presets.map((n) => ({ ...presetParams(n as (typeof PRESET_NAMES)[number]), ...kv }));
  const tokenizer = loadSimTokenizer();
  const policies = (a.policies as string).split(',') as VirtualPolicy[];
  for (const policy of policies) if (!VIRTUAL_POLICIES.includes(policy)) throw new Error(`--policies: unknown ${JSON.stringify(policy)}; one of ${VIRTUAL_POLICIES.join(', ')}`);
  const rates = (a.rates as string).split(',').map(Number);
  const runAt = (rate: number, seed: number) => {
    const specs = buildWorkload(a.workload as WorkloadName, { seed, rate, durationSec: Number(a.duration), model: 'sim', tokenizer, ...(a['system-prompts'] === undefined ? {} : { systemPrompts: Number(a['system-prompts']) }) });
    return policies.map((policy) => simulateFleet(specs, policy, engines, seed, { tokenizer, policyOptions, engine }));
  };
  const ms = (v: number) => (Number.isFinite(v) ? Math.round(v) : '∞');
  const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : `${(v * 100).toFixed(1)}%`);
  if (a.seeds !== undefined) {
    // Means over seeds (each seed its own arrivals and prompts), the SLA's range after it.
    const seeds = a.seeds.split(',').map(Number);
    console.log(`Means of seeds ${seeds.join(', ')}.\n\n| rate | policy | hit rate | TTFT p50 | p90 ms | SLA met (range) | SLA met p1 / p2 / p3 | SLA-met req/s | QoE MAPE TTFT / TPOT |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|`);
    for (const rate of rates) {
      const runs = seeds.map((seed) => runAt(rate, seed));
      policies.forEach((policy, k) => {
        const rs = runs.map((r) => r[k] as VirtualResult);
        const mean = (f: (r: VirtualResult) => number | undefined) => {
          const xs = rs.map(f).filter((x): x is number => x !== undefined && !Number.isNaN(x));
          return xs.length === 0 ? undefined : xs.reduce((x, y) => x + y, 0) / xs.length;
        };
        const slas = rs.map((r) => r.sla);
        const mape = mean((r) => r.mape?.ttft);
        console.log(`| ${rate} | ${policy} | ${pct(mean((r) => r.hitRate))} | ${ms(mean((r) => r.ttft.p50) ?? NaN)} | ${ms(mean((r) => r.ttft.p90) ?? NaN)} | ${pct(mean((r) => r.sla))} (${pct(Math.min(...slas))}–${pct(Math.max(...slas))}) | ${[1, 2, 3].map((p) => pct(mean((r) => r.slaByPriority[p]))).join(' / ')} | ${(mean((r) => r.metPerSecond) ?? 0).toFixed(2)} | ${mape === undefined ? '' : `${(mape * 100).toFixed(0)}% / ${((mean((r) => r.mape?.tpot) ?? 0) * 100).toFixed(0)}%`} |`);
      });
    }
  } else {
    console.log('| rate | policy | hit rate | TTFT p50 | p90 | p99 ms | SLA met | preemptions | requests per engine | cache_aware hits/misses/fallbacks | QoE MAPE TTFT/TPOT | SLA met p1 / p2 / p3 | SLA-met req/s |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const rate of rates) {
      for (const r of runAt(rate, Number(a.seed))) {
        const d = r.decisions === undefined ? '' : `${r.decisions.hits}/${r.decisions.misses}/${r.decisions.fallbacks}`;
        console.log(`| ${rate} | ${r.policy} | ${pct(r.hitRate)} | ${ms(r.ttft.p50)} | ${ms(r.ttft.p90)} | ${ms(r.ttft.p99)} | ${pct(r.sla)} | ${r.preemptions} | ${r.perEngine.join(' / ')} | ${d} | ${r.mape === undefined ? '' : `${(r.mape.ttft * 100).toFixed(0)}% / ${(r.mape.tpot * 100).toFixed(0)}%`} | ${[1, 2, 3].map((p) => pct(r.slaByPriority[p])).join(' / ')} | ${r.metPerSecond.toFixed(2)} |`);
      }
    }
  }
}
