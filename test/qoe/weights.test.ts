// Adaptive weights: they move once per interval with the fleet's load, stay within bounds and sum to 1.
import { describe, expect, test } from 'bun:test';
import { DEFAULT_QOE_OPTIONS, DEFAULT_WEIGHTS, resolveQoeOptions, type QoeWeights } from '../../src/policies/qoe/options.ts';
import { createAdaptiveWeights, projectWeights, WEIGHT_KEYS, type FleetLoad } from '../../src/policies/qoe/weights.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const ADAPT = { ...DEFAULT_QOE_OPTIONS.adapt, intervalMs: 1000, min: 0.05, max: 0.6 };
const sum = (w: QoeWeights) => WEIGHT_KEYS.reduce((s, k) => s + w[k], 0);
const PREFILL_PRESSURE: FleetLoad = { inPrefill: 40, inDecode: 0, endpoints: 4 };
const DECODE_PRESSURE: FleetLoad = { inPrefill: 0, inDecode: 80, endpoints: 4 };
const CALM: FleetLoad = { inPrefill: 1, inDecode: 2, endpoints: 4 };

function expectValid(w: QoeWeights, min = ADAPT.min, max = ADAPT.max): void {
  expect(sum(w)).toBeCloseTo(1, 12);
  for (const k of WEIGHT_KEYS) {
    expect(w[k]).toBeGreaterThanOrEqual(min);
    expect(w[k]).toBeLessThanOrEqual(max);
  }
}

describe('adaptive weights', () => {
  test('do not change within an interval, however many requests arrive', () => {
    const w = createAdaptiveWeights(DEFAULT_WEIGHTS, ADAPT);
    for (let t = 0; t < 1000; t++) expect(w.observe(t * 0.999, PREFILL_PRESSURE)).toEqual(DEFAULT_WEIGHTS);
    const changed = w.observe(1000, PREFILL_PRESSURE);
    expect(changed.performance).toBeCloseTo(0.45, 12);
    expect(changed.resource).toBeCloseTo(0.27, 12);
    expect(changed.reliability).toBeCloseTo(0.18, 12);
    expect(changed.priority).toBeCloseTo(0.1, 12);
    // One change per interval, even after a long gap.
    expect(w.observe(50_000, PREFILL_PRESSURE)).not.toEqual(changed);
    const afterGap = w.current();
    expect(w.observe(50_500, PREFILL_PRESSURE)).toBe(afterGap);
  });

  test('prefill pressure raises performance, decode pressure raises resource', () => {
    const p = createAdaptiveWeights(DEFAULT_WEIGHTS, ADAPT);
    p.observe(0, PREFILL_PRESSURE);
    expect(p.observe(1000, PREFILL_PRESSURE).performance).toBeGreaterThan(DEFAULT_WEIGHTS.performance);
    const d = createAdaptiveWeights(DEFAULT_WEIGHTS, ADAPT);
    d.observe(0, DECODE_PRESSURE);
    const w = d.observe(1000, DECODE_PRESSURE);
    expect(w.resource).toBeGreaterThan(DEFAULT_WEIGHTS.resource);
    expect(w.performance).toBeLessThan(DEFAULT_WEIGHTS.performance);
  });

  test('use the mean load of the interval, not the last request', () => {
    const w = createAdaptiveWeights(DEFAULT_WEIGHTS, ADAPT);
    // One spike among calm samples: the mean stays under the pressure threshold, so the weights stay put.
    for (let t = 0; t < 99; t++) w.observe(t * 10, CALM);
    expect(w.observe(1000, { inPrefill: 400, inDecode: 0, endpoints: 4 })).toEqual(DEFAULT_WEIGHTS);
  });

  test('stay within bounds and sum to 1 under sustained pressure, and relax back when it ends', () => {
    const w = createAdaptiveWeights(DEFAULT_WEIGHTS, ADAPT);
    let t = 0;
    for (let i = 0; i < 100; i++) expectValid(w.observe((t += 1000), PREFILL_PRESSURE));
    expect(w.current().performance).toBeCloseTo(ADAPT.max, 12);
    for (let i = 0; i < 100; i++) expectValid(w.observe((t += 1000), DECODE_PRESSURE));
    expect(w.current().resource).toBeCloseTo(ADAPT.max, 12);
    for (let i = 0; i < 100; i++) expectValid(w.observe((t += 1000), CALM));
    for (const k of WEIGHT_KEYS) expect(w.current()[k]).toBeCloseTo(DEFAULT_WEIGHTS[k], 12);
  });

  test('stay within bounds and sum to 1 under random load and random bounds', () => {
    const rand = mulberry32(3);
    for (let run = 0; run < 50; run++) {
      const min = rand() * 0.2;
      const max = Math.max(0.25 + rand() * 0.75, min);
      const adapt = { ...ADAPT, min, max };
      const w = createAdaptiveWeights(DEFAULT_WEIGHTS, adapt);
      for (let t = 0; t < 200; t++) {
        const load = { inPrefill: rand() * 60, inDecode: rand() * 120, endpoints: 1 + Math.floor(rand() * 6) };
        expectValid(w.observe(t * 400, load), min, max);
      }
    }
  });

  test('projection: clamps into bounds with the sum kept at 1', () => {
    expectValid(projectWeights({ resource: 5, performance: 0, reliability: 0, priority: 0 }, ADAPT));
    expectValid(projectWeights({ resource: -1, performance: -1, reliability: -1, priority: -1 }, ADAPT));
    expect(projectWeights(DEFAULT_WEIGHTS, ADAPT)).toEqual(DEFAULT_WEIGHTS);
    // Only the pinned weight moves; the free ones shift together.
    const p = projectWeights({ resource: 0.9, performance: 0.1, reliability: 0.1, priority: 0.1 }, ADAPT);
    expect(p.resource).toBe(0.6);
    expect(p.performance).toBeCloseTo(0.4 / 3, 12);
    // Bounds that leave one point: every weight is 1/4.
    expect(projectWeights(DEFAULT_WEIGHTS, { min: 0.25, max: 0.25 })).toEqual({ resource: 0.25, performance: 0.25, reliability: 0.25, priority: 0.25 });
  });

  test('bounds that cannot hold four weights summing to 1 are refused at start-up', () => {
    expect(() => resolveQoeOptions({ adapt: { min: 0.3 } })).toThrow(RangeError);
    expect(() => resolveQoeOptions({ adapt: { max: 0.2 } })).toThrow(RangeError);
    expect(() => resolveQoeOptions({ adapt: { min: 0.5, max: 0.4 } })).toThrow(RangeError);
    expect(resolveQoeOptions({ adapt: { min: 0.25, max: 0.25 } }).adapt.min).toBe(0.25);
  });
});
