// One timer for every deadline on the hot path: request deadlines and stream stall limits.
//
// A setTimeout per request (and another per stream) costs a native timer to arm and clear each time, and
// thousands of open streams hold thousands of them. These deadlines are seconds to minutes long, so a
// quarter-second of slack is nothing: entries sit in one Set, one timer ticks while the Set is not empty,
// and each tick fires the entries that are due (a tick that finds the Set empty stops it). Adding and
// removing an entry is a Set operation; an entry whose deadline moves (a stream that sent a chunk) only
// writes its `due`.

/** Timer functions, injectable so tests can drive time. */
export interface TickTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** A deadline: `fire` runs once, at the first tick at or after `due` (ms on the timer's clock). */
export interface Deadline {
  due: number;
  fire(): void;
}

export interface CoarseTimer {
  /** The clock `due` is read on. */
  now(): number;
  add(deadline: Deadline): void;
  /** The deadline will not fire (it is safe to remove one that fired or was never added). */
  remove(deadline: Deadline): void;
  /** Deadlines waiting. */
  readonly size: number;
}

export interface CoarseTimerDeps {
  /** Milliseconds on a monotonic clock; default performance.now. */
  readonly now?: () => number;
  readonly timers?: TickTimers;
  /** Time between ticks: how late a deadline may fire at most (default 250 ms). */
  readonly tickMs?: number;
}

const DEFAULT_TICK_MS = 250;

/** The timer never holds the process open: whatever a deadline guards (a socket, a stream) does that. */
const unrefTimers: TickTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function createCoarseTimer(deps: CoarseTimerDeps = {}): CoarseTimer {
  const now = deps.now ?? (() => performance.now());
  const timers = deps.timers ?? unrefTimers;
  const tickMs = deps.tickMs ?? DEFAULT_TICK_MS;
  const waiting = new Set<Deadline>();
  let handle: unknown;
  const tick = () => {
    handle = undefined;
    const t = now();
    for (const d of waiting)
      if (d.due <= t) {
        waiting.delete(d);
        d.fire();
      }
    if (waiting.size > 0 && handle === undefined) handle = timers.set(tick, tickMs);
  };
  return {
    now,
    add(deadline) {
      waiting.add(deadline);
      if (handle === undefined) handle = timers.set(tick, tickMs);
    },
    remove(deadline) {
      // The native timer is left to run out even when nothing waits any more: at a request or two at a time the
      // set empties with every answer, and clearing the timer then meant arming a new one with the next request
      // (a native timer each). The tick that finds the set empty does not re-arm.
      waiting.delete(deadline);
    },
    get size() {
      return waiting.size;
    },
  };
}
