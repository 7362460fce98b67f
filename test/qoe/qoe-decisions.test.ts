// The QoE decisions on learned predictions: prefix affinity, the least lateness when nothing meets the
// targets, priority when good endpoints are scarce, and disaggregated_qoe per phase (PD stages and tags).
// Requests run through the real policy and real EndpointStats, answered as the router's legs would report.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint, type EndpointSpec } from '../../src/core/endpoint.ts';
import { disaggregatedQoe } from '../../src/policies/disaggregated-qoe.ts';
import { qoeCentric } from '../../src/policies/qoe-centric.ts';
import type { QoeOptionsInput } from '../../src/policies/qoe/options.ts';
import type { QoePolicy } from '../../src/policies/qoe/qoe-policy.ts';
import type { PolicyDeps, RoutingRequest } from '../../src/policies/types.ts';
import { createEndpointStats, type EndpointStats } from '../../src/signals/endpoint-stats.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { chat, request } from '../policies/routing-fixtures.ts';

interface World {
  readonly stats: EndpointStats;
  clock: number;
  deps(qoe?: QoeOptionsInput): PolicyDeps;
}

function world(): World {
  const w: World = {
    stats: createEndpointStats(),
    clock: 0,
    deps: (qoe) => ({
      random: mulberry32(1),
      now: () => w.clock,
      options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 22, qoe: { probeIntervalMs: 1e9, ...qoe } },
      signals: { endpointStats: w.stats, statsClock: () => w.clock },
    }),
  };
  return w;
}

const at = (url: string, spec: Partial<EndpointSpec> = {}): Endpoint => createEndpoint({ url, ...spec }, alwaysClosed());
const prompt = (tokens: number, seed: string) => `${seed} `.padEnd(tokens * 4, 'x');

/**
 * One request through `policy`: chosen, sent, answered. `ms` says how long the chosen endpoint takes to its
 * first token; `stage: 'prefill'` answers whole (a PD prefill leg), else it streams with `itlMs` gaps.
 */
function serve(w: World, policy: QoePolicy, candidates: readonly Endpoint[], req: RoutingRequest, ms: (e: Endpoint) => number, o: { stage?: 'prefill' | 'decode'; itlMs?: (e: Endpoint) => number } = {}): Endpoint {
  const chosen = policy.select({ candidates, all: candidates, request: req, ...(o.stage === undefined ? {} : { stage: o.stage }) })!;
  w.stats.started(chosen.id, w.clock);
  const took = ms(chosen);
  w.clock += took;
  if (o.stage === 'prefill') {
    w.stats.finished(chosen.id, { ok: true, sawFirstByte: false, elapsedMs: took });
  } else {
    w.stats.firstByte(chosen.id, took, took);
    w.stats.finished(chosen.id, { ok: true, sawFirstByte: true, itlMs: o.itlMs?.(chosen) ?? 20 });
  }
  return chosen;
}

/** Each endpoint taught its speed: `n` requests of varied length sent to it alone. */
function teach(w: World, policy: QoePolicy, endpoints: readonly Endpoint[], msPerToken: (e: Endpoint) => number, o: { stage?: 'prefill' | 'decode'; itlMs?: (e: Endpoint) => number } = {}, n = 8): void {
  for (const e of endpoints) {
    for (let i = 0; i < n; i++) {
      const tokens = 200 + 200 * (i % 4);
      serve(w, policy, [e], request({ text: prompt(tokens, `${e.id} warm ${i}`) }), () => msPerToken(e) * tokens, o);
    }
  }
}

describe('QoE decisions on predicted latency', () => {
  test('a conversation stays on the engine that holds its context: only its new tokens are prefilled there', () => {
    const w = world();
    const eps = [at('http://a:1'), at('http://b:1'), at('http://c:1')];
    const policy = qoeCentric(w.deps({ targetTtftMs: 2000 }));
    teach(w, policy, eps, () => 0.1);
    let history = prompt(3000, 'conversation');
    const first = serve(w, policy, eps, request({ text: history }), () => 300);
    for (let turn = 0; turn < 6; turn++) {
      history += ` turn ${turn} `.padEnd(400, 'y');
      const next = serve(w, policy, eps, request({ text: history }), () => 20);
      expect(next).toBe(first);
      const [best, second] = policy.explain({ candidates: eps, all: eps, request: request({ text: history }) });
      expect(best!.endpoint).toBe(first);
      // The holder prefills the new turn only; the others the whole history.
      expect(best!.prediction.uncachedTokens).toBeLessThan(200);
      expect(second!.prediction.uncachedTokens).toBeGreaterThan(3000);
    }
  });

  test('when no endpoint can meet the targets, the one predicted to miss them least', () => {
    const w = world();
    const [slow, slower] = [at('http://slow:1'), at('http://slower:1')];
    const policy = qoeCentric(w.deps({ targetTtftMs: 50 }));
    teach(w, policy, [slow, slower], (e) => (e === slow ? 0.2 : 0.5));
    const req = request({ text: prompt(1000, 'big') });
    const ranked = policy.explain({ candidates: [slower, slow], all: [slower, slow], request: req });
    expect(ranked.every((r) => !r.judged.meets)).toBe(true);
    expect(policy.select({ candidates: [slower, slow], all: [slower, slow], request: req })).toBe(slow);
  });

  test('when good endpoints are scarce, priority 3 takes the endpoint that just meets its targets and leaves the best to priority 1', () => {
    const w = world();
    const [best, adequate] = [at('http://best:1'), at('http://adequate:1')];
    const policy = qoeCentric(w.deps({ targetTtftMs: 300, targetItlMs: 1000 }));
    // 1000 tokens: 180 ms on best (a 0.6 margin), 280 ms on adequate (0.93): both meet 300 ms, neither by much.
    teach(w, policy, [best, adequate], (e) => (e === best ? 0.18 : 0.28));
    const req = (priority: string) => request({ text: prompt(1000, `p${priority}`), headers: { 'x-request-priority': priority } });
    const pick = (priority: string) => policy.select({ candidates: [best, adequate], all: [best, adequate], request: req(priority) });
    expect(pick('3')).toBe(adequate);
    expect(pick('1')).toBe(best);
    expect(pick('2')).toBe(best);
    // With room to spare (a 2 s target), priority 3 is not held back: it too takes the widest margin.
    const relaxed = qoeCentric(w.deps({ targetTtftMs: 2000, targetItlMs: 1000 }));
    teach(w, relaxed, [best, adequate], (e) => (e === best ? 0.18 : 0.28));
    expect(relaxed.select({ candidates: [best, adequate], all: [best, adequate], request: req('3') })).toBe(best);
  });
});

describe('disaggregated_qoe predicts per phase', () => {
  test('PD prefill stage: learned from the prefill legs\' whole answers, chosen on TTFT with prefix affinity', () => {
    const w = world();
    const [p1, p2] = [at('http://p1:1', { role: 'prefill' }), at('http://p2:1', { role: 'prefill' })];
    const policy = disaggregatedQoe(w.deps({ targetTtftMs: 1000 }));
    teach(w, policy, [p1, p2], (e) => (e === p1 ? 0.1 : 0.3), { stage: 'prefill' });
    const ranked = policy.explain({ candidates: [p1, p2], all: [p1, p2], request: request({ text: prompt(1000, 'new') }), stage: 'prefill' });
    expect(ranked.map((r) => r.prediction.ttftBasis)).toEqual(['learned', 'learned']);
    // 1000 tokens at 0.1 and 0.3 ms each (the warm-up prompts shared a few cached tokens: within a few ms).
    expect(Math.abs(ranked[0]!.prediction.ttftMs! - 100)).toBeLessThan(5);
    expect(Math.abs(ranked[1]!.prediction.ttftMs! - 300)).toBeLessThan(15);
    // A long document prefilled on the slower engine: a question about it goes back there, where only the question is new.
    const doc = prompt(6000, 'document');
    const holder = serve(w, policy, [p2], request({ text: doc }), () => 1800, { stage: 'prefill' });
    expect(serve(w, policy, [p1, p2], request({ text: `${doc} and a question` }), () => 10, { stage: 'prefill' })).toBe(holder);
  });

  test('PD decode stage: chosen on TPOT at the streams decoding there, TTFT not counted', () => {
    const w = world();
    const [d1, d2] = [at('http://d1:1', { role: 'decode' }), at('http://d2:1', { role: 'decode' })];
    const policy = disaggregatedQoe(w.deps({ targetItlMs: 50 }));
    // d1 decodes at 10 ms a token but takes 2 s to its first (the KV transfer); d2 at 40 ms, first token at once.
    teach(w, policy, [d1, d2], () => 0, { stage: 'decode', itlMs: (e) => (e === d1 ? 10 : 40) });
    const req = request({ text: prompt(500, 'q') });
    const ctx = { candidates: [d1, d2], all: [d1, d2], request: req, stage: 'decode' as const };
    expect(policy.explain(ctx)[0]!.judged.ttftRatio).toBeUndefined();
    expect(policy.select(ctx)).toBe(d1);
  });

  test('tagged fleet: a first turn goes to the prefill-tagged endpoint quickest to its first token, a continuation to the decode-tagged one with the quickest tokens', () => {
    const w = world();
    const pf = [at('http://vllm-prefill-1:8000'), at('http://vllm-prefill-2:8000')];
    const dc = [at('http://vllm-decode-1:8000'), at('http://vllm-decode-2:8000')];
    const all = [...pf, ...dc];
    const policy = disaggregatedQoe(w.deps({ targetTtftMs: 1000, targetItlMs: 50 }));
    teach(w, policy, all, (e) => (e === pf[1] ? 0.1 : 0.4), { itlMs: (e) => (e === dc[0] ? 12 : 45) });
    const first = chat([{ role: 'user', content: prompt(800, 'hello') }]);
    const next = chat([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi' },
      { role: 'user', content: 'more' },
    ]);
    expect(policy.select({ candidates: all, all, request: first })).toBe(pf[1]);
    expect(policy.select({ candidates: all, all, request: next })).toBe(dc[0]);
  });
});
