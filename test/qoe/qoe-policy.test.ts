// qoe_centric and disaggregated_qoe on constructed signals: real EndpointStats fed with known numbers and
// engine snapshots the test writes, so each decision can be traced to one signal.
import { describe, expect, test } from 'bun:test';
import type { Endpoint, EndpointSpec } from '../../src/core/endpoint.ts';
import { createEndpoint } from '../../src/core/endpoint.ts';
import { disaggregatedQoe } from '../../src/policies/disaggregated-qoe.ts';
import { createPolicy } from '../../src/policies/index.ts';
import { qoeCentric } from '../../src/policies/qoe-centric.ts';
import type { QoeOptionsInput } from '../../src/policies/qoe/options.ts';
import type { QoePolicy } from '../../src/policies/qoe/qoe-policy.ts';
import type { PolicyDeps, PolicySignals, SelectContext } from '../../src/policies/types.ts';
import { createEndpointStats, type EndpointStats } from '../../src/signals/endpoint-stats.ts';
import type { EngineSnapshot } from '../../src/signals/engine-metrics.ts';
import { chat, fixedBreaker, request, tally } from '../policies/routing-fixtures.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

interface Harness {
  readonly stats: EndpointStats;
  readonly engine: Map<string, Partial<EngineSnapshot>>;
  clock: number;
  deps(qoe?: QoeOptionsInput, withSignals?: boolean): PolicyDeps;
}

function harness(): Harness {
  const h: Harness = {
    stats: createEndpointStats(),
    engine: new Map(),
    clock: 0,
    deps(qoe, withSignals = true) {
      const signals: PolicySignals = {
        endpointStats: h.stats,
        engineMetrics: {
          get: (id) => {
            const e = h.engine.get(id);
            return e === undefined ? undefined : ({ stale: false, ...e } as EngineSnapshot);
          },
        },
      };
      return {
        random: mulberry32(5),
        now: () => h.clock,
        options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20, qoe },
        signals: withSignals ? signals : undefined,
      };
    },
  };
  return h;
}

const endpoint = (spec: Partial<EndpointSpec> & { url: string }, breaker = fixedBreaker()): Endpoint => createEndpoint(spec, breaker);

/** `n` finished requests on `id` with these measurements. */
function served(stats: EndpointStats, id: string, m: { ttftMs: number; itlMs?: number; tps?: number; ok?: boolean }, n = 10): void {
  for (let i = 0; i < n; i++) {
    stats.started(id, 0);
    stats.firstByte(id, m.ttftMs);
    stats.finished(id, { ok: m.ok ?? true, sawFirstByte: true, itlMs: m.itlMs ?? 20, tokensPerSecond: m.tps ?? 50 });
  }
}

const ctx = (candidates: readonly Endpoint[], init: Parameters<typeof request>[0] = {}, stage?: 'prefill' | 'decode'): SelectContext => ({
  candidates,
  all: candidates,
  request: request(init),
  ...(stage === undefined ? {} : { stage }),
});

function picks(policy: QoePolicy, c: SelectContext, n = 50): Map<string, number> {
  return tally(Array.from({ length: n }, () => policy.select(c)));
}

describe('qoe_centric', () => {
  test('is registered and builds with defaults', () => {
    const h = harness();
    expect(createPolicy('qoe_centric', h.deps())?.name).toBe('qoe_centric');
    expect(createPolicy('disaggregated_qoe', h.deps())?.name).toBe('disaggregated_qoe');
    expect(qoeCentric(h.deps()).options.targetTtftMs).toBe(300);
  });

  test('without any signals it balances on the router in-flight counts', () => {
    const h = harness();
    const policy = qoeCentric(h.deps(undefined, false));
    const [a, b, c] = [endpoint({ url: 'http://a:1' }), endpoint({ url: 'http://b:1' }), endpoint({ url: 'http://c:1' })];
    a.inFlight = 5;
    b.inFlight = 1;
    c.inFlight = 3;
    expect(policy.select(ctx([a, b, c]))).toBe(b);
    // Equal loads: ties are shared at random, not all sent to the first.
    a.inFlight = b.inFlight = c.inFlight = 0;
    expect(picks(policy, ctx([a, b, c]), 300).size).toBe(3);
  });

  test('prefers the endpoint with the lower measured TTFT', () => {
    const h = harness();
    const [fast, slow] = [endpoint({ url: 'http://fast:1' }), endpoint({ url: 'http://slow:1' })];
    served(h.stats, fast.id, { ttftMs: 40 });
    served(h.stats, slow.id, { ttftMs: 250 });
    expect(picks(qoeCentric(h.deps()), ctx([slow, fast]))).toEqual(new Map([[fast.id, 50]]));
  });

  test('decides on the request\'s own targets: x-sla-target-ms for TTFT, x-sla-tpot-ms for TPOT, else the configured ones', () => {
    // The old test here expected an endpoint with 20 requests waiting for their first token to be predicted
    // at the TTFT it had measured with none: the queue ahead is now part of the prediction (issue #18).
    const h = harness();
    const [steady, quick] = [endpoint({ url: 'http://steady:1' }), endpoint({ url: 'http://quick:1' })];
    // steady: a slower first token, a faster stream; quick: the other way round.
    served(h.stats, steady.id, { ttftMs: 200, itlMs: 20 });
    served(h.stats, quick.id, { ttftMs: 120, itlMs: 45 });
    const policy = qoeCentric(h.deps());
    // Under the default 300 ms / 50 ms both meet, and steady has the wider margin (45 ms is close to 50).
    expect(policy.select(ctx([steady, quick]))).toBe(steady);
    // A 150 ms TTFT target: steady would miss it.
    expect(policy.select(ctx([steady, quick], { headers: { 'x-sla-target-ms': '150' } }))).toBe(quick);
    // A loose TPOT target leaves TTFT to decide.
    expect(policy.select(ctx([steady, quick], { headers: { 'x-sla-tpot-ms': '200' } }))).toBe(quick);
    // The configured targets play the same role when the headers are absent.
    expect(qoeCentric(h.deps({ targetTtftMs: 150 })).select(ctx([steady, quick]))).toBe(quick);
    expect(qoeCentric(h.deps({ targetItlMs: 200 })).select(ctx([steady, quick]))).toBe(quick);
  });

  test('urgent requests avoid a prefill queue that batch requests accept', () => {
    const h = harness();
    const [quick, idle] = [endpoint({ url: 'http://quick:1' }), endpoint({ url: 'http://idle:1' })];
    served(h.stats, quick.id, { ttftMs: 50 });
    served(h.stats, idle.id, { ttftMs: 150 });
    for (let i = 0; i < 5; i++) h.stats.started(quick.id, 0);
    const policy = qoeCentric(h.deps());
    expect(policy.select(ctx([quick, idle], { headers: { 'x-request-priority': '1' } }))).toBe(idle);
    expect(policy.select(ctx([quick, idle], { headers: { 'x-request-priority': '3' } }))).toBe(quick);
  });

  test('stops sending urgent requests to an endpoint just under the target once a queue builds there, before its answers come back', () => {
    const h = harness();
    const [quick, steady] = [endpoint({ url: 'http://quick:1' }), endpoint({ url: 'http://steady:1' })];
    // Measured behind an empty queue: 600 ms meets a 1 s target, and 800 ms does too.
    served(h.stats, quick.id, { ttftMs: 600 });
    served(h.stats, steady.id, { ttftMs: 800 });
    const policy = qoeCentric(h.deps());
    const urgent = ctx([quick, steady], { headers: { 'x-request-priority': '1', 'x-sla-target-ms': '1000' } });
    const sent = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const chosen = policy.select(urgent)!;
      // Sent, and no first token yet: each one waits in prefill there.
      h.stats.started(chosen.id, 0);
      sent.set(chosen.id, (sent.get(chosen.id) ?? 0) + 1);
    }
    // The measured TTFTs alone would send all ten to the quicker endpoint.
    expect(sent.get(quick.id)).toBeLessThanOrEqual(6);
    expect(sent.get(steady.id)).toBeGreaterThanOrEqual(4);
  });

  test('avoids measured errors and a half-open breaker', () => {
    const h = harness();
    const [flaky, solid] = [endpoint({ url: 'http://flaky:1' }), endpoint({ url: 'http://solid:1' })];
    served(h.stats, flaky.id, { ttftMs: 100 }, 5);
    served(h.stats, flaky.id, { ttftMs: 100, ok: false }, 5);
    served(h.stats, solid.id, { ttftMs: 100 });
    expect(picks(qoeCentric(h.deps()), ctx([flaky, solid]))).toEqual(new Map([[solid.id, 50]]));

    const probing = fixedBreaker();
    Object.defineProperty(probing, 'state', { get: () => 'half_open' });
    const recovering = endpoint({ url: 'http://recovering:1' }, probing);
    served(h.stats, recovering.id, { ttftMs: 100 });
    expect(picks(qoeCentric(h.deps()), ctx([recovering, solid]))).toEqual(new Map([[solid.id, 50]]));
  });

  test('reads fresh engine load, and ignores a stale scrape instead of trusting it', () => {
    const h = harness();
    const [a, b] = [endpoint({ url: 'http://a:1' }), endpoint({ url: 'http://b:1' })];
    served(h.stats, a.id, { ttftMs: 100 });
    served(h.stats, b.id, { ttftMs: 100 });
    h.engine.set(a.id, { waiting: 12, running: 200, kvCacheUsage: 0.97 });
    h.engine.set(b.id, { waiting: 0, running: 20, kvCacheUsage: 0.3 });
    const policy = qoeCentric(h.deps());
    expect(picks(policy, ctx([a, b]))).toEqual(new Map([[b.id, 50]]));
    // The same numbers from a failing scrape are not evidence: with both stale, the two tie again.
    h.engine.set(a.id, { stale: true, waiting: 12, running: 200, kvCacheUsage: 0.97 });
    h.engine.set(b.id, { stale: true, waiting: 0, running: 20, kvCacheUsage: 0.3 });
    expect(picks(policy, ctx([a, b]), 200).size).toBe(2);
  });

  test('uses the engine latency window when the router has no measurement', () => {
    const h = harness();
    const [a, b] = [endpoint({ url: 'http://a:1' }), endpoint({ url: 'http://b:1' })];
    h.engine.set(a.id, { ttft: { meanMs: 900, p50Ms: 900, p90Ms: 900, count: 10, ageMs: 2_000 } });
    h.engine.set(b.id, { ttft: { meanMs: 60, p50Ms: 60, p90Ms: 60, count: 10, ageMs: 2_000 } });
    const policy = qoeCentric(h.deps({ latencyMemoryMs: 10_000 }));
    expect(picks(policy, ctx([a, b]))).toEqual(new Map([[b.id, 50]]));
    // A window older than the memory says nothing about now: the slow endpoint is tried again.
    h.engine.set(a.id, { ttft: { meanMs: 900, p50Ms: 900, p90Ms: 900, count: 10, ageMs: 10_001 } });
    expect(policy.select(ctx([a, b]))).toBe(a);
  });

  test('probes an avoided endpoint once it got nothing for the probe interval', () => {
    const h = harness();
    const [was, fine] = [endpoint({ url: 'http://was-slow:1' }), endpoint({ url: 'http://fine:1' })];
    served(h.stats, was.id, { ttftMs: 800 });
    served(h.stats, fine.id, { ttftMs: 120 });
    const policy = qoeCentric(h.deps({ probeIntervalMs: 10_000 }));
    expect(policy.select(ctx([was, fine]))).toBe(fine);
    h.clock = 9_000;
    expect(policy.select(ctx([was, fine]))).toBe(fine);
    // No request went to it for a whole interval: the next one does, once, so its speed is measured again.
    h.clock = 10_001;
    expect(policy.select(ctx([was, fine]))).toBe(was);
    expect(policy.select(ctx([was, fine]))).toBe(fine);
  });
});

describe('disaggregated_qoe', () => {
  const fleet = () => ({
    p1: endpoint({ url: 'http://vllm-prefill-1:8000' }),
    p2: endpoint({ url: 'http://10.0.0.2:8000', tags: ['prefill'] }),
    d1: endpoint({ url: 'http://vllm-decoding-1:8000' }),
    d2: endpoint({ url: 'http://10.0.0.4:8000', labels: { role: 'decode' } }),
  });

  test('sends a first turn to a prefill endpoint and a continuation to a decode endpoint', () => {
    const h = harness();
    const { p1, p2, d1, d2 } = fleet();
    const all = [p1, d1, p2, d2];
    const policy = disaggregatedQoe(h.deps());
    const first = { candidates: all, all, request: chat([{ role: 'user', content: 'hi' }]) };
    const next = { candidates: all, all, request: chat([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }]) };
    const byParent = ctx(all, { body: { prompt: 'x', parent_id: 'p' } });
    for (let i = 0; i < 40; i++) {
      expect([p1, p2]).toContain(policy.select(first)!);
      expect([d1, d2]).toContain(policy.select(next)!);
      expect([d1, d2]).toContain(policy.select(byParent)!);
    }
  });

  test('scores each pool by its own metric: TTFT for prefill, ITL and speed for decode', () => {
    const h = harness();
    const { p1, p2, d1, d2 } = fleet();
    served(h.stats, p1.id, { ttftMs: 400, itlMs: 5, tps: 200 });
    served(h.stats, p2.id, { ttftMs: 60, itlMs: 90, tps: 11 });
    served(h.stats, d1.id, { ttftMs: 60, itlMs: 90, tps: 11 });
    served(h.stats, d2.id, { ttftMs: 400, itlMs: 5, tps: 200 });
    const policy = disaggregatedQoe(h.deps());
    const all = [p1, p2, d1, d2];
    expect(policy.select(ctx(all, { body: { prompt: 'new' } }))).toBe(p2);
    expect(policy.select(ctx(all, { body: { prompt: 'more', previous_message_id: 'm' } }))).toBe(d2);
  });

  test('an untagged fleet falls back to every candidate', () => {
    const h = harness();
    const plain = [endpoint({ url: 'http://10.0.0.1:8000' }), endpoint({ url: 'http://10.0.0.2:8000' })];
    const policy = disaggregatedQoe(h.deps());
    expect(picks(policy, ctx(plain, { body: { prompt: 'x' } }), 200).size).toBe(2);
  });

  test('on a fleet not tagged for the phase, both phases count: a continuation avoids a queue that would miss its TTFT', () => {
    const h = harness();
    // Untagged endpoints run the whole request: the quick decoder's prefill misses the 1 s target.
    const quickDecoder = endpoint({ url: 'http://10.0.0.1:8000' });
    const balanced = endpoint({ url: 'http://10.0.0.2:8000' });
    served(h.stats, quickDecoder.id, { ttftMs: 2500, itlMs: 15, tps: 65 });
    served(h.stats, balanced.id, { ttftMs: 300, itlMs: 60, tps: 16 });
    const continuation = { body: { prompt: 'more', previous_message_id: 'm' }, headers: { 'x-sla-target-ms': '1000' } };
    for (const policy of [disaggregatedQoe(h.deps()), qoeCentric(h.deps())]) {
      expect(policy.select(ctx([quickDecoder, balanced], continuation))).toBe(balanced);
    }
    // Tagged for decoding, the same endpoint is a decode pool of its own and ITL alone decides.
    const taggedQuick = endpoint({ url: 'http://10.0.0.3:8000', tags: ['decode'] });
    const taggedSlow = endpoint({ url: 'http://10.0.0.4:8000', tags: ['decode'] });
    served(h.stats, taggedQuick.id, { ttftMs: 2500, itlMs: 15, tps: 65 });
    served(h.stats, taggedSlow.id, { ttftMs: 300, itlMs: 60, tps: 16 });
    expect(disaggregatedQoe(h.deps()).select(ctx([taggedQuick, taggedSlow], continuation))).toBe(taggedQuick);
  });

  test('in PD mode the stage hint decides the metric and the tags are not consulted', () => {
    const h = harness();
    // A decode pool whose endpoints carry no tag and one of them "prefill" in its name.
    const odd = endpoint({ url: 'http://prefill-named-decoder:8000', role: 'decode' });
    const good = endpoint({ url: 'http://10.0.0.5:8000', role: 'decode' });
    served(h.stats, odd.id, { ttftMs: 30, itlMs: 120, tps: 8 });
    served(h.stats, good.id, { ttftMs: 900, itlMs: 8, tps: 120 });
    for (const policy of [disaggregatedQoe(h.deps()), qoeCentric(h.deps())]) {
      // A first-turn body, but the router says this is the decode stage: ITL decides, and the slow TTFT is no SLA miss.
      expect(policy.select(ctx([odd, good], { body: { prompt: 'new' } }, 'decode'))).toBe(good);
      expect(policy.select(ctx([odd, good], { body: { prompt: 'new', parent_id: 'x' } }, 'prefill'))).toBe(odd);
    }
  });
});
