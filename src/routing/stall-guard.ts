// Notices a response stream that has sent nothing for too long, at almost no cost per chunk.
//
// The guard is one deadline on the router's shared coarse timer (coarse-timer.ts): a chunk only moves the
// deadline (`touch` writes one number), no timer is armed or cleared per chunk or per stream.
import type { CoarseTimer, Deadline } from './coarse-timer.ts';

export interface StallGuard extends Disposable {
  /** A chunk arrived at `now` (ms on the timer's clock). */
  touch(now: number): void;
  /** The stream ended: never report a stall. Safe to call more than once. */
  stop(): void;
}

const OFF: StallGuard = { touch: () => {}, stop: () => {}, [Symbol.dispose]: () => {} };

/** Calls `onStall` once when `timeoutMs` pass without a `touch()`; a `timeoutMs` of 0 or less disables the guard. */
export function createStallGuard(timeoutMs: number, onStall: () => void, timer: CoarseTimer): StallGuard {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return OFF;
  let stopped = false;
  const deadline: Deadline = {
    due: timer.now() + timeoutMs,
    fire() {
      stopped = true;
      onStall();
    },
  };
  timer.add(deadline);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    timer.remove(deadline);
  };
  return {
    touch(now) {
      deadline.due = now + timeoutMs;
    },
    stop,
    [Symbol.dispose]: stop,
  };
}
