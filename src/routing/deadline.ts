// One abort signal per request's upstream calls: fires when the client goes away or the whole-request deadline
// passes. Both are watched from one entry of the router's shared coarse timer (coarse-timer.ts): no timer and
// no event listener of the request's own.
import type { CoarseTimer, Deadline } from './coarse-timer.ts';

export interface RequestAbort {
  readonly signal: AbortSignal;
  /** Why it fired: the deadline, rather than the client. */
  readonly timedOut: boolean;
  /**
   * The answer's headers are in: from here a client that leaves cancels the relayed body (which aborts the
   * endpoint's), so only the deadline is left to watch.
   */
  answered(): void;
  /** The call is over: disarm the deadline. */
  done(): void;
}

/**
 * How often a client that left is looked for while no answer has come (the coarse timer's tick): an engine
 * computing a long non-streaming answer for a client that is gone stops within this.
 */
const CLIENT_CHECK_MS = 250;

/**
 * One object is the timer's entry and the caller's handle, so a request makes it and its AbortController and
 * nothing else. Until the answer's headers arrive the entry comes due every CLIENT_CHECK_MS and looks at the
 * client's signal, instead of a listener on it: an add/removeEventListener pair per request cost more than
 * the rest of the deadline (bench/results/overhead-profile.md), and the timer walks its entries every tick
 * anyway. A class because its methods are shared on the prototype, where an object literal would make new
 * functions per request.
 */
class ClientOrDeadline implements RequestAbort, Deadline {
  readonly #controller = new AbortController();
  readonly #client: AbortSignal;
  readonly #timer: CoarseTimer;
  readonly #deadline: number;
  #watchClient = true;
  #timedOut = false;
  #over = false;
  due: number;

  constructor(client: AbortSignal, deadline: number, timer: CoarseTimer, now: number) {
    this.#client = client;
    this.#timer = timer;
    this.#deadline = deadline;
    this.due = Math.min(deadline, now + CLIENT_CHECK_MS);
    if (client.aborted) this.#controller.abort(client.reason);
    else timer.add(this);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** The entry came due (the coarse timer calls this): the client gone, the deadline passed, or look again later. */
  fire(): void {
    if (this.#over || this.#controller.signal.aborted) return;
    if (this.#watchClient && this.#client.aborted) {
      this.#controller.abort(this.#client.reason);
      return;
    }
    const now = this.#timer.now();
    if (now >= this.#deadline) {
      this.#timedOut = true;
      this.#controller.abort(new DOMException('request deadline passed', 'TimeoutError'));
      return;
    }
    this.due = this.#watchClient ? Math.min(this.#deadline, now + CLIENT_CHECK_MS) : this.#deadline;
    this.#timer.add(this);
  }

  answered(): void {
    this.#watchClient = false;
    // A due set for the next look at the client becomes the deadline itself.
    this.due = this.#deadline;
  }

  done(): void {
    this.#over = true;
    this.#timer.remove(this);
  }
}

/**
 * `deadline`: when it passes, in ms on the timer's clock (the router's `now`: a request's `startedAt + timeout`).
 * `now`: the caller's latest reading of that clock (the client's first look is due a tick after it); read
 * here when not given.
 */
export function abortOnClientOrDeadline(client: AbortSignal, deadline: number, timer: CoarseTimer, now: number = timer.now()): RequestAbort {
  return new ClientOrDeadline(client, deadline, timer, now);
}
