import { describe, expect, test } from 'bun:test';
import { createStallGuard } from '../../src/routing/stall-guard.ts';
import { fakeClock } from '../../testkit/fake-clock.ts';

function setup(timeoutMs = 1000) {
  const clock = fakeClock();
  let stalls = 0;
  const guard = createStallGuard(timeoutMs, () => stalls++, { now: clock.now, timers: clock.timers });
  return { clock, guard, stalls: () => stalls };
}

describe('stall guard', () => {
  test('reports a stall once the stream has been silent for the timeout, and only once', () => {
    const { clock, stalls } = setup();
    clock.advance(999);
    expect(stalls()).toBe(0);
    clock.advance(1);
    expect(stalls()).toBe(1);
    clock.advance(10_000);
    expect(stalls()).toBe(1);
    expect(clock.pending).toBe(0);
  });

  test('stays quiet while chunks flow, and measures silence from the last chunk', () => {
    const { clock, guard, stalls } = setup();
    for (let i = 0; i < 50; i++) {
      clock.advance(300);
      guard.touch();
    }
    expect(stalls()).toBe(0);
    clock.advance(999);
    expect(stalls()).toBe(0);
    clock.advance(1);
    expect(stalls()).toBe(1);
  });

  test('a chunk costs no timer: the timer is re-armed only when it fires early', () => {
    const { clock, guard } = setup();
    const before = clock.armed;
    for (let i = 0; i < 1000; i++) {
      clock.advance(10);
      guard.touch();
    }
    // 10 s of chunks every 10 ms with a 1 s limit: about one re-arm per second, not one per chunk.
    expect(clock.armed - before).toBeLessThanOrEqual(11);
    expect(clock.pending).toBe(1);
  });

  test('stop() ends the watch: no stall, no timer, safe to repeat', () => {
    const { clock, guard, stalls } = setup();
    clock.advance(500);
    guard.stop();
    guard.stop();
    expect(clock.pending).toBe(0);
    clock.advance(5000);
    expect(stalls()).toBe(0);
  });

  test('disposing stops it', () => {
    const clock = fakeClock();
    let stalls = 0;
    {
      using guard = createStallGuard(1000, () => stalls++, { now: clock.now, timers: clock.timers });
      guard.touch();
    }
    clock.advance(5000);
    expect(stalls).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('a timeout of 0 disables it', () => {
    const clock = fakeClock();
    let stalls = 0;
    const guard = createStallGuard(0, () => stalls++, { now: clock.now, timers: clock.timers });
    guard.touch();
    clock.advance(1_000_000);
    expect(stalls).toBe(0);
    expect(clock.armed).toBe(0);
  });

  test('works on real timers: a silent stream is reported', async () => {
    const started = performance.now();
    const { promise, resolve } = Promise.withResolvers<number>();
    createStallGuard(20, () => resolve(performance.now()));
    const firedAt = await promise;
    expect(firedAt - started).toBeGreaterThanOrEqual(19);
  });
});
