// vLLM PD mode when things go wrong: clear errors naming the failing endpoint, retries while nothing has
// reached the client, both legs aborted when the client leaves, in-flight counts and every outcome counted.
import { describe, expect, test } from 'bun:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { hostPort } from '../../../src/core/endpoint.ts';
import { pdRecorder } from '../../../src/routing/pd/vllm-pd.ts';
import { startMockEngine, type MockEngine, type MockEngineStartOptions } from '../../../testkit/mock-engine.ts';
import { freePort } from '../../../testkit/free-port.ts';
import { startPdTestServer, type PdHarness } from './pd-harness.ts';
import { until } from '../../../testkit/until.ts';

const PROMPT = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen';
const post = (h: PdHarness, path: string, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}) =>
  fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...init.headers }, body: JSON.stringify(body), signal: init.signal });
const completion = (extra: Record<string, unknown> = {}) => ({ model: 'm', prompt: PROMPT, max_tokens: 3, ...extra });
const engine = (role: 'prefill' | 'decode', o: MockEngineStartOptions = {}) => startMockEngine({ role, model: 'm', handoffCheck: 'strict', ...o });
const errorOf = async (res: Response) => ((await res.json()) as { error: { message: string; type: string; code: string; param: string | null } }).error;
const lastHeaders = (e: MockEngine) => e.received.at(-1)?.headers as Record<string, string>;
const inFlight = (h: PdHarness) => h.registry.all().map((e) => e.inFlight);
const settledOnce = (h: PdHarness) => until(() => [...h.settled.values()].every((n) => n === 1), 'every request settled once');

describe('a failing prefill', () => {
  test('a 4xx reaches the client with its status and message, naming the prefill endpoint; decode is never asked', async () => {
    await using p = await engine('prefill', { failure: { kind: 'status', status: 400, message: 'bad field' } });
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.message).toBe(`Prefill endpoint ${p.url} answered 400: bad field`);
    expect(error.type).toBe('invalid_request_error');
    expect(res.headers.get('x-request-id')).toMatch(/^cmpl-/);
    expect(d.received).toHaveLength(0);
    expect(h.pd.events.filter((e) => e.type === 'retried')).toHaveLength(0);
    expect(h.pd.outcomes()).toEqual(['prefill_error']);
    await settledOnce(h);
  });

  test('a 503 is retried on another prefill endpoint, and the hand-off of the one that succeeded reaches decode', async () => {
    await using p1 = await engine('prefill', { failure: { kind: 'status', status: 503, times: 1 } });
    await using p2 = await engine('prefill');
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p1.url }, { url: p2.url }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(200);
    expect(p1.received).toHaveLength(1);
    expect(lastHeaders(d)['x-request-id']).toStartWith(`___prefill_addr_${hostPort(p2.url)}___`);
    expect(d.handoffs.at(-1)).toMatchObject({ accepted: true, connector: 'nixl' });
    expect(h.pd.events).toContainEqual({ type: 'legFailed', stage: 'prefill', worker: p1.url });
    expect(h.pd.events).toContainEqual({ type: 'retried', stage: 'prefill' });
    expect(h.pd.outcomes()).toEqual(['success']);
  });

  test('unreachable: 502 naming it, once every attempt failed', async () => {
    const url = `http://127.0.0.1:${freePort()}`;
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url }], decode: [{ url: d.url }], maxAttempts: 2 });
    const res = await post(h, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toStartWith(`Prefill endpoint ${url} failed:`);
    expect(h.pd.events.filter((e) => e.type === 'legStarted' && e.stage === 'prefill')).toHaveLength(2);
    expect(d.received).toHaveLength(0);
  });

  test('past the request deadline: 504 naming it, and the prefill engine sees its request aborted', async () => {
    await using p = await engine('prefill', { ttftMs: 5000 });
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }], requestTimeoutMs: 100 });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(504);
    expect((await errorOf(res)).message).toContain(`Prefill endpoint ${p.url}`);
    await p.waitFor(() => (p.stats().requestSuccess.abort ?? 0) === 1);
    expect(h.pd.outcomes()).toEqual(['timeout']);
  });

  test('a 200 that is not JSON is an error, never an empty 200', async () => {
    await using fake = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') });
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: `http://127.0.0.1:${fake.port}` }], decode: [{ url: d.url }], maxAttempts: 1 });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toContain('not a JSON object');
  });

  test('no prefill endpoint: 503', async () => {
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(503);
    expect((await errorOf(res)).message).toContain('No available prefill endpoints');
    expect(h.pd.outcomes()).toEqual(['no_endpoint']);
  });
});

describe('a failing decode', () => {
  test('a 503 before the first byte is retried on another decode endpoint with the same id and hand-off', async () => {
    await using p = await engine('prefill');
    await using d1 = await engine('decode', { failure: { kind: 'status', status: 503, times: 1 } });
    await using d2 = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d1.url }, { url: d2.url }] });
    const res = await post(h, '/v1/completions', completion({ stream: true }));
    expect(res.status).toBe(200);
    expect(await res.text()).toEndWith('data: [DONE]\n\n');
    expect(lastHeaders(d2)['x-request-id']).toBe(lastHeaders(d1)['x-request-id']);
    expect(d2.handoffs.at(-1)).toMatchObject({ accepted: true });
    expect(h.pd.events).toContainEqual({ type: 'retried', stage: 'decode' });
    expect(h.pd.outcomes()).toEqual(['success']);
  });

  test('an unreachable decode endpoint is skipped for a live one', async () => {
    await using p = await engine('prefill');
    await using d = await engine('decode');
    const dead = `http://127.0.0.1:${freePort()}`;
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: dead }, { url: d.url }] });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(200);
    expect(h.pd.events).toContainEqual({ type: 'legFailed', stage: 'decode', worker: dead });
  });

  test('the only decode endpoint unreachable: 502 naming it', async () => {
    await using p = await engine('prefill');
    const dead = `http://127.0.0.1:${freePort()}`;
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: dead }], maxAttempts: 2 });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toStartWith(`Decode endpoint ${dead} failed:`);
    expect(h.pd.outcomes()).toEqual(['decode_error']);
  });

  test('a 4xx from decode is passed through as the engine sent it', async () => {
    await using p = await engine('prefill');
    await using d = await engine('decode', { failure: { kind: 'status', status: 422, message: 'nope' } });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', completion());
    expect(res.status).toBe(422);
    expect((await errorOf(res)).message).toBe('nope');
    expect(h.pd.outcomes()).toEqual(['decode_error']);
  });
});

describe('the client leaving', () => {
  test('during the prefill: the prefill leg is aborted and decode never asked', async () => {
    await using p = await engine('prefill', { ttftMs: 5000 });
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    const controller = new AbortController();
    const pending = post(h, '/v1/completions', completion(), { signal: controller.signal }).catch((e: Error) => e);
    await p.waitFor(() => p.stats().running === 1);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await p.waitFor(() => (p.stats().requestSuccess.abort ?? 0) === 1);
    await until(() => h.pd.outcomes().length === 1, 'the request to end');
    expect(h.pd.outcomes()).toEqual(['client_closed']);
    expect(d.received).toHaveLength(0);
    expect(inFlight(h)).toEqual([0, 0]);
    await settledOnce(h);
  });

  test('mid-stream: the decode leg is aborted', async () => {
    await using p = await engine('prefill');
    await using d = await engine('decode', { itlMs: 50 });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', completion({ max_tokens: 100, stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await d.waitFor(() => (d.stats().requestSuccess.abort ?? 0) === 1);
    await until(() => h.pd.outcomes().length === 1, 'the request to end');
    expect(h.pd.outcomes()).toEqual(['client_closed']);
    expect(inFlight(h)).toEqual([0, 0]);
    await settledOnce(h);
  });
});

describe('accounting and headers', () => {
  test('each endpoint counts the request in flight only while its leg runs', async () => {
    await using p = await engine('prefill', { ttftMs: 150 });
    await using d = await engine('decode', { itlMs: 40 });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    const pending = post(h, '/v1/completions', completion({ max_tokens: 6, stream: true }));
    await p.waitFor(() => p.received.length === 1);
    expect(inFlight(h)).toEqual([1, 0]);
    await d.waitFor(() => d.received.length === 1);
    await until(() => inFlight(h)[0] === 0, 'the prefill leg to end');
    expect(inFlight(h)).toEqual([0, 1]);
    await (await pending).text();
    await until(() => inFlight(h)[1] === 0, 'the decode leg to end');
  });

  test('both legs: client headers minus hop-by-hop, the P/D id, the router’s API key; the DP rank where there is one', async () => {
    await using p = await engine('prefill', { apiKey: 'secret' });
    await using d = await engine('decode', { apiKey: 'secret' });
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url, dpRank: 1 }], apiKey: 'secret' });
    const res = await post(h, '/v1/completions', completion(), { headers: { authorization: 'Bearer client-key', 'x-custom': 'kept', 'x-request-id': 'client-id', 'proxy-authorization': 'drop' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('client-id');
    for (const e of [p, d]) {
      const headers = lastHeaders(e);
      expect(headers.authorization).toBe('Bearer secret');
      expect(headers['x-custom']).toBe('kept');
      expect(headers['x-request-id']).toStartWith('___prefill_addr_');
      expect(headers['content-type']).toBe('application/json');
      expect(headers).not.toHaveProperty('proxy-authorization');
    }
    expect(lastHeaders(d)['x-data-parallel-rank']).toBe('1');
    expect(lastHeaders(p)).not.toHaveProperty('x-data-parallel-rank');
  });

  test('the router’s own request metrics count PD requests too', async () => {
    await using p = await engine('prefill');
    await using d = await engine('decode');
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }] });
    await (await post(h, '/v1/completions', completion())).text();
    const text = await h.metrics.registry.metrics();
    expect(text).toContain('vllm_router_requests_total{route="/v1/completions",status="2xx"} 1');
    expect(text).toContain(`vllm_router_processed_requests_total{worker="${p.url}"} 1`);
    expect(text).toContain(`vllm_router_processed_requests_total{worker="${d.url}"} 1`);
  });
});

describe('the Prometheus recorder', () => {
  test('maps each report onto the pd_* series, per endpoint and per route', () => {
    const registry = new Registry();
    const r = [registry];
    const counter = (name: string, labelNames: string[]) => new Counter({ name, help: name, labelNames, registers: r });
    const histogram = (name: string, labelNames: string[]) => new Histogram({ name, help: name, labelNames, registers: r });
    const pd = pdRecorder({
      pdRequests: counter('vllm_router_pd_requests_total', ['route']),
      pdRequestDuration: histogram('vllm_router_pd_request_duration_seconds', ['route']),
      pdOutcomes: counter('vllm_router_pd_request_outcomes_total', ['route', 'outcome']),
      pdErrors: counter('vllm_router_pd_errors_total', ['error_type']),
      pdPrefillRequests: counter('vllm_router_pd_prefill_requests_total', ['worker']),
      pdDecodeRequests: counter('vllm_router_pd_decode_requests_total', ['worker']),
      pdPrefillErrors: counter('vllm_router_pd_prefill_errors_total', ['worker']),
      pdDecodeErrors: counter('vllm_router_pd_decode_errors_total', ['worker']),
      pdStreamErrors: counter('vllm_router_pd_stream_errors_total', ['worker']),
      pdRetries: counter('vllm_router_pd_retries_total', ['stage']),
      pdPrefillDuration: histogram('vllm_router_pd_prefill_duration_seconds', ['worker']),
      pdDecodeFirstToken: histogram('vllm_router_pd_decode_first_token_seconds', ['worker']),
      pdTotalDuration: histogram('vllm_router_pd_total_duration_seconds', ['worker']),
    });
    pd.legStarted('prefill', 'http://p');
    pd.legFailed('prefill', 'http://p');
    pd.retried('prefill');
    pd.legStarted('prefill', 'http://p2');
    pd.prefillDone('http://p2', 0.2);
    pd.legStarted('decode', 'http://d');
    pd.decodeFirstToken('http://d', 0.05);
    pd.finished('/v1/completions', 'success', 1.5, 'http://d');
    pd.finished('/v1/completions', 'no_endpoint', 0.001, undefined);
    return registry.metrics().then((text) => {
      for (const line of [
        'vllm_router_pd_requests_total{route="/v1/completions"} 2',
        'vllm_router_pd_request_outcomes_total{route="/v1/completions",outcome="success"} 1',
        'vllm_router_pd_errors_total{error_type="server_selection"} 1',
        'vllm_router_pd_prefill_requests_total{worker="http://p"} 1',
        'vllm_router_pd_prefill_errors_total{worker="http://p"} 1',
        'vllm_router_pd_retries_total{stage="prefill"} 1',
        'vllm_router_pd_prefill_duration_seconds_count{worker="http://p2"} 1',
        'vllm_router_pd_decode_first_token_seconds_count{worker="http://d"} 1',
        'vllm_router_pd_total_duration_seconds_sum{worker="http://d"} 1.5',
      ])
        expect(text).toContain(line);
    });
  });
});
