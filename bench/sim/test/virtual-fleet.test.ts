import { describe, expect, test } from 'bun:test';
import { simulateFleet } from '../virtual-fleet.ts';
import { buildWorkload } from '../workloads.ts';

describe('virtual fleet', () => {
  test('on chat, conversation affinity raises the fleet hit rate and lowers TTFT compared with round robin', () => {
    const specs = buildWorkload('chat', { seed: 1, rate: 12, durationSec: 15, model: 'm' });
    const rr = simulateFleet(specs, 'round_robin', 4, 1);
    const ch = simulateFleet(specs, 'consistent_hash', 4, 1);
    expect(ch.hitRate).toBeGreaterThan(rr.hitRate + 0.05);
    expect(ch.ttft.p50).toBeLessThan(rr.ttft.p50);
    // Deterministic: the same inputs give the same numbers.
    expect(simulateFleet(specs, 'round_robin', 4, 1)).toEqual(rr);
  });
});
