// Admission under overload through the compiled router: a full queue is refused with 429, a long wait ends in 408.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';
import { setMock } from '../../testkit/set-mock.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const CHAT = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hello' }] });

describe('admission queue', () => {
  test('with one slot and one queue place, a third request gets 429 with Retry-After and the queued one 408 after --queue-timeout-secs', async () => {
    // The first request holds the only slot for 2.5 s, well past the 1 s the queued one may wait.
    await using engine = await spawnMockEngine(['--model', 'm', '--ttft-ms', '2500']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', engine.url,
      '--policy', 'round_robin',
      '--max-concurrent-requests', '1',
      '--queue-size', '1',
      '--queue-timeout-secs', '1',
      // A released slot is usable again within 10 ms, so the last request below does not wait for the refill.
      '--rate-limit-tokens-per-second', '100',
    ]);
    const post = () => fetch(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT });
    const gauge = async (name: string) => metricValue(await router.scrape(), name);

    const first = post();
    await until(async () => (await gauge('vllm_router_admission_in_use')) === 1, 'the first request to hold the slot');
    const queued = post();
    await until(async () => (await gauge('vllm_router_queue_depth')) === 1, 'the second request to wait in the queue');

    const refused = await post();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(parseEnvelope(await refused.text())).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });

    const timedOut = await queued;
    expect(timedOut.status).toBe(408);
    expect(parseEnvelope(await timedOut.text())).toMatchObject({ code: 'queue_timeout', type: 'invalid_request_error' });

    const served = await first;
    expect(served.status).toBe(200);
    expect(((await served.json()) as { object: string }).object).toBe('chat.completion');

    // The slot is free again: the router admits the next request at once.
    await setMock(engine.url, { ttftMs: 0 });
    expect((await post()).status).toBe(200);
    const m = await router.scrape();
    expect(metricValue(m, 'vllm_router_admission_rejections_total', { reason: 'rate_limited' })).toBe(1);
    expect(metricValue(m, 'vllm_router_admission_rejections_total', { reason: 'queue_timeout' })).toBe(1);
    expect(metricValue(m, 'vllm_router_processed_requests_total')).toBe(2);
  });
});
