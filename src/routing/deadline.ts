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

export function abortOnClientOrDeadline(client: AbortSignal, timeoutMs: number, timer: CoarseTimer): RequestAbort {
  const controller = new AbortController();
  let timedOut = false;
  const onClientAbort = () => controller.abort(client.reason);
  const deadline: Deadline = {
    due: timer.now() + timeoutMs,
    fire() {
      timedOut = true;
      controller.abort(new DOMException('request deadline passed', 'TimeoutError'));
    },
  };
  timer.add(deadline);
  if (client.aborted) controller.abort(client.reason);
  else client.addEventListener('abort', onClientAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    done() {
      timer.remove(deadline);
      client.removeEventListener('abort', onClientAbort);
    },
  };
}
