// sticky_least_loaded through the router: sessions stick to one engine, move when it dies, end by /finish_session.
import { describe, expect, test } from 'bun:test';
import { startMockEngine, type MockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { startTestRouter } from '../support/router.ts';

const complete = (url: string, headers: Record<string, string>, body: Record<string, unknown> = {}) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', prompt: 'turn', max_tokens: 1, ...body }) });

/** Which engine served the last request carrying this session id. */
const servedBy = (engines: readonly MockEngine[], session: string) =>
  engines.filter((e) => e.received.some((r) => r.headers['x-session-id'] === session || (r.json as { user?: string } | undefined)?.user === session));

describe('sticky sessions through the router', () => {
  test('every turn of a session reaches the engine its first turn reached; new sessions spread by session count', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'sticky_least_loaded']);
    for (let turn = 0; turn < 4; turn++)
      for (const s of ['s1', 's2', 's3', 's4']) expect((await complete(r.url, { 'x-session-id': s })).status).toBe(200);
    for (const s of ['s1', 's2', 's3', 's4']) expect(servedBy([a, b], s)).toHaveLength(1);
    // Four sessions, two engines: two each.
    expect(a.received.filter((q) => q.path === '/v1/completions')).toHaveLength(8);
    expect(b.received.filter((q) => q.path === '/v1/completions')).toHaveLength(8);
    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metricValue(metrics, 'vllm_router_sticky_sessions')).toBe(4);
    expect(metricValue(metrics, 'vllm_router_sticky_sessions_per_worker', { worker: a.url })).toBe(2);
  });

  test('a session whose engine dies moves to a live one and stays there', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'sticky_least_loaded', '--retry-initial-backoff-ms', '1']);
    expect((await complete(r.url, { 'x-session-id': 'x' })).status).toBe(200);
    const [home] = servedBy([a, b], 'x');
    const other = home === a ? b : a;
    await home!.stop();
    // The attempt on the dead engine fails to connect; the retry pins the session to the other engine.
    expect((await complete(r.url, { 'x-session-id': 'x' })).status).toBe(200);
    other.clearReceived();
    for (let i = 0; i < 3; i++) expect((await complete(r.url, { 'x-session-id': 'x' })).status).toBe(200);
    expect(other.received.filter((q) => q.path === '/v1/completions')).toHaveLength(3);
    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metricValue(metrics, 'vllm_router_sticky_session_repins_total')).toBe(1);
  });

  test('/finish_session releases a session named by query, JSON body or header, and is idempotent', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'sticky_least_loaded']);
    for (const s of ['q', 'body', 'hdr']) expect((await complete(r.url, { 'x-session-id': s })).status).toBe(200);
    const finish = (init: { query?: string; body?: string; headers?: Record<string, string> }) =>
      fetch(`${r.url}/finish_session${init.query ?? ''}`, { method: 'POST', headers: init.headers, body: init.body });

    const byQuery = await finish({ query: '?session_id=q' });
    expect(byQuery.status).toBe(200);
    expect(await byQuery.json()).toEqual({ session_id: 'q', released: true });
    expect(await (await finish({ body: JSON.stringify({ session_id: 'body' }), headers: { 'content-type': 'application/json' } })).json()).toEqual({ session_id: 'body', released: true });
    expect(await (await finish({ headers: { 'x-session-id': 'hdr' } })).json()).toEqual({ session_id: 'hdr', released: true });
    // Again: nothing to release, still 200.
    expect(await (await finish({ query: '?session_id=q' })).json()).toEqual({ session_id: 'q', released: false });

    const nameless = await finish({});
    expect(nameless.status).toBe(400);
    expect(((await nameless.json()) as { error: { param: string } }).error.param).toBe('session_id');
    const broken = await finish({ body: '{not json', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);

    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metricValue(metrics, 'vllm_router_sticky_sessions')).toBe(0);
    expect(metricValue(metrics, 'vllm_router_sticky_sessions_ended_total', { reason: 'finished' })).toBe(3);
  });

  test('with --session-header, that header names the session and /finish_session reads it', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'sticky_least_loaded', '--session-header', 'x-rollout']);
    for (let i = 0; i < 3; i++) expect((await complete(r.url, { 'x-rollout': 'traj-1' })).status).toBe(200);
    const served = [a, b].filter((e) => e.received.some((q) => q.headers['x-rollout'] === 'traj-1'));
    expect(served).toHaveLength(1);
    const done = await fetch(`${r.url}/finish_session`, { method: 'POST', headers: { 'x-rollout': 'traj-1' } });
    expect(await done.json()).toEqual({ session_id: 'traj-1', released: true });
  });
});
