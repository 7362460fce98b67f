import { describe, expect, test } from 'bun:test';
import { createEngineLoop } from '../engine-loop.ts';
import { createEngineModel, type TokenEvent } from '../engine-model.ts';
import { fakeClock } from '../../../testkit/fake-clock.ts';
import { ids, TEST_REPLIES } from './virtual-time.ts';

// Every step costs exactly 10 ms: no prefill, decode or attention cost.
const TEN_MS = { stepBaseMs: 10, prefillMsPerToken: 0, prefillAttentionMsPerKTokens: 0, decodeMsPerSeq: 0, attentionMsPerKTokens: 0 };

describe('engine loop', () => {
  test('runs one step per step time while there is work, then idles', () => {
    const clock = fakeClock();
    const model = createEngineModel(TEN_MS, TEST_REPLIES);
    const seen: { at: number; e: TokenEvent }[] = [];
    const loop = createEngineLoop(model, { now: clock.now, ...clock.timers }, (events) => {
      for (const e of events) seen.push({ at: clock.now(), e });
    });
    model.add({ id: 'a', promptIds: ids('a', 20), maxTokens: 3, arrival: 0 });
    loop.kick();
    expect(loop.busy).toBe(true);
    clock.advance(100);
    expect(seen.map((s) => [s.at, s.e.index])).toEqual([
      [10, 0],
      [20, 1],
      [30, 2],
    ]);
    expect(loop.busy).toBe(false);
    expect(clock.pending).toBe(0);
  });

  test('a late timer is made up on the next step, so throughput follows the model', () => {
    const clock = fakeClock();
    const model = createEngineModel(TEN_MS, TEST_REPLIES);
    const at: number[] = [];
    const loop = createEngineLoop(model, { now: clock.now, ...clock.timers }, (events) => {
      for (const _ of events) at.push(clock.now());
    });
    model.add({ id: 'a', promptIds: ids('a', 20), maxTokens: 4, arrival: 0 });
    loop.kick();
    clock.skip(16); // the first timer (due at 10) fires 6 ms late
    clock.advance(0);
    clock.advance(100);
    // Steps stay on the 10 ms grid of model time: 10 (seen at 16), 20, 30, 40.
    expect(at).toEqual([16, 20, 30, 40]);
  });

  test('stop cancels the pending step', () => {
    const clock = fakeClock();
    const model = createEngineModel(TEN_MS, TEST_REPLIES);
    const loop = createEngineLoop(model, { now: clock.now, ...clock.timers }, () => {
      throw new Error('no step may complete after stop');
    });
    model.add({ id: 'a', promptIds: ids('a', 20), maxTokens: 4, arrival: 0 });
    loop.kick();
    loop.stop();
    clock.advance(100);
    expect(clock.pending).toBe(0);
  });
});
