// The compiled binary started with no endpoint: it serves, says how to add one, and becomes ready when one is added.
import { afterAll, describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());

const chat = (url: string, model: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }) });

describe('an empty start (compiled binary)', () => {
  test('no --worker-urls: live, not ready, 503 no_available_endpoints; ready once an endpoint is added through the admin API', async () => {
    // power_of_two wanted two endpoints at start-up; now it picks among whatever is there.
    await using router = await startRouterProcess(build.path, ['--policy', 'power_of_two']);
    const [warning] = await router.child.waitFor(/^\{.*"msg":"no endpoints yet[^"]*".*\}$/m);
    expect(JSON.parse(warning!).level).toBe('warn');
    expect(warning).toContain('POST /add_worker');

    expect((await fetch(`${router.url}/liveness`)).status).toBe(200);
    expect((await fetch(`${router.url}/readiness`)).status).toBe(503);
    const refused = await chat(router.url, 'alpha');
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('no_available_endpoints');

    await using alpha = await startMockEngine({ model: 'alpha' });
    const added = await fetch(`${router.url}/add_worker?url=${encodeURIComponent(alpha.url)}`, { method: 'POST' });
    expect(added.status).toBe(200);
    expect((await fetch(`${router.url}/readiness`)).status).toBe(200);
    expect((await chat(router.url, 'alpha')).status).toBe(200);

    // The admin API's `models`: this engine gets only requests for the models it is said to serve.
    await using beta = await startMockEngine({ model: 'beta' });
    const created = await fetch(`${router.url}/workers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: beta.url, models: ['beta'] }) });
    expect(created.status).toBe(200);
    expect(((await created.json()) as { worker: { models: string[]; models_source: string } }).worker).toMatchObject({ models: ['beta'], models_source: 'configured' });
    for (let i = 0; i < 6; i++) {
      expect((await chat(router.url, 'alpha')).status).toBe(200);
      expect((await chat(router.url, 'beta')).status).toBe(200);
    }
    expect(beta.received.filter((r) => r.method === 'POST').every((r) => (r.json as { model: string }).model === 'beta')).toBe(true);
    const workers = ((await (await fetch(`${router.url}/workers`)).json()) as { workers: { url: string; models: string[]; models_source: string }[] }).workers;
    expect(workers.find((w) => w.url === alpha.url)).toMatchObject({ models: ['alpha'], models_source: 'listed' });
  });

  test('PD mode with no endpoint: starts, and becomes ready once a prefill and a decode endpoint are added', async () => {
    await using router = await startRouterProcess(build.path, ['--vllm-pd-disaggregation', '--prefill-policy', 'power_of_two']);
    expect((await fetch(`${router.url}/readiness`)).status).toBe(503);
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    const add = (url: string, worker_type: string) => fetch(`${router.url}/workers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, worker_type }) });
    expect((await add(prefill.url, 'prefill')).status).toBe(200);
    expect((await fetch(`${router.url}/readiness`)).status).toBe(503);
    expect((await add(decode.url, 'decode')).status).toBe(200);
    expect((await fetch(`${router.url}/readiness`)).status).toBe(200);
    expect((await chat(router.url, 'm')).status).toBe(200);
  });
});
