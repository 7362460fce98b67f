// Streaming QoE (Andes): exactly 1 when delivery never lags, lower with every added delay, and the
// incremental form agrees with a brute-force integration of the same definition.
import { describe, expect, test } from 'bun:test';
import { createStreamQoe, streamQoe, type QoeExpectation } from '../../src/signals/stream-qoe.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const EXPECT: QoeExpectation = { ttftMs: 500, tokensPerSecond: 10 };

/** Token i (1-based) exactly when the user expects it, shifted by `lateMs(i)`. */
function paced(n: number, lateMs: (i: number) => number = () => 0, e = EXPECT): [number, number][] {
  return Array.from({ length: n }, (_, k) => [e.ttftMs + (k * 1000) / e.tokensPerSecond + lateMs(k + 1), 1]);
}

/**
 * The definition evaluated directly, without the closed form: both curves are step functions, so between
 * consecutive steps of either the lag of the delivered count behind min(N, expected) is constant.
 */
function bruteForce(e: QoeExpectation, arrivals: readonly (readonly [number, number])[]): number {
  const n = arrivals.reduce((s, [, c]) => s + c, 0);
  const slot = 1000 / e.tokensPerSecond;
  const expectedAt = (t: number) => (t < e.ttftMs ? 0 : Math.min(n, Math.floor((t - e.ttftMs) / slot) + 1));
  const deliveredAt = (t: number) => arrivals.reduce((s, [at, c]) => (at <= t ? s + c : s), 0);
  const end = Math.max(...arrivals.map(([at]) => at));
  const steps = [0, end, ...arrivals.map(([at]) => at), ...Array.from({ length: n + 1 }, (_, k) => e.ttftMs + k * slot)]
    .filter((t) => t <= end)
    .sort((a, b) => a - b);
  let delay = 0;
  for (let i = 1; i < steps.length; i++) {
    const [a, b] = [steps[i - 1]!, steps[i]!];
    if (b > a) delay += Math.max(0, expectedAt((a + b) / 2) - deliveredAt((a + b) / 2)) * (b - a);
  }
  const whole = ((n * (n + 1)) / 2) * slot;
  return Math.max(0, 1 - delay / whole);
}

describe('stream QoE', () => {
  test('is exactly 1 for a stream that is never behind the expected pace', () => {
    expect(streamQoe(EXPECT, paced(50))).toBe(1);
    // Early tokens, bursts ahead of pace and a fast first token change nothing: they earn no extra credit.
    expect(streamQoe(EXPECT, paced(50, (i) => -Math.min(400, i * 10)))).toBe(1);
    expect(streamQoe(EXPECT, [[100, 50]])).toBe(1);
    expect(streamQoe({ ttftMs: 0, tokensPerSecond: 1000 }, paced(1000, () => 0, { ttftMs: 0, tokensPerSecond: 1000 }))).toBe(1);
  });

  test('buffered tokens cover a later stall, as a reader still has text to read', () => {
    // 20 tokens at once at the start, then a 1 s stall, then the rest on pace: never behind.
    const arrivals: [number, number][] = [[400, 20], ...paced(30).map(([at]): [number, number] => [at + 2000, 1])];
    expect(streamQoe(EXPECT, arrivals)).toBe(1);
  });

  test('decreases strictly as the first token comes later', () => {
    let previous = 1;
    for (const late of [50, 100, 200, 400, 800, 1600]) {
      const q = streamQoe(EXPECT, paced(40, () => late))!;
      expect(q).toBeLessThan(previous);
      expect(q).toBeGreaterThan(0);
      previous = q;
    }
  });

  test('decreases strictly as a mid-stream stall grows', () => {
    let previous = streamQoe(EXPECT, paced(40))!;
    for (const stall of [10, 100, 300, 1000, 2000]) {
      const q = streamQoe(EXPECT, paced(40, (i) => (i > 20 ? stall : 0)))!;
      expect(q).toBeLessThan(previous);
      previous = q;
    }
  });

  test('never rises when any token is delayed further (random timelines)', () => {
    const rand = mulberry32(42);
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(rand() * 60);
      const arrivals = paced(n, () => (rand() - 0.3) * 800).sort((a, b) => a[0] - b[0]);
      const base = streamQoe(EXPECT, arrivals)!;
      const k = Math.floor(rand() * n);
      const extra = rand() * 1500;
      // Delay token k and keep arrival order: every later arrival is at least as late.
      const later = arrivals.map(([at, c], i): [number, number] => [i < k ? at : Math.max(at, arrivals[k]![0] + extra), c]);
      expect(streamQoe(EXPECT, later)!).toBeLessThanOrEqual(base + 1e-12);
    }
  });

  test('matches a direct step-by-step evaluation of the definition', () => {
    const rand = mulberry32(7);
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(rand() * 40);
      const arrivals = paced(n, () => rand() * 900).sort((a, b) => a[0] - b[0]);
      expect(streamQoe(EXPECT, arrivals)!).toBeCloseTo(bruteForce(EXPECT, arrivals), 9);
    }
    // Chunks of several tokens, as SSE may carry.
    const chunked: [number, number][] = [[700, 3], [900, 2], [1800, 5]];
    expect(streamQoe(EXPECT, chunked)!).toBeCloseTo(bruteForce(EXPECT, chunked), 9);
  });

  test('a hand-computed case: every token one slot late', () => {
    // 4 tokens at 10 tok/s after 500 ms; each arrives 100 ms (one slot) late. The delivered count is one
    // behind the staircase for 400 ms: S_delay = 1 × 400 ms; S_whole = (1+2+3+4) × 100 ms = 1000 ms.
    expect(streamQoe(EXPECT, paced(4, () => 100))).toBeCloseTo(0.6, 12);
  });

  test('is 0 when nothing arrives before the stream should have ended, and undefined with no tokens', () => {
    expect(streamQoe(EXPECT, [[500 + 5000 + 1, 50]])).toBe(0);
    expect(streamQoe(EXPECT, [[60_000, 50]])).toBe(0);
    expect(streamQoe(EXPECT, [])).toBeUndefined();
  });

  test('incremental use: O(1) state fed per chunk, out-of-order times clamped, nothing after finish', () => {
    const q = createStreamQoe(EXPECT);
    q.tokens(500);
    q.tokens(650);
    q.tokens(640); // earlier than the previous arrival: counted at 650
    q.tokens(700, 0); // an empty chunk (role or usage frame) changes nothing
    expect(q.delivered).toBe(3);
    const score = q.finish();
    expect(score).toBe(streamQoe(EXPECT, [[500, 1], [650, 1], [650, 1]]));
    q.tokens(10_000, 5);
    expect(q.delivered).toBe(3);
  });

  test('rejects an expectation it cannot score against', () => {
    expect(() => createStreamQoe({ ttftMs: 300, tokensPerSecond: 0 })).toThrow(RangeError);
    expect(() => createStreamQoe({ ttftMs: -1, tokensPerSecond: 10 })).toThrow(RangeError);
  });
});
