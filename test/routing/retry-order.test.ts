// Which endpoint a retry goes to under round_robin: the Rust router runs the policy again over every healthy
// endpoint, so with A failing and B, C healthy the retry lands on B; this router does the same, and never
// goes back to an endpoint the request already tried.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

const complete = (url: string) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-model', prompt: 'x', max_tokens: 1 }) });

describe('retry order under round_robin', () => {
  test('A failing, B and C healthy: the retry goes to B, as in Rust; the next request to C', async () => {
    await using a = await startMockEngine({ failure: { kind: 'status', status: 503 } });
    await using b = await startMockEngine();
    await using c = await startMockEngine();
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, c.url, '--policy', 'round_robin', '--retry-initial-backoff-ms', '1', '--retry-jitter-factor', '0']);
    const posts = (e: typeof a) => e.received.filter((q) => q.method === 'POST').length;

    const first = await complete(r.url);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-served-by')).toBe(b.url);
    expect([posts(a), posts(b), posts(c)]).toEqual([1, 1, 0]);

    const second = await complete(r.url);
    expect(second.headers.get('x-served-by')).toBe(c.url);
    expect([posts(a), posts(b), posts(c)]).toEqual([1, 1, 1]);
  });

  test('A and B failing: A, then B, then C, never an endpoint twice', async () => {
    await using a = await startMockEngine({ failure: { kind: 'status', status: 500 } });
    await using b = await startMockEngine({ failure: { kind: 'status', status: 500 } });
    await using c = await startMockEngine();
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, c.url, '--policy', 'round_robin', '--retry-initial-backoff-ms', '1', '--retry-jitter-factor', '0']);
    const res = await complete(r.url);
    expect(res.headers.get('x-served-by')).toBe(c.url);
    const order = [a, b, c].flatMap((e, i) => e.received.filter((q) => q.method === 'POST').map((q) => [q.receivedAt, i] as const));
    expect(order.sort((x, y) => x[0] - y[0]).map(([, i]) => i)).toEqual([0, 1, 2]);
  });
});
