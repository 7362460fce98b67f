import { describe, expect, test } from 'bun:test';
import { parseEngineLoad } from '../../src/signals/engine-load.ts';
import { setMock } from '../../testkit/set-mock.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startAdminRouter } from './harness.ts';

/** An engine started with VLLM_SERVER_DEV_MODE=1, as far as the admin API can tell: it has /reset_prefix_cache. */
function startDevEngine(metrics = '') {
  const resets: string[] = [];
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === '/health') return new Response(null);
      if (path === '/reset_prefix_cache' && req.method === 'POST') return resets.push(req.headers.get('x-request-id') ?? ''), new Response(null);
      if (path === '/metrics') return new Response(metrics);
      return new Response(null, { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, resets, [Symbol.asyncDispose]: () => server.stop(true) };
}

const flush = (url: string) => fetch(`${url}/flush_cache`, { method: 'POST' });

describe('POST /flush_cache', () => {
  test('resets the prefix cache of every healthy engine and says so', async () => {
    await using one = startDevEngine();
    await using two = startDevEngine();
    await using r = await startAdminRouter({ endpoints: [one.url, two.url] });
    const res = await flush(r.url);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { message: string; results: unknown[]; skipped: unknown[] };
    expect(body.message).toBe('Cache flushed on all servers');
    expect(body.results).toEqual([
      { worker: one.url, ok: true, status: 200 },
      { worker: two.url, ok: true, status: 200 },
    ]);
    expect(body.skipped).toEqual([]);
    expect([one.resets.length, two.resets.length]).toEqual([1, 1]);
  });

  test('reports each engine: one without dev mode (404) makes a 206 with the reason; unhealthy ones are skipped', async () => {
    await using dev = startDevEngine();
    await using plain = await spawnMockEngine();
    await using down = startDevEngine();
    await using r = await startAdminRouter({ endpoints: [dev.url, plain.url, down.url] });
    r.registry.get(down.url)!.healthy = false;
    const res = await flush(r.url);
    expect(res.status).toBe(206);
    const body = (await res.json()) as { message: string; results: unknown[]; skipped: unknown[] };
    expect(body.message).toBe('Partial success: cache flushed on 1 of 2 servers');
    expect(body.results).toEqual([
      { worker: dev.url, ok: true, status: 200 },
      { worker: plain.url, ok: false, status: 404, error: '/reset_prefix_cache answered 404: vLLM serves /reset_prefix_cache only when started with VLLM_SERVER_DEV_MODE=1' },
    ]);
    expect(body.skipped).toEqual([{ worker: down.url, reason: 'unhealthy' }]);
    expect(down.resets).toHaveLength(0);
  });

  test('fails with 502 when no engine could flush, and 503 when none is healthy', async () => {
    await using plain = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [plain.url] });
    const res = await flush(r.url);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { message: string }).message).toBe('Cache flush failed on every server');
    r.registry.get(plain.url)!.healthy = false;
    const none = await flush(r.url);
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('no_available_endpoints');
  });
});

describe('GET /get_loads', () => {
  test("reports each engine's running and waiting requests from /metrics next to the router's in-flight count", async () => {
    await using busy = await spawnMockEngine(['--itl-ms', '10']);
    await using idle = await spawnMockEngine();
    await setMock(busy.url, { metricsOverride: { running: 3, waiting: 2 } });
    await using r = await startAdminRouter({ endpoints: [busy.url] });
    // A stream held open on the busy engine, then the idle one joins.
    const stream = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-model', prompt: 'p', max_tokens: 100, stream: true }) });
    expect((await fetch(`${r.url}/add_worker?url=${idle.url}`, { method: 'POST' })).status).toBe(200);
    const res = await fetch(`${r.url}/get_loads`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      workers: [
        { worker: busy.url, worker_type: 'regular', router_in_flight: 1, draining: false, load: 5, running: 3, waiting: 2 },
        { worker: idle.url, worker_type: 'regular', router_in_flight: 0, draining: false, load: 0, running: 0, waiting: 0 },
      ],
    });
    await stream.body!.cancel();
  });

  test('an engine whose load cannot be read is reported with the reason and load -1, never as idle', async () => {
    await using noGauges = startDevEngine('# nothing here\nprocess_cpu_seconds_total 1.0\n');
    const gone = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [gone.url, noGauges.url] });
    await gone[Symbol.asyncDispose]();
    const { workers } = (await (await fetch(`${r.url}/get_loads`)).json()) as { workers: { worker: string; load: number; running: number | null; error?: string }[] };
    expect(workers[0]).toMatchObject({ worker: gone.url, load: -1, running: null });
    expect(workers[0]!.error).toStartWith('/metrics unreachable');
    expect(workers[1]).toMatchObject({ worker: noGauges.url, load: -1, running: null, error: '/metrics has no vllm:num_requests_running' });
  });
});

describe('parseEngineLoad', () => {
  const page = [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    'vllm:num_requests_running{engine="0",model_name="m"} 2.0',
    'vllm:num_requests_running{engine="1",model_name="m"} 5.0',
    '# TYPE vllm:num_requests_waiting gauge',
    'vllm:num_requests_waiting{engine="0",model_name="m"} 1.0',
    'vllm:num_requests_waiting{engine="1",model_name="m"} 0.0',
    'vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 9.0',
    '',
  ].join('\n');

  test('sums the series of every engine, or reads one data-parallel rank', () => {
    expect(parseEngineLoad(page)).toEqual({ ok: true, running: 7, waiting: 1 });
    expect(parseEngineLoad(page, '1')).toEqual({ ok: true, running: 5, waiting: 0 });
  });

  test('reads unlabelled samples and says which gauge is missing', () => {
    expect(parseEngineLoad('vllm:num_requests_running 1\nvllm:num_requests_waiting 4 1700000000000\n')).toEqual({ ok: true, running: 1, waiting: 4 });
    expect(parseEngineLoad('vllm:num_requests_running 1\n')).toEqual({ ok: false, error: '/metrics has no vllm:num_requests_waiting' });
  });
});
