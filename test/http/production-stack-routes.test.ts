// production-stack's own routes, served when the router runs from its command line: /engines, /version, the
// engine-control routes by engine id (behind the admin key), and /metrics on the router's port.
import { describe, expect, test } from 'bun:test';
import { engineId } from '../../src/http/routes/production-stack.ts';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const ADMIN = { authorization: 'Bearer admin-key' };

async function fleet(extra: string[] = [], models: [string, string] = ['m1', 'm2']) {
  const a = await startMockEngine({ model: models[0], devMode: true });
  const b = await startMockEngine({ model: models[1], devMode: true });
  const r = await startTestRouter(['--service-discovery', 'static', '--static-backends', `${a.url},${b.url}`, '--static-models', models.join(','), '--routing-logic', 'roundrobin', '--admin-api-key', 'admin-key', ...extra]);
  return {
    a,
    b,
    r,
    async [Symbol.asyncDispose]() {
      await r[Symbol.asyncDispose]();
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    },
  };
}

describe("production-stack's routes", () => {
  test('/engines lists each engine with a stable id and the models it serves; /version is the router\'s', async () => {
    await using f = await fleet();
    const engines = (await (await fetch(`${f.r.url}/engines`)).json()) as { engine_id: string; serving_models: string[]; created: number }[];
    expect(engines.map((e) => [e.engine_id, e.serving_models])).toEqual([
      [engineId(f.a.url), ['m1']],
      [engineId(f.b.url), ['m2']],
    ]);
    expect(engines[0]!.engine_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(engines[0]!.created).toBeGreaterThan(1_600_000_000);
    expect(await (await fetch(`${f.r.url}/version`)).json()).toEqual({ version: 'dev' });
  });

  test('/sleep?id= puts that engine to sleep (its other query parameters go along) and no request reaches it until /wake_up', async () => {
    // Both serve the model, so only the engine's sleep keeps requests from it.
    await using f = await fleet([], ['m', 'm']);
    const id = engineId(f.a.url);
    const sleep = await fetch(`${f.r.url}/sleep?id=${id}&level=1`, { method: 'POST', headers: ADMIN });
    expect(sleep.status).toBe(200);
    expect(await sleep.json()).toEqual({ status: 'success' });
    expect(f.a.devCalls).toEqual(['/sleep']);
    expect(f.a.received.find((q) => q.path === '/sleep')!.query).toBe('?level=1');
    expect(await (await fetch(`${f.r.url}/is_sleeping?id=${id}`, { headers: ADMIN })).json()).toEqual({ is_sleeping: true });

    f.a.clearReceived();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${f.r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
      expect(res.status).toBe(200);
    }
    expect(f.a.received.filter((q) => q.path === '/v1/completions')).toHaveLength(0);

    expect((await fetch(`${f.r.url}/wake_up?id=${id}`, { method: 'POST', headers: ADMIN })).status).toBe(200);
    for (let i = 0; i < 4; i++) await fetch(`${f.r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
    expect(f.a.received.filter((q) => q.path === '/v1/completions')).toHaveLength(2);
  });

  test('the engine-control routes need the admin key and an engine id the router knows', async () => {
    await using f = await fleet();
    const id = engineId(f.a.url);
    expect((await fetch(`${f.r.url}/sleep?id=${id}`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${f.r.url}/sleep?id=${id}`, { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const missing = await fetch(`${f.r.url}/sleep`, { method: 'POST', headers: ADMIN });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe('Invalid request: missing target Engine Id.');
    const unknown = await fetch(`${f.r.url}/wake_up?id=nope`, { method: 'POST', headers: ADMIN });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toBe('Engine with Id nope not found.');
    expect(f.a.devCalls).toEqual([]);
  });

  test("/health is the router's own, as production-stack answers it: 200 while one engine is down", async () => {
    await using f = await fleet(['--health-check-interval-secs', '1', '--health-failure-threshold', '1']);
    f.a.set({ healthy: false });
    await until(() => f.r.router.registry.all().some((e) => !e.healthy), 'engine a marked unhealthy');
    const health = await fetch(`${f.r.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'healthy' });
  });

  test('/metrics is served on the router port', async () => {
    await using f = await fleet();
    await fetch(`${f.r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm1', prompt: 'x', max_tokens: 1 }) });
    expect(f.r.router.metricsUrl).toBe(`${f.r.url}/metrics`);
    const page = await fetch(`${f.r.url}/metrics`);
    expect(page.headers.get('content-type')).toContain('text/plain');
    expect(metricValue(await page.text(), 'vllm_router_requests_total', { route: '/v1/completions' })).toBe(1);
  });
});
