// The QoE cost's parts on constructed signals: each responds to its own inputs and in the right direction.
import { describe, expect, test } from 'bun:test';
import {
  costParts,
  decodeCost,
  expectedTtft,
  performanceCost,
  prefillCost,
  priorityCost,
  reliabilityCost,
  resourceCost,
  saturate,
  slaPenalty,
  totalCost,
  type EndpointSignals,
} from '../../src/policies/qoe/cost.ts';
import { resolveQoeOptions } from '../../src/policies/qoe/options.ts';
import type { RequestProfile } from '../../src/policies/qoe/request-profile.ts';

const OPTIONS = resolveQoeOptions();

function signals(patch: Partial<EndpointSignals> = {}): EndpointSignals {
  return {
    inFlight: 0,
    inPrefill: undefined,
    inDecode: undefined,
    ttftMs: undefined,
    ttftQueue: undefined,
    itlMs: undefined,
    tokensPerSecond: undefined,
    errorRate: undefined,
    breaker: 'closed',
    running: undefined,
    waiting: undefined,
    kvCacheUsage: undefined,
    prefixCacheHitRate: undefined,
    ...patch,
  };
}

function profile(patch: Partial<RequestProfile> = {}): RequestProfile {
  return { phase: 'prefill', stage: undefined, priority: 2, expectedOutputTokens: undefined, slaTargetMs: 300, ...patch };
}

describe('cost parts', () => {
  test('saturate is 0 at 0, 1/2 at 1, increasing and below 1', () => {
    expect(saturate(0)).toBe(0);
    expect(saturate(-3)).toBe(0);
    expect(saturate(1)).toBe(0.5);
    expect(saturate(2)).toBeGreaterThan(saturate(1.5));
    expect(saturate(1e9)).toBeLessThan(1);
  });

  test('resource: KV usage, the engine queue and requests in flight all raise it; unknown engine data is left out', () => {
    expect(resourceCost(signals())).toBe(0);
    // Only the in-flight factor is known: the cost is that factor alone, not diluted by missing ones.
    expect(resourceCost(signals({ inFlight: 32 }))).toBeCloseTo(0.5, 12);
    const base = signals({ kvCacheUsage: 0.2, waiting: 0, inFlight: 4 });
    expect(resourceCost({ ...base, kvCacheUsage: 0.9 })).toBeGreaterThan(resourceCost(base));
    expect(resourceCost({ ...base, waiting: 6 })).toBeGreaterThan(resourceCost(base));
    expect(resourceCost({ ...base, inFlight: 40 })).toBeGreaterThan(resourceCost(base));
    expect(resourceCost(signals({ kvCacheUsage: 1, waiting: 1e9, inFlight: 1e9 }))).toBeLessThanOrEqual(1);
  });

  test('prefill performance: TTFT against the request target, prefix misses and the prefill queue', () => {
    const fast = signals({ ttftMs: 50 });
    const slow = signals({ ttftMs: 900 });
    expect(prefillCost(slow, 300)).toBeGreaterThan(prefillCost(fast, 300));
    // The same TTFT costs more against a tighter target.
    expect(prefillCost(fast, 100)).toBeGreaterThan(prefillCost(fast, 300));
    // TTFT keeps separating endpoints beyond the target (min(1, x) would tie these two).
    expect(prefillCost(signals({ ttftMs: 3000 }), 300)).toBeGreaterThan(prefillCost(signals({ ttftMs: 700 }), 300));
    expect(prefillCost(signals({ ttftMs: 50, prefixCacheHitRate: 0.1 }), 300)).toBeGreaterThan(
      prefillCost(signals({ ttftMs: 50, prefixCacheHitRate: 0.9 }), 300),
    );
    expect(prefillCost(signals({ ttftMs: 50, inPrefill: 10 }), 300)).toBeGreaterThan(prefillCost(fast, 300));
    // Without router phase counts, the router's in-flight count stands in.
    expect(prefillCost(signals({ ttftMs: 50, inFlight: 10 }), 300)).toBeGreaterThan(prefillCost(fast, 300));
  });

  test('an unmeasured latency is costed as fast, so a new endpoint gets tried', () => {
    expect(prefillCost(signals(), 300)).toBeLessThan(prefillCost(signals({ ttftMs: 30 }), 300));
    expect(decodeCost(signals(), false, OPTIONS)).toBeLessThan(decodeCost(signals({ itlMs: 5 }), false, OPTIONS));
  });

  test('decode performance: ITL, stream speed, KV usage and decode load', () => {
    const good = signals({ itlMs: 10, tokensPerSecond: 100, kvCacheUsage: 0.1, inDecode: 1 });
    expect(decodeCost({ ...good, itlMs: 80 }, false, OPTIONS)).toBeGreaterThan(decodeCost(good, false, OPTIONS));
    expect(decodeCost({ ...good, tokensPerSecond: 10 }, false, OPTIONS)).toBeGreaterThan(decodeCost(good, false, OPTIONS));
    expect(decodeCost({ ...good, kvCacheUsage: 0.95 }, false, OPTIONS)).toBeGreaterThan(decodeCost(good, false, OPTIONS));
    expect(decodeCost({ ...good, inDecode: 60 }, false, OPTIONS)).toBeGreaterThan(decodeCost(good, false, OPTIONS));
    // Speed is derived from the ITL when no stream speed was measured.
    expect(decodeCost(signals({ itlMs: 100 }), false, OPTIONS)).toBeGreaterThan(decodeCost(signals({ itlMs: 100, tokensPerSecond: 1000 }), false, OPTIONS));
  });

  test('a long expected answer weighs stream speed more than ITL', () => {
    const steadyButSlow = signals({ itlMs: 20, tokensPerSecond: 5 });
    const quickGapsFastStream = signals({ itlMs: 40, tokensPerSecond: 60 });
    const shortGap = decodeCost(steadyButSlow, false, OPTIONS) - decodeCost(quickGapsFastStream, false, OPTIONS);
    const longGap = decodeCost(steadyButSlow, true, OPTIONS) - decodeCost(quickGapsFastStream, true, OPTIONS);
    expect(longGap).toBeGreaterThan(shortGap);
  });

  test('performance follows the PD stage, else blends both phases toward the detected one', () => {
    const fastPrefillSlowDecode = signals({ ttftMs: 30, itlMs: 200 });
    const slowPrefillFastDecode = signals({ ttftMs: 1200, itlMs: 5 });
    expect(performanceCost(fastPrefillSlowDecode, profile({ stage: 'prefill', phase: 'prefill' }), OPTIONS)).toBe(prefillCost(fastPrefillSlowDecode, 300));
    expect(performanceCost(fastPrefillSlowDecode, profile({ stage: 'decode', phase: 'decode' }), OPTIONS)).toBe(decodeCost(fastPrefillSlowDecode, false, OPTIONS));
    // A first turn prefers the fast prefill; a continuation prefers the fast decoder.
    const first = profile({ phase: 'prefill' });
    const next = profile({ phase: 'decode' });
    expect(performanceCost(fastPrefillSlowDecode, first, OPTIONS)).toBeLessThan(performanceCost(slowPrefillFastDecode, first, OPTIONS));
    expect(performanceCost(slowPrefillFastDecode, next, OPTIONS)).toBeLessThan(performanceCost(fastPrefillSlowDecode, next, OPTIONS));
  });

  test('reliability comes from measured errors and the breaker state, not uptime', () => {
    expect(reliabilityCost(signals())).toBe(0);
    expect(reliabilityCost(signals({ errorRate: 0.25 }))).toBeCloseTo(0.25, 12);
    expect(reliabilityCost(signals({ breaker: 'half_open' }))).toBe(0.5);
    expect(reliabilityCost(signals({ breaker: 'half_open', errorRate: 0.5 }))).toBeCloseTo(0.75, 12);
    expect(reliabilityCost(signals({ breaker: 'open' }))).toBe(1);
  });

  test('priority: urgent requests pay for the queue they would join, batch requests do not', () => {
    const queued = signals({ inPrefill: 8, waiting: 4 });
    const idle = signals();
    expect(priorityCost(queued, profile({ priority: 1 }))).toBeGreaterThan(priorityCost(queued, profile({ priority: 2 })));
    expect(priorityCost(queued, profile({ priority: 3 }))).toBe(0);
    expect(priorityCost(idle, profile({ priority: 1 }))).toBe(0);
    // Unlike the original (priority − 1)/2, it differs between endpoints, so it can change a choice.
    expect(priorityCost(queued, profile({ priority: 1 }))).toBeGreaterThan(priorityCost(idle, profile({ priority: 1 })));
  });

  test('the SLA target is used: an endpoint expected to miss it is penalised, more for a bigger miss', () => {
    const r = profile({ slaTargetMs: 200 });
    expect(slaPenalty(signals({ ttftMs: 150 }), r, 1)).toBe(0);
    expect(slaPenalty(signals({ ttftMs: 200 }), r, 1)).toBe(0);
    expect(slaPenalty(signals({ ttftMs: 250 }), r, 1)).toBeCloseTo(0.625, 12);
    expect(slaPenalty(signals({ ttftMs: 5000 }), r, 1)).toBe(1);
    expect(slaPenalty(signals(), r, 1)).toBe(0);
    // The same endpoint meets a looser target.
    expect(slaPenalty(signals({ ttftMs: 250 }), profile({ slaTargetMs: 500 }), 1)).toBe(0);
    // A decode stage does not produce the first token.
    expect(slaPenalty(signals({ ttftMs: 5000 }), profile({ stage: 'decode', slaTargetMs: 200 }), 1)).toBe(0);
  });

  test('the expected TTFT scales the measured one by the prefill queue there now against the queue it was measured behind', () => {
    expect(expectedTtft(signals({ ttftMs: 400 }))).toBe(400);
    expect(expectedTtft(signals({ ttftMs: 400, inPrefill: 0, ttftQueue: 0 }))).toBe(400);
    expect(expectedTtft(signals({ ttftMs: 400, inPrefill: 3, ttftQueue: 1 }))).toBe(800);
    expect(expectedTtft(signals({ ttftMs: 400, inPrefill: 0, ttftQueue: 1 }))).toBe(200);
    // Without router phase counts, the requests in flight stand in for the queue.
    expect(expectedTtft(signals({ ttftMs: 400, inFlight: 1, ttftQueue: 0 }))).toBe(800);
    // Just under the target when measured, well over it with a queue four times as long: penalised.
    const r = profile({ slaTargetMs: 1000 });
    expect(slaPenalty(signals({ ttftMs: 950, inPrefill: 0, ttftQueue: 0 }), r, 1)).toBe(0);
    expect(slaPenalty(signals({ ttftMs: 950, inPrefill: 3, ttftQueue: 0 }), r, 1)).toBe(1);
  });

  test('an SLA miss outweighs every weighted part, so a meeting endpoint wins', () => {
    const weights = OPTIONS.weights;
    const r = profile({ slaTargetMs: 300 });
    const meetsButBusy = signals({ ttftMs: 280, inFlight: 60, kvCacheUsage: 0.9, waiting: 3, errorRate: 0.1 });
    const missesButIdle = signals({ ttftMs: 420, kvCacheUsage: 0, waiting: 0 });
    expect(totalCost(costParts(meetsButBusy, r, OPTIONS), weights)).toBeLessThan(totalCost(costParts(missesButIdle, r, OPTIONS), weights));
  });

  test('the total is the weighted sum of the parts plus the SLA penalty', () => {
    const parts = { resource: 0.5, performance: 0.25, reliability: 1, priority: 0.5, slaPenalty: 0.75 };
    expect(totalCost(parts, { resource: 0.3, performance: 0.4, reliability: 0.2, priority: 0.1 })).toBeCloseTo(0.15 + 0.1 + 0.2 + 0.05 + 0.75, 12);
  });
});
