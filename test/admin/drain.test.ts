import { describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { finishedOn, startAdminRouter } from './harness.ts';

const TOKENS = 120;

/** A paced stream (10 ms a token, about a second long); resolves once its first bytes have arrived. */
async function startStream(url: string) {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-model', prompt: 'tell me a long story', max_tokens: TOKENS, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value, { stream: true });
  return {
    /** Reads to the end; the whole SSE text. */
    async rest(): Promise<string> {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    },
  };
}

const tokensIn = (sse: string) => sse.split('\n').filter((l) => l.startsWith('data: {') && l.includes('"text"')).length;
const complete = (url: string) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-model', prompt: 'short', max_tokens: 1 }) });

describe('removing an endpoint under load', () => {
  test('a stream in flight on the removed endpoint finishes; new requests go elsewhere; wait=true answers once drained', async () => {
    await using a = await spawnMockEngine(['--itl-ms', '10']);
    await using b = await spawnMockEngine(['--itl-ms', '10']);
    await using r = await startAdminRouter({ endpoints: [a.url, b.url] });

    const stream = await startStream(r.url);
    const busy = r.registry.all().find((e) => e.inFlight === 1)!;
    const other = r.registry.all().find((e) => e !== busy)!;
    expect(busy).toBeDefined();

    let removal: Record<string, unknown> | undefined;
    const removed = fetch(`${r.url}/workers/${encodeURIComponent(busy.url)}?wait=true`, { method: 'DELETE' }).then(async (res) => {
      expect(res.status).toBe(200);
      removal = (await res.json()) as Record<string, unknown>;
    });
    await until(() => r.registry.get(busy.id) === undefined, 'the endpoint to leave the registry');
    expect(busy.draining).toBe(true);

    // While it drains it is listed as draining with its stream, takes nothing new, and is no longer a worker.
    const listing = (await (await fetch(`${r.url}/workers`)).json()) as { workers: { url: string; draining: boolean; in_flight: number }[]; total: number };
    expect(listing.total).toBe(1);
    expect(listing.workers.find((w) => w.url === busy.url)).toMatchObject({ draining: true, in_flight: 1 });
    expect(await (await fetch(`${r.url}/list_workers`)).json()).toEqual({ urls: [other.url] });
    const statuses = await Promise.all(Array.from({ length: 6 }, () => complete(r.url).then((res) => res.status)));
    expect(statuses).toEqual(Array(6).fill(200));
    expect(removal).toBeUndefined();

    const sse = await stream.rest();
    expect(tokensIn(sse)).toBe(TOKENS);
    expect(sse.trimEnd().endsWith('data: [DONE]')).toBe(true);
    await removed;
    expect(removal).toMatchObject({ success: true, drain: { drained: true, in_flight: 0 } });
    expect(busy.inFlight).toBe(0);
    expect(await finishedOn(busy.url)).toBe(1);
    expect(await finishedOn(other.url)).toBe(6);
    expect(((await (await fetch(`${r.url}/workers`)).json()) as { workers: unknown[] }).workers).toHaveLength(1);
  });

  test('the drain timeout bounds the wait, never the stream', async () => {
    await using a = await spawnMockEngine(['--itl-ms', '10']);
    await using r = await startAdminRouter({ endpoints: [a.url], drainTimeoutMs: 50 });
    const stream = await startStream(r.url);
    const res = await fetch(`${r.url}/remove_worker?url=${encodeURIComponent(a.url)}&wait=true`, { method: 'POST' });
    expect(await res.text()).toBe(`Removed worker: ${a.url}; 1 requests still in flight after the drain timeout`);
    expect(r.logs.some((l) => l.includes('endpoint drain wait ended'))).toBe(true);
    expect((await complete(r.url)).status).toBe(503);
    expect(tokensIn(await stream.rest())).toBe(TOKENS);
  });

  test('an endpoint added under load takes traffic from the next request on', async () => {
    await using a = await spawnMockEngine(['--itl-ms', '10']);
    await using b = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [a.url] });
    const stream = await startStream(r.url);
    const added = await fetch(`${r.url}/add_worker?url=${encodeURIComponent(b.url)}`, { method: 'POST' });
    expect(added.status).toBe(200);
    const statuses = await Promise.all(Array.from({ length: 4 }, () => complete(r.url).then((res) => res.status)));
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(await finishedOn(b.url)).toBeGreaterThan(0);
    expect(tokensIn(await stream.rest())).toBe(TOKENS);
  });
});
