import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'test-key', maxRetries: 0 });

describe('OpenAI clients through the router', () => {
  test('non-streaming chat and completions; the response id carries the request id the router returned', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const openai = client(r.url);

    const { data: chat, response } = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 4 }).withResponse();
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^chatcmpl-[A-Za-z0-9]{24}$/);
    expect(chat.id).toBe(`chatcmpl-${requestId}`);
    expect(chat.choices[0]!.message.content!.split(' ').length).toBe(4);
    expect(chat.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4 });
    expect(engine.received.at(-1)!.headers['x-request-id']).toBe(requestId);

    const completion = await openai.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 3 });
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 3 });
  });

  test('streaming chat and completions arrive token by token with the usage chunk', async () => {
    await using engine = await startMockEngine({ model: 'm', tokens: 'alpha beta gamma delta' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'random']);
    const openai = client(r.url);

    const chatStream = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const deltas: string[] = [];
    let usage;
    for await (const chunk of chatStream) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.join('').trim().split(/\s+/)).toEqual(['alpha', 'beta', 'gamma', 'delta']);
    expect(usage).toMatchObject({ completion_tokens: 4 });

    const textStream = await openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 2, stream: true });
    let text = '';
    for await (const chunk of textStream) text += chunk.choices[0]?.text ?? '';
    expect(text.trim()).toBe('alpha beta');
  });

  test('round robin spreads requests over every endpoint', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using c = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, c.url, '--policy', 'round_robin']);
    const openai = client(r.url);
    for (let i = 0; i < 9; i++) await openai.completions.create({ model: 'm', prompt: 'p', max_tokens: 1 });
    expect([a, b, c].map((e) => e.received.filter((q) => q.path === '/v1/completions').length)).toEqual([3, 3, 3]);
  });
});

describe('bytes and headers', () => {
  test('the SSE bytes a client receives are exactly the bytes the endpoint sent, however they were cut', async () => {
    // Events split mid-line and a multi-byte character split across TCP writes, as a real network cuts them.
    const pieces = [
      'data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" caf',
      '\u00e9","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\ndata: {"id":"cmpl-1","object":"text_',
      'completion","created":1,"model":"m","choices":[{"index":0,"text":" \u{1F600}","logprobs":null,"finish_reason":"length","stop_reason":null}]}\n\n',
      'data: [DONE]\n\n',
    ].map((s) => new TextEncoder().encode(s));
    const split = [pieces[0]!, pieces[1]!.subarray(0, 3), pieces[1]!.subarray(3), pieces[2]!.subarray(0, pieces[2]!.length - 120), pieces[2]!.subarray(pieces[2]!.length - 120), pieces[3]!];
    const sent = Buffer.concat(split);
    await using upstream = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req) =>
        new URL(req.url).pathname === '/health'
          ? new Response('')
          : new Response(
              new ReadableStream({
                async pull(controller) {
                  for (const piece of split) {
                    controller.enqueue(piece);
                    await Bun.sleep(1);
                  }
                  controller.close();
                },
              }),
              { headers: { 'content-type': 'text/event-stream; charset=utf-8' } },
            ),
    });
    await using r = await startTestRouter(['--worker-urls', `http://127.0.0.1:${upstream.port}`, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x","stream":true}' });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(Buffer.from(await res.bytes()).equals(sent)).toBe(true);
  });

  test('client headers go upstream minus hop-by-hop ones; the request id comes from the first configured header', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key', 'x-correlation-id': 'corr-42', 'x-custom': 'kept', 'proxy-authorization': 'secret' },
      body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 1 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('corr-42');
    const seen = engine.received.at(-1)!.headers;
    expect(seen['x-request-id']).toBe('corr-42');
    expect(seen.authorization).toBe('Bearer client-key');
    expect(seen['x-custom']).toBe('kept');
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(((await res.json()) as { id: string }).id).toBe('cmpl-corr-42');
  });

  test('--api-key replaces the bearer token sent to endpoints, health checks included', async () => {
    await using engine = await startMockEngine({ model: 'm', apiKey: 'engine-secret' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--api-key', 'engine-secret']);
    const res = await client(r.url).completions.create({ model: 'm', prompt: 'hi', max_tokens: 1 });
    expect(res.choices.length).toBe(1);
    expect(engine.received.find((q) => q.path === '/health')!.headers.authorization).toBe('Bearer engine-secret');
  });

  test('generated request ids use the Rust prefixes per route', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const id = async (path: string, body: object) =>
      (await fetch(`${r.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).headers.get('x-request-id');
    expect(await id('/v1/completions', { prompt: 'x', max_tokens: 1 })).toMatch(/^cmpl-/);
    expect(await id('/v1/embeddings', { input: 'x' })).toMatch(/^req-/);
    expect((await fetch(`${r.url}/liveness`)).headers.get('x-request-id')).toMatch(/^req-/);
  });
});

describe('errors the router makes', () => {
  const post = (url: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body });
  const envelope = async (res: Response) => ((await res.json()) as { error: { message: string; type: string; param: string | null; code: string } }).error;

  test('malformed JSON, non-objects and wrong field types get a 400 in the OpenAI envelope', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    for (const [body, code, param] of [
      ['{"messages": [', 'invalid_json', null],
      ['[1,2]', 'invalid_json', null],
      ['{"messages":"hi"}', 'invalid_body', 'messages'],
      ['{"messages":[],"stream":"yes"}', 'invalid_body', 'stream'],
      ['{"model":"m"}', 'invalid_body', 'messages'],
    ] as const) {
      const res = await post(r.url, body);
      expect(res.status).toBe(400);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(await envelope(res)).toMatchObject({ code, param, type: 'invalid_request_error' });
    }
    const bad = await post(r.url, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expect((await envelope(bad)).code).toBe('invalid_encoding');
    expect(engine.received.filter((q) => q.path === '/v1/chat/completions').length).toBe(0);
  });

  test('a body of exactly --max-payload-size is accepted and one byte more gets 413', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--max-payload-size', '1000']);
    const body = (n: number) => {
      const head = '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"';
      const tail = '"}]}';
      return head + 'x'.repeat(n - head.length - tail.length) + tail;
    };
    expect((await post(r.url, body(1000))).status).toBe(200);
    const over = await post(r.url, body(1001));
    expect(over.status).toBe(413);
    expect((await envelope(over)).code).toBe('payload_too_large');
    // Without a Content-Length (chunked upload) the limit still holds.
    const chunked = await fetch(`${r.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(body(1001))), c.close()) }),
    });
    expect(chunked.status).toBe(413);
  });

  test('no healthy endpoint: 503; an unreachable endpoint: 502; an endpoint error passes through unchanged', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--disable-retries']);
    engine.set({ failure: { kind: 'status', status: 500, message: 'boom', times: 1 } });
    const failed = await post(r.url, '{"model":"m","messages":[{"role":"user","content":"x"}]}');
    expect(failed.status).toBe(500);
    expect((await failed.json()) as object).toMatchObject({ error: { message: 'boom', code: 500 } });

    for (const e of r.router.registry.all()) e.healthy = false;
    const none = await post(r.url, '{"messages":[]}');
    expect(none.status).toBe(503);
    expect((await envelope(none)).code).toBe('no_available_endpoints');

    for (const e of r.router.registry.all()) e.healthy = true;
    await engine.stop();
    const gone = await post(r.url, '{"messages":[]}');
    expect(gone.status).toBe(502);
    expect((await envelope(gone)).code).toBe('upstream_unreachable');
  });

  test('a retryable failure is retried on another endpoint before anything reaches the client', async () => {
    await using bad = await startMockEngine({ model: 'm', failure: { kind: 'status', status: 503 } });
    await using good = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', bad.url, good.url, '--policy', 'round_robin', '--retry-initial-backoff-ms', '1']);
    for (let i = 0; i < 6; i++) expect((await post(r.url, '{"model":"m","messages":[{"role":"user","content":"x"}]}')).status).toBe(200);
    expect(good.received.filter((q) => q.path === '/v1/chat/completions').length).toBe(6);
    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metrics).toMatch(/vllm_router_retries_total\{route="\/v1\/chat\/completions"\} [1-6]\n/);
  });

  test('--request-timeout-secs cuts an endpoint that never answers with 504', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--request-timeout-secs', '1']);
    engine.set({ failure: { kind: 'hang' } });
    const res = await post(r.url, '{"messages":[{"role":"user","content":"x"}]}');
    expect(res.status).toBe(504);
    expect((await envelope(res)).code).toBe('upstream_timeout');
    await engine.waitFor(() => engine.stats().running === 0);
  });

  test('an endpoint that breaks off mid-stream leaves the client one SSE error event and [DONE]', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 1 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    engine.set({ failure: { kind: 'reset', afterTokens: 2 } });
    const res = await post(r.url, '{"model":"m","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"x"}]}');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/data: \{"error":\{"message":"Endpoint stream broke off[^\n]*"code":"stream_interrupted"\}\}\n\ndata: \[DONE\]\n\n$/);
  });

  test('a client that goes away mid-stream aborts the upstream request at once', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 20 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const abort = new AbortController();
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","prompt":"x","stream":true,"max_tokens":1000}', signal: abort.signal });
    const reader = res.body!.getReader();
    await reader.read();
    expect(engine.stats().running).toBe(1);
    abort.abort();
    await engine.waitFor(() => engine.stats().running === 0);
    await until(() => r.router.registry.all()[0]!.inFlight === 0, 'in-flight count to drop');
  });

  test('vLLM routes outside the router API are proxied (/tokenize); an unlisted path gets a 404 envelope', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const tokenize = await fetch(`${r.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"a b c"}' });
    expect(((await tokenize.json()) as { count: number }).count).toBe(3);
    const missing = await fetch(`${r.url}/no/such/route`);
    expect(missing.status).toBe(404);
    expect((await envelope(missing)).code).toBe('not_found');
  });

  test('a forwarded request holds an admission slot like the router\'s own routes: --max-concurrent-requests bounds both', async () => {
    await using engine = await startMockEngine({ model: 'm', failure: { kind: 'hang', times: 1 } });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--max-concurrent-requests', '1', '--queue-size', '0']);
    const leave = new AbortController();
    const pooling = fetch(`${r.url}/pooling`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","input":"a b"}', signal: leave.signal }).catch(() => undefined);
    await until(() => engine.received.some((q) => q.path === '/pooling'), 'the forwarded request to reach the engine');
    const refused = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","prompt":"x","max_tokens":1}' });
    expect(refused.status).toBe(429);
    expect((await envelope(refused)).code).toBe('rate_limited');
    engine.set({ failure: null });
    leave.abort();
    await pooling;
    // The slot comes back with the client; the next request (after the refill) is served.
    await until(async () => (await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","prompt":"x","max_tokens":1}' })).status === 200, 'the slot to come back');
  });
});

describe('information routes', () => {
  test('/v1/models is the union of healthy endpoints and survives a dead one', async () => {
    await using a = await startMockEngine({ model: 'alpha' });
    await using b = await startMockEngine({ model: 'beta' });
    await using dead = await startMockEngine({ model: 'gamma' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, dead.url, '--policy', 'round_robin']);
    await dead.stop();
    const res = await fetch(`${r.url}/v1/models`);
    expect(res.status).toBe(200);
    const ids = ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id).sort();
    expect(ids).toEqual(['alpha', 'beta']);
  });

  test('health, liveness and readiness reflect endpoint health', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm', healthy: false });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'round_robin']);
    expect(await (await fetch(`${r.url}/liveness`)).text()).toBe('OK');
    const health = await fetch(`${r.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.text()).toContain(b.url);
    expect(await (await fetch(`${r.url}/readiness`)).json()).toEqual({ status: 'ready', healthy_workers: 1, total_workers: 2 });
    for (const e of r.router.registry.all()) e.healthy = false;
    expect((await fetch(`${r.url}/readiness`)).status).toBe(503);
  });

  test('/health_generate generates one token on an available endpoint', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/health_generate`);
    expect(res.status).toBe(200);
    expect(engine.received.some((q) => q.path === '/v1/completions' && (q.json as { max_tokens: number }).max_tokens === 1)).toBe(true);
  });

  test('the first health probe decides: a dead endpoint takes no traffic from the first request', async () => {
    await using live = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', 'http://127.0.0.1:9', live.url, '--policy', 'round_robin']);
    for (let i = 0; i < 4; i++) expect((await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x","max_tokens":1}' })).status).toBe(200);
  });
});
