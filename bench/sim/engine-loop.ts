// Drives an EngineModel through time: one step after another while there is work, on injected timers.
//
// Steps are chained on model time, not on when the timer happened to fire: the next step starts at the
// planned end of the last one, so a timer that fires late (a busy event loop, 2 shared cores) is made up by
// a shorter wait next time and the engine keeps the throughput its time model gives it.
import type { EngineModel, TokenEvent } from './engine-model.ts';

export interface LoopTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface EngineLoop {
  /** Starts a step now if the engine is idle and has work; call after adding a request. */
  kick(): void;
  /** True while a step is in progress. */
  readonly busy: boolean;
  stop(): void;
}

/** Lateness beyond which the loop stops catching up (the process was stalled, not merely busy). */
const MAX_CATCH_UP_MS = 1000;

export function createEngineLoop(model: EngineModel, timers: LoopTimers, onEvents: (events: TokenEvent[]) => void): EngineLoop {
  let handle: unknown = null;
  let stopped = false;

  function startStep(start: number): void {
    handle = null;
    if (stopped) return;
    const plan = model.plan();
    if (plan === null) return;
    const end = start + plan.durationMs;
    handle = timers.set(() => {
      handle = null;
      const events = model.commit(plan, end);
      if (events.length > 0) onEvents(events);
      const now = timers.now();
      startStep(now - end > MAX_CATCH_UP_MS ? now : end);
    }, end - timers.now());
  }

  return {
    kick() {
      if (handle === null && !stopped) startStep(timers.now());
    },
    get busy() {
      return handle !== null;
    },
    stop() {
      stopped = true;
      if (handle !== null) timers.clear(handle);
      handle = null;
    },
  };
}
