// Endpoints that die, fail or hang under the compiled router: clients keep being served (issue #6).
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricSamples, metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';
import { setMock } from '../../testkit/set-mock.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const CHAT = JSON.stringify({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'hello there' }] });

/** One non-streaming chat request; the client's view of it. */
async function chat(router: RouterProcess): Promise<{ status: number; text: string }> {
  const res = await fetch(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT });
  return { status: res.status, text: await res.text() };
}

const isCompletion = (r: { status: number; text: string }) => r.status === 200 && r.text.includes('"object":"chat.completion"');

describe('endpoint failures under load', () => {
  test('kill -9 of one of three engine processes under steady load fails no client request', async () => {
    await using a = await spawnMockEngine(['--model', 'm', '--ttft-ms', '2']);
    await using b = await spawnMockEngine(['--model', 'm', '--ttft-ms', '2']);
    await using victim = await spawnMockEngine(['--model', 'm', '--ttft-ms', '2']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', a.url, b.url, victim.url, '--policy', 'round_robin', '--retry-initial-backoff-ms', '5']);

    let sent = 0;
    let failed = 0;
    let completedAfterKill = 0;
    let killed = false;
    let stop = false;
    const firstFailures: string[] = [];
    const loop = async () => {
      while (!stop) {
        sent++;
        const r = await chat(router).catch((e: Error) => ({ status: 0, text: e.message }));
        if (!isCompletion(r) && ++failed <= 10) firstFailures.push(`${r.status} ${r.text.slice(0, 200)}`);
        if (killed) completedAfterKill++;
      }
    };
    const loops = Array.from({ length: 8 }, loop);

    // Every engine takes part in the load before one of them dies.
    await until(async () => {
      const m = await router.scrape();
      return [a, b, victim].every((e) => metricValue(m, 'vllm_router_processed_requests_total', { worker: e.url }) >= 50);
    }, 'every engine to serve 50 requests');
    victim.proc.kill('SIGKILL');
    await victim.proc.exited;
    killed = true;
    // Keep the load on until the router has shut the dead engine out, then for 1000 more requests.
    await until(async () => metricValue(await router.scrape(), 'vllm_router_cb_state', { worker: victim.url }) === 1, "the dead engine's breaker to open");
    const openedAt = completedAfterKill;
    await until(() => completedAfterKill >= openedAt + 1000, '1000 more requests');
    stop = true;
    await Promise.all(loops);

    const metrics = await router.scrape();
    const retried = metricValue(metrics, 'vllm_router_retries_total');
    console.log(`kill -9 under load: sent ${sent}, failed ${failed}, retried ${retried}, completed after the kill ${completedAfterKill}`);
    expect(firstFailures).toEqual([]);
    expect(retried).toBeGreaterThan(0);
    expect(metricValue(metrics, 'vllm_router_requests_total', { route: '/v1/chat/completions', status: '2xx' })).toBe(sent);
  });

  test('an engine answering 503 opens its breaker at the threshold, traffic moves away, and probes after the timeout close it again', async () => {
    await using sick = await spawnMockEngine(['--model', 'm']);
    await using healthy = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', sick.url, healthy.url,
      '--policy', 'round_robin',
      '--cb-failure-threshold', '3',
      // Long enough that the ten requests sent while it is open surely fit in it, even on a busy machine.
      '--cb-timeout-duration-secs', '2',
      '--cb-success-threshold', '1',
      '--cb-half-open-max-probes', '1',
      '--retry-initial-backoff-ms', '1',
    ]);
    const state = async () => metricValue(await router.scrape(), 'vllm_router_cb_state', { worker: sick.url });
    const sentToSick = async () => metricValue(await router.scrape(), 'vllm_router_processed_requests_total', { worker: sick.url });
    const transitions = async (from: string, to: string) => metricValue(await router.scrape(), 'vllm_router_cb_state_transitions_total', { worker: sick.url, from, to });
    /** Sends requests one after another, each of which must succeed, until `done` holds. */
    const sendUntil = (done: () => Promise<boolean>, what: string) =>
      until(async () => {
        const r = await chat(router);
        if (!isCompletion(r)) throw new Error(`a client request failed while waiting for ${what}: ${r.status} ${r.text}`);
        return done();
      }, what);

    await setMock(sick.url, { failure: { kind: 'status', status: 503 } });
    // Every client request still succeeds (retried on the healthy engine) while the sick one collects failures.
    await sendUntil(async () => (await state()) === 1, 'the breaker to open');
    expect(await sentToSick()).toBe(3);
    expect(metricValue(await router.scrape(), 'vllm_router_cb_outcomes_total', { worker: sick.url, outcome: 'failure' })).toBe(3);

    // Open: nothing goes to the sick engine.
    for (let i = 0; i < 10; i++) expect(isCompletion(await chat(router))).toBe(true);
    expect(await sentToSick()).toBe(3);

    // After the timeout one probe goes through; it fails, so the breaker opens again.
    await sendUntil(async () => (await transitions('half_open', 'open')) === 1, 'a failed probe');
    expect(await sentToSick()).toBe(4);

    // Healed: the next probe after the timeout closes the breaker and traffic comes back.
    await setMock(sick.url, { failure: null });
    await sendUntil(async () => (await state()) === 0, 'the breaker to close');
    const back = await sentToSick();
    for (let i = 0; i < 4; i++) expect(isCompletion(await chat(router))).toBe(true);
    expect(await sentToSick()).toBe(back + 2);

    const seen = metricSamples(await router.scrape(), 'vllm_router_cb_state_transitions_total').filter((s) => s.includes(sick.url));
    console.log(`503 breaker transitions (${sick.url}): ${seen.map((s) => s.replace(/worker="[^"]*",?/, '')).join(', ')}`);
    expect(await transitions('closed', 'open')).toBe(1);
    expect(await transitions('open', 'half_open')).toBe(2);
    expect(await transitions('half_open', 'open')).toBe(1);
    expect(await transitions('half_open', 'closed')).toBe(1);
  });

  test('a frozen engine process (SIGSTOP) costs one request a 504 at --request-timeout-secs, then its breaker keeps traffic away', async () => {
    await using frozen = await spawnMockEngine(['--model', 'm']);
    await using healthy = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', frozen.url, healthy.url,
      '--policy', 'round_robin',
      '--request-timeout-secs', '1',
      '--cb-failure-threshold', '1',
      '--cb-timeout-duration-secs', '60',
    ]);
    for (let i = 0; i < 2; i++) expect(isCompletion(await chat(router))).toBe(true);
    frozen.proc.kill('SIGSTOP');
    try {
      // The kernel still accepts connections for a stopped process: requests hang rather than fail fast.
      const answers = [];
      for (let i = 0; i < 12; i++) answers.push(await chat(router));
      const timedOut = answers.filter((r) => r.status === 504);
      // --request-timeout-secs bounds the whole request, retries included, so the one request that met the
      // frozen engine has no time left to be retried: it gets the 504.
      expect(timedOut.length).toBe(1);
      expect(parseEnvelope(timedOut[0]!.text)?.code).toBe('upstream_timeout');
      expect(answers.filter(isCompletion).length).toBe(11);
      const m = await router.scrape();
      expect(metricValue(m, 'vllm_router_cb_state', { worker: frozen.url })).toBe(1);
      expect(metricValue(m, 'vllm_router_processed_requests_total', { worker: frozen.url })).toBe(2);
    } finally {
      frozen.proc.kill('SIGCONT');
    }
  });
});
