// Tracing through the real router: --enable-trace exports server, admission, route and upstream spans to a
// local OTLP/HTTP receiver, joined to the client's traceparent and carried to the endpoint.
import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';
import { startOtlpReceiver, type OtlpSpanJson } from './otlp-receiver.ts';

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';
const attr = (span: OtlpSpanJson, key: string) => span.attributes.find((a) => a.key === key)?.value;
const SERVER = 2;
const CLIENT = 3;

describe('--enable-trace', () => {
  test('a streamed chat completion yields server → admission, route, upstream spans in the client trace; the engine gets the upstream span as parent', async () => {
    using receiver = startOtlpReceiver();
    await using engine = await startMockEngine({ model: 'm', itlMs: 2 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--enable-trace', '--otlp-traces-endpoint', receiver.url]);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });

    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true }, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=abc' } })
      .withResponse();
    let chunks = 0;
    for await (const _ of stream) chunks++;
    expect(chunks).toBeGreaterThan(0);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();

    await until(() => receiver.spans().some((s) => s.name === 'POST /v1/chat/completions'), 'the server span');
    const spans = receiver.spans().filter((s) => s.traceId === CLIENT_TRACE);
    const server = spans.find((s) => s.name === 'POST /v1/chat/completions')!;
    expect(server.kind).toBe(SERVER);
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    expect(server.traceState).toBe('vendor=abc');
    expect(attr(server, 'request_id')).toEqual({ stringValue: requestId });
    expect(attr(server, 'http.response.status_code')).toEqual({ intValue: '200' });

    const children = spans.filter((s) => s.parentSpanId === server.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['admission', 'route', 'upstream']);
    const upstream = children.find((s) => s.name === 'upstream')!;
    expect(upstream.kind).toBe(CLIENT);
    expect(attr(upstream, 'server.address')).toEqual({ stringValue: engine.url });
    expect(attr(children.find((s) => s.name === 'route')!, 'router.endpoint')).toEqual({ stringValue: engine.url });
    // The server span ends with the stream, after its upstream child.
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(upstream.endTimeUnixNano));

    const seen = engine.received.find((q) => q.path === '/v1/chat/completions')!;
    expect(seen.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${upstream.spanId}-01`);
    expect(seen.headers.tracestate).toBe('vendor=abc');
    expect(seen.headers['x-request-id']).toBe(requestId!);
  });

  test('a failed attempt and its retry are two upstream spans, the first marked as an error', async () => {
    using receiver = startOtlpReceiver();
    await using bad = await startMockEngine({ model: 'm', failure: { kind: 'status', status: 503 } });
    await using good = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', bad.url, good.url, '--policy', 'round_robin', '--enable-trace', '--otlp-traces-endpoint', receiver.url, '--retry-initial-backoff-ms', '1']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 2 }) });
    expect(res.status).toBe(200);
    await res.text();
    await until(() => receiver.spans().filter((s) => s.name === 'upstream').length === 2 && receiver.spans().some((s) => s.name === 'POST /v1/completions'), 'both upstream spans');
    const upstream = receiver.spans().filter((s) => s.name === 'upstream');
    const failed = upstream.find((s) => attr(s, 'server.address')?.stringValue === bad.url)!;
    const served = upstream.find((s) => attr(s, 'server.address')?.stringValue === good.url)!;
    expect(failed.status.code).toBe(2);
    expect(attr(failed, 'http.response.status_code')).toEqual({ intValue: '503' });
    expect(served.status.code).not.toBe(2);
    expect(receiver.spans().filter((s) => s.name === 'route').map((s) => attr(s, 'router.attempt')?.intValue).sort()).toEqual(['1', '2']);
  });

  test('excluded paths and unsampled traces export nothing, yet the endpoint still learns the trace and its decision', async () => {
    using receiver = startOtlpReceiver();
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--enable-trace', '--otlp-traces-endpoint', receiver.url, '--otel-excluded-paths', '/v1/models', '--policy', 'round_robin']);
    expect((await fetch(`${r.url}/v1/models`)).status).toBe(200);
    // A client that decided not to sample: the router follows the decision and still propagates it.
    const res = await fetch(`${r.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00` },
      body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }),
    });
    await res.text();
    const seen = engine.received.find((q) => q.path === '/v1/completions')!;
    expect(seen.headers.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-00$`));
    expect(seen.headers.traceparent).not.toContain(CLIENT_SPAN);
    // A sampled request afterwards is exported; it is the only thing the receiver ever gets.
    const sampled = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
    await sampled.text();
    await until(() => receiver.spans().some((s) => s.name === 'POST /v1/completions'), 'the sampled request');
    await r.router[Symbol.asyncDispose]();
    expect(receiver.spans().every((s) => s.traceId !== CLIENT_TRACE)).toBe(true);
    expect(receiver.spans().some((s) => s.name.includes('/v1/models'))).toBe(false);
  });

  test('without --enable-trace the client traceparent reaches the endpoint untouched', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url]);
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
    await res.text();
    expect(engine.received.find((q) => q.path === '/v1/completions')!.headers.traceparent).toBe(traceparent);
  });

  test('PD mode: one span per leg, prefill before decode, both children of the server span', async () => {
    using receiver = startOtlpReceiver();
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', prefill.url, '--decode', decode.url, '--policy', 'round_robin', '--enable-trace', '--otlp-traces-endpoint', receiver.url]);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
    const stream = await openai.completions.create({ model: 'm', prompt: 'x '.repeat(40), max_tokens: 3, stream: true });
    for await (const _ of stream);
    await until(() => receiver.spans().some((s) => s.name === 'POST /v1/completions'), 'the server span');
    const server = receiver.spans().find((s) => s.name === 'POST /v1/completions')!;
    const legs = receiver.spans().filter((s) => s.parentSpanId === server.spanId && s.name.endsWith(' leg'));
    expect(legs.map((s) => s.name).sort()).toEqual(['decode leg', 'prefill leg']);
    const [p, d] = [legs.find((s) => s.name === 'prefill leg')!, legs.find((s) => s.name === 'decode leg')!];
    expect(BigInt(p.startTimeUnixNano)).toBeLessThanOrEqual(BigInt(d.startTimeUnixNano));
    expect(prefill.received.at(-1)!.headers.traceparent).toBe(`00-${server.traceId}-${p.spanId}-01`);
    expect(decode.received.at(-1)!.headers.traceparent).toBe(`00-${server.traceId}-${d.spanId}-01`);
  });
});
