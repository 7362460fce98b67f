// End to end over real sockets: client traceparent → server/admission/route/upstream spans → endpoint headers →
// OTLP/HTTP JSON at a local receiver. A small stand-in router uses the tracing module the way src/ wires it.
import { describe, expect, test } from 'bun:test';
import { OtlpExporter } from '../../src/tracing/otlp-exporter.ts';
import { extractTraceContext, injectTraceContext } from '../../src/tracing/traceparent.ts';
import { createTracer, NOOP_SPAN, type Tracer } from '../../src/tracing/tracer.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { attr, startOtlpReceiver, type OtlpSpanJson } from './otlp-receiver.ts';

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

/** An endpoint that records the trace headers it got; answers 503 (to force a retry) or an SSE stream. */
function startEndpoint(status: 200 | 503) {
  const seen: { traceparent: string | null; tracestate: string | null }[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      seen.push({ traceparent: req.headers.get('traceparent'), tracestate: req.headers.get('tracestate') });
      if (status === 503) return new Response('busy', { status });
      return new Response('data: {"x":1}\n\ndata: [DONE]\n\n', { headers: { 'content-type': 'text/event-stream' } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, [Symbol.dispose]: () => void server.stop(true) };
}

/** The stand-in router: the span layout of the wiring sketch, retrying once on another endpoint. */
function startRouter(tracer: Tracer, endpoints: string[]) {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const requestId = req.headers.get('x-request-id') ?? 'req-generated';
      const span = tracer.tracesPath(path)
        ? tracer.startSpan(`${req.method} ${path}`, {
            parent: extractTraceContext(req.headers),
            kind: 'server',
            attributes: { 'http.method': req.method, 'http.route': path, request_id: requestId },
          })
        : NOOP_SPAN;
      if (path === '/health') {
        span.end();
        return new Response('ok');
      }
      const body = await req.arrayBuffer();

      const admission = tracer.startSpan('admission', { parent: span.context });
      admission.setAttribute('queue_ms', 0);
      admission.end();

      for (let attempt = 1; ; attempt++) {
        const route = tracer.startSpan('route', { parent: span.context, attributes: { policy: 'round_robin' } });
        const endpoint = endpoints[attempt - 1]!;
        route.setAttribute('endpoint', endpoint);
        route.end();

        const upstream = tracer.startSpan('upstream', { parent: span.context, kind: 'client', attributes: { endpoint, attempt } });
        const headers = new Headers(req.headers);
        injectTraceContext(headers, upstream.context);
        const res = await fetch(`${endpoint}${path}`, { method: 'POST', headers, body });
        upstream.setAttribute('http.status_code', res.status);
        if (res.status >= 500 && attempt < endpoints.length) {
          upstream.setStatus(`HTTP ${res.status}`);
          upstream.end();
          await res.body?.cancel();
          continue;
        }
        // A stream's spans end when its last byte has gone to the client, not when headers are sent.
        const finish = () => {
          upstream.end();
          span.setAttribute('http.status_code', res.status);
          span.end();
        };
        const tapped = res.body!.pipeThrough(new TransformStream({ flush: finish }));
        return new Response(tapped, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? '' } });
      }
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, [Symbol.dispose]: () => void server.stop(true) };
}

function setup(samplingRatio = 1) {
  const receiver = startOtlpReceiver();
  const exporter = new OtlpExporter({ url: `${receiver.url}/v1/traces`, flushIntervalMs: 10 });
  const tracer = createTracer({ sink: exporter, samplingRatio, random: mulberry32(1), clock: () => performance.timeOrigin + performance.now() });
  return { receiver, exporter, tracer };
}

const byName = (spans: OtlpSpanJson[], name: string) => spans.filter((s) => s.name === name);

describe('tracing end to end', () => {
  test('a client trace flows through the router to the endpoints and reaches the OTLP receiver', async () => {
    const { receiver, exporter, tracer } = setup();
    using _receiver = receiver;
    await using _exporter = exporter;
    using busy = startEndpoint(503);
    using good = startEndpoint(200);
    using router = startRouter(tracer, [busy.url, good.url]);

    const res = await fetch(`${router.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=opaque', 'x-request-id': 'req-42', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [] }),
    });
    expect(await res.text()).toContain('[DONE]');
    await exporter.flush();

    const spans = receiver.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['POST /v1/chat/completions', 'admission', 'route', 'route', 'upstream', 'upstream']);
    for (const s of spans) expect(s.traceId).toBe(CLIENT_TRACE);

    const [server] = byName(spans, 'POST /v1/chat/completions');
    expect(server!.parentSpanId).toBe(CLIENT_SPAN);
    expect(server!.kind).toBe(2);
    expect(server!.flags! & 0x300).toBe(0x300); // parent is remote
    expect(server!.traceState).toBe('vendor=opaque');
    expect(attr(server!, 'http.method')).toBe('POST');
    expect(attr(server!, 'http.route')).toBe('/v1/chat/completions');
    expect(attr(server!, 'http.status_code')).toBe(200);
    expect(attr(server!, 'request_id')).toBe('req-42');
    for (const s of spans.filter((x) => x !== server)) {
      expect(s.parentSpanId).toBe(server!.spanId);
      expect(s.flags! & 0x300).toBe(0x100); // parent is local
    }

    const upstream = byName(spans, 'upstream').sort((a, b) => Number(attr(a, 'attempt')) - Number(attr(b, 'attempt')));
    expect(upstream.map((s) => s.kind)).toEqual([3, 3]);
    expect(upstream.map((s) => [attr(s, 'endpoint'), attr(s, 'attempt'), attr(s, 'http.status_code')])).toEqual([
      [busy.url, 1, 503],
      [good.url, 2, 200],
    ]);
    expect(upstream[0]!.status).toEqual({ code: 2, message: 'HTTP 503' });
    expect(byName(spans, 'route').map((s) => attr(s, 'endpoint')).sort()).toEqual([busy.url, good.url].sort());

    // Each endpoint saw its own attempt's span as parent, and the client's tracestate.
    expect(busy.seen).toEqual([{ traceparent: `00-${CLIENT_TRACE}-${upstream[0]!.spanId}-01`, tracestate: 'vendor=opaque' }]);
    expect(good.seen).toEqual([{ traceparent: `00-${CLIENT_TRACE}-${upstream[1]!.spanId}-01`, tracestate: 'vendor=opaque' }]);

    // The server span covers the whole stream.
    expect(BigInt(server!.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(upstream[1]!.endTimeUnixNano));
    const resource = receiver.bodies[0]!.resourceSpans[0]!.resource.attributes;
    expect(resource).toContainEqual({ key: 'service.name', value: { stringValue: 'vllm-router' } });
  });

  test('a new trace starts when the client sends none, and the endpoint joins it', async () => {
    const { receiver, exporter, tracer } = setup();
    using _receiver = receiver;
    await using _exporter = exporter;
    using good = startEndpoint(200);
    using router = startRouter(tracer, [good.url]);

    await (await fetch(`${router.url}/v1/completions`, { method: 'POST', body: '{}' })).text();
    await exporter.flush();
    const [server] = byName(receiver.spans(), 'POST /v1/completions');
    expect(server!.parentSpanId).toBeUndefined();
    const [upstream] = byName(receiver.spans(), 'upstream');
    expect(good.seen[0]!.traceparent).toBe(`00-${server!.traceId}-${upstream!.spanId}-01`);
  });

  test('an unsampled client trace exports nothing but still tells the endpoint', async () => {
    const { receiver, exporter, tracer } = setup();
    using _receiver = receiver;
    await using _exporter = exporter;
    using good = startEndpoint(200);
    using router = startRouter(tracer, [good.url]);

    await (await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00` }, body: '{}' })).text();
    await exporter.flush();
    expect(receiver.spans()).toHaveLength(0);
    expect(good.seen[0]!.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-(?!${CLIENT_SPAN})[0-9a-f]{16}-00$`));
  });

  test('excluded paths produce no spans', async () => {
    const { receiver, exporter, tracer } = setup();
    using _receiver = receiver;
    await using _exporter = exporter;
    using router = startRouter(tracer, []);

    expect(await (await fetch(`${router.url}/health`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } })).text()).toBe('ok');
    await exporter.flush();
    expect(receiver.attempts()).toBe(0);
  });
});
