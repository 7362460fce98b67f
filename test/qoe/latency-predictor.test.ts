// The QoE latency predictor on numbers: real EndpointStats events teach it each endpoint's speed, a written
// prompt cache says what each endpoint holds, and each prediction is checked against the arithmetic.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.ts';
import { createLatencyPredictor, type LatencyPredictor } from '../../src/policies/qoe/latency-predictor.ts';
import type { PromptCache } from '../../src/policies/qoe/prefix-affinity.ts';
import type { PredictionRecorder } from '../../src/policies/types.ts';
import { createEndpointStats, type EndpointStats, type LiveStream } from '../../src/signals/endpoint-stats.ts';
import type { EngineSnapshot } from '../../src/signals/engine-metrics.ts';

interface Rig {
  readonly stats: EndpointStats;
  readonly engine: Map<string, Partial<EngineSnapshot>>;
  readonly predictor: LatencyPredictor;
  readonly recorded: { kind: 'ttft' | 'tpot'; id: string; predicted: number; measured: number }[];
  clock: number;
}

function rig(): Rig {
  const stats = createEndpointStats();
  const engine = new Map<string, Partial<EngineSnapshot>>();
  const recorded: Rig['recorded'] = [];
  const recorder: PredictionRecorder = {
    ttft: (id, predicted, measured) => recorded.push({ kind: 'ttft', id, predicted, measured }),
    tpot: (id, predicted, measured) => recorded.push({ kind: 'tpot', id, predicted, measured }),
  };
  const r: Rig = {
    stats,
    engine,
    recorded,
    clock: 0,
    predictor: undefined as unknown as LatencyPredictor,
  };
  (r as { predictor: LatencyPredictor }).predictor = createLatencyPredictor({
    signals: {
      endpointStats: stats,
      statsClock: () => r.clock,
      engineMetrics: { get: (id) => (engine.has(id) ? ({ stale: false, ...engine.get(id) } as EngineSnapshot) : undefined) },
    },
    now: () => r.clock,
    latencyMemoryMs: 30_000,
    recorder,
  });
  return r;
}

const uncached = (tokens: number): PromptCache => ({ promptTokens: tokens, cachedTokens: () => 0 });
const endpointAt = (url: string): Endpoint => createEndpoint({ url }, alwaysClosed());

/** Requests sent one at a time (nothing queued ahead), each answered after `msPerToken` per prompt token plus `fixedMs`. */
function teach(r: Rig, e: Endpoint, msPerToken: number, fixedMs = 0, n = 12, size = (i: number) => 200 + 300 * (i % 5)): void {
  for (let i = 0; i < n; i++) {
    const tokens = size(i);
    const [p] = r.predictor.predict([e], uncached(tokens), r.clock);
    r.predictor.sent(e, p!, undefined, r.clock);
    r.stats.started(e.id, r.clock);
    const ms = fixedMs + msPerToken * tokens;
    r.clock += ms;
    r.stats.firstByte(e.id, ms, ms);
    r.stats.finished(e.id, { ok: true, sawFirstByte: true });
  }
}

describe('latency predictor', () => {
  test('an endpoint twice as slow predicts twice the prefill time', () => {
    const r = rig();
    const [fast, slow] = [endpointAt('http://fast:1'), endpointAt('http://slow:1')];
    teach(r, fast, 0.1);
    teach(r, slow, 0.2);
    const [f, s] = r.predictor.predict([fast, slow], uncached(2000), r.clock);
    expect(f!.ttftBasis).toBe('learned');
    expect(f!.ttftMs).toBeCloseTo(200, 3);
    expect(s!.ttftMs).toBeCloseTo(400, 3);
  });

  test('learns the fixed part of a TTFT apart from the per-token part', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    teach(r, e, 0.1, 40);
    expect(r.predictor.predict([e], uncached(1000), r.clock)[0]!.ttftMs).toBeCloseTo(140, 3);
  });

  test('a cached prefix lowers the predicted TTFT by its share', () => {
    const r = rig();
    const [holder, other] = [endpointAt('http://holder:1'), endpointAt('http://other:1')];
    teach(r, holder, 0.1);
    teach(r, other, 0.1);
    const cache: PromptCache = { promptTokens: 2000, cachedTokens: (id) => (id === holder.id ? 1500 : 0) };
    const [h, o] = r.predictor.predict([holder, other], cache, r.clock);
    expect(h!.uncachedTokens).toBe(500);
    expect(h!.ttftMs! / o!.ttftMs!).toBeCloseTo(0.25, 3);
  });

  test('prefill queued ahead counts: the prompts sent there, and the engine queue beyond them', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    // Every request of 1000 tokens: the usual size there is 1000.
    teach(r, e, 0.1, 0, 12, () => 1000);
    for (let i = 0; i < 3; i++) {
      const [p] = r.predictor.predict([e], uncached(1000), r.clock);
      r.predictor.sent(e, p!, undefined, r.clock);
      r.stats.started(e.id, r.clock);
    }
    const [queued] = r.predictor.predict([e], uncached(1000), r.clock);
    expect(queued!.aheadTokens).toBe(3000);
    expect(queued!.ttftMs).toBeCloseTo(400, 3);
    // The engine has six waiting: three the ledger does not know (another router's), each of the usual size.
    r.engine.set(e.id, { waiting: 6, running: 0 });
    const [crowded] = r.predictor.predict([e], uncached(1000), r.clock);
    expect(crowded!.ttftMs).toBeCloseTo(700, 3);
    // Their first tokens arrive: the ledger empties, and each one taught the line the work it waited behind.
    r.engine.delete(e.id);
    for (let i = 0; i < 3; i++) r.stats.firstByte(e.id, 100 * (i + 1), 100 * (i + 1));
    const [after] = r.predictor.predict([e], uncached(1000), r.clock);
    expect(after!.aheadTokens).toBe(0);
    expect(after!.ttftMs).toBeCloseTo(100, 3);
  });

  test('TPOT from the decode line at the streams decoding there', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    // Streams of k = 1..8 at once, each ending with a gap of 10 ms + 2 ms per stream beside it (itself included).
    for (let k = 1; k <= 8; k++) {
      for (let i = 0; i < k; i++) {
        r.stats.started(e.id, r.clock);
        r.stats.firstByte(e.id, 50, 50);
      }
      for (let left = k; left > 0; left--) r.stats.finished(e.id, { ok: true, sawFirstByte: true, itlMs: 10 + 2 * left });
    }
    for (let i = 0; i < 4; i++) {
      r.stats.started(e.id, r.clock);
      r.stats.firstByte(e.id, 50, 50);
    }
    const [p] = r.predictor.predict([e], uncached(100), r.clock);
    expect(p!.tpotBasis).toBe('learned');
    // Four decoding, and this one: five streams.
    expect(p!.streams).toBe(5);
    expect(p!.tpotMs).toBeCloseTo(20, 3);
    // Each end was held against what the line predicted just before it.
    const tpots = r.recorded.filter((x) => x.kind === 'tpot');
    expect(tpots.length).toBeGreaterThan(30);
    expect(Math.abs(tpots.at(-1)!.predicted - tpots.at(-1)!.measured)).toBeLessThan(0.01);
  });

  test('TPOT counts the prefill sent there: streams decode through it, and a prefill slows the streams beside it', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    // Rounds of k = 1..4 requests sent together, each of 16 + 100·j prompt tokens (a first token after 0.1 ms per
    // token of work), then their streams end one by one, each at 20 ms + 2 ms per stream decoding (itself
    // included) + 0.01 ms per prefill token sent there in the window.
    const itl = (streams: number, window: number) => 20 + 2 * streams + 0.01 * window;
    for (let i = 0; i < 40; i++) {
      r.clock += 400;
      const k = 1 + (i % 4);
      const tokens = 16 + 100 * ((i * 3) % 7);
      for (let n = 0; n < k; n++) {
        const [p] = r.predictor.predict([e], uncached(tokens), r.clock);
        r.predictor.sent(e, p!, undefined, r.clock);
        r.stats.started(e.id, r.clock);
        r.stats.firstByte(e.id, 0.1 * p!.aheadTokens, 0.1 * (p!.aheadTokens + tokens));
      }
      const window = r.predictor.predict([e], uncached(16), r.clock)[0]!.prefillWindowTokens;
      for (let left = k; left > 0; left--) r.stats.finished(e.id, { ok: true, sawFirstByte: true, itlMs: itl(left, window) });
    }
    const [quiet] = r.predictor.predict([e], uncached(2000), r.clock);
    expect(quiet!.tpotBasis).toBe('learned');
    expect(quiet!.tpotMs).toBeCloseTo(itl(1, quiet!.prefillWindowTokens), 3);
    // The streams beside a 2,000-token prefill each wait 0.01 ms more per token for each of its tokens.
    expect(quiet!.tpotHarmMs).toBeCloseTo(20, 3);
    // 3,000 tokens of prefill sent there: a stream starting now is predicted 30 ms slower per token.
    const [big] = r.predictor.predict([e], uncached(3000), r.clock);
    r.predictor.sent(e, big!, undefined, r.clock);
    r.stats.started(e.id, r.clock);
    const [busy] = r.predictor.predict([e], uncached(2000), r.clock);
    expect(busy!.prefillWindowTokens - quiet!.prefillWindowTokens).toBeCloseTo(3000, 6);
    expect(busy!.tpotMs! - quiet!.tpotMs!).toBeCloseTo(30 + 2, 3);
  });

  test('the prefill term never exceeds what a prefill token costs the engine (its prefill line)', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    // First tokens at 0.001 ms per token of work, time per token rising 0.01 ms per prefill token: the engine
    // cannot lose more time to a token of prefill than that token takes, so the term is held to 0.001.
    for (let i = 0; i < 40; i++) {
      r.clock += 400;
      const tokens = 16 + 100 * ((i * 3) % 7);
      const [p] = r.predictor.predict([e], uncached(tokens), r.clock);
      r.predictor.sent(e, p!, undefined, r.clock);
      r.stats.started(e.id, r.clock);
      r.stats.firstByte(e.id, 0.001 * tokens, 0.001 * (p!.aheadTokens + tokens));
      const window = r.predictor.predict([e], uncached(16), r.clock)[0]!.prefillWindowTokens;
      r.stats.finished(e.id, { ok: true, sawFirstByte: true, itlMs: 20 + 0.01 * window });
    }
    const [p] = r.predictor.predict([e], uncached(2000), r.clock);
    expect(p!.tpotHarmMs).toBeCloseTo(0.001 * 2000, 3);
  });

  test('streams still decoding show their pace before any has ended: an engine whose streams crawl is predicted slower', () => {
    const r = rig();
    const quick = endpointAt('http://quick:1');
    const crawl = endpointAt('http://crawl:1');
    // Three streams start on each at t = 0; nothing has ended anywhere, so no stream end has taught a plane.
    const streams = new Map<string, { firstAt: number | undefined; lastAt: number; gaps: number }[]>();
    for (const e of [quick, crawl]) {
      const [p] = r.predictor.predict([e], uncached(100), r.clock);
      const mine: { firstAt: number | undefined; lastAt: number; gaps: number }[] = [];
      for (let i = 0; i < 3; i++) {
        r.predictor.sent(e, p!, undefined, r.clock);
        r.stats.started(e.id, r.clock);
        const s = { firstAt: 0, lastAt: 0, gaps: 0 };
        mine.push(s);
        r.stats.firstByte(e.id, 10, 10, s as LiveStream);
      }
      streams.set(e.id, mine);
    }
    // One second on: the quick engine's streams sent a token every 20 ms, the crawling one's every 200 ms.
    r.clock = 1000;
    for (const s of streams.get(quick.id)!) Object.assign(s, { lastAt: 1000, gaps: 50 });
    for (const s of streams.get(crawl.id)!) Object.assign(s, { lastAt: 1000, gaps: 5 });
    const [q, c] = r.predictor.predict([quick, crawl], uncached(100), r.clock);
    expect(q!.tpotBasis).toBe('learned');
    expect(c!.tpotBasis).toBe('learned');
    expect(q!.tpotMs).toBeCloseTo(20, 6);
    expect(c!.tpotMs).toBeCloseTo(200, 6);
    // The next reading counts only what came since: the crawling engine recovered to 20 ms a token.
    r.clock = 2000;
    for (const s of streams.get(crawl.id)!) Object.assign(s, { lastAt: 2000, gaps: 55 });
    const [, later] = r.predictor.predict([quick, crawl], uncached(100), r.clock);
    expect(later!.tpotMs).toBeLessThan(200);
    expect(later!.tpotMs).toBeGreaterThan(20);
  });

  test('a first token that waited behind a queue the ledger under-counted does not restart the prefill line', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    teach(r, e, 0.1);
    const line = r.predictor.predict([e], uncached(1000), r.clock)[0]!.ttftMs!;
    // Two requests at once; the second's first token comes six times later than the line says for the work the
    // ledger put ahead of it (another router's requests were there too).
    const [a] = r.predictor.predict([e], uncached(500), r.clock);
    r.predictor.sent(e, a!, undefined, r.clock);
    r.stats.started(e.id, r.clock);
    const [b] = r.predictor.predict([e], uncached(500), r.clock);
    r.predictor.sent(e, b!, undefined, r.clock);
    r.stats.started(e.id, r.clock);
    r.clock += 50;
    r.stats.firstByte(e.id, 50, 50);
    r.clock += 550;
    r.stats.firstByte(e.id, 600, 600);
    // The line moved, as a sample of its weight moves it; it did not become that one sample.
    const after = r.predictor.predict([e], uncached(1000), r.clock)[0]!.ttftMs!;
    expect(after).toBeGreaterThan(line);
    expect(after).toBeLessThan(2 * line);
  });

  test('until a line is learned, the router\'s own TTFT stands in, else the engine\'s histogram window, else the fleet\'s', () => {
    const r = rig();
    const [routerOnly, engineOnly, unknown] = [endpointAt('http://r:1'), endpointAt('http://e:1'), endpointAt('http://u:1')];
    // A first byte the predictor sent nothing for (another policy's request): the router's average has it, no line does.
    r.stats.firstByte(routerOnly.id, 300);
    r.engine.set(engineOnly.id, { ttft: { meanMs: 500, p50Ms: 500, p90Ms: 500, count: 20, ageMs: 1000 }, itl: { meanMs: 30, p50Ms: 30, p90Ms: 30, count: 20, ageMs: 1000 } });
    const [a, b, c] = r.predictor.predict([routerOnly, engineOnly, unknown], uncached(800), r.clock);
    expect(a).toMatchObject({ ttftBasis: 'router' });
    expect(a!.ttftMs).toBeCloseTo(300, 6);
    expect(b).toMatchObject({ ttftBasis: 'engine', tpotBasis: 'engine', tpotMs: 30 });
    expect(b!.ttftMs).toBeCloseTo(500, 6);
    // Never measured: the middle of the others, neither favoured nor shunned.
    expect(c!.ttftBasis).toBe('fleet');
    expect(c!.ttftMs).toBeCloseTo(300, 6);
    // An engine window older than the latency memory is no evidence.
    r.engine.set(engineOnly.id, { ttft: { meanMs: 500, p50Ms: 500, p90Ms: 500, count: 20, ageMs: 30_001 } });
    expect(r.predictor.predict([engineOnly], uncached(800), r.clock)[0]!.ttftBasis).toBe('none');
  });

  test('reports each TTFT prediction beside the TTFT then measured', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    teach(r, e, 0.1, 0, 6);
    const ttfts = r.recorded.filter((x) => x.kind === 'ttft');
    // The first request had nothing to go on; each later one was predicted from the line so far.
    expect(ttfts).toHaveLength(5);
    for (const t of ttfts.slice(1)) expect(t.predicted).toBeCloseTo(t.measured, 3);
  });

  test('a chosen endpoint whose leg never started does not keep a phantom job in its queue', () => {
    const r = rig();
    const e = endpointAt('http://e:1');
    teach(r, e, 0.1);
    const [p] = r.predictor.predict([e], uncached(1000), r.clock);
    // Sent, but the breaker refused the leg: no started(), no first byte will ever come.
    r.predictor.sent(e, p!, undefined, r.clock);
    expect(r.predictor.predict([e], uncached(1000), r.clock)[0]!.aheadTokens).toBe(0);
  });
});
