// The router's own calls to an endpoint never follow a redirect: a hostile engine that answers 3xx with a Location
// pointing at a second server gets no further, and the second server is never contacted.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startRedirectTrap, STOLEN_MODEL, type RedirectStatus } from '../fixtures/redirect-trap.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const STATUSES: RedirectStatus[] = [302, 307, 308];
const errorMessage = async (res: Response) => ((await res.json()) as { error: { message: string } }).error.message;
const NOTE = '(redirects are not followed)';

describe.each(STATUSES)('an engine answering %d', (status) => {
  test('fails its health probe: unhealthy from the first probe, and it stays so', async () => {
    await using good = await startMockEngine({ model: 'm' });
    await using trap = startRedirectTrap({ status });
    const args = ['--worker-urls', good.url, trap.url, '--policy', 'round_robin', '--health-check-interval-secs', '1', '--health-success-threshold', '1'];
    await using r = await startTestRouter(args);
    const hostile = r.router.registry.all().find((e) => e.url === trap.url)!;
    expect(hostile.healthy).toBe(false);
    // Two more rounds, each of which would have turned it healthy (one good probe suffices) had it followed.
    const probes = async () => metricValue(await (await fetch(r.router.metricsUrl)).text(), 'vllm_router_health_checks_total', { worker: trap.url, result: 'failed' });
    await until(async () => (await probes()) >= 3, 'two health rounds after the first probe');
    expect(hostile.healthy).toBe(false);
    const health = await fetch(`${r.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.text()).toContain(trap.url);
    expect(r.logs.some((l) => l.includes('"endpoint unhealthy"') && l.includes(`/health answered ${status} ${NOTE}`))).toBe(true);
    expect(trap.contacts).toEqual([]);
  });

  test('is refused when added at run time (its probe before the add fails)', async () => {
    await using good = await startMockEngine({ model: 'm' });
    await using trap = startRedirectTrap({ status });
    await using r = await startTestRouter(['--worker-urls', good.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/add_worker?url=${encodeURIComponent(trap.url)}`, { method: 'POST' });
    expect(res.status).toBe(502);
    expect(r.router.registry.all().map((e) => e.url)).toEqual([good.url]);
    expect(trap.contacts).toEqual([]);
  });

  test('/v1/models does not list the models behind the redirect', async () => {
    await using good = await startMockEngine({ model: 'alpha' });
    await using trap = startRedirectTrap({ status, redirects: (p) => p === '/v1/models' });
    await using r = await startTestRouter(['--worker-urls', good.url, trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/models`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['alpha']);
    expect(r.logs.some((l) => l.includes('model listing failed') && l.includes(`answered ${status} ${NOTE}`))).toBe(true);
    expect(trap.received).toContain('GET /v1/models');
    expect(trap.contacts).toEqual([]);
  });

  test.each(['/get_server_info', '/get_model_info'])('%s answers 502 naming the redirect, not what is behind it', async (path) => {
    await using trap = startRedirectTrap({ status, redirects: (p) => p === path });
    await using r = await startTestRouter(['--worker-urls', trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}${path}`);
    expect(res.status).toBe(502);
    expect(await errorMessage(res)).toBe(`${trap.url} answered ${path} with ${status} ${NOTE}`);
    expect(trap.contacts).toEqual([]);
  });

  test.each(['/v1/models', '/v1/completions'])('/health_generate fails when %s is redirected', async (path) => {
    // The hostile engine lists a model honestly, so the generation step is reached when only it redirects.
    const models = () => Response.json({ object: 'list', data: [{ id: 'm', object: 'model' }] });
    await using trap = startRedirectTrap({ status, redirects: (p) => p === path, serve: (req) => (new URL(req.url).pathname === '/health' ? new Response(null) : models()) });
    await using r = await startTestRouter(['--worker-urls', trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/health_generate`);
    expect(res.status).toBe(503);
    expect(await errorMessage(res)).toContain(`answered ${status} ${NOTE}`);
    expect(trap.received).toContain(path === '/v1/models' ? 'GET /v1/models' : 'POST /v1/completions');
    expect(trap.contacts).toEqual([]);
  });

  test.each([
    ['GET', '/v1/responses/resp_1'],
    ['POST', '/v1/responses/resp_1/cancel'],
  ])('%s %s answers 502 naming the redirect, and the stored response behind it is not fetched', async (method, path) => {
    await using other = await startMockEngine({ model: 'm', responseStore: true });
    await using trap = startRedirectTrap({ status, redirects: (p) => p.startsWith('/v1/responses/') });
    await using r = await startTestRouter(['--worker-urls', other.url, trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}${path}`, { method });
    expect(res.status).toBe(502);
    expect(await errorMessage(res)).toBe(`${trap.url} answered ${method} ${path} with ${status} ${NOTE}`);
    expect(trap.contacts).toEqual([]);
  });

  test('/flush_cache reports the redirect as that engine’s failure', async () => {
    await using trap = startRedirectTrap({ status, redirects: (p) => p === '/reset_prefix_cache' });
    await using r = await startTestRouter(['--worker-urls', trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/flush_cache`, { method: 'POST' });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { results: { ok: boolean; error: string }[] };
    expect(body.results).toEqual([{ worker: trap.url, ok: false, status, error: `/reset_prefix_cache answered ${status} ${NOTE}` } as never]);
    expect(trap.contacts).toEqual([]);
  });

  test('/get_loads reports the load as unknown, not the load behind the redirect', async () => {
    await using trap = startRedirectTrap({ status, redirects: (p) => p === '/metrics' });
    await using r = await startTestRouter(['--worker-urls', trap.url, '--policy', 'round_robin']);
    const { workers } = (await (await fetch(`${r.url}/get_loads`)).json()) as { workers: { load: number; error?: string }[] };
    expect(workers).toMatchObject([{ load: -1, error: `/metrics answered ${status} ${NOTE}` }]);
    expect(trap.contacts).toEqual([]);
  });

  test('an inference request relays the 3xx to the client as it is, Location included, without following it', async () => {
    await using trap = startRedirectTrap({ status, redirects: (p) => p === '/v1/completions' });
    await using r = await startTestRouter(['--worker-urls', trap.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: '{"model":"m","prompt":"x","max_tokens":1}' });
    expect(res.status).toBe(status);
    expect(res.headers.get('location')).toBe(`${trap.targetUrl}/v1/completions`);
    expect(trap.contacts).toEqual([]);
  });
});

test('the model only the redirect target lists is what a router that followed it would have shown', async () => {
  // Guards the fixture: following the redirect by hand does reach the target and its model.
  await using trap = startRedirectTrap({ redirects: (p) => p === '/v1/models' });
  const followed = (await (await fetch(`${trap.url}/v1/models`)).json()) as { data: { id: string }[] };
  expect(followed.data.map((m) => m.id)).toEqual([STOLEN_MODEL]);
  expect(trap.contacts).toEqual(['GET /v1/models']);
});
