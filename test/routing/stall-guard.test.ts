import { describe, expect, test } from 'bun:test';
import { createCoarseTimer } from '../../src/routing/coarse-timer.ts';
import { createStallGuard } from '../../src/routing/stall-guard.ts';
import { fakeClock } from '../../testkit/fake-clock.ts';

const TICK = 250;

function setup(timeoutMs = 1000) {
  const clock = fakeClock();
  const timer = createCoarseTimer({ now: clock.now, timers: clock.timers, tickMs: TICK });
  let stalls = 0;
  const guard = createStallGuard(timeoutMs, () => stalls++, timer);
  return { clock, timer, guard, stalls: () => stalls };
}

describe('stall guard', () => {
  test('reports a stall at the first tick once the stream has been silent for the timeout, and only once', () => {
    const { clock, timer, stalls } = setup();
    clock.advance(999);
    expect(stalls()).toBe(0);
    clock.advance(1);
    expect(stalls()).toBe(1);
    clock.advance(10_000);
    expect(stalls()).toBe(1);
    expect(timer.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('stays quiet while chunks flow, and measures silence from the last chunk', () => {
    const { clock, guard, stalls } = setup();
    for (let i = 0; i < 50; i++) {
      clock.advance(300);
      guard.touch(clock.now());
    }
    expect(stalls()).toBe(0);
    clock.advance(999);
    expect(stalls()).toBe(0);
    clock.advance(TICK);
    expect(stalls()).toBe(1);
  });

  test('a chunk arms no timer: one shared tick runs while any guard waits', () => {
    const { clock, timer, guard } = setup();
    const others = Array.from({ length: 100 }, () => createStallGuard(60_000, () => {}, timer));
    const before = clock.armed;
    for (let i = 0; i < 1000; i++) {
      clock.advance(10);
      guard.touch(clock.now());
    }
    // 10 s with 101 guards: one tick every 250 ms, whatever the number of guards or chunks.
    expect(clock.armed - before).toBeLessThanOrEqual(10_000 / TICK + 1);
    expect(clock.pending).toBe(1);
    for (const o of others) o.stop();
  });

  test('stop() ends the watch: no stall, and with nothing left to watch no timer after the next tick; safe to repeat', () => {
    const { clock, guard, stalls } = setup();
    clock.advance(500);
    guard.stop();
    guard.stop();
    clock.advance(5000);
    expect(stalls()).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('disposing stops it', () => {
    const clock = fakeClock();
    const timer = createCoarseTimer({ now: clock.now, timers: clock.timers });
    let stalls = 0;
    {
      using guard = createStallGuard(1000, () => stalls++, timer);
      guard.touch(clock.now());
    }
    clock.advance(5000);
    expect(stalls).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('a timeout of 0 disables it', () => {
    const clock = fakeClock();
    const timer = createCoarseTimer({ now: clock.now, timers: clock.timers });
    let stalls = 0;
    const guard = createStallGuard(0, () => stalls++, timer);
    guard.touch(clock.now());
    clock.advance(1_000_000);
    expect(stalls).toBe(0);
    expect(clock.armed).toBe(0);
  });

  test('works on real timers: a silent stream is reported', async () => {
    const started = performance.now();
    const { promise, resolve } = Promise.withResolvers<number>();
    createStallGuard(20, () => resolve(performance.now()), createCoarseTimer({ tickMs: 5 }));
    const firedAt = await promise;
    expect(firedAt - started).toBeGreaterThanOrEqual(19);
  });
});
