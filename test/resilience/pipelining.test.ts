// HTTP/1.1 pipelining against the compiled router. Bun 1.4.5 closes a connection when a request is pipelined
// behind one whose answer is still pending (oven-sh/bun#38128); no Bun.serve setting avoids it. What the router
// guarantees on top: the client sees a closed connection (never a hang or a garbled answer), the request the
// router had taken is counted and logged, and the router keeps serving.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { rawExchange } from './raw-http.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());
const root = new URL('../..', import.meta.url).pathname;

describe('pipelined requests', () => {
  test('a request pipelined behind a POST: the connection is closed, the lost answer is counted, and the router keeps serving', async () => {
    await using engine = await spawnMockEngine(['--model', 'm', '--ttft-ms', '20']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin']);
    const body = JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 2 });
    const answer = await rawExchange(
      router.address,
      `POST /v1/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}GET /liveness HTTP/1.1\r\nHost: r\r\n\r\n`,
    );
    // Once Bun answers pipelined requests in order, the first answer is the completion; until then, nothing.
    if (answer.kind === 'response') expect(answer.status).toBe(200);
    else expect(answer.kind).toBe('closed');

    // The completion the router took is accounted for either way (a 499 while Bun drops it).
    await until(async () => metricValue(await router.scrape(), 'vllm_router_requests_total', { route: '/v1/completions' }) === 1, 'the request to be counted');
    if (answer.kind === 'closed') {
      expect(metricValue(await router.scrape(), 'vllm_router_request_errors_total', { route: '/v1/completions', error_type: 'client_closed' })).toBe(1);
      await router.child.waitFor(/"status":499,"error":"client_closed"/);
    }
    const next = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(next.status).toBe(200);
  });

  test('Bun still drops pipelined requests behind an async handler (when this fails, Bun fixed it: update the README limits)', () => {
    const run = Bun.spawnSync(['bun', `${root}scripts/repro/bun-pipelining.ts`], { stdout: 'pipe', stderr: 'pipe' });
    expect(run.stdout.toString()).toContain('0 of 2 pipelined requests answered');
    expect(run.exitCode).toBe(1);
  });
});
