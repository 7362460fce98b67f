// Test helper: a clock and timers that move only when the test says so, so time-based code runs deterministically.

export interface FakeClock {
  now(): number;
  readonly timers: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
  /** Moves time forward by `ms`, running every timer that falls due on the way, in order. */
  advance(ms: number): void;
  /** Moves time forward without running timers: a timer that is late, as real ones can be. */
  skip(ms: number): void;
  /** Timers armed and not yet run or cleared. */
  readonly pending: number;
  /** Timers armed so far, in total. */
  readonly armed: number;
}

export function fakeClock(start = 0): FakeClock {
  let t = start;
  let nextId = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    timers: {
      set(fn, ms) {
        const id = ++nextId;
        due.set(id, { at: t + Math.max(0, ms), fn });
        return id;
      },
      clear(handle) {
        due.delete(handle as number);
      },
    },
    advance(ms) {
      const target = t + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of due) if (entry[1].at <= target && (first === undefined || entry[1].at < first[1].at)) first = entry;
        if (first === undefined) break;
        due.delete(first[0]);
        t = Math.max(t, first[1].at);
        first[1].fn();
      }
      t = target;
    },
    skip(ms) {
      t += ms;
    },
    get pending() {
      return due.size;
    },
    get armed() {
      return nextId;
    },
  };
}

/** Lets every promise reaction already queued run (one event-loop turn); no time passes on the fake clock. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The value of a promise if it has settled once queued reactions have run, else `'pending'`. */
export async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  let settled: { value: T } | undefined;
  promise.then((value) => {
    settled = { value };
  });
  await flush();
  return settled === undefined ? 'pending' : settled.value;
}
