// Admission control of the inference routes: a token bucket that bounds concurrency and admission rate, and a bounded waiting queue.
//
// Design. The bucket holds `capacity` (--max-concurrent-requests) tokens, and every token is in
// exactly one of three places: usable, held by an admitted request, or returned and cooling down.
// - Admission takes a usable token; the permit holds it until `release()`. A streaming request releases when
//   its stream ends, not when its headers go out, so `capacity` really bounds requests in flight.
// - A released token does not become usable at once: cooling tokens turn usable at `refillPerSecond`
//   (--rate-limit-tokens-per-second), computed from the injected clock, no ticking timer.
// So both flags mean what they say: at most `capacity` requests run at once, and after the initial full
// bucket at most `refillPerSecond` are admitted per second.
// Why not the two alternatives: the Rust router returns the token when the handler returns its Response
// (headers sent), so long streams are not bounded at all and the flag is a rate knob in disguise; a classic
// bucket whose release returns nothing makes `capacity` a burst size, not a concurrency bound, which is not
// what "max concurrent requests" or "a streaming request holds its slot until its stream ends" say. With the
// Rust default (refill = capacity per second) this design behaves as a plain concurrency limit.
//
// Waiting: with no usable token a request waits in a queue of `queueSize` (0: refuse at once) for at most
// `queueTimeoutMs`. Full queue → 429 with a Retry-After estimate; timeout → 408; a waiter whose client leaves
// is dropped at once and its place goes to the next. A new arrival never overtakes a waiter: the queue is
// served whenever a token turns usable, so a non-empty queue means no usable token.
// Order: lowest effective priority first, where effective = priority − agingPerSecond × seconds waited, ties in
// arrival order. Equal priorities are therefore FIFO, and aging bounds starvation: a request of priority p
// goes ahead of every request of priority q that arrived more than (p − q) / agingPerSecond seconds after it.
// Picking scans the queue (≤ queueSize entries, 100 by default), which is cheaper than keeping a heap whose
// keys change with time.
// One timer serves the whole queue: it is armed for the next refill or the earliest deadline, and only while
// someone waits.
import { routerError, type RouterError } from '../wire/errors.ts';
import { DEFAULT_PRIORITY } from '../signals/qoe-expectation.ts';


export interface AdmissionOptions {
  /** Tokens in the bucket: the most requests admitted at once (--max-concurrent-requests). */
  readonly capacity: number;
  /** Released tokens turn usable at this rate (--rate-limit-tokens-per-second); default `capacity`, as in Rust. */
  readonly refillPerSecond?: number;
  /** Requests that may wait for a token (--queue-size); 0 refuses at once. */
  readonly queueSize: number;
  /** Longest wait in the queue (--queue-timeout-secs × 1000). */
  readonly queueTimeoutMs: number;
  /** Priority levels a waiter gains per second of waiting; default 1. */
  readonly agingPerSecond?: number;
}

/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface AdmissionDeps {
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly timers?: Timers;
}

/** One admitted request's slot. `release()` may be called any number of times; only the first counts. */
export interface Permit extends Disposable {
  release(): void;
}

/** A refusal; a 429 carries the seconds for Retry-After. */
export type AdmissionError = RouterError & { readonly retryAfterSecs?: number };

export interface AdmissionStats {
  /** Permits held. */
  readonly inUse: number;
  /** Tokens usable now. */
  readonly available: number;
  /** Requests waiting. */
  readonly queued: number;
}

interface Waiter {
  readonly seq: number;
  readonly priority: number;
  readonly enqueuedAt: number;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
  readonly resolve: (result: Permit | AdmissionError) => void;
}

// Refill arithmetic in floating point may land a hair under a whole token at the instant one is due.
const EPSILON = 1e-9;

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class Admission implements Disposable {
  readonly #capacity: number;
  readonly #rate: number;
  readonly #queueSize: number;
  readonly #queueTimeoutMs: number;
  readonly #aging: number;
  readonly #now: () => number;
  readonly #timers: Timers;

  #usable: number;
  #inUse = 0;
  #refilledAt: number;
  /** Waiters in arrival order. */
  #queue: Waiter[] = [];
  #seq = 0;
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  #disposed = false;

  constructor(options: AdmissionOptions, deps: AdmissionDeps) {
    const rate = options.refillPerSecond ?? options.capacity;
    if (!(options.capacity >= 1)) throw new Error(`admission: capacity must be at least 1, got ${options.capacity}`);
    if (!(rate > 0)) throw new Error(`admission: refillPerSecond must be positive, got ${rate}`);
    if (!(options.queueSize >= 0)) throw new Error(`admission: queueSize must not be negative, got ${options.queueSize}`);
    if (!(options.queueTimeoutMs > 0)) throw new Error(`admission: queueTimeoutMs must be positive, got ${options.queueTimeoutMs}`);
    this.#capacity = options.capacity;
    this.#rate = rate;
    this.#queueSize = options.queueSize;
    this.#queueTimeoutMs = options.queueTimeoutMs;
    this.#aging = options.agingPerSecond ?? 1;
    this.#now = deps.now;
    this.#timers = deps.timers ?? realTimers;
    this.#usable = options.capacity;
    this.#refilledAt = deps.now();
  }

  /** Admits now, or queues until a token turns usable; lower `priority` is served first. */
  acquire(signal: AbortSignal, priority: number = DEFAULT_PRIORITY): Promise<Permit | AdmissionError> {
    if (this.#disposed) return Promise.resolve(routerError('shutting_down', 'Router is shutting down'));
    if (signal.aborted) return Promise.resolve(routerError('client_closed', 'Client closed the connection before admission'));
    // Catch up first, in case the timer is late: waiters due a token get it before this newcomer is considered.
    this.#settle();
    if (this.#queue.length === 0 && this.#usable + EPSILON >= 1) return Promise.resolve(this.#grant());
    if (this.#queue.length >= this.#queueSize) {
      const retryAfterSecs = this.#retryAfterSecs();
      const why = this.#queueSize === 0 ? 'no request may wait' : `${this.#queue.length} requests are waiting already`;
      return Promise.resolve({ ...routerError('rate_limited', `Too many requests: no admission token is free (capacity ${this.#capacity}) and ${why}`), retryAfterSecs });
    }
    return new Promise((resolve) => {
      const now = this.#now();
      const waiter: Waiter = {
        seq: this.#seq++,
        priority: Number.isFinite(priority) ? priority : DEFAULT_PRIORITY,
        enqueuedAt: now,
        deadline: now + this.#queueTimeoutMs,
        signal,
        onAbort: () => {
          this.#remove(waiter);
          resolve(routerError('client_closed', 'Client closed the connection while waiting for admission'));
          this.#schedule();
        },
        resolve,
      };
      this.#queue.push(waiter);
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#schedule();
    });
  }

  /**
   * Admits now, without a promise, when a token is usable and nobody waits (the hot path: a request admitted
   * at once has no queue wait to time); undefined otherwise, and then `acquire` decides.
   */
  tryAcquire(): Permit | undefined {
    if (this.#disposed) return undefined;
    this.#settle();
    return this.#queue.length === 0 && this.#usable + EPSILON >= 1 ? this.#grant() : undefined;
  }

  stats(): AdmissionStats {
    const elapsed = Math.max(0, this.#now() - this.#refilledAt);
    const usable = Math.min(this.#capacity - this.#inUse, this.#usable + (elapsed / 1000) * this.#rate);
    return { inUse: this.#inUse, available: Math.floor(usable + EPSILON), queued: this.#queue.length };
  }

  /** Refuses every waiter (503 shutting_down) and stops the timer; permits already given may still be released. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    this.#disarm();
    const waiters = this.#queue;
    this.#queue = [];
    for (const w of waiters) {
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(routerError('shutting_down', 'Router is shutting down'));
    }
  }

  /** Moves cooling tokens to usable for the time since the last call; must run before `#inUse` changes. */
  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#refilledAt = now;
    this.#usable = Math.min(this.#capacity - this.#inUse, this.#usable + (elapsed / 1000) * this.#rate);
  }

  #grant(): Permit {
    this.#usable = Math.max(0, this.#usable - 1);
    this.#inUse++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // Refill first: the time before this release must not be credited to the token now cooling down.
      this.#refill();
      this.#inUse--;
      this.#settle(true);
      this.#schedule();
    };
    return { release, [Symbol.dispose]: release };
  }

  /** Admits waiters, best first, while tokens are usable. */
  #serve(): void {
    while (this.#queue.length > 0 && this.#usable + EPSILON >= 1) {
      const next = this.#best();
      this.#remove(next);
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(this.#grant());
    }
  }

  #best(): Waiter {
    const now = this.#now();
    const effective = (w: Waiter) => w.priority - (this.#aging * (now - w.enqueuedAt)) / 1000;
    let best = this.#queue[0] as Waiter;
    let bestScore = effective(best);
    for (const w of this.#queue) {
      const score = effective(w);
      if (score < bestScore || (score === bestScore && w.seq < best.seq)) {
        best = w;
        bestScore = score;
      }
    }
    return best;
  }

  #remove(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #wake(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#settle();
    this.#schedule();
  }

  /**
   * Brings the bucket and the queue up to now: refill, time out waiters past their deadline, admit the best
   * waiters while tokens are usable. A deadline beats a token that turns usable at the same instant: the
   * timeout is a promise to the client.
   */
  #settle(refilled = false): void {
    // A release has just refilled (its own clock read): once per release is enough.
    if (!refilled) this.#refill();
    if (this.#queue.length === 0) return; // the hot path: nobody waits
    const now = this.#now();
    for (const w of this.#queue.filter((w) => w.deadline <= now)) {
      this.#remove(w);
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(routerError('queue_timeout', `Request waited ${this.#queueTimeoutMs / 1000} s for an admission slot`));
    }
    this.#serve();
  }

  /** Arms the one timer for the earliest of: the oldest waiter's deadline, the next token turning usable. */
  #schedule(): void {
    if (this.#queue.length === 0) return this.#disarm();
    let at = (this.#queue[0] as Waiter).deadline; // arrival order, one timeout for all: the oldest is due first
    // Only cooling tokens turn usable; when every token is held, the next one comes from a release.
    if (this.#capacity - this.#inUse >= 1) at = Math.min(at, this.#refilledAt + ((1 - this.#usable) / this.#rate) * 1000);
    if (at === this.#timerAt) return;
    this.#disarm();
    this.#timerAt = at;
    this.#timer = this.#timers.set(() => this.#wake(), Math.max(0, Math.ceil(at - this.#now())));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Seconds until enough tokens for everyone waiting and one more have turned usable at the refill rate; at least 1. */
  #retryAfterSecs(): number {
    return Math.max(1, Math.ceil((this.#queue.length + 1 - this.#usable) / this.#rate));
  }
}
