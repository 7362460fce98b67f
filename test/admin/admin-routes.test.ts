import { describe, expect, test } from 'bun:test';
import { freePort } from '../../testkit/free-port.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startAdminRouter } from './harness.ts';

const post = (url: string, body?: unknown) =>
  fetch(url, body === undefined ? { method: 'POST' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const complete = (url: string) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-model', prompt: 'hi', max_tokens: 2 }) });

describe('admin API round trips', () => {
  test('add_worker probes, registers and routes; list_workers and GET /workers show it; remove_worker takes it out', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter();
    let changes = 0;
    r.registry.onChange(() => changes++);

    expect((await complete(r.url)).status).toBe(503);
    const added = await post(`${r.url}/add_worker?url=${encodeURIComponent(engine.url + '/')}`);
    expect(added.status).toBe(200);
    expect(await added.text()).toBe(`Successfully added worker: ${engine.url}`);
    expect(r.probed).toEqual([engine.url]);
    expect(changes).toBe(1);

    expect(await (await fetch(`${r.url}/list_workers`)).json()).toEqual({ urls: [engine.url] });
    const listing = (await (await fetch(`${r.url}/workers`)).json()) as { workers: Record<string, unknown>[]; total: number; stats: unknown };
    expect(listing.total).toBe(1);
    expect(listing.stats).toEqual({ prefill_count: 0, decode_count: 0, regular_count: 1 });
    expect(listing.workers[0]).toMatchObject({ url: engine.url, worker_type: 'regular', is_healthy: true, load: 0, in_flight: 0, draining: false, circuit_breaker: 'closed', bootstrap_port: null });

    const answer = await complete(r.url);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { choices: unknown[] }).choices).toHaveLength(1);

    const removed = await post(`${r.url}/remove_worker?url=${encodeURIComponent(engine.url)}`);
    expect(await removed.text()).toBe(`Successfully removed worker: ${engine.url}`);
    expect(changes).toBe(2);
    expect(await (await fetch(`${r.url}/list_workers`)).json()).toEqual({ urls: [] });
    expect((await complete(r.url)).status).toBe(503);
    const again = await post(`${r.url}/remove_worker?url=${encodeURIComponent(engine.url)}`);
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: { message: string } }).error.message).toContain('is not registered');
  });

  test('POST /workers takes the JSON form with labels and tags; GET and DELETE /workers/{url} take the URL encoded', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter();
    const created = await post(`${r.url}/workers`, { url: engine.url, worker_type: 'regular', labels: { zone: 'a', gpu: 'h100' }, tags: ['canary'], model_id: 'ignored', priority: 50, cost: 1 });
    expect(created.status).toBe(200);
    const body = (await created.json()) as { success: boolean; message: string; worker: Record<string, unknown> };
    expect(body.success).toBe(true);
    expect(body.message).toBe(`Successfully added worker: ${engine.url}`);
    expect(body.worker).toMatchObject({ url: engine.url, labels: { zone: 'a', gpu: 'h100' }, tags: ['canary'] });

    const encoded = encodeURIComponent(engine.url);
    const one = await fetch(`${r.url}/workers/${encoded}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ url: engine.url, is_healthy: true, labels: { zone: 'a', gpu: 'h100' } });
    // Unencoded slashes in the path name the same endpoint.
    expect((await fetch(`${r.url}/workers/${engine.url}`)).status).toBe(200);

    const deleted = await fetch(`${r.url}/workers/${encoded}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ success: true, message: `Worker ${engine.url} removed successfully` });
    const gone = await fetch(`${r.url}/workers/${encoded}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: { message: `Worker ${engine.url} not found`, type: 'not_found_error', param: null, code: 'not_found' } });
  });

  test('POST /workers with a bad body is a 400 in the OpenAI envelope naming the field', async () => {
    await using r = await startAdminRouter();
    const cases: [unknown, string | null][] = [
      [{ worker_type: 'regular' }, 'url'],
      [{ url: 'http://127.0.0.1:1', worker_type: 'mixed' }, 'worker_type'],
      [{ url: 'http://127.0.0.1:1', bootstrap_port: 70000 }, 'bootstrap_port'],
      [{ url: 'http://127.0.0.1:1', labels: { zone: 3 } }, 'labels.zone'],
      [{ url: 'http://127.0.0.1:1', tags: 'canary' }, 'tags'],
      [{ url: 'http://127.0.0.1:1', colour: 'blue' }, null],
    ];
    for (const [body, param] of cases) {
      const res = await post(`${r.url}/workers`, body);
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { type: string; param: string | null; message: string } };
      expect(error.type).toBe('invalid_request_error');
      expect(error.param).toBe(param);
    }
    const notJson = await fetch(`${r.url}/workers`, { method: 'POST', body: '{"url":' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    expect(r.probed).toEqual([]);
  });

  test('a URL that is not http(s) with a host is refused without any request being made', async () => {
    let contacted = 0;
    await using bystander = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => (contacted++, new Response('ok')) });
    await using r = await startAdminRouter();
    const port = bystander.port;
    for (const url of [`ftp://127.0.0.1:${port}`, `file:///etc/passwd`, `127.0.0.1:${port}`, `http://user:pw@127.0.0.1:${port}`, `http://127.0.0.1:${port}/?x=1`, `gopher://127.0.0.1:${port}`]) {
      const res = await post(`${r.url}/add_worker?url=${encodeURIComponent(url)}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('url');
    }
    expect((await post(`${r.url}/workers`, { url: `ftp://127.0.0.1:${port}` })).status).toBe(400);
    expect(r.probed).toEqual([]);
    expect(contacted).toBe(0);
    expect(r.registry.all()).toHaveLength(0);
  });

  test('an endpoint that fails its health probe is refused and never registered', async () => {
    await using sick = await spawnMockEngine(['--unhealthy']);
    await using r = await startAdminRouter();
    let changes = 0;
    r.registry.onChange(() => changes++);
    const dead = `http://127.0.0.1:${freePort()}`;
    for (const url of [dead, sick.url]) {
      const res = await post(`${r.url}/add_worker?url=${encodeURIComponent(url)}`);
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`Endpoint ${url} failed its health probe; it was not added`);
    }
    expect(r.probed).toEqual([dead, sick.url]);
    expect(changes).toBe(0);
    expect(await (await fetch(`${r.url}/list_workers`)).json()).toEqual({ urls: [] });
  });

  test('a duplicate is refused with 409, also when written differently or added twice at once', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter();
    const [first, second] = await Promise.all([post(`${r.url}/add_worker?url=${engine.url}`), post(`${r.url}/add_worker?url=${engine.url}`)]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const upper = engine.url.replace('http://', 'HTTP://') + '/';
    expect((await post(`${r.url}/add_worker?url=${encodeURIComponent(upper)}`)).status).toBe(409);
    expect(r.registry.all()).toHaveLength(1);
  });

  test('an endpoint given by flags (as written) is found, listed and removed by the admin API', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [engine.url] });
    expect((await post(`${r.url}/add_worker?url=${engine.url}`)).status).toBe(409);
    expect((await fetch(`${r.url}/workers/${encodeURIComponent(engine.url)}`)).status).toBe(200);
    expect((await post(`${r.url}/remove_worker?url=${engine.url}`)).status).toBe(200);
    expect(r.registry.all()).toHaveLength(0);
  });

  test('a role this router does not serve and a bootstrap port on a regular endpoint are refused', async () => {
    await using r = await startAdminRouter();
    const prefill = await post(`${r.url}/add_worker?url=http://127.0.0.1:1&worker_type=prefill`);
    expect(prefill.status).toBe(400);
    expect(((await prefill.json()) as { error: { message: string } }).error.message).toBe('This router takes regular endpoints, not prefill');
    expect((await post(`${r.url}/add_worker?url=http://127.0.0.1:1&bootstrap_port=8998`)).status).toBe(400);
    expect((await post(`${r.url}/add_worker?url=http://127.0.0.1:1&worker_type=mixed`)).status).toBe(400);
    expect((await post(`${r.url}/add_worker`)).status).toBe(400);
    expect(r.probed).toEqual([]);
  });

  test('other methods on admin paths are 405 and never proxied', async () => {
    await using r = await startAdminRouter();
    for (const [method, path] of [['GET', '/add_worker'], ['DELETE', '/workers'], ['PUT', '/workers/x'], ['GET', '/flush_cache']] as const) {
      const res = await fetch(`${r.url}${path}`, { method });
      expect(res.status).toBe(405);
    }
  });
});
