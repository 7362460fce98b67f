// The router reads at most a capped number of bytes from an engine answer it consumes itself, and says so past them.
import { describe, expect, test } from 'bun:test';
import { ENGINE_DOCUMENT_MAX_BYTES } from '../../src/net/body-limits.ts';
import { createEngineMetrics } from '../../src/signals/engine-metrics.ts';
import { startTestRouter } from '../support/router.ts';

/** An engine that is healthy but answers every other GET with a body that never ends. */
function startFloodingEngine() {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      if (new URL(req.url).pathname === '/health') return new Response(null);
      const chunk = new TextEncoder().encode(`{"data":[${'{"id":"x"},'.repeat(6000)}`);
      return new Response(new ReadableStream({ pull: (c) => c.enqueue(chunk) }), { headers: { 'content-type': 'application/json' } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, [Symbol.dispose]: () => server.stop(true) };
}

const LIMIT = 'the body is larger than 16 MiB';

describe('engine answers past the cap', () => {
  test('a /metrics page past the cap fails the scrape', async () => {
    expect(ENGINE_DOCUMENT_MAX_BYTES).toBe(16 * 1024 * 1024);
    using engine = startFloodingEngine();
    using metrics = createEngineMetrics({ endpoints: () => [{ id: 'e', url: engine.url }], intervalMs: 60_000, timeoutMs: 30_000, now: () => performance.now() });
    await metrics.scrapeOnce();
    expect(metrics.get('e')).toMatchObject({ stale: true, lastError: LIMIT });
  });

  test('/v1/models, /get_server_info and /get_loads fail clearly on an endless engine answer', async () => {
    using engine = startFloodingEngine();
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const models = await fetch(`${r.url}/v1/models`);
    expect(models.status).toBe(503);
    expect(r.logs.some((l) => l.includes('model listing failed') && l.includes(LIMIT))).toBe(true);
    const info = await fetch(`${r.url}/get_server_info`);
    expect(info.status).toBe(502);
    expect(((await info.json()) as { error: { message: string } }).error.message).toBe(`${engine.url} /get_server_info: ${LIMIT}`);
    const loads = (await (await fetch(`${r.url}/get_loads`)).json()) as { workers: { load: number; error: string }[] };
    expect(loads.workers).toMatchObject([{ load: -1, error: `/metrics: ${LIMIT}` }]);
  });
});
