// The inference routes are served without Hono's dispatch when nothing else applies (app.ts): whatever path a
// request takes, it gets what the middleware chain gives it (client keys, CORS, request ids, errors).
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { until } from '../../testkit/until.ts';
import { startTestRouter } from '../support/router.ts';

const CHAT = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
const post = (url: string, headers: Record<string, string>, body = CHAT) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('inference routes, with and without the fast path', () => {
  test('client keys (--api-keys) are required on every inference route', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--api-keys', 'client-key']);
    for (const path of ['/v1/chat/completions', '/v1/completions']) {
      const refused = await post(`${r.url}${path}`, {});
      expect(refused.status).toBe(401);
      expect(refused.headers.get('x-request-id')).toBeTruthy();
    }
    const served = await post(`${r.url}/v1/chat/completions`, { authorization: 'Bearer client-key' });
    expect(served.status).toBe(200);
    await served.text();
  });

  test('a browser request (Origin) gets its CORS headers on an inference answer', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const res = await post(`${r.url}/v1/chat/completions`, { origin: 'https://app.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
    await res.text();
  });

  test("refusals carry the request id (the client's, or a generated one with the route's prefix); the query string goes upstream", async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const bad = await post(`${r.url}/v1/chat/completions`, { 'x-request-id': 'mine-1' }, '{"model": "m", ');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-request-id')).toBe('mine-1');
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const unknown = await post(`${r.url}/v1/completions`, {}, JSON.stringify({ model: 'nobody', prompt: 'x' }));
    await unknown.text();
    expect(unknown.headers.get('x-request-id')).toMatch(/^cmpl-[A-Za-z0-9]{24}$/);
    const queried = await post(`${r.url}/v1/completions?trace=1`, {}, JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }));
    expect(queried.status).toBe(200);
    await queried.text();
    expect(engine.received.filter((q) => q.path === '/v1/completions').at(-1)!.query).toBe('?trace=1');
  });
});

describe('admission on the fast path', () => {
  test('a request admitted at once and one that waited both count in the queue-wait histogram, the waiter with its wait', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 300 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--max-concurrent-requests', '1', '--rate-limit-tokens-per-second', '1000']);
    const body = JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 });
    const first = post(`${r.url}/v1/completions`, {}, body);
    await until(() => engine.received.some((q) => q.path === '/v1/completions'), 'the first request at the engine');
    const second = post(`${r.url}/v1/completions`, {}, body);
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    const page = await (await fetch(r.router.metricsUrl)).text();
    expect(metricValue(page, 'vllm_router_queue_wait_seconds_count')).toBe(2);
    // The second waited for the first's answer (the engine's 300 ms to its first token, most of it).
    expect(metricValue(page, 'vllm_router_queue_wait_seconds_sum')).toBeGreaterThan(0.1);
  });
});
