// Hostile input at the compiled router (issue #6, item 7): each gets a clear 4xx, and the router keeps serving.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { rawExchange, rawPost, type RawAnswer } from './raw-http.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const LIMIT = 1000;
const CHAT = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hello' }] });

interface Setup extends AsyncDisposable {
  readonly router: RouterProcess;
}

async function start(): Promise<Setup> {
  const engine = await spawnMockEngine(['--model', 'm']);
  const router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--max-payload-size', String(LIMIT)]).catch(async (e: unknown) => {
    await engine[Symbol.asyncDispose]();
    throw e;
  });
  return {
    router,
    async [Symbol.asyncDispose]() {
      await router[Symbol.asyncDispose]();
      await engine[Symbol.asyncDispose]();
    },
  };
}

const post = (router: RouterProcess, path: string, body: NonNullable<RequestInit['body']>, init: RequestInit = {}) =>
  fetch(`${router.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...init });

/** The router's 4xx answer: status and envelope (the test fails when the body is not exactly an envelope). */
async function refusal(res: Response) {
  const text = await res.text();
  const envelope = parseEnvelope(text);
  if (envelope === undefined) throw new Error(`${res.status} without an OpenAI error envelope: ${text.slice(0, 300)}`);
  return { status: res.status, ...envelope };
}

async function expectServing(router: RouterProcess): Promise<void> {
  const res = await post(router, '/v1/chat/completions', CHAT);
  expect(res.status).toBe(200);
  expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
}

const sentToEngines = async (router: RouterProcess) => metricValue(await router.scrape(), 'vllm_router_processed_requests_total');

/** Bun's own answer from its HTTP parser: a status line, no body, before any router code runs. */
function expectBareStatus(answer: RawAnswer, status: number): void {
  expect(answer.kind).toBe('response');
  if (answer.kind !== 'response') return;
  expect(answer.status).toBe(status);
  expect(answer.body.length).toBe(0);
  expect(answer.headers['content-type']).toBeUndefined();
}

describe('hostile input', () => {
  test('malformed and non-object JSON get a 400 envelope and never reach an engine', async () => {
    await using s = await start();
    const bodies = ['', '   ', '{"messages": [', '{"a":1,}', "{'a':1}", '{"a":NaN}', '{"a":1} trailing', '\u0000', '[]', '[{"messages":[]}]', '"text"', '42', 'null', 'true', '\uFEFF{"messages"'];
    for (const route of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/generate', '/v1/responses'])
      for (const body of bodies) {
        const r = await refusal(await post(s.router, route, body));
        expect([route, body, r.status, r.code, r.type]).toEqual([route, body, 400, 'invalid_json', 'invalid_request_error']);
      }
    expect(await sentToEngines(s.router)).toBe(0);
    await expectServing(s.router);
  });

  test('wrong types in the fields the router reads get a 400 envelope that names the field', async () => {
    await using s = await start();
    const cases: [route: string, body: object, param: string][] = [
      ['/v1/chat/completions', { model: 7, messages: [] }, 'model'],
      ['/v1/chat/completions', { model: null, messages: [] }, 'model'],
      ['/v1/chat/completions', { stream: 'yes', messages: [] }, 'stream'],
      ['/v1/chat/completions', { stream: 1, messages: [] }, 'stream'],
      ['/v1/chat/completions', {}, 'messages'],
      ['/v1/chat/completions', { messages: 'hi' }, 'messages'],
      ['/v1/chat/completions', { messages: { role: 'user' } }, 'messages'],
      ['/v1/chat/completions', { messages: ['hi'] }, 'messages[]'],
      ['/v1/chat/completions', { messages: [null] }, 'messages[]'],
      ['/v1/chat/completions', { messages: [[{ role: 'user' }]] }, 'messages[]'],
      ['/v1/completions', { model: 'm' }, 'prompt'],
      ['/v1/completions', { prompt: 5 }, 'prompt'],
      ['/v1/completions', { prompt: [] }, 'prompt'],
      ['/v1/completions', { prompt: { text: 'x' } }, 'prompt'],
      ['/v1/embeddings', {}, 'input'],
      ['/v1/embeddings', { input: false }, 'input'],
      ['/v1/embeddings', { input: [] }, 'input'],
      ['/v1/rerank', { documents: ['a'] }, 'query'],
      ['/v1/rerank', { query: '', documents: ['a'] }, 'query'],
      ['/rerank', { query: 'q', documents: 'a' }, 'documents'],
      ['/rerank', { query: 'q', documents: [] }, 'documents'],
      ['/generate', { model: ['m'] }, 'model'],
      ['/v1/responses', { stream: {} }, 'stream'],
    ];
    for (const [route, body, param] of cases) {
      const r = await refusal(await post(s.router, route, JSON.stringify(body)));
      expect([route, body, r.status, r.code, r.param]).toEqual([route, body, 400, 'invalid_body', param]);
    }
    expect(await sentToEngines(s.router)).toBe(0);
    await expectServing(s.router);
  });

  test('a body of exactly --max-payload-size is accepted and one byte more is 413, declared or chunked', async () => {
    await using s = await start();
    const body = (n: number) => {
      const head = '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"';
      const tail = '"}]}';
      return head + 'x'.repeat(n - head.length - tail.length) + tail;
    };
    expect((await post(s.router, '/v1/chat/completions', body(LIMIT))).status).toBe(200);
    const over = await refusal(await post(s.router, '/v1/chat/completions', body(LIMIT + 1)));
    expect([over.status, over.code]).toEqual([413, 'payload_too_large']);
    const chunked = (text: string) => new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(text)), c.close()) });
    expect((await post(s.router, '/v1/chat/completions', chunked(body(LIMIT)))).status).toBe(200);
    const overChunked = await refusal(await post(s.router, '/v1/chat/completions', chunked(body(LIMIT + 1))));
    expect([overChunked.status, overChunked.code]).toEqual([413, 'payload_too_large']);
    // The router refuses on the declared length alone, before reading a byte of the body.
    const declared = await rawExchange(s.router.address, `POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT + 1}\r\nConnection: close\r\n\r\n`);
    expect(declared.kind === 'response' && [declared.status, parseEnvelope(declared.body.toString())?.code]).toEqual([413, 'payload_too_large']);
    // Past Bun's own cap (the router sets it 1 MiB above --max-payload-size) Bun answers first, with a bare 413.
    const huge = await rawExchange(s.router.address, `POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: ${LIMIT + 1024 * 1024 + 1}\r\nConnection: close\r\n\r\n`);
    expectBareStatus(huge, 413);
    await expectServing(s.router);
  });

  test('oversized headers are refused by Bun with a bare 431 before the router sees them, and the router keeps serving', async () => {
    await using s = await start();
    const oversized = [
      `GET /liveness HTTP/1.1\r\nHost: r\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\nConnection: close\r\n\r\n`,
      `GET /liveness HTTP/1.1\r\nHost: r\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join('')}Connection: close\r\n\r\n`,
      `GET /${'p'.repeat(17 * 1024)} HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n`,
      rawPost('/v1/chat/completions', CHAT, `Authorization: Bearer ${'k'.repeat(20 * 1024)}\r\n`),
    ];
    for (const request of oversized) expectBareStatus(await rawExchange(s.router.address, request), 431);
    // Just under Bun's 16 KiB header budget the request is the router's as usual.
    const big = await post(s.router, '/v1/chat/completions', CHAT, { headers: { 'content-type': 'application/json', 'x-big': 'a'.repeat(15 * 1024) } });
    expect(big.status).toBe(200);
    await expectServing(s.router);
  });

  test('invalid UTF-8 in the body is a 400 invalid_encoding; in the path or a header value it does no harm', async () => {
    await using s = await start();
    const invalid = [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];
    for (const bytes of invalid) {
      const body = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from(bytes), Buffer.from('"}]}')]);
      const r = await refusal(await post(s.router, '/v1/chat/completions', body));
      expect([bytes, r.status, r.code]).toEqual([bytes, 400, 'invalid_encoding']);
    }
    const path = await rawExchange(s.router.address, Buffer.concat([Buffer.from('GET /v1/\xff\xfe/x HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n', 'latin1')]));
    expect(path.kind === 'response' && [path.status, parseEnvelope(path.body.toString())?.code]).toEqual([404, 'not_found']);
    const header = await rawExchange(s.router.address, rawPost('/v1/chat/completions', CHAT, 'X-Note: caf\xe9 \xff\r\n'));
    expect(header.kind === 'response' && header.status).toBe(200);
    expect(await sentToEngines(s.router)).toBe(1); // the chat: the unknown path is the router's own 404, never forwarded
    await expectServing(s.router);
  });

  test('unknown routes get a 404 envelope and other methods on inference routes a 405 envelope', async () => {
    await using s = await start();
    for (const path of ['/no/such/route', '/v2/chat/completions', '/v1/chat/completions/extra', '/%00', '/v1/chat%2Fcompletions']) {
      const r = await refusal(await fetch(`${s.router.url}${path}`, { method: 'POST', body: CHAT }));
      expect([path, r.status, r.code, r.type]).toEqual([path, 404, 'not_found', 'not_found_error']);
    }
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const r = await refusal(await fetch(`${s.router.url}/v1/chat/completions`, { method }));
      expect([method, r.status, r.code]).toEqual([method, 405, 'method_not_allowed']);
    }
    await expectServing(s.router);
  });

  test('HTTP that Bun cannot parse gets a bare 400 or 505 from Bun, unknown method tokens a closed connection', async () => {
    await using s = await start();
    const body = '{"messages":[]}';
    const cases: [request: string, answer: number | 'closed'][] = [
      ['GARBAGE\r\n\r\n', 400],
      ['\r\n\r\n', 400],
      ['GET  /liveness HTTP/1.1\r\nHost: r\r\n\r\n', 400],
      ['GET liveness HTTP/1.1\r\nHost: r\r\n\r\n', 400],
      ['GET /liveness HTTP/1.1\r\n\r\n', 400], // HTTP/1.1 without Host
      ['GET /liveness HTTP/1.1\r\nHost: r\r\nNoColon\r\n\r\n', 400],
      ['GET /liveness HTTP/1.1\r\nHost: r\r\nX Bad: v\r\n\r\n', 400],
      ['GET /liveness HTTP/1.1\r\nHost: r\r\nX-A: a\x01b\r\n\r\n', 400],
      ['GET /liveness HTTP/1.1\r\nHost: r\r\n folded\r\n\r\n', 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: abc\r\n\r\n${body}`, 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: -1\r\n\r\n${body}`, 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: 15\r\nContent-Length: 16\r\n\r\n${body}`, 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n${body}\r\n0\r\n\r\n`, 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`, 400],
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip\r\n\r\n${body}`, 400],
      ['\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 400], // a TLS ClientHello on the plain-HTTP port
      ['GET /liveness HTTP/2.0\r\nHost: r\r\n\r\n', 505],
      ['GET /liveness HTTP/9.9\r\nHost: r\r\n\r\n', 505],
      ['GET /liveness\r\n\r\n', 505],
      ['GET /live\x00ness HTTP/1.1\r\nHost: r\r\n\r\n', 505],
      ['GET /liveness HTTP/1.1\nHost: r\n\n', 505], // bare LF line ends
      ['FOO /liveness HTTP/1.1\r\nHost: r\r\n\r\n', 'closed'],
      ['get /liveness HTTP/1.1\r\nHost: r\r\n\r\n', 'closed'],
    ];
    for (const [request, expected] of cases) {
      const answer = await rawExchange(s.router.address, request);
      if (expected === 'closed') expect([request, answer.kind]).toEqual([request, 'closed']);
      else expectBareStatus(answer, expected);
    }
    expect(await sentToEngines(s.router)).toBe(0);
    await expectServing(s.router);
  });

  test('a client that trickles its request one byte at a time is answered, and other clients are served meanwhile', async () => {
    await using s = await start();
    let trickling = true;
    const slow = Promise.all([
      rawExchange(s.router.address, rawPost('/v1/chat/completions', CHAT), { trickleMs: 2 }),
      rawExchange(s.router.address, rawPost('/v1/chat/completions', '{"messages":"hi"}'), { trickleMs: 2 }),
    ]).finally(() => (trickling = false));
    let servedMeanwhile = 0;
    while (trickling) {
      await expectServing(s.router);
      servedMeanwhile++;
    }
    const [good, bad] = await slow;
    expect(good.kind === 'response' && [good.status, JSON.parse(good.body.toString()).object]).toEqual([200, 'chat.completion']);
    expect(bad.kind === 'response' && [bad.status, parseEnvelope(bad.body.toString())?.code]).toEqual([400, 'invalid_body']);
    expect(servedMeanwhile).toBeGreaterThanOrEqual(10);
  });

  test("a client that goes silent or trickles past Bun's 10 s request timeout is disconnected without an answer; the router keeps serving", async () => {
    await using s = await start();
    const partialBody = `POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"messages":`;
    const trickledBody = rawPost('/v1/chat/completions', CHAT.padEnd(200));
    const cut = Promise.all([
      rawExchange(s.router.address, ''), // connects and never sends
      rawExchange(s.router.address, 'POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Ty'), // stops inside the headers
      rawExchange(s.router.address, partialBody), // stops inside the body
      // Sends the headers, then keeps sending the body one byte every 500 ms: Bun's timer is not reset by
      // request bytes, so this is cut too.
      rawExchange(s.router.address, trickledBody, { trickleMs: 500, trickleAfter: trickledBody.indexOf('\r\n\r\n') + 4 }),
    ]);
    await expectServing(s.router);
    expect((await cut).map((a) => a.kind)).toEqual(['closed', 'closed', 'closed', 'closed']);
    // The two that were inside their bodies had reached the router, which saw their clients go.
    const m = await s.router.scrape();
    expect(metricValue(m, 'vllm_router_request_errors_total', { error_type: 'client_closed' })).toBe(2);
    await expectServing(s.router);
  });

  test('a request without a Host header (HTTP/1.0, as HAProxy health checks send) reaches the route it names', async () => {
    await using s = await start();
    const health = await rawExchange(s.router.address, 'GET /health HTTP/1.0\r\n\r\n');
    expect(health.kind === 'response' && [health.status, health.body.toString()]).toEqual([200, 'All servers healthy']);
    const chat = await rawExchange(s.router.address, `POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`);
    expect(chat.kind === 'response' && [chat.status, JSON.parse(chat.body.toString()).object]).toEqual([200, 'chat.completion']);
  });
});
