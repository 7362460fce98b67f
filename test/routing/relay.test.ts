// The relay of an endpoint's stream to the client (routing/relay.ts) through a running router: chunks leave
// as they arrive, usage and timing are read from the bytes however they were cut, and every way a stream
// ends (complete, stalled, broken off, left by the client) is accounted for once, with the endpoint and the
// admission slot given back.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { until } from '../../testkit/until.ts';
import { startTestRouter } from '../support/router.ts';

const encode = (s: string) => new TextEncoder().encode(s);
const post = (url: string, body: string, signal?: AbortSignal) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
const CHAT = JSON.stringify({ model: 'm', stream: true, max_tokens: 8, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] });
const scrape = async (url: string) => (await fetch(url)).text();

/** An SSE endpoint that sends `pieces` one by one, each only once the test releases it. */
function steppedEndpoint(pieces: readonly Uint8Array[]) {
  const gates = pieces.map(() => Promise.withResolvers<void>());
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => {
      if (new URL(req.url).pathname === '/health') return new Response('');
      let i = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (i === pieces.length) return controller.close();
            await gates[i]!.promise;
            controller.enqueue(pieces[i++]!);
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      );
    },
  });
  return { server, url: `http://127.0.0.1:${server.port}`, release: (i: number) => gates[i]!.resolve() };
}

/**
 * Posts to the router and reads the answer piece by piece: piece i + 1 is released only once piece i has
 * reached the client (the endpoint sends its headers with its first piece, so that one goes first). A relay
 * that held a chunk back would hang here. Returns what arrived for each piece.
 */
async function readStepwise(routerUrl: string, upstream: ReturnType<typeof steppedEndpoint>, pieces: readonly Uint8Array[]): Promise<string[]> {
  upstream.release(0);
  const res = await post(routerUrl, CHAT);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const got: string[] = [];
  let pending = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) upstream.release(i);
    let text = '';
    while (pending + encode(text).byteLength < pieces[i]!.byteLength) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the stream ended after ${got.length} pieces`);
      text += decoder.decode(value, { stream: true });
    }
    got.push(text);
  }
  expect((await reader.read()).done).toBe(true);
  return got;
}

describe('the stream relay', () => {
  test('each chunk reaches the client before the endpoint sends the next one', async () => {
    const pieces = ['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"b"}}]}\n\n', 'data: [DONE]\n\n'].map(encode);
    const upstream = steppedEndpoint(pieces);
    await using _ = upstream.server;
    await using r = await startTestRouter(['--worker-urls', upstream.url, '--policy', 'round_robin']);
    const got = await readStepwise(r.url, upstream, pieces);
    expect(got).toEqual(pieces.map((p) => new TextDecoder().decode(p)));
  });

  test('usage and timing are read from the bytes however the usage event was cut', async () => {
    const usage = 'data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"total_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}\n\n';
    const cut = usage.indexOf('"usage":{') + 4; // inside the key
    const text = ['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"b"}}]}\n\ndata: {"choices":[{"delta":{"content":"c"}}]}\n\n', usage.slice(0, cut), `${usage.slice(cut)}data: [DONE]\n\n`];
    const pieces = text.map(encode);
    const upstream = steppedEndpoint(pieces);
    await using _ = upstream.server;
    await using r = await startTestRouter(['--worker-urls', upstream.url, '--policy', 'round_robin']);
    // Piece by piece, so the router reads each as a chunk of its own: the usage key itself is cut in two.
    expect((await readStepwise(r.url, upstream, pieces)).join('')).toBe(text.join(''));
    await until(async () => metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { outcome: 'complete' }) === 1, 'the stream to be accounted for');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_prompt_tokens_total', { worker: upstream.url })).toBe(7);
    expect(metricValue(m, 'vllm_router_completion_tokens_total', { worker: upstream.url })).toBe(3);
    expect(metricValue(m, 'vllm_router_time_to_first_token_seconds_count', { worker: upstream.url })).toBe(1);
    // One gap between each pair of the four chunks as they left for the client.
    expect(metricValue(m, 'vllm_router_inter_token_latency_seconds_count', { worker: upstream.url })).toBe(3);
  });

  test('a stalled stream: the events so far, one upstream_stalled event and [DONE]; counted once as stalled, the engine aborted', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--stream-stall-timeout-secs', '1']);
    engine.set({ failure: { kind: 'stall', afterTokens: 2 } });
    const res = await post(r.url, CHAT);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('"content":');
    expect(text).toMatch(/data: \{"error":\{"message":"Endpoint sent nothing for 1 s[^\n]*"code":"upstream_stalled"\}\}\n\ndata: \[DONE\]\n\n$/);
    await engine.waitFor(() => engine.stats().running === 0);
    await until(() => r.router.registry.all()[0]!.inFlight === 0, 'in-flight count to drop');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'stalled' })).toBe(1);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'complete' })).toBe(0);
    expect(metricValue(m, 'vllm_router_cb_outcomes_total', { worker: engine.url, outcome: 'failure' })).toBe(1);
  });

  test('an engine that breaks off: counted once as upstream_error and a breaker failure, the endpoint free again', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 1 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    engine.set({ failure: { kind: 'reset', afterTokens: 2 } });
    const text = await (await post(r.url, CHAT)).text();
    expect(text).toMatch(/"code":"stream_interrupted"\}\}\n\ndata: \[DONE\]\n\n$/);
    await until(() => r.router.registry.all()[0]!.inFlight === 0, 'in-flight count to drop');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'upstream_error' })).toBe(1);
    expect(metricValue(m, 'vllm_router_cb_outcomes_total', { worker: engine.url, outcome: 'failure' })).toBe(1);
  });

  test('a client that leaves mid-stream: counted as client_closed with no breaker verdict; the endpoint and the admission slot come back', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 20 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--max-concurrent-requests', '1', '--rate-limit-tokens-per-second', '1000000', '--queue-size', '0']);
    const abort = new AbortController();
    const res = await post(r.url, JSON.stringify({ model: 'm', stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'x' }] }), abort.signal);
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await engine.waitFor(() => engine.stats().running === 0);
    await until(() => r.router.registry.all()[0]!.inFlight === 0, 'in-flight count to drop');
    await until(async () => metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { outcome: 'client_closed' }) === 1, 'the client_closed outcome');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_cb_outcomes_total', { worker: engine.url })).toBe(0);
    // The only admission slot is free again: the next request is served.
    engine.set({ itlMs: 0 });
    const next = await post(r.url, CHAT);
    expect(next.status).toBe(200);
    expect(await next.text()).toEndWith('data: [DONE]\n\n');
  });

  test('[DONE] cut across two chunks: the bytes pass as they are and the stream counts as complete', async () => {
    const pieces = ['data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DO', 'NE]\n', '\n'].map(encode);
    const upstream = steppedEndpoint(pieces);
    await using _ = upstream.server;
    await using r = await startTestRouter(['--worker-urls', upstream.url, '--policy', 'round_robin']);
    expect((await readStepwise(r.url, upstream, pieces)).join('')).toBe('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n');
    await until(async () => metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { outcome: 'complete' }) === 1, 'the stream to count as complete');
    expect(metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { outcome: 'truncated' })).toBe(0);
  });

  test('a client that stops reading: the router stops reading the endpoint (memory stays bounded), and the stream completes once it reads again', async () => {
    // 128 events of 1 MiB each, made only when the router asks for them.
    const EVENTS = 128;
    const event = encode(`data: {"x":"${'y'.repeat(1024 * 1024 - 16)}"}\n\n`);
    let made = 0;
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      // Only the chat route streams: the router's own reads (/health, /v1/models) must not draw on the events.
      fetch: (req) =>
        new URL(req.url).pathname !== '/v1/chat/completions'
          ? new Response('', { status: new URL(req.url).pathname === '/health' ? 200 : 404 })
          : new Response(
              new ReadableStream<Uint8Array>(
                {
                  pull(controller) {
                    if (made === EVENTS) {
                      controller.enqueue(encode('data: [DONE]\n\n'));
                      return controller.close();
                    }
                    made++;
                    controller.enqueue(event.slice());
                  },
                },
                { highWaterMark: 0 },
              ),
              { headers: { 'content-type': 'text/event-stream' } },
            ),
    });
    await using _ = server;
    await using r = await startTestRouter(['--worker-urls', `http://127.0.0.1:${server.port}`, '--policy', 'round_robin']);
    // A client that takes the answer's head and then reads nothing (Bun's fetch reads its socket only as the
    // body is read): the socket buffers fill and stay full.
    const res = await post(r.url, CHAT);
    const reader = res.body!.getReader();
    // Wait for the relay to stop asking: the same count over ten looks in a row.
    let last = -1;
    let same = 0;
    await until(async () => {
      same = made === last ? same + 1 : 0;
      last = made;
      return same >= 10 || made === EVENTS;
    }, 'the endpoint to stop being read');
    // Only socket buffers and a chunk or two in the router: far from the 128 MiB the endpoint has to send.
    expect(made).toBeLessThan(EVENTS / 2);
    let received = 0;
    let tail = new Uint8Array(0);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      received += chunk.value.byteLength;
      tail = chunk.value;
    }
    expect(made).toBe(EVENTS);
    expect(received).toBe(EVENTS * event.byteLength + 14);
    expect(new TextDecoder().decode(tail)).toEndWith('data: [DONE]\n\n');
    await until(async () => metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { outcome: 'complete' }) === 1, 'the stream to count as complete');
  });

  test('a JSON body without a length that breaks off: the client sees the connection end early, never a clean end; the router keeps serving', async () => {
    // A raw HTTP server: chunked JSON, one chunk, then the connection closes without the last chunk.
    const server = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        data(socket, bytes) {
          if (!bytes.toString().startsWith('POST /v1/completions')) {
            socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
            return;
          }
          const part = '{"id":"x","choices":[{"text":"half';
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`);
          socket.end();
        },
      },
    });
    // The compiled router in its own process: Bun reports the cut body's error on the router's stderr.
    using binary = buildRouterBinary();
    await using r = await startRouterProcess(binary.path, ['--worker-urls', `http://127.0.0.1:${server.port}`, '--policy', 'round_robin']);
    try {
      const outcome = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x' }) }).then(
        (res) => res.text().then((text) => `clean end: ${text}`, () => 'cut'),
        () => 'cut',
      );
      expect(outcome).toBe('cut');
      await until(async () => metricValue(await r.scrape(), 'vllm_router_stream_outcomes_total', { outcome: 'upstream_error' }) === 1, 'the answer to count as broken');
      expect((await fetch(`${r.url}/liveness`)).status).toBe(200);
    } finally {
      server.stop(true);
    }
  });
});
