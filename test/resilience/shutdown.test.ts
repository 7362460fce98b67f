// Graceful drain of the compiled router on SIGTERM: readiness fails, a delay, then refusals while streams in flight finish.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { rawExchange } from './raw-http.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

interface OpenStream {
  /** Resolves with everything the client received, once the body ends (or breaks off). */
  readonly rest: Promise<string>;
}

/** Starts a streaming completion and resolves once its first event has arrived. */
async function openStream(router: RouterProcess, maxTokens: number): Promise<OpenStream> {
  const res = await fetch(`${router.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt: 'tell me', max_tokens: maxTokens, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n\n')) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const rest = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      return text; // the connection was cut
    }
  })();
  return { rest };
}

const tokenEvents = (sse: string) => sse.split('\n\n').filter((e) => e.startsWith('data: {') && e.includes('"text_completion"')).length;

describe('shutdown', () => {
  test('SIGTERM: readiness fails at once, new requests are served during the delay, then refused with 503 while every stream finishes; exit 0', async () => {
    await using engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '20']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--shutdown-delay-secs', '2']);
    const streams = await Promise.all(Array.from({ length: 6 }, () => openStream(router, 300)));
    const get = (path: string) => rawExchange(router.address, `GET ${path} HTTP/1.1\r\nHost: r\r\n\r\n`);

    router.child.proc.kill('SIGTERM');
    await router.child.waitFor(/"msg":"draining: readiness fails[^"]*"/);
    // The delay: readiness says 503 at once, but a new request is still served (with Connection: close).
    const ready = await get('/readiness');
    expect(ready.kind === 'response' && ready.status).toBe(503);
    const served = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 2 }) });
    expect(served.status).toBe(200);
    expect(served.headers.get('connection')).toBe('close');
    await served.text();

    // After the delay: new requests get 503 with Retry-After in the OpenAI envelope; probes still answer.
    const [closing] = await router.child.waitFor(/^\{"[^\n]*"msg":"draining: new requests are refused[^\n]*$/m);
    expect((JSON.parse(closing) as { in_flight: number }).in_flight).toBeGreaterThanOrEqual(6);
    const refused = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 2 }) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(parseEnvelope(await refused.text())?.code).toBe('shutting_down');
    const live = await get('/liveness');
    expect(live.kind === 'response' && live.status).toBe(200);
    const stillReady = await get('/readiness');
    expect(stillReady.kind === 'response' && stillReady.status).toBe(503);

    for (const text of await Promise.all(streams.map((s) => s.rest))) {
      expect(tokenEvents(text)).toBe(300);
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    }
    expect(await router.child.proc.exited).toBe(0);
    expect(router.child.stdout()).toContain('"msg":"drained, exiting"');
    expect(router.child.stdout()).toContain('"error":"shutting_down"');
  });

  test('a second signal during the drain exits at once with code 1, cutting what is still open', async () => {
    await using engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '20']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin']);
    // 1000 tokens at 20 ms: 20 s, far longer than this test waits for anything.
    const stream = await openStream(router, 1000);

    router.child.proc.kill('SIGTERM');
    await router.child.waitFor(/"msg":"draining: readiness fails[^"]*"/);
    router.child.proc.kill('SIGINT');
    expect(await router.child.proc.exited).toBe(1);
    expect(router.child.stdout()).toContain('"msg":"second signal: exiting now"');
    const text = await stream.rest;
    expect(text).not.toContain('[DONE]');
    expect(tokenEvents(text)).toBeLessThan(1000);
  });

  test('--shutdown-grace-period-secs bounds the drain: a stream still open then is cut and the process exits 0', async () => {
    await using engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '20']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--shutdown-delay-secs', '0', '--shutdown-grace-period-secs', '1']);
    const stream = await openStream(router, 1000);

    router.child.proc.kill('SIGTERM');
    expect(await router.child.proc.exited).toBe(0);
    expect(router.child.stdout()).toContain('"msg":"grace period over: open requests were cut"');
    expect(await stream.rest).not.toContain('[DONE]');
  });
});
