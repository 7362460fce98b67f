import { describe, expect, test } from 'bun:test';
import { markdownTable, withSpread, type RunSummary } from '../report.ts';
import { aggregateSeeds, spreadOf } from '../seed-aggregate.ts';

/** A run summary with every figure derived from `x`, so each seed's values are known. */
function summary(x: number, over: Partial<RunSummary> = {}): RunSummary {
  return {
    policy: 'cache_aware',
    rate: 16,
    requests: 100 + x,
    ok: 100,
    failed: x,
    timedOut: 0,
    notSent: 0,
    hitRate: x / 10,
    ttft: { p50: 100 * x, p90: 200 * x, p99: 300 * x },
    itl: { p50: 40, p99: 100 + x },
    e2e: { p50: 1000 * x, p99: 2000 * x },
    outputTokPerSec: 900 + x,
    reqPerSec: 9 + x / 10,
    sla: 1 - x / 10,
    slaByClass: { chat: 1 - x / 10 },
    qoe: 0.9,
    byClass: { chat: { priority: 1, requests: 50 + x, sla: 1, qoe: 1, ttft: { p50: x, p99: 2 * x }, tpot: { p50: 30, p99: 40 }, perEngine: [x, 2 * x] } },
    preemptions: 0,
    perEngineRequests: [10 * x, 20],
    perReplicaRequests: [50, 50 + x],
    predictedOverHits: Number.NaN,
    ...over,
  };
}

describe('figures over seeds', () => {
  test('mean, min and max of every figure, arrays element by element', () => {
    const row = aggregateSeeds([summary(1), summary(2), summary(6)], [1, 2, 3]);
    expect(row).toMatchObject({ policy: 'cache_aware', rate: 16, seeds: [1, 2, 3] });
    expect(row.ttft.p99).toEqual({ mean: 900, min: 300, max: 1800 });
    expect(row.hitRate.mean).toBeCloseTo(0.3, 12);
    expect(row.hitRate.min).toBeCloseTo(0.1, 12);
    expect(row.hitRate.max).toBeCloseTo(0.6, 12);
    expect(row.requests).toEqual({ mean: 103, min: 101, max: 106 });
    expect(row.qoe).toEqual({ mean: 0.9, min: 0.9, max: 0.9 });
    expect(row.perEngineRequests).toEqual([{ mean: 30, min: 10, max: 60 }, { mean: 20, min: 20, max: 20 }]);
    expect(row.perReplicaRequests[1]).toEqual({ mean: 53, min: 51, max: 56 });
    expect(row.byClass.chat!.perEngine[1]).toEqual({ mean: 6, min: 2, max: 12 });
    expect(row.byClass.chat!.priority).toEqual({ mean: 1, min: 1, max: 1 });
  });

  test('a class some seeds lack is combined over the seeds that have it', () => {
    const without = summary(2, { slaByClass: {}, byClass: {} });
    const row = aggregateSeeds([summary(1), without, summary(3)], [1, 2, 3]);
    expect(row.slaByClass.chat).toEqual({ mean: 0.8, min: 0.7, max: 0.9 });
    expect(row.byClass.chat!.requests).toEqual({ mean: 52, min: 51, max: 53 });
  });

  test('an unbounded figure in one seed makes the mean unbounded; an undefined one makes it undefined', () => {
    expect(spreadOf([100, Number.POSITIVE_INFINITY, 300])).toEqual({ mean: Number.POSITIVE_INFINITY, min: 100, max: Number.POSITIVE_INFINITY });
    expect(spreadOf([0.5, Number.NaN]).mean).toBeNaN();
    expect(spreadOf([])).toEqual({ mean: Number.NaN, min: Number.NaN, max: Number.NaN });
    expect(withSpread(spreadOf([100, Number.POSITIVE_INFINITY]), (v) => (Number.isFinite(v) ? String(v) : '∞'))).toBe('∞ (100–∞)');
  });

  test('one seed per row and one policy and rate per row', () => {
    expect(() => aggregateSeeds([summary(1), summary(2)], [1])).toThrow('one summary per seed');
    expect(() => aggregateSeeds([summary(1), summary(2, { policy: 'round_robin' })], [1, 2])).toThrow('mixes cache_aware at 16 with round_robin at 16');
  });

  test('a table cell is the mean with the min–max range; a single seed (or seeds that agree) shows one value', () => {
    const md = markdownTable([aggregateSeeds([summary(1), summary(2), summary(6)], [1, 2, 3])], []);
    expect(md).toContain('| cache_aware | 103 (100/3/0) | 30.0% (10.0–60.0) | 300 (100–600) | 600 (200–1200) | 900 (300–1800) | 40 | 103 (101–106) |');
    expect(md).toContain('| 30 / 20 | 50 / 53 |');
    expect(md).toContain('requests per router replica');
    expect(md).not.toContain('not sent');
    const single = markdownTable([aggregateSeeds([summary(2)], [2])], []);
    expect(single).toContain('| cache_aware | 102 (100/2/0) | 20.0% | 200 | 400 | 600 | 40 | 102 |');
    // A closed-loop run says how many turns it never sent.
    expect(markdownTable([aggregateSeeds([summary(1, { notSent: 4 }), summary(2, { notSent: 7 })], [1, 2])], [])).toContain('| 101.5 (100/1.5/0/5.5) |');
  });
});
