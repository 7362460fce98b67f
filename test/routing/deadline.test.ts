// The abort of one upstream call (routing/deadline.ts): the client leaving or the request deadline, whichever
// comes first, with the timer's entry and the client listener gone once the call is over.
import { describe, expect, test } from 'bun:test';
import type { CoarseTimer, Deadline } from '../../src/routing/coarse-timer.ts';
import { abortOnClientOrDeadline } from '../../src/routing/deadline.ts';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { until } from '../../testkit/until.ts';
import { startTestRouter } from '../support/router.ts';

/** A timer the test drives: `advance` fires what is due. */
function manualTimer() {
  let t = 1000;
  const waiting = new Set<Deadline>();
  const timer: CoarseTimer & { advance(ms: number): void } = {
    now: () => t,
    add: (d) => void waiting.add(d),
    remove: (d) => void waiting.delete(d),
    get size() {
      return waiting.size;
    },
    advance(ms) {
      t += ms;
      for (const d of waiting)
        if (d.due <= t) {
          waiting.delete(d);
          d.fire();
        }
    },
  };
  return timer;
}

describe('abortOnClientOrDeadline', () => {
  test('the deadline passing aborts with a TimeoutError and says it timed out', () => {
    const timer = manualTimer();
    const client = new AbortController();
    const abort = abortOnClientOrDeadline(client.signal, timer.now() + 5000, timer);
    timer.advance(4999);
    expect(abort.signal.aborted).toBe(false);
    timer.advance(1);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.timedOut).toBe(true);
    expect((abort.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  test('the client leaving aborts with its reason at the next look (not as a timeout); a later deadline changes nothing', () => {
    const timer = manualTimer();
    const client = new AbortController();
    const abort = abortOnClientOrDeadline(client.signal, timer.now() + 5000, timer);
    const reason = new Error('client gone');
    timer.advance(250);
    expect(abort.signal.aborted).toBe(false);
    client.abort(reason);
    timer.advance(250);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
    expect(abort.timedOut).toBe(false);
    timer.advance(10_000);
    expect(abort.timedOut).toBe(false);
    expect(timer.size).toBe(0);
  });

  test('a client already gone aborts at once', () => {
    const client = new AbortController();
    client.abort(new Error('gone'));
    const abort = abortOnClientOrDeadline(client.signal, 6000, manualTimer());
    expect(abort.signal.aborted).toBe(true);
    expect(abort.timedOut).toBe(false);
  });

  test('once the answer is in, only the deadline is watched (the relay sees a client that leaves)', () => {
    const timer = manualTimer();
    const client = new AbortController();
    const abort = abortOnClientOrDeadline(client.signal, timer.now() + 5000, timer);
    abort.answered();
    client.abort();
    timer.advance(4999);
    expect(abort.signal.aborted).toBe(false);
    timer.advance(1);
    expect(abort.timedOut).toBe(true);
  });

  test('done takes the entry off the timer: nothing fires afterwards', () => {
    const timer = manualTimer();
    const client = new AbortController();
    const abort = abortOnClientOrDeadline(client.signal, timer.now() + 5000, timer);
    expect(timer.size).toBe(1);
    abort.done();
    expect(timer.size).toBe(0);
    client.abort();
    timer.advance(10_000);
    expect(abort.signal.aborted).toBe(false);
  });
});

describe('through the router', () => {
  test('a client that leaves before the engine answers (a long non-streaming generation) aborts the engine request', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 600_000 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const client = new AbortController();
    const answer = fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 4 }), signal: client.signal }).catch((e: Error) => e);
    await engine.waitFor(() => engine.stats().running === 1);
    client.abort();
    expect(await answer).toBeInstanceOf(Error);
    // The engine's request ends only because the router aborted its fetch: its first token is ten minutes away.
    await engine.waitFor(() => engine.stats().running === 0);
    await until(() => r.router.registry.all()[0]!.inFlight === 0, 'the in-flight count to drop');
    await until(async () => metricValue(await (await fetch(r.router.metricsUrl)).text(), 'vllm_router_running_requests', { worker: engine.url }) === 0, 'the running gauge to drop');
  });
});
