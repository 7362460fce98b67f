// The online speed lines on known numbers: what a fit recovers, how fast the past fades, and the surprise cut.
import { describe, expect, test } from 'bun:test';
import { createDecayedLine, createDecayedPlane, createEndpointSpeed, lineAt, planeAt } from '../../src/signals/endpoint-speed.ts';

describe('decayed line', () => {
  test('recovers a fixed part and a slope from samples spread in x', () => {
    const line = createDecayedLine('proportional');
    for (let i = 0; i < 20; i++) line.add(100 * i, 30 + 0.5 * 100 * i, i);
    const fit = line.line()!;
    expect(fit.fixed).toBeCloseTo(30, 6);
    expect(fit.perUnit).toBeCloseTo(0.5, 6);
  });

  test('samples all at one x: prefill goes through the origin (time ∝ work), decode stays flat', () => {
    const prefill = createDecayedLine('proportional');
    const decode = createDecayedLine('flat');
    for (let i = 0; i < 5; i++) {
      prefill.add(1000, 200, i);
      decode.add(8, 25, i);
    }
    expect(lineAt(prefill.line()!, 2000)).toBeCloseTo(400, 6);
    expect(lineAt(decode.line()!, 30)).toBeCloseTo(25, 6);
  });

  test('samples that fall with work: prefill stays proportional (a longer prompt never prefills quicker), decode goes flat', () => {
    // Quick answers behind long queues the ledger over-counted: time falls as counted work grows.
    const prefill = createDecayedLine('proportional');
    const decode = createDecayedLine('flat');
    for (let i = 0; i < 10; i++) {
      prefill.add(500 + 500 * i, 400 - 20 * i, i);
      decode.add(2 + i, 30 - i, i);
    }
    const p = prefill.line()!;
    expect(p.fixed).toBe(0);
    expect(p.perUnit).toBeGreaterThan(0);
    // Twice the work, twice the time: the line does not predict a 5,000-token prefill as quick as a small one.
    expect(lineAt(p, 5000)).toBeCloseTo(2 * lineAt(p, 2500), 6);
    expect(decode.line()!.perUnit).toBe(0);
  });

  test('an engine twice as fast is relearned within a few samples, and at once after a long silence', () => {
    const options = { halfLifeMs: 10_000, maxWeight: 16, surpriseRatio: 3 };
    // Ten seconds of half-life: forty seconds of silence leave the past one sample's weight.
    const line = createDecayedLine('proportional', options);
    let t = 0;
    for (let i = 0; i < 100; i++) line.add(1000, 400, (t += 100));
    // Twice as fast, sampled at the same pace: the cap on the past's weight keeps each sample worth ≥ 1/17,
    // so the old speed keeps (16/17)^n of the weight after n samples.
    for (let i = 0; i < 20; i++) line.add(1000, 200, (t += 100));
    expect(lineAt(line.line()!, 1000)).toBeLessThan(270);
    for (let i = 0; i < 20; i++) line.add(1000, 200, (t += 100));
    expect(lineAt(line.line()!, 1000)).toBeLessThan(220);
    // Forty seconds without a sample (four half-lives), then one: it counts for most of the estimate.
    const after = createDecayedLine('proportional', options);
    t = 0;
    for (let i = 0; i < 100; i++) after.add(1000, 400, (t += 100));
    after.add(1000, 200, t + 40_000);
    const halfway = lineAt(after.line()!, 1000);
    expect(halfway).toBeGreaterThan(290);
    expect(halfway).toBeLessThan(310);
    // The default half-life (4 s) leaves it nothing: the new sample is the estimate.
    const quick = createDecayedLine('proportional');
    for (let i = 0; i < 100; i++) quick.add(1000, 400, i * 100);
    quick.add(1000, 200, 10_000 + 40_000);
    expect(lineAt(quick.line()!, 1000)).toBeLessThan(205);
  });

  test('a sample far off the line replaces the past, and says how far it moved the line', () => {
    const line = createDecayedLine('proportional');
    for (let i = 0; i < 16; i++) line.add(1000, 900, i);
    expect(line.line()!.shift).toBeCloseTo(0, 6);
    line.add(1000, 100, 16);
    // Nine times faster: the engine changed, and the new sample is the estimate.
    expect(lineAt(line.line()!, 1000)).toBeCloseTo(100, 6);
    expect(line.line()!.shift).toBeCloseTo(8 / 9, 6);
    // Within the ratio, samples blend.
    line.add(1000, 200, 17);
    expect(lineAt(line.line()!, 1000)).toBeGreaterThan(100);
    expect(lineAt(line.line()!, 1000)).toBeLessThan(200);
  });

  test('ignores samples that are not finite or negative', () => {
    const line = createDecayedLine('flat');
    line.add(Number.NaN, 10, 0);
    line.add(1, -5, 0);
    line.add(1, Number.POSITIVE_INFINITY, 0);
    expect(line.line()).toBeUndefined();
  });
});

describe('decayed plane (time per token against streams and the prefill beside them)', () => {
  // Streams and prefill varied apart, as on an engine whose batch and prompt traffic move independently.
  const grid = (f: (streams: number, prefill: number) => number) => {
    const plane = createDecayedPlane();
    let t = 0;
    for (let i = 0; i < 40; i++) {
      const streams = 2 + (i % 8) * 3;
      const prefill = 400 * ((i * 3) % 7);
      plane.add(streams, prefill, f(streams, prefill), (t += 50));
    }
    return plane.plane()!;
  };

  test('learns the prefill term apart from the streams', () => {
    const p = grid((s, w) => 20 + 2 * s + 0.01 * w);
    expect(p.fixed).toBeCloseTo(20, 6);
    expect(p.perUnit).toBeCloseTo(2, 6);
    expect(p.perPrefill).toBeCloseTo(0.01, 6);
    // Two engines at the same streams: the one with more prefill beside its streams is slower.
    expect(planeAt(p, 20, 2000)).toBeCloseTo(80, 6);
    expect(planeAt(p, 20, 0)).toBeCloseTo(60, 6);
  });

  test('prefill that does not change the time per token gets no weight; none of the parts goes negative', () => {
    const none = grid((s) => 20 + 2 * s);
    expect(none.perPrefill).toBeCloseTo(0, 6);
    expect(none.perUnit).toBeCloseTo(2, 6);
    // Quicker with more prefill (noise, another load ending): the term is dropped, not fitted negative.
    const falling = grid((s, w) => 60 + 2 * s - 0.01 * w);
    expect(falling.perPrefill).toBe(0);
    expect(falling.perUnit).toBeGreaterThanOrEqual(0);
    expect(falling.fixed).toBeGreaterThanOrEqual(0);
    // Samples all at one point: flat, as the decode line was.
    const one = createDecayedPlane();
    for (let i = 0; i < 5; i++) one.add(8, 1000, 25, i);
    const flat = one.plane()!;
    expect(flat.fixed).toBeCloseTo(25, 6);
    expect([flat.perUnit, flat.perPrefill]).toEqual([0, 0]);
  });
});

describe('endpoint speed', () => {
  test('keeps a prefill and a decode line per endpoint and forgets one that left', () => {
    const speed = createEndpointSpeed();
    speed.prefillSample('a', 1000, 100, 0);
    speed.decodeSample('a', 4, 0, 20, 0);
    speed.prefillSample('b', 1000, 300, 0);
    expect(lineAt(speed.prefill('a')!, 1000)).toBeCloseTo(100, 6);
    expect(planeAt(speed.decode('a')!, 4, 0)).toBeCloseTo(20, 6);
    expect(speed.decode('b')).toBeUndefined();
    speed.forget('a');
    expect(speed.prefill('a')).toBeUndefined();
    expect([...speed.ids()]).toEqual(['b']);
  });
});

describe('what may move a line or a plane, and how much', () => {
  test('a prefill sample that waited behind others never restarts the line; one with nothing ahead of it does', () => {
    const speed = createEndpointSpeed();
    let t = 0;
    for (let i = 0; i < 10; i++) speed.prefillSample('e', 200 + 100 * (i % 5), 0.1 * (200 + 100 * (i % 5)), (t += 100));
    // Six times slower than the line, as a sample behind a queue the ledger under-counted looks: the line moves
    // by its weight, it does not become that sample (a phantom queue of seconds).
    speed.prefillSample('e', 300, 180, (t += 100), false);
    const after = lineAt(speed.prefill('e')!, 300);
    expect(after).toBeGreaterThan(30);
    expect(after).toBeLessThan(60);
    // The same surprise with nothing ahead of it is the engine's own speed: the line restarts on it.
    speed.prefillSample('e', 300, 180, (t += 100), true);
    expect(lineAt(speed.prefill('e')!, 300)).toBeCloseTo(180, 6);
  });

  test('a plane sample counts as its weight: one of weight 3 is three samples, one under 1 never drops the past', () => {
    const weighted = createDecayedPlane();
    const repeated = createDecayedPlane();
    // Ten samples and three more: under the cap on the past's weight (16), which would scale the two apart.
    for (let i = 0; i < 10; i++) {
      const [s, w, y] = [1 + (i % 5), 1000 * (i % 3), 20 + 2 * (1 + (i % 5)) + 0.01 * 1000 * (i % 3)];
      weighted.add(s, w, y, 0);
      repeated.add(s, w, y, 0);
    }
    weighted.add(6, 500, 80, 0, 3);
    for (let i = 0; i < 3; i++) repeated.add(6, 500, 80, 0);
    expect(planeAt(weighted.plane()!, 6, 500)).toBeCloseTo(planeAt(repeated.plane()!, 6, 500), 6);
    // Ten times the plane, worth a tenth of a sample: it pulls the plane up a little, it does not replace it.
    const before = planeAt(weighted.plane()!, 3, 0);
    weighted.add(3, 0, 10 * before, 0, 0.1);
    const after = planeAt(weighted.plane()!, 3, 0);
    expect(after).toBeGreaterThan(before);
    expect(after).toBeLessThan(2 * before);
  });

  test('the plane fits no slope through fewer than six samples: two early ones at different stream counts stay flat', () => {
    const plane = createDecayedPlane();
    plane.add(2, 0, 20, 0);
    plane.add(9, 0, 45, 0);
    const early = plane.plane()!;
    // Their mean, not a line through both.
    expect(early.perUnit).toBe(0);
    expect(early.fixed).toBeCloseTo(32.5, 6);
    for (let i = 0; i < 6; i++) plane.add(2 + i, 0, 25 + 3 * i, 0);
    expect(plane.plane()!.perUnit).toBeGreaterThan(0);
  });
});
