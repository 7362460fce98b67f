import { describe, expect, test } from 'bun:test';
import { presetParams } from '../engine-presets.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { simulateFleet } from '../virtual-fleet.ts';
import { buildWorkload } from '../workloads.ts';

const tokenizer = loadSimTokenizer();

describe('virtual fleet', () => {
  test('on chat, conversation affinity raises the fleet hit rate and lowers TTFT compared with round robin', () => {
    const specs = buildWorkload('chat', { seed: 1, rate: 12, durationSec: 15, model: 'm', tokenizer });
    const rr = simulateFleet(specs, 'round_robin', 4, 1, { tokenizer });
    const ch = simulateFleet(specs, 'consistent_hash', 4, 1, { tokenizer });
    expect(ch.hitRate).toBeGreaterThan(rr.hitRate + 0.05);
    expect(ch.ttft.p50).toBeLessThan(rr.ttft.p50);
    // Deterministic: the same inputs give the same numbers.
    expect(simulateFleet(specs, 'round_robin', 4, 1, { tokenizer })).toEqual(rr);
  });

  test('each engine keeps its own preset: H100s answer sooner than a mixed fleet, and that sooner than L4s', () => {
    const specs = buildWorkload('longdoc', { seed: 1, rate: 6, durationSec: 15, model: 'm', tokenizer });
    const [h100, l4] = [presetParams('h100'), presetParams('l4')];
    const fast = simulateFleet(specs, 'round_robin', 4, 1, { tokenizer, engine: [h100, h100, h100, h100] });
    const mixed = simulateFleet(specs, 'round_robin', 4, 1, { tokenizer, engine: [h100, h100, l4, l4] });
    const slow = simulateFleet(specs, 'round_robin', 4, 1, { tokenizer, engine: [l4, l4, l4, l4] });
    expect(fast.ttft.p50).toBeLessThan(mixed.ttft.p50);
    expect(mixed.ttft.p90).toBeLessThan(slow.ttft.p90);
    expect(() => simulateFleet(specs, 'round_robin', 4, 1, { tokenizer, engine: [h100, l4, l4] })).toThrow('3 engine parameter sets for 4 engines');
  });
});
