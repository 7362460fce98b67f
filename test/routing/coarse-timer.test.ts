import { describe, expect, test } from 'bun:test';
import { createCoarseTimer, type Deadline } from '../../src/routing/coarse-timer.ts';
import { fakeClock } from '../../testkit/fake-clock.ts';

function setup() {
  const clock = fakeClock();
  return { clock, timer: createCoarseTimer({ now: clock.now, timers: clock.timers, tickMs: 100 }) };
}

const deadline = (due: number, fired: number[], id: number): Deadline => ({ due, fire: () => fired.push(id) });

describe('coarse timer', () => {
  test('fires each deadline once, at the first tick at or after it, in one shared timer', () => {
    const { clock, timer } = setup();
    const fired: number[] = [];
    timer.add(deadline(150, fired, 1));
    timer.add(deadline(120, fired, 2));
    timer.add(deadline(450, fired, 3));
    expect(clock.pending).toBe(1);
    clock.advance(199);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired.sort()).toEqual([1, 2]);
    clock.advance(300);
    expect(fired).toEqual([1, 2, 3]);
    clock.advance(10_000);
    expect(fired).toEqual([1, 2, 3]);
    expect(timer.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('a removed deadline never fires; the timer stops at the next tick when nothing waits and starts again with the next', () => {
    const { clock, timer } = setup();
    const fired: number[] = [];
    const d = deadline(50, fired, 1);
    timer.add(d);
    timer.remove(d);
    timer.remove(d);
    expect(timer.size).toBe(0);
    clock.advance(1000);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(0);
    timer.add(deadline(1100, fired, 2));
    expect(clock.pending).toBe(1);
    clock.advance(200);
    expect(fired).toEqual([2]);
  });

  test('one request at a time arms one native timer per tick, not one per request', () => {
    const { clock, timer } = setup();
    const fired: number[] = [];
    // A thousand requests inside one tick, each adding its deadline and removing it when its answer ends.
    for (let i = 0; i < 1000; i++) {
      const d = deadline(clock.now() + 5000, fired, i);
      timer.add(d);
      timer.remove(d);
    }
    expect(clock.armed).toBe(1);
    clock.advance(100);
    expect(clock.pending).toBe(0);
    expect(fired).toEqual([]);
  });

  test('a deadline moved later before it is due fires at its new time', () => {
    const { clock, timer } = setup();
    const fired: number[] = [];
    const d = deadline(100, fired, 1);
    timer.add(d);
    clock.advance(50);
    d.due = 400;
    clock.advance(300);
    expect(fired).toEqual([]);
    clock.advance(100);
    expect(fired).toEqual([1]);
  });

  test('a deadline added while firing another is kept', () => {
    const { clock, timer } = setup();
    const fired: number[] = [];
    timer.add({ due: 50, fire: () => (fired.push(1), timer.add(deadline(clock.now() + 150, fired, 2))) });
    clock.advance(100);
    expect(fired).toEqual([1]);
    clock.advance(200);
    expect(fired).toEqual([1, 2]);
  });
});
