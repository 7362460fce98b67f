// Notices a response stream that has sent nothing for too long, at almost no cost per chunk.
//
// One timer per stream. A chunk only stores the time (`touch`); the timer is not reset. When it fires it
// compares the silence so far with the limit and either reports the stall or re-arms for the remainder, so a
// stream that flows steadily costs one timer per `timeoutMs`, not a clearTimeout/setTimeout pair per chunk.
// A factory rather than a class, but the result is Disposable, so `using` stops the timer with the stream.

/** Timer functions, injectable so tests can drive time. */
export interface StallTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface StallGuardDeps {
  /** Milliseconds on a monotonic clock; default performance.now. */
  readonly now?: () => number;
  readonly timers?: StallTimers;
}

export interface StallGuard extends Disposable {
  /** A chunk arrived. */
  touch(): void;
  /** The stream ended: never report a stall. Safe to call more than once. */
  stop(): void;
}

/** Calls `onStall` once when `timeoutMs` pass without a `touch()`; a `timeoutMs` of 0 or less disables the guard. */
export function createStallGuard(timeoutMs: number, onStall: () => void, deps: StallGuardDeps = {}): StallGuard {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return { touch: () => {}, stop: () => {}, [Symbol.dispose]: () => {} };
  const now = deps.now ?? (() => performance.now());
  const timers = deps.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };

  let lastChunkAt = now();
  let stopped = false;
  let timer: unknown;
  const check = () => {
    timer = undefined;
    if (stopped) return;
    const silent = now() - lastChunkAt;
    if (silent >= timeoutMs) {
      stopped = true;
      onStall();
      return;
    }
    // Fired before the silence reached the limit (chunks came meanwhile, or the timer ran early): wait the rest.
    timer = timers.set(check, Math.ceil(timeoutMs - silent));
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
  };
  timer = timers.set(check, timeoutMs);

  return {
    touch() {
      lastChunkAt = now();
    },
    stop,
    [Symbol.dispose]: stop,
  };
}
