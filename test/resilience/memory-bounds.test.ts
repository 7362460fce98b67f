// The compiled router's memory does not follow the size of what clients or engines send (issue #6, item 4):
// engine answers are streamed, a request body is held once, and --max-inflight-body-bytes bounds the bodies
// held at once. Bounds are checked with wide margins; the figures themselves are bench/memory.ts's job.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { rawExchange } from './raw-http.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { memoryKb } from '../../testkit/memory-kb.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';
import { setMock } from '../../testkit/set-mock.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const MiB = 1024 * 1024;
const enc = new TextEncoder();

/** A chat body of exactly `bytes` bytes (ASCII). */
function chatBody(bytes: number, extra: Record<string, unknown> = {}): Uint8Array {
  const frame = JSON.stringify({ model: 'm', max_tokens: 2, ...extra, messages: [{ role: 'user', content: '' }] });
  return enc.encode(frame.replace('"content":""', `"content":"${'a'.repeat(bytes - frame.length)}"`));
}

const chat = (url: string, body: NonNullable<RequestInit['body']>, init: RequestInit = {}) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...init, duplex: 'half' } as RequestInit);

/** Reads a response to its end, keeping nothing: the bytes received. */
async function drain(res: Response): Promise<number> {
  let n = 0;
  for await (const chunk of res.body!) n += chunk.byteLength;
  return n;
}

/** `size` bytes as a chunked upload (no Content-Length), 64 KiB at a time; `endless` never closes it. */
function chunkedBody(bytes: Uint8Array, endless = false): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    async pull(c) {
      if (offset >= bytes.byteLength) {
        if (!endless) return c.close();
        await Bun.sleep(5);
        return c.enqueue(enc.encode(' '));
      }
      c.enqueue(bytes.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

const held = async (router: { scrape(): Promise<string> }) => metricValue(await router.scrape(), 'vllm_router_request_body_bytes_held');
/** Requests the mock engine is working on now. */
const running = async (engineUrl: string) => ((await (await fetch(`${engineUrl}/_mock/stats`)).json()) as { running: number }).running;

describe('memory bounds of the compiled router', () => {
  test('a 200 MB non-streaming engine answer reaches the client while the router grows by less than half of it', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin']);
    expect((await chat(router.url, chatBody(200))).status).toBe(200);
    await setMock(engine.url, { answerPadBytes: 200 * MiB });
    const before = memoryKb(router.pid).rss;
    const res = await chat(router.url, chatBody(200));
    expect(res.status).toBe(200);
    expect(await drain(res)).toBeGreaterThan(200 * MiB);
    const growthMiB = (memoryKb(router.pid).peak - before) / 1024;
    // Taken whole it cost the answer's size at least; streamed it costs a few chunks.
    expect(growthMiB).toBeLessThan(100);
  });

  test('a body the budget has no room for gets 503 with Retry-After at once and never reaches an engine; within budget it passes', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--max-payload-size', String(4 * MiB), '--max-inflight-body-bytes', String(4 * MiB)]);
    const body = chatBody(3 * MiB);
    // The first body stays held: its engine does not answer until the client leaves.
    await setMock(engine.url, { failure: { kind: 'hang', times: 1 } });
    const leave = new AbortController();
    const first = chat(router.url, body, { signal: leave.signal }).catch((e: Error) => e);
    await until(async () => (await held(router)) === body.byteLength && (await running(engine.url)) === 1, 'the first body to be held, its request at the engine');

    for (const second of [body, chunkedBody(body)]) {
      const res = await chat(router.url, second);
      const envelope = parseEnvelope(await res.text());
      expect([res.status, res.headers.get('retry-after'), envelope?.code, envelope?.type]).toEqual([503, '1', 'body_budget_exhausted', 'server_error']);
      expect(envelope?.message).toContain('--max-inflight-body-bytes');
    }
    const m = await router.scrape();
    expect(metricValue(m, 'vllm_router_processed_requests_total')).toBe(1);
    expect(metricValue(m, 'vllm_router_admission_rejections_total', { reason: 'body_budget' })).toBe(2);
    expect(metricValue(m, 'vllm_router_request_body_bytes_limit')).toBe(4 * MiB);

    leave.abort();
    await first;
    await until(async () => (await held(router)) === 0, 'the budget to come back');
    const res = await chat(router.url, body);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
  });

  test('a client that declares a large body and trickles it gets 408 at --body-read-timeout-secs, its connection closed and its budget back', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', engine.url, '--policy', 'round_robin',
      '--max-payload-size', String(4 * MiB), '--max-inflight-body-bytes', String(4 * MiB), '--body-read-timeout-secs', '1',
    ]);
    // A byte every 300 ms keeps Bun's idle timeout from ever firing: only the body deadline can end this.
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${4 * MiB}\r\n\r\n`;
    const trickled = rawExchange(router.address, head + '{"model":"m","messages":[' + ' '.repeat(64), { trickleAfter: head.length, trickleMs: 300 });
    await until(async () => (await held(router)) === 4 * MiB, 'the slow body to hold the whole budget');
    const meanwhile = await chat(router.url, chatBody(MiB));
    expect(meanwhile.status).toBe(503);
    await meanwhile.text();

    const answer = await trickled;
    if (answer.kind !== 'response') throw new Error(`expected an answer, got ${answer.kind}`);
    expect([answer.status, answer.headers.connection, parseEnvelope(answer.body.toString())?.code]).toEqual([408, 'close', 'body_timeout']);
    await until(async () => (await held(router)) === 0, 'the budget to come back');
    const after = await chat(router.url, chatBody(MiB));
    expect(after.status).toBe(200);
    await after.text();
    expect(metricValue(await router.scrape(), 'vllm_router_processed_requests_total')).toBe(1);
  });

  test('the budget comes back exactly once on every path, and while an answer streams the body holds none of it', async () => {
    await using engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '20']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', engine.url, '--policy', 'round_robin', '--max-payload-size', String(4 * MiB), '--max-inflight-body-bytes', String(4 * MiB),
      '--retry-initial-backoff-ms', '1', '--retry-max-backoff-ms', '2',
    ]);
    const body = chatBody(2 * MiB);
    const statuses: number[] = [];
    const send = async (b: NonNullable<RequestInit['body']>, init?: RequestInit) => {
      const res = await chat(router.url, b, init);
      statuses.push(res.status);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 5; i++) await send(body);
    await send(chunkedBody(body));
    await send(enc.encode(`${new TextDecoder().decode(body).slice(0, -2)}`)); // invalid JSON: 400
    await setMock(engine.url, { failure: { kind: 'status', status: 500, times: 1 } });
    await send(body); // retried once, then answered
    await setMock(engine.url, { failure: { kind: 'status', status: 503 } });
    await send(body); // retries exhausted
    await setMock(engine.url, { failure: null });
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 400, 200, 503]);

    // A client that leaves mid-upload, and one that leaves while its engine thinks.
    const midUpload = new AbortController();
    const uploading = chat(router.url, chunkedBody(body, true), { signal: midUpload.signal }).catch((e: Error) => e);
    await until(async () => (await held(router)) >= body.byteLength, 'the upload to be held');
    midUpload.abort();
    await uploading;
    await until(async () => (await held(router)) === 0, 'the aborted upload to be given back');
    await setMock(engine.url, { failure: { kind: 'hang', times: 1 } });
    const thinking = new AbortController();
    const waiting = chat(router.url, body, { signal: thinking.signal }).catch((e: Error) => e);
    await until(async () => (await held(router)) === body.byteLength && (await running(engine.url)) === 1, 'the waiting body to be held, its request at the engine');
    thinking.abort();
    await waiting;
    await until(async () => (await held(router)) === 0, 'the waiting body to be given back');

    // A stream under way holds no budget: its body will never be sent again.
    const res = await chat(router.url, chatBody(2 * MiB, { stream: true, max_tokens: 50 }));
    const reader = res.body!.getReader();
    await reader.read();
    expect(await held(router)).toBe(0);
    await reader.cancel();
    expect(await held(router)).toBe(0);
  });

  test('a 100 MB body costs under 3.5× its size at the peak: bytes, their text and the parsed JSON, no copy for fetch', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin']);
    expect((await chat(router.url, chatBody(1000))).status).toBe(200);
    const before = memoryKb(router.pid).rss;
    const res = await chat(router.url, chatBody(100 * MiB));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    // Before: a fourth copy, fetch's own of the upstream body, while the text still waited for the collector.
    expect((memoryKb(router.pid).peak - before) / 1024).toBeLessThan(350);
  });
});
