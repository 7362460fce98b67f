// One abort signal per upstream call: fires when the client goes away or the whole-request deadline passes.
// The deadline is an entry of the router's shared coarse timer (coarse-timer.ts), not a timer of its own.
import type { CoarseTimer, Deadline } from './coarse-timer.ts';

export interface RequestAbort {
  readonly signal: AbortSignal;
  /** Why it fired: the deadline, rather than the client. */
  readonly timedOut: boolean;
  /** The call is over: disarm the deadline and the listener. */
  done(): void;
}

/**
 * One object is the timer's entry, the client signal's listener (`handleEvent`) and the caller's handle, so a
 * request makes it and its AbortController and nothing else: the closures and the `{ once: true }` options
 * this took before cost about a microsecond per request (bench/results/overhead-profile.md). A class because
 * its methods are shared on the prototype, where an object literal would make new functions per request.
 * The listener needs no `once`: aborting an aborted controller does nothing, and `done` removes it.
 */
class ClientOrDeadline implements RequestAbort, Deadline, EventListenerObject {
  readonly #controller = new AbortController();
  readonly #client: AbortSignal;
  readonly #timer: CoarseTimer;
  #timedOut = false;
  due: number;

  constructor(client: AbortSignal, due: number, timer: CoarseTimer) {
    this.#client = client;
    this.#timer = timer;
    this.due = due;
    timer.add(this);
    if (client.aborted) this.#controller.abort(client.reason);
    else client.addEventListener('abort', this);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** The deadline passed (the coarse timer calls this). */
  fire(): void {
    if (this.#controller.signal.aborted) return;
    this.#timedOut = true;
    this.#controller.abort(new DOMException('request deadline passed', 'TimeoutError'));
  }

  /** The client went away. */
  handleEvent(): void {
    this.#controller.abort(this.#client.reason);
  }

  done(): void {
    this.#timer.remove(this);
    this.#client.removeEventListener('abort', this);
  }
}

/** `due`: when the deadline passes, in ms on the timer's clock (the router's `now`: a request's `startedAt + timeout`, no clock read here). */
export function abortOnClientOrDeadline(client: AbortSignal, due: number, timer: CoarseTimer): RequestAbort {
  return new ClientOrDeadline(client, due, timer);
}
