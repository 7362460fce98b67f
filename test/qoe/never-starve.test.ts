// qoe_centric never starves an endpoint: a small fleet in virtual time (the real policy object, the real
// EndpointStats fed as the router's legs feed it, one FIFO prefill server per engine), where one engine is
// slow for its first requests and then as fast as the others, and an even fleet where all are alike.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.ts';
import { qoeCentric } from '../../src/policies/qoe-centric.ts';
import { createEndpointStats } from '../../src/signals/endpoint-stats.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { request } from '../policies/routing-fixtures.ts';

interface Engine {
  readonly endpoint: Endpoint;
  /** Prefill ms per prompt token for its n-th request (0-based), starting at `at`. */
  readonly msPerToken: (n: number, at: number) => number;
  served: number;
  busyUntil: number;
}

interface Sent {
  readonly at: number;
  readonly engine: number;
}

const PROMPT_TOKENS = 500;
const DECODE_MS = 400;
const ITL_MS = 20;

/** `count` requests arriving every `gapMs`, the n-th of `tokens(n)` prompt tokens; what was sent where, and when. */
function run(speeds: readonly ((n: number, at: number) => number)[], count: number, gapMs: number, tokens: (n: number) => number = () => PROMPT_TOKENS): Sent[] {
  let clock = 0;
  const stats = createEndpointStats();
  const engines: Engine[] = speeds.map((msPerToken, i) => ({ endpoint: createEndpoint({ url: `http://engine-${i}:8000` }, alwaysClosed()), msPerToken, served: 0, busyUntil: 0 }));
  const endpoints = engines.map((e) => e.endpoint);
  const policy = qoeCentric({
    random: mulberry32(7),
    now: () => clock,
    options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 22 },
    signals: { endpointStats: stats, statsClock: () => clock },
  });
  // Pending first bytes and ends, in time order.
  const events: { at: number; run: () => void }[] = [];
  const schedule = (at: number, fn: () => void) => {
    let i = events.length;
    while (i > 0 && events[i - 1]!.at > at) i--;
    events.splice(i, 0, { at, run: fn });
  };
  const sent: Sent[] = [];
  const random = mulberry32(3);
  for (let n = 0; n < count; n++) {
    const arrival = n * gapMs;
    while (events.length > 0 && events[0]!.at <= arrival) {
      const next = events.shift()!;
      clock = next.at;
      next.run();
    }
    clock = arrival;
    // Distinct prompts: no prefix to share, so speed and queues alone decide.
    const size = tokens(n);
    const text = `${n} ${Math.floor(random() * 1e9)} `.padEnd(size * 4, 'x');
    const chosen = policy.select({ candidates: endpoints, all: endpoints, request: request({ text, body: { prompt: text } }) })!;
    const engine = engines[endpoints.indexOf(chosen)]!;
    sent.push({ at: arrival, engine: endpoints.indexOf(chosen) });
    chosen.inFlight++;
    stats.started(chosen.id, arrival);
    const start = Math.max(arrival, engine.busyUntil);
    const firstByte = start + size * engine.msPerToken(engine.served++, start);
    engine.busyUntil = firstByte;
    schedule(firstByte, () => stats.firstByte(chosen.id, firstByte - arrival, firstByte - arrival));
    schedule(firstByte + DECODE_MS, () => {
      chosen.inFlight--;
      stats.finished(chosen.id, { ok: true, sawFirstByte: true, itlMs: ITL_MS });
    });
  }
  policy.dispose?.();
  return sent;
}

/** The longest time between two requests sent to `engine` (and from the start and to the end). */
function longestGap(sent: readonly Sent[], engine: number, endMs: number): number {
  let last = 0;
  let gap = 0;
  for (const s of sent) {
    if (s.engine !== engine) continue;
    gap = Math.max(gap, s.at - last);
    last = s.at;
  }
  return Math.max(gap, endMs - last);
}

const share = (sent: readonly Sent[], engine: number, from: number, to: number) => {
  const window = sent.filter((s) => s.at >= from && s.at < to);
  return window.filter((s) => s.engine === engine).length / window.length;
};

describe('qoe_centric never starves an endpoint', () => {
  test('an engine slow at first and then as fast as the others takes its share back within seconds', () => {
    const fast = () => 0.1;
    // Four times slower for the first 15 s, then like the rest.
    const recovering = (_n: number, at: number) => (at < 15_000 ? 0.4 : 0.1);
    // 25 requests a second for 60 s on four engines that prefill one in 50 ms each: a quarter busy.
    const sent = run([fast, fast, fast, recovering], 1500, 40);
    // While slow it still got probed, at least once per interval.
    expect(longestGap(sent.filter((s) => s.at < 15_000), 3, 15_000)).toBeLessThanOrEqual(10_000);
    // Ten seconds after it became fast it has about the others' share.
    expect(share(sent, 3, 25_000, 60_000)).toBeGreaterThanOrEqual(0.15);
    for (let e = 0; e < 4; e++) expect(longestGap(sent, e, 60_000)).toBeLessThanOrEqual(10_000);
  });

  test('on an even fleet every engine gets requests: none goes 10 s without one', () => {
    const even = () => 0.1;
    const sent = run([even, even, even, even], 1500, 40);
    for (let e = 0; e < 4; e++) {
      expect(longestGap(sent, e, 60_000)).toBeLessThanOrEqual(10_000);
      expect(share(sent, e, 10_000, 60_000)).toBeGreaterThanOrEqual(0.1);
    }
  });

  test('on an even fleet with prompts of very different lengths, an engine that served long ones is not taken for slow', () => {
    const even = () => 0.1;
    // Mostly 200-token prompts, one in eight of 4000 (an agent's grown context): 10–400 ms of prefill.
    const random = mulberry32(9);
    const sizes = Array.from({ length: 1500 }, () => (random() < 0.125 ? 4000 : 200));
    const sent = run([even, even, even, even], 1500, 40, (n) => sizes[n]!);
    for (let e = 0; e < 4; e++) {
      expect(longestGap(sent, e, 60_000)).toBeLessThanOrEqual(10_000);
      expect(share(sent, e, 10_000, 60_000)).toBeGreaterThanOrEqual(0.15);
    }
  });
});
